"""Resume scenarios that need a process of their own, run by test_guard_subprocess.py.

    python tests/keras/resume_scenarios.py keras3-mirrored  WORKDIR
    python tests/keras/resume_scenarios.py tf_keras         WORKDIR   (TF_USE_LEGACY_KERAS=1)

Two logical CPU devices must be configured before TensorFlow initialises, and tf_keras is
chosen by an environment variable read at import, so neither can share the pytest process.
Prints one JSON object {scenario: outcome} on the last line of stdout; an outcome is
{"code": first finding code or null, "unchanged": weights and counter untouched,
"message": text, "step": counter after the fit, "trace": [[epoch, step, lr], ...]}.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

FLAVOUR, WORKDIR = sys.argv[1], sys.argv[2]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

if FLAVOUR == "tf_keras":
    assert os.environ.get("TF_USE_LEGACY_KERAS") == "1", "run with TF_USE_LEGACY_KERAS=1"
    import tf_keras as keras
else:
    import keras

from lraudit.keras import (
    TRACE_FILENAME,
    ResumeGuard,
    ResumeMismatch,
    ResumeMismatchWarning,
    read_trace,
)  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.random((32, 3), dtype=np.float32)
Y = RNG.random((32, 1), dtype=np.float32)
SPE = 4


def schedule():
    return keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)


def build(optimizer, strategy=None):
    def make():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
        model.compile(optimizer=optimizer() if callable(optimizer) else optimizer, loss="mse")
        return model

    if strategy is None:
        return make()
    with strategy.scope():
        return make()


def load(path, strategy=None):
    if strategy is None:
        return keras.models.load_model(path)
    with strategy.scope():
        return keras.models.load_model(path)


def fit(model, epochs, initial_epoch=0, callbacks=()):
    model.fit(
        X,
        Y,
        batch_size=8,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
    )


def step_of(model):
    opt = model.optimizer
    opt = getattr(opt, "inner_optimizer", opt)
    return int(opt.iterations.numpy())


def state(model):
    return [step_of(model)] + [v.numpy().copy() for v in model.trainable_weights]


def same(a, b):
    return a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1:], b[1:]))


def trace_of(directory):
    path = os.path.join(directory, TRACE_FILENAME)
    return [[r.epoch, r.step, r.lr] for r in read_trace(path)] if os.path.exists(path) else []


def attempt(model, initial_epoch=2, epochs=3, callbacks=(), **guard_kwargs):
    """Fit with a guard; the outcome says whether it stopped the fit and what it said."""
    guard = ResumeGuard(**guard_kwargs)
    before = state(model)
    code, message = None, ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResumeMismatchWarning)
        try:
            fit(model, epochs, initial_epoch, list(callbacks) + [guard])
        except ResumeMismatch as err:
            code, message = err.code, str(err)
    for w in caught:
        if isinstance(w.message, ResumeMismatchWarning) and code is None:
            code, message = w.message.code, str(w.message)
    trace = trace_of(guard.trace_dir) if guard.trace_dir else []
    return {
        "code": code,
        "unchanged": same(before, state(model)),
        "message": message,
        "step": step_of(model),
        "trace": trace,
    }


def train_and_save(name, optimizer, callbacks=(), strategy=None, suffix=".keras"):
    model = build(optimizer, strategy)
    fit(model, 2, callbacks=callbacks)
    path = os.path.join(WORKDIR, name + suffix)
    model.save(path)
    return model, path


def mirrored(results):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    trace_dir = os.path.join(WORKDIR, "mirrored-trace")
    model, path = train_and_save(
        "mirrored",
        lambda: keras.optimizers.Adam(schedule()),
        [ResumeGuard(trace_dir=trace_dir)],
        strategy,
    )
    results["mirrored_correct"] = attempt(
        load(path, strategy), expected_schedule=schedule(), trace_dir=trace_dir
    )
    recompiled = load(path, strategy)
    with strategy.scope():
        recompiled.compile(optimizer=keras.optimizers.Adam(schedule()), loss="mse")
    results["mirrored_recompiled"] = attempt(recompiled)


def tf_keras_cases(results):
    model, path = train_and_save("base", keras.optimizers.Adam(schedule()))
    weights_path = os.path.join(WORKDIR, "base.weights.h5")
    model.save_weights(weights_path)
    results["correct"] = attempt(load(path), expected_schedule=schedule())

    recompiled = load(path)
    recompiled.compile(optimizer=keras.optimizers.Adam(schedule()), loss="mse")
    results["recompiled"] = attempt(recompiled)

    unbuilt = build(keras.optimizers.Adam(schedule()))
    unbuilt.load_weights(weights_path)  # tf_keras logs "Skipping variable loading" and goes on
    results["load_weights_unbuilt"] = attempt(unbuilt)

    results["no_initial_epoch"] = attempt(load(path), initial_epoch=0)

    warned = load(path)
    warned.compile(optimizer=keras.optimizers.Adam(schedule()), loss="mse")
    results["warn_mode"] = attempt(warned, on_mismatch="warn")

    trace_dir = os.path.join(WORKDIR, "ckpt")
    checkpoint = keras.callbacks.ModelCheckpoint(os.path.join(trace_dir, "ep{epoch:02d}.keras"))
    fresh = build(keras.optimizers.Adam(schedule()))
    fit(fresh, 2, callbacks=[checkpoint, ResumeGuard()])
    results["trace_fresh"] = {"trace": trace_of(trace_dir)}
    results["trace_resumed"] = attempt(
        load(os.path.join(trace_dir, "ep02.keras")), callbacks=[checkpoint], trace_dir=trace_dir
    )

    _, float_path = train_and_save("float", keras.optimizers.Adam(0.01))
    results["float_rate"] = attempt(load(float_path), expected_schedule=0.01)

    def halve(epoch, lr):
        return 0.1 * 0.5**epoch

    _, lrs_path = train_and_save(
        "lrs", keras.optimizers.SGD(0.1), [keras.callbacks.LearningRateScheduler(halve)]
    )
    results["lr_scheduler"] = attempt(
        load(lrs_path),
        callbacks=[keras.callbacks.LearningRateScheduler(halve)],
        trace_dir=os.path.join(WORKDIR, "lrs-trace"),
    )

    # tf_keras would silently ignore the scheduler here; the guard stops it first.
    results["lr_callback_with_schedule"] = attempt(
        build(keras.optimizers.Adam(schedule())),
        initial_epoch=0,
        callbacks=[keras.callbacks.LearningRateScheduler(halve)],
    )

    def plateau():
        return keras.callbacks.ReduceLROnPlateau(
            monitor="loss", factor=0.5, patience=0, min_delta=10.0
        )

    _, rop_path = train_and_save("rop", keras.optimizers.Adam(0.01), [plateau()])
    results["reduce_lr_on_plateau"] = attempt(
        load(rop_path), callbacks=[plateau()], trace_dir=os.path.join(WORKDIR, "rop-trace")
    )

    _, legacy_path = train_and_save(
        "legacy", keras.optimizers.legacy.Adam(schedule()), suffix=".h5"
    )
    results["legacy_optimizer"] = attempt(load(legacy_path), expected_schedule=schedule())

    # The legacy `decay=` argument: rate = lr / (1 + decay * step), applied by the optimizer.
    _, decay_path = train_and_save(
        "decay", keras.optimizers.legacy.SGD(0.1, decay=0.05), suffix=".h5"
    )
    results["legacy_decay"] = attempt(
        load(decay_path), expected_schedule=lambda step: 0.1 / (1 + 0.05 * step)
    )

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        _, mp_path = train_and_save("mixed", keras.optimizers.Adam(schedule()))
        results["mixed_precision"] = attempt(load(mp_path), expected_schedule=schedule())
    finally:
        keras.mixed_precision.set_global_policy("float32")

    backup = os.path.join(WORKDIR, "backup")

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    try:
        fit(
            build(keras.optimizers.Adam(schedule())),
            3,
            callbacks=[ResumeGuard(), keras.callbacks.BackupAndRestore(backup), Interrupt()],
        )
    except KeyboardInterrupt:
        pass
    results["backup_interrupted"] = {"trace": trace_of(backup)}
    results["backup_resumed"] = attempt(
        build(keras.optimizers.Adam(schedule())),
        initial_epoch=0,
        callbacks=[keras.callbacks.BackupAndRestore(backup)],
        expected_schedule=schedule(),
    )

    # tf_keras resumes a batch-level backup inside the epoch: epoch 1, from batch 2 (step 6).
    mid = os.path.join(WORKDIR, "backup-mid")

    class InterruptAtBatch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.left = 6

        def on_train_batch_end(self, batch, logs=None):
            self.left -= 1
            if self.left == 0:
                raise KeyboardInterrupt

    try:
        fit(
            build(keras.optimizers.Adam(schedule())),
            3,
            callbacks=[keras.callbacks.BackupAndRestore(mid, save_freq=2), InterruptAtBatch()],
        )
    except KeyboardInterrupt:
        pass
    results["backup_mid_epoch_resumed"] = attempt(
        build(keras.optimizers.Adam(schedule())),
        initial_epoch=0,
        callbacks=[keras.callbacks.BackupAndRestore(mid, save_freq=2)],
        expected_schedule=schedule(),
    )


def main():
    results = {"flavour": type(ResumeGuard()).__mro__[2].__module__.split(".")[0]}
    if FLAVOUR == "tf_keras":
        tf_keras_cases(results)
    mirrored(results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
