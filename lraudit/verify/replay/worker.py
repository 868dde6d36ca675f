"""The replay worker: runs inside its own Python process, with TensorFlow and one Keras.

Started by `lraudit.verify.replay.runner` as `python -m lraudit.verify.replay.worker`, with the
environment already chosen (TF_USE_LEGACY_KERAS=1 for Keras 2 checkpoints, CUDA_VISIBLE_DEVICES
hidden for --device cpu), because TensorFlow reads both once, at import.  Keeping TensorFlow
out of the lraudit process also keeps the fast path honest and lets one worker serve every
checkpoint of one Keras flavour (TensorFlow is imported once per flavour, not per checkpoint).

Protocol: one JSON request on stdin; JSON lines on the file descriptor that was stdout
(`{"event": "progress"|"result"|"fatal", ...}`).  Everything TensorFlow or Keras print goes to
stderr, which the parent keeps for error messages.

The worker only measures; it never judges.  For each job it reports the loading path, the step
counter found after loading, the rate the optimizer says it will use before each step, the rate
measured from the weight update (plain SGD), and, for custom schedules, the restored schedule's
values at the steps the parent asked about.  `judge.py` turns that into findings.

Nothing is written anywhere: checkpoints are opened read-only by Keras and the model lives in
memory.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import logging
import math
import os
import sys
import warnings
from typing import Any, Callable

from lraudit.verify.replay.plan import SELF_CONTAINED

BATCH = 8          # divisible by the replicas of a two-device MirroredStrategy
_SEQ_LEN = 4       # stands in for unknown non-batch dimensions (sequence lengths)


class ReplayError(Exception):
    """One job cannot be replayed; the message says why and what to do."""


class Channel:
    """The protocol stream: the original stdout, while fd 1 is pointed at stderr."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        sys.stdout.flush()
        os.dup2(2, 1)

    def send(self, event: str, **payload: Any) -> None:
        self._out.write(json.dumps({"event": event, **payload}) + "\n")
        self._out.flush()


# ============================================================================ environment


def import_keras(flavour: int):
    """(tf, keras) for the requested flavour; Keras 2 means tf_keras."""
    import tensorflow as tf  # noqa: PLC0415

    tf.get_logger().setLevel("ERROR")
    if flavour == 2:
        import tf_keras as keras  # noqa: PLC0415
    else:
        import keras  # noqa: PLC0415
    return tf, keras


def make_strategy(tf, name: str | None, gpus: list) -> tuple[Any, str | None]:
    """A MirroredStrategy over the GPUs, or over two logical CPUs on a CPU-only machine."""
    if name != "mirrored":
        return None, None
    if not gpus:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    else:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    short = ", ".join(d.split("device:")[-1] for d in devices)
    return strategy, f"MirroredStrategy over {strategy.num_replicas_in_sync} replicas ({short})"


def describe_device(tf, gpus: list) -> tuple[str, str]:
    """(tf device string, human name) of the device the steps run on."""
    if gpus:
        name = "GPU:0"
        try:
            details = tf.config.experimental.get_device_details(gpus[0])
            if details.get("device_name"):
                name += f" ({details['device_name']})"
        except Exception:  # noqa: BLE001 - the name is cosmetic
            pass
        return "/GPU:0", name
    return "/CPU:0", "CPU:0"


def load_user_module(spec: str) -> Any:
    """Import `path/to/file.py` or `package.module` (what --custom-objects and factories name)."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = os.path.abspath(spec)
        name = "lraudit_user_" + os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ReplayError(f"{spec}: not an importable Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and spec.split(".")[0] != exc.name.split(".")[0]:
            raise
        raise ReplayError(f"cannot import {spec}: replay imports nothing from the working "
                          "directory or PYTHONPATH; name the folder that holds the package "
                          "with --package-root DIR, or pass a .py file") from None


def custom_objects_from(modules: list[Any]) -> dict[str, Any]:
    """Every class a user module defines, by name, for load_model(custom_objects=...).

    Registered classes are found by Keras anyway; unregistered ones are found by class name.
    """
    found: dict[str, Any] = {}
    for module in modules:
        for name, value in vars(module).items():
            if inspect.isclass(value) and getattr(value, "__module__", None) == module.__name__:
                found[name] = value
    return found


def resolve_factory(spec: str) -> Callable[..., Any]:
    module_part, _, func = spec.rpartition(":")
    if not module_part or not func:
        raise ReplayError(f"--model-factory {spec!r}: expected MODULE:FUNCTION or FILE.py:FUNCTION")
    try:
        module = load_user_module(module_part)
    except ReplayError:
        raise
    except Exception as exc:  # noqa: BLE001 - user code: report, do not crash
        raise ReplayError(f"--model-factory: importing {module_part} failed: "
                          f"{type(exc).__name__}: {exc}") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        raise ReplayError(f"--model-factory: {module_part} has no function {func!r}")
    return fn


# ============================================================================ optimizer access


def unwrap(optimizer: Any) -> Any:
    """The optimizer that owns the step counter and the rate (inside a LossScaleOptimizer)."""
    inner = getattr(optimizer, "inner_optimizer", None)
    return inner if inner is not None else optimizer


def counter_variable(optimizer: Any) -> Any:
    inner = unwrap(optimizer)
    raw = getattr(inner, "_iterations", None)   # Keras 3: raw micro-steps under accumulation
    if raw is not None and hasattr(raw, "numpy"):
        return raw
    return inner.iterations


def counter(optimizer: Any) -> int:
    return int(counter_variable(optimizer).numpy())


def is_schedule(value: Any) -> bool:
    return callable(value) and hasattr(value, "get_config") and not hasattr(value, "numpy")


def schedule_of(optimizer: Any) -> Any | None:
    inner = unwrap(optimizer)
    value = getattr(inner, "_learning_rate", None)
    if is_schedule(value):
        return value
    if hasattr(inner, "_get_hyper"):  # Keras 2 OptimizerV2
        try:
            value = inner._get_hyper("learning_rate")
        except (KeyError, AttributeError):
            return None
        return value if is_schedule(value) else None
    return None


def rate_now(tf, optimizer: Any) -> float:
    """The rate the optimizer applies at its next step, by its own reading."""
    inner = unwrap(optimizer)
    if hasattr(inner, "_decayed_lr"):      # Keras 2 OptimizerV2 (schedules and `decay`)
        return float(inner._decayed_lr(tf.float32).numpy())
    schedule = schedule_of(inner)
    if schedule is not None:
        return float(tf.convert_to_tensor(schedule(counter_variable(inner))).numpy())
    value = inner.learning_rate
    return float(value.numpy() if hasattr(value, "numpy") else value)


def schedule_values(tf, optimizer: Any, steps: list[int]) -> dict[str, float]:
    schedule = schedule_of(optimizer)
    if schedule is None:
        return {}
    out = {}
    for step in steps:
        if step < 0:
            continue
        try:
            value = float(tf.convert_to_tensor(schedule(tf.constant(step, dtype=tf.int64))).numpy())
        except Exception:  # noqa: BLE001 - a schedule that wants another dtype
            value = float(tf.convert_to_tensor(schedule(tf.constant(float(step)))).numpy())
        out[str(step)] = value
    return out


def _hyper(optimizer: Any, name: str) -> Any:
    value = getattr(optimizer, name, None)
    if value is None and hasattr(optimizer, "_get_hyper"):
        try:
            value = optimizer._get_hyper(name)
        except (KeyError, AttributeError):
            value = None
    if hasattr(value, "numpy"):
        value = value.numpy()
    return value


def plain_sgd(optimizer: Any, model: Any = None, strategy: Any = None, flavour: int = 3) -> bool:
    """SGD whose update is exactly `rate * gradient` (+ momentum): measurable from the weights."""
    if strategy is not None and (flavour != 3 or not isinstance(getattr(model, "loss", None), str)
                                 or getattr(model, "losses", None)):
        return False     # the unscaled full-batch gradient needs one plain loss function
    if optimizer is not unwrap(optimizer):
        return False                                  # loss scaling
    if type(optimizer).__name__ != "SGD":
        return False
    for name in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        if _hyper(optimizer, name):
            return False
    return not (getattr(optimizer, "use_ema", False)
                or getattr(optimizer, "gradient_accumulation_steps", None))


def momentum_slot(optimizer: Any, variable: Any) -> Any | None:
    if hasattr(optimizer, "get_slot") and not hasattr(optimizer, "momentums"):
        try:
            return optimizer.get_slot(variable, "momentum")   # OptimizerV2
        except (KeyError, ValueError, AttributeError):
            return None
    slots = getattr(optimizer, "momentums", None)
    if not slots:
        return None
    if hasattr(optimizer, "_get_variable_index"):           # Keras 3
        return slots[optimizer._get_variable_index(variable)]
    if hasattr(optimizer, "_index_dict"):                   # tf_keras
        return slots[optimizer._index_dict[optimizer._var_key(variable)]]
    return None


def slot_variables(optimizer: Any) -> list[Any]:
    """The optimizer's per-weight state (momentum, Adam moments...), not counters or rates."""
    inner = unwrap(optimizer)
    skip = ("iter", "learning_rate", "current_learning_rate", "step_counter", "dynamic_scale",
            "loss_scale", "good_steps")
    variables = inner.variables() if callable(getattr(inner, "variables", None)) else inner.variables
    out = []
    for var in variables:
        name = (getattr(var, "path", None) or getattr(var, "name", "")).split("/")[-1].split(":")[0]
        if name.startswith(skip) or "accumulator" in name and "gradient" in name:
            continue
        if len(getattr(var, "shape", ())) == 0:
            continue
        out.append(var)
    return out


def slots_nonzero(optimizer: Any) -> bool | None:
    slots = slot_variables(optimizer)
    if not slots:
        return None
    import numpy as np  # noqa: PLC0415

    return any(bool(np.any(np.asarray(v.numpy()) != 0)) for v in slots)


# ============================================================================ loading


def _call_factory(factory: Callable[..., Any], path: str) -> Any:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    try:
        return factory(path) if len(params) >= 1 else factory()
    except Exception as exc:  # noqa: BLE001 - user code
        raise ReplayError(f"--model-factory raised {type(exc).__name__}: {exc}") from None


def _factory_model(settings: dict, path: str) -> tuple[Any, Any]:
    spec = settings.get("model_factory")
    if not spec:
        raise ReplayError("this format holds no model architecture; pass --model-factory "
                          "MODULE:FUNCTION returning the compiled model your resume builds")
    built = _call_factory(resolve_factory(spec), path)
    model, optimizer = (built if isinstance(built, tuple) else (built, None))
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    if optimizer is None:
        raise ReplayError("the model from --model-factory is not compiled (no optimizer)")
    return model, optimizer


def _tf_children(tf, prefix: str) -> tuple[bool, str, str | None]:
    """(root is the model, model attribute, optimizer attribute) of a TF object checkpoint.

    Keras 2 `save_weights` in the TF format makes the model the root (`layer_with_weights-0/`,
    `optimizer/`); `tf.train.Checkpoint(model=..., optimizer=...)` names them; a tf_keras
    BackupAndRestore nests the optimizer under `model/`.  Keras 3 models keep their variables
    under the optimizer's `_trainable_variables`, so `model/` may hold no variable at all.
    """
    tops: dict[str, set[str]] = {}
    for key, _shape in tf.train.list_variables(prefix):
        parts = key.split("/")
        if len(parts) > 1:
            tops.setdefault(parts[0], set()).add(parts[1])
    if any(name.startswith("layer_with_weights") or name == "layers" for name in tops):
        return True, "", None
    counters = {"iter", "iteration", "iterations", "_iterations"}
    opt_name = next((n for n, children in tops.items() if children & counters), None)
    model_name = next((n for n, children in tops.items()
                       if any(c.startswith(("layer_with_weights", "layers")) for c in children)),
                      "model")
    return False, model_name, opt_name


def load(tf, keras, job: dict, settings: dict, custom: dict) -> tuple[Any, Any, str]:
    """(model, optimizer, loading path) the way a resume would load this checkpoint."""
    path, fmt = job["path"], job["format"]
    api = "tf_keras.models.load_model" if job["keras"] == 2 else "keras.saving.load_model"
    if fmt in SELF_CONTAINED:   # plan.py only sends what this worker can load
        kwargs: dict[str, Any] = {"custom_objects": custom or None}
        kwargs["safe_mode"] = not settings.get("unsafe", False)
        try:
            model = keras.models.load_model(path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated into what the user should do
            raise ReplayError(_explain_load_error(exc, api, settings)) from None
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ReplayError(f"{api} returned a model without an optimizer (saved uncompiled)")
        return model, optimizer, api
    # the factory sees the checkpoint as the user named it (a URL for a remote run), not the
    # private local copy replay may be reading
    model, optimizer = _factory_model(settings, job.get("source", path))
    if fmt in ("tf-checkpoint", "backup-tf-keras"):
        root_is_model, model_name, opt_name = _tf_children(tf, path)
        if root_is_model:   # Keras 2 save_weights in the TF format: the model is the root
            model.load_weights(path)
            return model, optimizer, "model.load_weights (TF format) into the factory's model"
        _build_optimizer(optimizer, model)
        objects = {model_name: model}
        if opt_name and opt_name != model_name:
            objects[opt_name] = optimizer
        status = tf.train.Checkpoint(**objects).restore(path)
        try:
            status.assert_existing_objects_matched()
        except AssertionError as exc:
            raise ReplayError("the checkpoint does not match the model from --model-factory: "
                              + str(exc).splitlines()[0][:300]) from None
        names = ", ".join(f"{k}=" for k in objects)
        return model, optimizer, f"tf.train.Checkpoint({names}).restore into the factory's model"
    model.load_weights(path)
    return model, optimizer, "model.load_weights into the factory's compiled model"


def _explain_load_error(exc: Exception, api: str, settings: dict) -> str:
    text = " ".join(str(exc).split())
    if "safe_mode" in text or "unsafe" in text.lower():
        return (f"{api} refused to load code stored in the checkpoint (a Lambda layer or a "
                "Python lambda); replay keeps Keras's safe_mode on. Pass --unsafe only if you "
                f"trust where this checkpoint came from. Keras said: {text[:200]}")
    if ("could not be deserialized" in text or "Unknown" in text or "custom_objects" in text
            or "register_keras_serializable" in text):
        hint = ("check that the modules given with --custom-objects define it"
                if settings.get("custom_objects") else
                "pass --custom-objects FILE_OR_MODULE naming the module that defines your custom "
                "classes (schedules, layers, losses)")
        return f"{api} could not rebuild a custom object: {hint}. Keras said: {text[:200]}"
    return f"{api} failed: {type(exc).__name__}: {text[:300]}"


def _build_optimizer(optimizer: Any, model: Any) -> None:
    inner = unwrap(optimizer)
    if getattr(inner, "built", True) is False or (hasattr(inner, "build") and not inner.variables):
        optimizer.build(model.trainable_variables)
    elif hasattr(inner, "_create_all_weights"):
        inner._create_all_weights(model.trainable_variables)


# ============================================================================ synthetic batch


def _input_specs(model: Any) -> list[tuple[tuple, Any]]:
    inputs = getattr(model, "inputs", None)
    if inputs:
        return [(tuple(t.shape), t.dtype) for t in inputs]
    shape = getattr(model, "input_shape", None)
    if shape is None:
        raise ReplayError("cannot tell the model's input shape (build the model before saving)")
    shapes = shape if isinstance(shape, list) else [shape]
    return [(tuple(s), "float32") for s in shapes]


def _dtype_name(dtype: Any) -> str:
    return getattr(dtype, "name", None) or str(dtype)


def _fill(np, rng, shape: tuple, dtype: Any, batch: int) -> Any:
    dims = [batch] + [(_SEQ_LEN if d is None else int(d)) for d in shape[1:]]
    name = _dtype_name(dtype)
    if "int" in name or "bool" in name:
        return np.zeros(dims, dtype=name)
    if "string" in name:
        raise ReplayError("the model takes string inputs; replay cannot invent them "
                          "(use --model-factory with a model that takes tensors)")
    return rng.uniform(-1.0, 1.0, size=dims).astype("float32")


def synthetic_batch(tf, model: Any, batch: int = BATCH) -> tuple[Any, Any]:
    """Inputs matching the model, and targets for which the compiled loss is a finite number."""
    import numpy as np  # noqa: PLC0415

    rng = np.random.RandomState(0)
    specs = _input_specs(model)
    xs = [_fill(np, rng, shape, dtype, batch) for shape, dtype in specs]
    x = xs[0] if len(xs) == 1 else xs
    y_pred = model(x, training=False)
    preds = y_pred if isinstance(y_pred, (list, tuple)) else [y_pred]
    names = None
    if isinstance(y_pred, dict):
        names, preds = list(y_pred), list(y_pred.values())

    def candidates(pred):
        shape = tuple(pred.shape)
        yield rng.uniform(0.0, 1.0, size=shape).astype("float32")
        yield np.zeros(shape[:-1], dtype="int32")
        yield np.zeros(shape, dtype="int32")

    last_error: Exception | None = None
    for choice in range(3):
        ys = [list(candidates(p))[choice] for p in preds]
        y = dict(zip(names, ys)) if names else (ys[0] if len(ys) == 1 else ys)
        try:
            loss = _loss(model, x, y)
        except Exception as exc:  # noqa: BLE001 - try the next target layout
            last_error = exc
            continue
        if math.isfinite(float(loss)):
            return x, y
    raise ReplayError("could not build targets that the model's compiled loss accepts"
                      + (f" ({type(last_error).__name__}: {str(last_error)[:200]})" if last_error else ""))


def _loss(model: Any, x: Any, y: Any) -> Any:
    import tensorflow as tf  # noqa: PLC0415 - already imported by the worker

    # tf_keras's compiled loss wants tensors, not numpy arrays
    x, y = tf.nest.map_structure(tf.convert_to_tensor, (x, y))
    y_pred = model(x, training=True)
    try:
        return model.compute_loss(x=x, y=y, y_pred=y_pred)
    except TypeError:
        return model.compute_loss(x, y, y_pred, None)


# ============================================================================ steps


def _one_step(model: Any, x: Any, y: Any) -> None:
    """One real training step through fit(): Keras's own loss scaling, distribution, counters."""
    model.fit(x, y, batch_size=len(x) if not isinstance(x, list) else len(x[0]), epochs=1,
              verbose=0, shuffle=False)


def _gradients(tf, model: Any, x: Any, y: Any, strategy: Any = None) -> list[Any]:
    """Full-batch gradients (what fit()'s all-reduced replica gradients add up to)."""
    def compute():
        with tf.GradientTape() as tape:
            loss = _loss(model, x, y)
        return tape.gradient(loss, model.trainable_variables)

    if strategy is None:
        return compute()
    # Mirrored variables are only differentiable inside a replica, where Keras divides the
    # compiled loss by the number of replicas.  Use the plain loss function there instead, on
    # the whole batch, so that these are the true full-batch gradients; fit() must add its
    # replicas' gradients up to the same thing, which is what the measurement then checks.
    import keras as _k3  # noqa: PLC0415 - only Keras 3 reaches here (see plain_sgd)

    loss_fn = _k3.losses.get(model.loss)

    def unscaled():
        xt, yt = tf.nest.map_structure(tf.convert_to_tensor, (x, y))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(yt, model(xt, training=True)))
        return tape.gradient(loss, model.trainable_variables)

    return strategy.experimental_local_results(strategy.run(unscaled))[0]


def measure_sgd(np, optimizer: Any, before: list, after: list, momenta: list, grads: list) -> float | None:
    """The rate applied by one SGD step, recovered from the weight change.

    Keras SGD: m' = mu*m - lr*g; w' = w + m' (nesterov: w' = w + mu*m' - lr*g).
    So lr = (mu*m - dw) / g, or (mu^2*m - dw) / (g*(1+mu)) with nesterov.
    """
    mu = float(_hyper(optimizer, "momentum") or 0.0)
    nesterov = bool(_hyper(optimizer, "nesterov") or False)
    estimates = []
    for w0, w1, m0, g in zip(before, after, momenta, grads):
        if g is None:
            continue
        g = np.asarray(g, dtype="float64").ravel()
        dw = (np.asarray(w1, dtype="float64") - np.asarray(w0, dtype="float64")).ravel()
        m = np.zeros_like(g) if m0 is None else np.asarray(m0, dtype="float64").ravel()
        big = np.abs(g) >= 0.25 * np.max(np.abs(g)) if g.size and np.max(np.abs(g)) > 0 else None
        if big is None:
            continue
        if nesterov:
            est = (mu * mu * m[big] - dw[big]) / (g[big] * (1.0 + mu))
        else:
            est = (mu * m[big] - dw[big]) / g[big]
        estimates.extend(est.tolist())
    if not estimates:
        return None
    return float(np.median(np.asarray(estimates)))


def replay_job(tf, keras, job: dict, settings: dict, custom: dict, strategy: Any,
               device: str, device_name: str) -> dict:
    import numpy as np  # noqa: PLC0415

    result: dict[str, Any] = {"id": job["id"], "device": device_name, "steps": [],
                              "load_path": None, "loaded_step": None, "warnings": [],
                              "slots_nonzero": None, "schedule_values": {}, "measured": False,
                              "rebuilt": None}
    policy = "mixed_float16" if job.get("mixed_precision") else "float32"
    keras.mixed_precision.set_global_policy(policy)
    caught = _LogCatcher()
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope, tf.device(device), caught:
        model, optimizer, how = load(tf, keras, job, settings, custom)
        result["load_path"] = how
        result["optimizer"] = type(unwrap(optimizer)).__name__ + (
            " in LossScaleOptimizer" if optimizer is not unwrap(optimizer) else "")
        # Keras 3 restores a legacy .h5 optimizer as built but without its slot variables
        # (only the counter); a resume must rebuild it before training, which keeps the counter.
        inner = unwrap(optimizer)
        if (job["format"] == "legacy-h5" and job["keras"] == 3 and getattr(inner, "built", False)
                and not slot_variables(optimizer) and model.trainable_variables
                and _hyper(inner, "momentum")):
            inner.built = False
            inner.build(model.trainable_variables)
            result["rebuilt"] = ("Keras 3 restored this legacy .h5 optimizer without its slot "
                                 "variables; it was rebuilt (counter kept, momentum restarts)")
        result["loaded_step"] = counter(optimizer)
        result["slots_nonzero"] = slots_nonzero(optimizer)
        result["schedule_values"] = schedule_values(tf, optimizer, job.get("probe_steps", []))
        result["schedule_class"] = type(schedule_of(optimizer)).__name__ if schedule_of(optimizer) else None
        x, y = synthetic_batch(tf, model)
        measurable = plain_sgd(optimizer, model, strategy, job["keras"])
        result["measured"] = measurable
        variables = model.trainable_variables
        for _k in range(job["steps"]):
            c0 = counter(optimizer)
            reading = rate_now(tf, optimizer)
            if measurable:
                before = [v.numpy() for v in variables]
                slots = [momentum_slot(optimizer, v) for v in variables]
                momenta = [None if s is None else s.numpy() for s in slots]
                grads = [None if g is None else g.numpy() for g in _gradients(tf, model, x, y, strategy)]
            _one_step(model, x, y)
            c1 = counter(optimizer)
            measured = None
            if measurable and c1 != c0:
                measured = measure_sgd(np, optimizer, before, [v.numpy() for v in variables],
                                       momenta, grads)
            result["steps"].append({"counter": c0, "reading": reading, "measured": measured,
                                    "advanced": c1 - c0})
    result["warnings"].extend(caught.messages())
    keras.backend.clear_session()
    return result


class _LogCatcher:
    """Collects Keras's load-time warnings ("Skipping variable loading for optimizer ...")."""

    def __init__(self) -> None:
        self._records: list[str] = []
        self._warn = warnings.catch_warnings(record=True)
        self._handler = logging.StreamHandler(io.StringIO())

    def __enter__(self):
        self._caught = self._warn.__enter__()
        warnings.simplefilter("always")
        for name in ("tensorflow", "absl", "keras", "tf_keras", ""):
            logging.getLogger(name).addHandler(self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for name in ("tensorflow", "absl", "keras", "tf_keras", ""):
            logging.getLogger(name).removeHandler(self._handler)
        self._warn.__exit__(*exc)

    def messages(self) -> list[str]:
        out = [str(w.message).strip() for w in self._caught]
        out += [line for line in self._handler.stream.getvalue().splitlines() if line.strip()]
        keep = [m.splitlines()[0][:300] for m in out
                if "optimizer" in m.lower() or "skipping" in m.lower() or "mismatch" in m.lower()]
        return list(dict.fromkeys(keep))


# ============================================================================ main


def main() -> int:
    channel = Channel()
    request = json.load(sys.stdin)
    settings = request["settings"]
    channel.send("progress", message="importing TensorFlow")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        tf, keras = import_keras(settings["keras"])
        gpus = tf.config.list_physical_devices("GPU")
        if settings.get("device") == "gpu" and not gpus:
            channel.send("fatal", message="--device gpu: TensorFlow sees no GPU on this machine "
                                          "(use --device auto or cpu)")
            return 0
        strategy, strategy_name = make_strategy(tf, settings.get("strategy"), gpus)
        device, device_name = describe_device(tf, gpus)
        if strategy_name:
            device_name = strategy_name
        modules = [load_user_module(spec) for spec in settings.get("custom_objects", [])]
        custom = custom_objects_from(modules)
    except ReplayError as exc:
        channel.send("fatal", message=str(exc))
        return 0
    except Exception as exc:  # noqa: BLE001 - user modules run here
        channel.send("fatal", message=f"{type(exc).__name__}: {exc}")
        return 0
    for job in request["jobs"]:
        channel.send("progress", message=f"replaying {job['display']} ({job['steps']} steps)")
        try:
            outcome = replay_job(tf, keras, job, settings, custom, strategy, device, device_name)
        except ReplayError as exc:
            outcome = {"id": job["id"], "device": device_name, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - one checkpoint must not stop the others
            import traceback  # noqa: PLC0415

            traceback.print_exc()   # to stderr, kept by the parent for diagnosis
            outcome = {"id": job["id"], "device": device_name,
                       "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"}
        channel.send("result", **outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
