"""The built-in Keras learning-rate schedules, evaluated in pure Python from their config.

Why pure Python: verify must say what rate a checkpoint's optimizer will apply without importing
TensorFlow (seconds) or even numpy.  Why float32 emulation: Keras evaluates a schedule in the
dtype of `initial_learning_rate`, float32 for a Python float, casting the step to float32 and
rounding after every operation.  Evaluating the same formula in float64 differs from what the
optimizer really applies by up to ~1e-6 relative (more where the result is a difference of
nearly equal numbers, e.g. a cosine near its end), which would make `--rtol 1e-6` comparisons
flaky.  So every operation below is rounded to float32 in the same order as
keras/src/optimizers/schedules/learning_rate_schedule.py; the remaining difference to Keras is
the last-bit accuracy of float32 `pow`/`cos`/`log` in TensorFlow's kernels (a few ulp).

Accepted config forms: Keras 3 `{"module", "class_name", "config", "registered_name"}` and Keras 2
`{"class_name", "config"}`.  A user-defined schedule (any other class, or one registered under a
package) cannot be evaluated here: `is_builtin()` says so and verify reports it as unverifiable.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Callable

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow")

# class name -> (parameter order, defaults); mirrors the constructors of Keras 3.
PARAMETERS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "ExponentialDecay": (
        ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"),
        {"staircase": False, "name": "ExponentialDecay"},
    ),
    "PiecewiseConstantDecay": (("boundaries", "values", "name"), {"name": "PiecewiseConstant"}),
    "PolynomialDecay": (
        ("initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle", "name"),
        {"end_learning_rate": 0.0001, "power": 1.0, "cycle": False, "name": "PolynomialDecay"},
    ),
    "InverseTimeDecay": (
        ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"),
        {"staircase": False, "name": "InverseTimeDecay"},
    ),
    "CosineDecay": (
        ("initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target", "warmup_steps"),
        {"alpha": 0.0, "name": "CosineDecay", "warmup_target": None, "warmup_steps": 0},
    ),
    "CosineDecayRestarts": (
        ("initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha", "name"),
        {"t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0, "name": "SGDRDecay"},
    ),
}

# A float learning rate expressed as a schedule, so that `--schedule 0.001` and float-LR runs
# share one code path.  Never written by Keras.
CONSTANT = "Constant"


class ScheduleError(ValueError):
    """The serialized schedule cannot be evaluated (unknown class, missing or bad config)."""


def f32(x: float) -> float:
    """Round a Python float to the nearest float32, as TensorFlow stores it."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


# ----------------------------------------------------------------------------- config handling


def constant(value: float) -> dict[str, Any]:
    return {"module": None, "class_name": CONSTANT, "config": {"value": float(value)},
            "registered_name": None}


def normalize(serialized: Any) -> dict[str, Any]:
    """Bring a Keras 2 or Keras 3 serialized schedule to one shape (raises ScheduleError)."""
    if not isinstance(serialized, dict) or "class_name" not in serialized:
        raise ScheduleError("a serialized schedule needs 'class_name' and 'config'")
    config = serialized.get("config")
    if not isinstance(config, dict):
        raise ScheduleError(f"schedule {serialized.get('class_name')!r} has no config object")
    class_name = str(serialized["class_name"])
    return {
        "module": serialized.get("module"),
        "class_name": class_name,
        "config": dict(config),
        "registered_name": serialized.get("registered_name"),
    }


def builtin_name(serialized: dict[str, Any]) -> str | None:
    """The built-in class this schedule is, or None for a user-defined schedule.

    A class called `ExponentialDecay` defined in the user's own module is not Keras's, so the
    module and the registered name are checked, not just the class name.
    """
    name = serialized.get("class_name")
    if name == CONSTANT and serialized.get("module") is None:
        return CONSTANT
    if name not in PARAMETERS:
        return None
    module = serialized.get("module")
    if module and not str(module).startswith(_KERAS_MODULES):
        return None
    registered = serialized.get("registered_name")
    if registered and registered != name and not str(registered).startswith(_KERAS_MODULES):
        return None
    return name


def is_builtin(serialized: dict[str, Any]) -> bool:
    return builtin_name(serialized) is not None


def full_config(serialized: dict[str, Any]) -> dict[str, Any]:
    """The config with Keras's defaults filled in and `name` dropped (names never matter)."""
    name = builtin_name(serialized)
    if name is None:
        raise ScheduleError(f"{serialized.get('class_name')!r} is not a built-in Keras schedule")
    config = dict(serialized["config"])
    if name == CONSTANT:
        return {"value": config.get("value")}
    order, defaults = PARAMETERS[name]
    merged = {key: config.get(key, defaults.get(key)) for key in order if key != "name"}
    missing = [key for key, value in merged.items() if value is None and key not in defaults]
    if missing:
        raise ScheduleError(f"{name} config lacks {', '.join(missing)}")
    return merged


def same_schedule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when both serialized schedules give the same rate at every step.

    Numbers are compared after rounding to float32, the precision Keras computes in, so a config
    re-serialized from a float32 variable (0.009999999776482582) equals the literal 0.01.
    """
    na, nb = builtin_name(a), builtin_name(b)
    if na is None or nb is None:
        return _plain(a) == _plain(b)
    if na != nb:
        return False
    try:
        return _same_value(full_config(a), full_config(b))
    except ScheduleError:
        return _plain(a) == _plain(b)


def _plain(serialized: dict[str, Any]) -> tuple:
    config = {k: v for k, v in (serialized.get("config") or {}).items() if k != "name"}
    return (serialized.get("class_name"), repr(sorted(config.items(), key=lambda kv: kv[0])))


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return f32(float(a)) == f32(float(b))
    return a == b


def describe(serialized: dict[str, Any]) -> str:
    """`ExponentialDecay(initial_learning_rate=0.1, decay_steps=1000, ...)` for messages."""
    name = serialized.get("class_name", "?")
    if builtin_name(serialized) == CONSTANT:
        return f"constant {_fmt(serialized['config'].get('value'))}"
    config = serialized.get("config") or {}
    try:
        items = full_config(serialized).items() if is_builtin(serialized) else config.items()
    except ScheduleError:
        items = config.items()
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in items if k != "name")
    return f"{name}({args})"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.8g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return repr(value)


# ----------------------------------------------------------------------------- evaluation


def evaluate(serialized: dict[str, Any], step: int) -> float:
    """The rate Keras applies at optimizer step `step` (raw `iterations` before the update)."""
    name = builtin_name(serialized)
    if name is None:
        raise ScheduleError(f"{serialized.get('class_name')!r} is not a built-in Keras schedule")
    config = full_config(serialized)
    try:
        return _EVALUATORS[name](config, int(step))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise ScheduleError(f"cannot evaluate {name} with this config ({exc})") from None


def _num(config: dict[str, Any], key: str) -> float:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleError(f"{key} must be a number, got {value!r}")
    return float(value)


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return f32(a / b)


def _pow(a: float, b: float) -> float:
    try:
        return f32(math.pow(a, b))
    except (ValueError, OverflowError):
        if a < 0 and not float(b).is_integer():
            return math.nan
        return math.inf
    except ZeroDivisionError:
        return math.inf


def _log(a: float) -> float:
    if a < 0 or math.isnan(a):
        return math.nan
    if a == 0:
        return -math.inf
    return f32(math.log(a))


def _floor(a: float) -> float:
    return float(math.floor(a)) if math.isfinite(a) else a


_PI = f32(math.pi)


def _constant(config: dict[str, Any], step: int) -> float:
    return f32(_num(config, "value"))


def _exponential(config: dict[str, Any], step: int) -> float:
    init = f32(_num(config, "initial_learning_rate"))
    decay_steps = f32(_num(config, "decay_steps"))
    rate = f32(_num(config, "decay_rate"))
    p = _div(f32(step), decay_steps)
    if config.get("staircase"):
        p = _floor(p)
    return f32(init * _pow(rate, p))


def _inverse_time(config: dict[str, Any], step: int) -> float:
    init = f32(_num(config, "initial_learning_rate"))
    decay_steps = f32(_num(config, "decay_steps"))
    rate = f32(_num(config, "decay_rate"))
    p = _div(f32(step), decay_steps)
    if config.get("staircase"):
        p = _floor(p)
    denom = f32(1.0 + f32(rate * p))
    return _div(init, denom)


def _polynomial(config: dict[str, Any], step: int) -> float:
    init = f32(_num(config, "initial_learning_rate"))
    end = f32(_num(config, "end_learning_rate"))
    power = f32(_num(config, "power"))
    decay_steps_py = _num(config, "decay_steps")
    s = f32(step)
    decay_steps = f32(decay_steps_py)
    if config.get("cycle"):
        multiplier = 1.0 if s == 0 else math.ceil(_div(s, f32(decay_steps_py)))
        decay_steps = f32(decay_steps * multiplier)
    else:
        s = min(s, decay_steps)
    p = _div(s, decay_steps)
    return f32(f32(f32(init - end) * _pow(f32(1.0 - p), power)) + end)


def _cosine_part(s: float, decay_steps: float, start: float, alpha_py: float) -> float:
    fraction = _div(s, decay_steps)
    cosine = f32(math.cos(f32(_PI * fraction)))
    decayed = f32(0.5 * f32(1.0 + cosine))
    decayed = f32(f32(f32(1.0 - alpha_py) * decayed) + f32(alpha_py))
    return f32(start * decayed)


def _cosine(config: dict[str, Any], step: int) -> float:
    init = f32(_num(config, "initial_learning_rate"))
    decay_steps = f32(_num(config, "decay_steps"))
    alpha = _num(config, "alpha")
    s = f32(step)
    if config.get("warmup_target") is None:
        return _cosine_part(min(s, decay_steps), decay_steps, init, alpha)
    target = f32(_num(config, "warmup_target"))
    warmup_steps = f32(_num(config, "warmup_steps"))
    s = min(s, f32(decay_steps + warmup_steps))
    if s < warmup_steps:
        fraction = _div(s, warmup_steps)
        return f32(f32(f32(target - init) * fraction) + init)
    return _cosine_part(f32(s - warmup_steps), decay_steps, target, alpha)


def _cosine_restarts(config: dict[str, Any], step: int) -> float:
    init = f32(_num(config, "initial_learning_rate"))
    first = f32(_num(config, "first_decay_steps"))
    alpha = f32(_num(config, "alpha"))
    t_mul = f32(_num(config, "t_mul"))
    m_mul = f32(_num(config, "m_mul"))
    fraction = _div(f32(step), first)
    if t_mul == 1.0:
        restart = _floor(fraction)
        fraction = f32(fraction - restart)
    else:
        inner = f32(1.0 - f32(fraction * f32(1.0 - t_mul)))
        restart = _floor(_div(_log(inner), _log(t_mul)))
        if math.isnan(restart):
            return math.nan
        scale = _pow(t_mul, restart)
        total = _div(f32(1.0 - scale), f32(1.0 - t_mul))
        fraction = _div(f32(fraction - total), scale)
    m_factor = _pow(m_mul, restart)
    cosine = f32(f32(0.5 * m_factor) * f32(1.0 + f32(math.cos(f32(_PI * fraction)))))
    decayed = f32(f32(f32(1.0 - alpha) * cosine) + alpha)
    return f32(init * decayed)


def _piecewise(config: dict[str, Any], step: int) -> float:
    boundaries = config["boundaries"]
    values = config["values"]
    if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
        raise ScheduleError("boundaries and values must be lists")
    if len(values) != len(boundaries) + 1 or not boundaries:
        raise ScheduleError("PiecewiseConstantDecay needs len(values) == len(boundaries) + 1")
    # Keras casts the boundaries to the step's dtype (int64): float boundaries are truncated.
    bounds = [int(f32(float(b))) if isinstance(b, float) else int(b) for b in boundaries]
    vals = [f32(float(v)) for v in values]
    if step <= bounds[0]:
        return vals[0]
    if step > bounds[-1]:
        return vals[-1]
    for low, high, value in zip(bounds[:-1], bounds[1:], vals[1:-1]):
        if low < step <= high:
            return value
    return 0.0  # boundaries not increasing: Keras's sum of indicator terms gives 0 here too


_EVALUATORS: dict[str, Callable[[dict[str, Any], int], float]] = {
    CONSTANT: _constant,
    "ExponentialDecay": _exponential,
    "PiecewiseConstantDecay": _piecewise,
    "PolynomialDecay": _polynomial,
    "InverseTimeDecay": _inverse_time,
    "CosineDecay": _cosine,
    "CosineDecayRestarts": _cosine_restarts,
}


def close(a: float, b: float, rtol: float, scale: float = 0.0) -> bool:
    """Relative comparison with a floor of two float32 ulps of the schedule's scale.

    Without the floor, a rate that is itself a rounding residue (a cosine at its very end is
    `init * (1 + cos(pi))`, a few 1e-9) would fail any relative test.
    """
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    atol = 2.4e-7 * abs(scale)
    return abs(a - b) <= max(rtol * max(abs(a), abs(b)), atol)


def scale_of(serialized: dict[str, Any]) -> float:
    """The largest rate a schedule can produce, for `close()`'s absolute floor."""
    try:
        config = full_config(serialized)
    except ScheduleError:
        return 0.0
    numbers = []
    for key in ("initial_learning_rate", "warmup_target", "end_learning_rate", "value"):
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append(abs(float(value)))
    for value in config.get("values") or []:
        if isinstance(value, (int, float)):
            numbers.append(abs(float(value)))
    return max(numbers, default=0.0)
