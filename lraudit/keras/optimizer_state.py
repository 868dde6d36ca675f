"""Read an optimizer's step counter and learning rate the way its update step will.

Duck-typed on purpose: the same code serves Keras 3, tf_keras (new and legacy optimizers)
and their mixed-precision wrappers without importing any of them, so `lraudit.keras` stays
free of TensorFlow until a guard is actually built.  The rules it follows
(reference: hazards A.4, checkpoint-formats "step semantics"):

* the schedule is evaluated at the *raw* counter before the increment: the step taken when
  the counter reads N uses `schedule(N)`;
* Keras 3 `iterations` divides by `gradient_accumulation_steps`, the schedule does not, so
  read `_iterations`;
* a LossScaleOptimizer's own counter stays 0 in Keras 3; the inner optimizer's is the one
  that counts;
* tf_keras's `optimizer.learning_rate` with a schedule is a cached value that is stale
  until the first step after a load, so never read it; evaluate the schedule instead.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RateFn = Callable[[int], "float | None"]


@dataclass(frozen=True)
class OptimizerSnapshot:
    """What the next optimizer step will do, read once (never per batch)."""

    name: str
    step: int  # raw counter: the next step uses the rate at this step
    rate: float | None  # rate the next step applies; None when it cannot be known
    own_rate: RateFn  # the optimizer's own rate at any step (None where unknowable)
    has_schedule: bool
    overflow_slack: int  # steps a K3 loss-scale optimizer may have skipped, upper bound
    skipped_load_warning: str | None  # Keras's "Skipping variable loading" text, if seen


def to_float(value: Any) -> float:
    """Tensors, Keras variables and numpy scalars all become a Python float.

    `float()` first: it works for TF, JAX and torch scalars (even on a GPU, where torch's
    `.numpy()` refuses); `.numpy()` for objects without `__float__`.
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return float(value.numpy())


def unwrap(optimizer: Any) -> tuple[Any, Any | None]:
    """(inner optimizer, outermost loss-scale wrapper or None)."""
    wrapper = None
    inner = optimizer
    seen = 0
    while getattr(inner, "inner_optimizer", None) is not None and seen < 4:
        wrapper = wrapper or inner
        inner = inner.inner_optimizer
        seen += 1
    return inner, wrapper


def is_schedule(obj: Any) -> bool:
    """A LearningRateSchedule of any Keras flavour, recognised by its class hierarchy."""
    return any(cls.__name__ == "LearningRateSchedule" for cls in type(obj).__mro__)


def raw_step(optimizer: Any) -> int:
    inner, _ = unwrap(optimizer)
    counter = getattr(inner, "_iterations", None)
    if counter is None:
        counter = inner.iterations
    return int(to_float(counter))


def _is_legacy(inner: Any) -> bool:
    # tf_keras OptimizerV2 keeps hyperparameters in `_hyper` and applies `decay=` itself.
    return hasattr(inner, "_get_hyper") and hasattr(inner, "_initial_decay")


def _rate_source(inner: Any) -> Any:
    if _is_legacy(inner):
        return inner._get_hyper("learning_rate")
    if hasattr(inner, "_learning_rate"):
        return inner._learning_rate
    return inner.learning_rate


def schedule_name(optimizer: Any) -> str | None:
    """The class name of the optimizer's LearningRateSchedule, None for a plain rate."""
    source = _rate_source(unwrap(optimizer)[0])
    return type(source).__name__ if is_schedule(source) else None


def own_rate_fn(optimizer: Any) -> tuple[RateFn, bool]:
    """The optimizer's rate as a function of the raw step, and whether it is a schedule.

    A rate variable does not depend on the step (callbacks change it between epochs); a
    zero-argument callable can only be read now, so other steps answer None.
    """
    inner, _ = unwrap(optimizer)
    source = _rate_source(inner)
    decay = float(getattr(inner, "_initial_decay", 0.0) or 0.0) if _is_legacy(inner) else 0.0

    def with_decay(rate: float, step: int) -> float:
        return rate / (1.0 + decay * step) if decay > 0.0 else rate

    if is_schedule(source):
        return (lambda step: with_decay(to_float(source(step)), step)), True
    if hasattr(source, "numpy") or isinstance(source, (int, float)):
        value = to_float(source)
        return (lambda step: with_decay(value, step)), decay > 0.0
    if callable(source):
        now = raw_step(optimizer)
        current = to_float(source())
        return (lambda step: current if step == now else None), True
    return (lambda step: None), False


def overflow_slack(optimizer: Any, step: int) -> int:
    """Upper bound on the steps a Keras 3 LossScaleOptimizer skipped for overflow.

    Keras 3 skips the inner update (and its counter) on non-finite gradients, halving the
    scale; after `dynamic_growth_steps` good steps it doubles the scale.  So
    skipped = doublings + log2(initial / current) <= step // growth + log2(initial / current).
    tf_keras counts skipped steps, and has no `dynamic_scale`, so it gets 0.
    """
    _, wrapper = unwrap(optimizer)
    if (
        wrapper is None
        or not hasattr(wrapper, "dynamic_scale")
        or not hasattr(wrapper, "step_counter")
    ):
        return 0
    try:
        current = to_float(wrapper.dynamic_scale)
        initial = float(wrapper.initial_scale)
        growth = int(wrapper.dynamic_growth_steps)
    except (AttributeError, TypeError, ValueError):
        return 0
    if current <= 0.0 or initial <= 0.0 or growth <= 0:
        return 0
    halvings = round(math.log2(initial / current))
    return max(0, step // growth + halvings)


def skipped_load_warning(optimizer: Any) -> str | None:
    """The "Skipping variable loading for optimizer 'NAME'" warning Keras gave for this
    optimizer earlier in the process, if Python's warning registry still holds it.

    It is the only trace `load_weights()` into an unbuilt optimizer leaves; it lets the
    message name that cause instead of listing every possible one.  Keras 3 names
    optimizers uniquely per process, so a match on the name is specific there.
    """
    inner, _ = unwrap(optimizer)
    name = getattr(inner, "name", None)
    if not name:
        return None
    prefix = f"Skipping variable loading for optimizer '{name}'"
    for mod_name, module in list(sys.modules.items()):
        if not (mod_name.startswith("keras") or mod_name.startswith("tf_keras")):
            continue
        registry = getattr(module, "__dict__", {}).get("__warningregistry__")
        if not registry:
            continue
        for key in list(registry):
            if (
                isinstance(key, tuple)
                and key
                and isinstance(key[0], str)
                and key[0].startswith(prefix)
            ):
                return key[0].strip()
    return None


def current_rate(optimizer: Any, step: int) -> float | None:
    """The rate the step taken at raw counter `step` applies (None if unknowable)."""
    rate_fn, _ = own_rate_fn(optimizer)
    try:
        return rate_fn(step)
    except Exception:  # a custom schedule that cannot be evaluated eagerly: say nothing
        return None


def snapshot(optimizer: Any) -> OptimizerSnapshot:
    inner, _ = unwrap(optimizer)
    step = raw_step(optimizer)
    rate_fn, has_schedule = own_rate_fn(optimizer)
    try:
        rate = rate_fn(step)
    except Exception:  # a custom schedule that cannot be evaluated eagerly: say nothing
        rate = None
    return OptimizerSnapshot(
        name=str(getattr(inner, "name", type(inner).__name__)),
        step=step,
        rate=rate,
        own_rate=rate_fn,
        has_schedule=has_schedule,
        overflow_slack=overflow_slack(optimizer, step),
        skipped_load_warning=skipped_load_warning(optimizer),
    )


def expected_rate_fn(expected_schedule: Any, snap: OptimizerSnapshot) -> RateFn | None:
    """The rate the run should use at a step: from the user's schedule or float, else the
    optimizer's own schedule.  None when there is nothing independent to compare with (an
    own float rate is whatever the callbacks made it)."""
    if expected_schedule is None:
        return snap.own_rate if snap.has_schedule else None
    if isinstance(expected_schedule, (int, float)) and not isinstance(expected_schedule, bool):
        value = float(expected_schedule)
        return lambda step: value
    if callable(expected_schedule):
        return lambda step: to_float(expected_schedule(step))
    raise TypeError(
        "expected_schedule must be a LearningRateSchedule, a callable of the step, a float or None,"
        f" not {type(expected_schedule).__name__}"
    )
