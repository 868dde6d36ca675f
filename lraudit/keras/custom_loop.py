"""`check_resume`: the guard's check in one call, for hand-written training loops.

A custom loop has no epochs Keras knows about, so the caller states the step it resumes at
(what it saved next to the checkpoint, or `epochs_done * steps_per_epoch`) and the check
compares the restored optimizer with it, right after `checkpoint.restore(...)` and before the
first `apply_gradients`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lraudit.keras.check import Position, assess
from lraudit.keras.errors import ResumeMismatch
from lraudit.keras.optimizer_state import expected_rate_fn, snapshot


@dataclass(frozen=True)
class ResumeState:
    """What the restored optimizer will do next: its raw step and the rate of that step."""

    step: int
    lr: float | None


def check_resume(
    optimizer: Any, *, expected_step: int, schedule: Any = None, rtol: float = 1e-6
) -> ResumeState:
    """Raise `ResumeMismatch` unless `optimizer` resumes at `expected_step` with the rate
    `schedule` gives there.

    `expected_step` counts raw optimizer steps (under Keras 3 gradient accumulation,
    micro-batches; under mixed precision the inner optimizer's steps, where Keras 3 may have
    skipped a few overflow steps and a matching shortfall is accepted).  `schedule` is a
    LearningRateSchedule, a callable of the step, a float, or None for the optimizer's own
    schedule.  A counter behind `expected_step` is LRV002, a rate that differs is LRV003.
    """
    if isinstance(expected_step, bool) or int(expected_step) != expected_step or expected_step < 0:
        raise ValueError(f"expected_step must be a non-negative integer, not {expected_step!r}")
    snap = snapshot(optimizer)
    findings = assess(
        snap,
        Position(expected_step=int(expected_step)),
        expected_rate_fn(schedule, snap),
        user_schedule=schedule is not None,
        rtol=rtol,
    )
    if findings:
        raise ResumeMismatch(findings)
    return ResumeState(step=snap.step, lr=snap.rate)
