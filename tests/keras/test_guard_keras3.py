"""ResumeGuard under real Keras 3 training: Dense 3->4->1, 32 samples, batch 8 (4 steps
per epoch), 2-3 epochs.  Each wrong resume must be stopped before the first step: the
weights and the step counter are compared before and after the failed fit()."""

from __future__ import annotations

import os
import warnings

import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
if int(keras.__version__.split(".")[0]) < 3:
    pytest.skip("Keras 3 tests; Keras 2 runs in test_guard_tf_keras.py", allow_module_level=True)

import numpy as np  # noqa: E402

from lraudit.keras import (  # noqa: E402
    TRACE_FILENAME,
    ResumeGuard,
    ResumeMismatch,
    ResumeMismatchWarning,
    check_resume,
    read_trace,
)

SPE = 4  # 32 samples / batch 8
RNG = np.random.default_rng(0)
X = RNG.random((32, 3), dtype=np.float32)
Y = RNG.random((32, 1), dtype=np.float32)


@pytest.fixture(autouse=True)
def keras3_guard(monkeypatch):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)


def schedule():
    return keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)


def build(optimizer):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def fit(model, epochs, initial_epoch=0, callbacks=()):
    return model.fit(
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
    return int(opt._iterations.numpy())


def weights(model):
    return [v.numpy().copy() for v in model.trainable_weights]


def train_and_save(directory, optimizer, callbacks=()):
    """Two epochs (8 steps) and a .keras checkpoint of the finished run."""
    model = build(optimizer)
    fit(model, 2, callbacks=callbacks)
    path = os.path.join(directory, "ep2.keras")
    model.save(path)
    return model, path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run with a schedule, stopped after epoch 2: a .keras and a .weights.h5 checkpoint."""
    directory = str(tmp_path_factory.mktemp("run"))
    model, path = train_and_save(directory, keras.optimizers.Adam(schedule()))
    weights_path = os.path.join(directory, "ep2.weights.h5")
    model.save_weights(weights_path)
    assert step_of(model) == 2 * SPE
    return {"keras": path, "weights": weights_path}


def assert_stopped(model, code, initial_epoch=2, expected_schedule=None):
    before, step = weights(model), step_of(model)
    with pytest.raises(ResumeMismatch) as err:
        fit(model, 3, initial_epoch, [ResumeGuard(expected_schedule=expected_schedule)])
    assert err.value.code == code
    assert step_of(model) == step, "a training step ran before the guard stopped the fit"
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(model)))
    return str(err.value)


def resume_passes(model, initial_epoch=2, epochs=3, callbacks=(), **guard_kwargs):
    guard = ResumeGuard(**guard_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResumeMismatchWarning)
        fit(model, epochs, initial_epoch, list(callbacks) + [guard])
    assert guard.findings == []
    assert (
        step_of(model) >= epochs * SPE - 1
    )  # trained on (-1: an overflow skip in mixed precision)
    return guard


# -- the three wrong resumes of the issue, and the right one ------------------------------


def test_correct_resume_passes_silently(run):
    model = keras.saving.load_model(run["keras"])
    resume_passes(model, expected_schedule=schedule())
    assert step_of(model) == 3 * SPE


def test_recompiled_optimizer_is_stopped_before_the_first_step(run):
    model = keras.saving.load_model(run["keras"])
    model.compile(optimizer=keras.optimizers.Adam(schedule()), loss="mse")
    message = assert_stopped(model, "LRV002")
    assert "step counter is 0 but fit() starts at epoch 2 (expected step 8" in message
    assert "compiled again with a new optimizer" in message
    assert "rate 0.1 instead of 0.025" in message


def test_load_weights_into_unbuilt_optimizer_is_stopped_with_that_cause(run):
    model = build(keras.optimizers.Adam(schedule()))
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # plain Python's setting, as in a training script
        model.load_weights(run["weights"])
    message = assert_stopped(model, "LRV002")
    assert "Keras skipped the optimizer's variables" in message
    assert "load_weights() ran into a compiled but unbuilt optimizer" in message
    assert "model.optimizer.build(model.trainable_variables)" in message


def test_building_the_optimizer_before_load_weights_passes(run):
    model = build(keras.optimizers.Adam(schedule()))
    model.optimizer.build(model.trainable_variables)
    model.load_weights(run["weights"])
    resume_passes(model, expected_schedule=schedule())


def test_missing_initial_epoch_is_stopped_before_the_first_step(run):
    model = keras.saving.load_model(run["keras"])
    message = assert_stopped(model, "LR001", initial_epoch=0)
    assert "fit() was not given initial_epoch" in message and "initial_epoch=2" in message


def test_other_schedule_than_expected_is_lr_mismatch(run):
    model = keras.saving.load_model(run["keras"])
    other = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=8, decay_rate=0.5)
    message = assert_stopped(model, "LRV003", expected_schedule=other)
    assert "differs from expected_schedule" in message


def test_warn_mode_warns_and_trains_on(run):
    model = keras.saving.load_model(run["keras"])
    model.compile(optimizer=keras.optimizers.Adam(schedule()), loss="mse")
    before = weights(model)
    with pytest.warns(ResumeMismatchWarning) as caught:
        fit(model, 3, 2, [ResumeGuard(on_mismatch="warn")])
    assert [w.message.code for w in caught if isinstance(w.message, ResumeMismatchWarning)] == [
        "LRV002"
    ]
    assert step_of(model) == SPE  # the one epoch ran, from the restarted counter
    assert not all(np.array_equal(a, b) for a, b in zip(before, weights(model)))


# -- the trace -----------------------------------------------------------------------------


class DiskProbe(keras.callbacks.Callback):
    """After the guard: what another process would read from the trace at each epoch end."""

    def __init__(self, path):
        super().__init__()
        self.path, self.seen = path, []

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path) as fh:
            self.seen.append(len(fh.read().splitlines()))


def test_trace_is_written_next_to_the_checkpoints_and_flushed_each_epoch(tmp_path, monkeypatch):
    ckpt_dir = tmp_path / "ckpt"
    trace = ckpt_dir / TRACE_FILENAME
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    guard, probe = ResumeGuard(), DiskProbe(str(trace))
    checkpoint = keras.callbacks.ModelCheckpoint(str(ckpt_dir / "ep{epoch:02d}.keras"))
    model = build(keras.optimizers.Adam(schedule()))
    fit(model, 3, callbacks=[checkpoint, guard, probe])
    assert guard.trace_path == str(trace)
    assert probe.seen == [1, 2, 3] and len(fsyncs) == 3
    records = read_trace(str(trace))
    assert [(r.epoch, r.step) for r in records] == [(1, 4), (2, 8), (3, 12)]
    sched = schedule()
    assert all(np.isclose(r.lr, float(sched(r.step)), rtol=1e-6) for r in records)

    # Killed mid-write, then resumed from the epoch-3 checkpoint: the trace goes on.
    with open(trace, "a") as fh:
        fh.write('{"epoch": 4, "st')
    resumed = keras.saving.load_model(str(ckpt_dir / "ep03.keras"))
    fit(resumed, 4, 3, [checkpoint, ResumeGuard()])
    assert [(r.epoch, r.step) for r in read_trace(str(trace))] == [(1, 4), (2, 8), (3, 12), (4, 16)]


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated preemption")


def test_backup_and_restore_resume_passes_and_the_trace_survives_the_interruption(tmp_path):
    backup = str(tmp_path / "backup")
    model = build(keras.optimizers.Adam(schedule()))
    with pytest.raises(KeyboardInterrupt):
        fit(
            model,
            3,
            callbacks=[ResumeGuard(), keras.callbacks.BackupAndRestore(backup), Interrupt()],
        )
    assert [r.step for r in read_trace(os.path.join(backup, TRACE_FILENAME))] == [4, 8]
    # The guard sits before BackupAndRestore, which restores in its own on_train_begin.
    fresh = build(keras.optimizers.Adam(schedule()))
    guard = ResumeGuard(expected_schedule=schedule())
    fit(fresh, 3, callbacks=[guard, keras.callbacks.BackupAndRestore(backup)])
    assert guard.findings == [] and step_of(fresh) == 3 * SPE


class InterruptAtBatch(keras.callbacks.Callback):
    def __init__(self, batches):
        super().__init__()
        self.left = batches

    def on_train_batch_end(self, batch, logs=None):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt("simulated preemption")


def test_mid_epoch_backup_that_reruns_its_epoch_is_reported_ahead(tmp_path):
    # Keras 3 restores a batch-level backup (epoch 1, batch 1: step 6) but restarts epoch 1
    # at its first batch, so the schedule runs 2 steps ahead of the epoch clock.
    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        fit(
            build(keras.optimizers.Adam(schedule())),
            3,
            callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=2), InterruptAtBatch(6)],
        )
    model = build(keras.optimizers.Adam(schedule()))
    before = weights(model)
    with pytest.raises(ResumeMismatch) as err:
        fit(
            model,
            3,
            callbacks=[ResumeGuard(), keras.callbacks.BackupAndRestore(backup, save_freq=2)],
        )
    assert err.value.code == "LRV003" and "2 steps ahead" in str(err.value)
    assert "save_freq" in str(err.value)
    assert step_of(model) == 6 and not all(
        np.array_equal(a, b) for a, b in zip(before, weights(model))
    )


# -- rates set by callbacks, precision, accumulation -----------------------------------------


def test_float_rate_resume_passes(tmp_path):
    _, path = train_and_save(str(tmp_path), keras.optimizers.Adam(0.01))
    resume_passes(keras.saving.load_model(path), expected_schedule=0.01)


def halve_each_epoch(epoch, lr):
    return 0.1 * 0.5**epoch


def test_learning_rate_scheduler_resume_passes_and_its_restart_is_stopped(tmp_path):
    trace_dir = str(tmp_path / "trace")
    callbacks = [keras.callbacks.LearningRateScheduler(halve_each_epoch)]
    _, path = train_and_save(str(tmp_path), keras.optimizers.SGD(0.1), callbacks)
    model = keras.saving.load_model(path)
    guard = ResumeGuard(trace_dir=trace_dir)
    fit(model, 3, 2, callbacks + [guard])
    assert guard.findings == []
    (last,) = read_trace(os.path.join(trace_dir, TRACE_FILENAME))
    assert (last.epoch, last.step) == (3, 12) and np.isclose(last.lr, 0.025)
    # Without initial_epoch the scheduler would set epoch 0's rate again at step 8.
    assert_stopped(keras.saving.load_model(path), "LR001", initial_epoch=0)


def test_reduce_lr_on_plateau_resume_passes(tmp_path):
    # min_delta=10 makes every epoch after the first a plateau: the rate halves each time.
    def plateau():
        return keras.callbacks.ReduceLROnPlateau(
            monitor="loss", factor=0.5, patience=0, min_delta=10.0
        )

    model, path = train_and_save(str(tmp_path), keras.optimizers.Adam(0.01), [plateau()])
    reduced = float(model.optimizer.learning_rate.numpy())
    assert np.isclose(reduced, 0.005)
    resumed = keras.saving.load_model(path)
    guard = resume_passes(resumed, callbacks=[plateau()], trace_dir=str(tmp_path))
    # The plateau callback forgot its `best`, so epoch 3 counts as an improvement: no cut.
    (last,) = read_trace(guard.trace_path)
    assert (last.epoch, last.step) == (3, 12) and np.isclose(last.lr, 0.005)


def test_lr_callback_next_to_a_schedule_is_stopped_before_an_epoch_is_wasted():
    # Keras 3 itself would raise TypeError only at the end of the first epoch.
    model = build(keras.optimizers.Adam(schedule()))
    before = weights(model)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss")
    with pytest.raises(ResumeMismatch) as err:
        fit(model, 2, callbacks=[ResumeGuard(), plateau])
    assert err.value.code == "LR202" and "ExponentialDecay" in str(err.value)
    assert step_of(model) == 0 and all(np.array_equal(a, b) for a, b in zip(before, weights(model)))


def test_mixed_precision_resume_passes_and_a_reset_is_still_stopped(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, path = train_and_save(str(tmp_path), keras.optimizers.Adam(schedule()))
        assert type(model.optimizer).__name__ == "LossScaleOptimizer"
        assert int(model.optimizer._iterations.numpy()) == 0  # the wrapper's counter never moves
        resume_passes(keras.saving.load_model(path), expected_schedule=schedule())
        recompiled = keras.saving.load_model(path)
        recompiled.compile(optimizer=keras.optimizers.Adam(schedule()), loss="mse")
        assert_stopped(recompiled, "LRV002")
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_gradient_accumulation_resume_uses_the_raw_counter(tmp_path):
    model, path = train_and_save(
        str(tmp_path), keras.optimizers.Adam(schedule(), gradient_accumulation_steps=2)
    )
    assert int(model.optimizer.iterations.numpy()) == SPE  # 8 micro-steps // 2
    resume_passes(keras.saving.load_model(path), expected_schedule=schedule())


def test_changed_batch_size_needs_the_original_steps_per_epoch(run):
    # Resumed with batch 16: 2 batches per epoch now, but the 2 epochs done were 8 steps.
    def refit(guard):
        model.fit(
            X,
            Y,
            batch_size=16,
            epochs=3,
            initial_epoch=2,
            shuffle=False,
            verbose=0,
            callbacks=[guard],
        )

    model = keras.saving.load_model(run["keras"])
    with pytest.raises(ResumeMismatch) as err:
        refit(ResumeGuard())
    assert err.value.code == "LRV003" and "steps_per_epoch=<the original value>" in str(err.value)
    guard = ResumeGuard(steps_per_epoch=SPE)
    refit(guard)
    assert guard.findings == [] and step_of(model) == 2 * SPE + 2


def test_arguments_are_validated():
    with pytest.raises(ValueError):
        ResumeGuard(on_mismatch="ignore")
    with pytest.raises(ValueError):
        ResumeGuard(steps_per_epoch=0)
    assert isinstance(ResumeGuard(), keras.callbacks.Callback) and isinstance(
        ResumeGuard(), ResumeGuard
    )


def test_a_guard_built_for_tf_keras_refuses_a_keras3_model(monkeypatch):
    pytest.importorskip("tf_keras")
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    guard = ResumeGuard()
    with pytest.raises(TypeError, match="unset TF_USE_LEGACY_KERAS"):
        fit(build(keras.optimizers.Adam(0.01)), 1, callbacks=[guard])


def test_an_unreadable_optimizer_or_trace_warns_and_never_breaks_training(tmp_path):
    class Opaque:  # an optimizer the guard cannot introspect
        name = "opaque"

    class FakeModel:
        optimizer = Opaque()

    guard = ResumeGuard(trace_dir=str(tmp_path))
    guard.set_model(FakeModel())
    guard.on_train_begin()
    with pytest.warns(UserWarning, match="this resume was not checked"):
        guard.on_epoch_begin(2)
    with pytest.warns(UserWarning, match="tracing stops"):
        guard.on_epoch_end(2)
    assert guard.trace_path is None


# -- custom training loops -----------------------------------------------------------------


def test_check_resume_after_a_tf_checkpoint_restore(tmp_path):
    def train_steps(model, optimizer, n):
        for _ in range(n):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(X[:8]) - Y[:8]) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

    model, opt = build(keras.optimizers.Adam(schedule())), keras.optimizers.Adam(schedule())
    train_steps(model, opt, 6)
    prefix = tf.train.Checkpoint(model=model, optimizer=opt).save(str(tmp_path / "ckpt"))

    model2, opt2 = build(keras.optimizers.Adam(schedule())), keras.optimizers.Adam(schedule())
    tf.train.Checkpoint(model=model2, optimizer=opt2).restore(prefix)
    state = check_resume(opt2, expected_step=6, schedule=schedule())
    assert state.step == 6 and np.isclose(state.lr, float(schedule()(6)))

    model3, opt3 = build(keras.optimizers.Adam(schedule())), keras.optimizers.Adam(schedule())
    tf.train.Checkpoint(model=model3).restore(prefix).expect_partial()  # the optimizer was left out
    with pytest.raises(ResumeMismatch) as err:
        check_resume(opt3, expected_step=6)
    assert err.value.code == "LRV002"
