"""Decide whether a resumed optimizer stands where the run says it stands.

Pure logic over an `OptimizerSnapshot`: no Keras here, so every branch is unit-tested
without TensorFlow.  The codes and names are verify's (LRV002, LRV003) and scan's (LR001)
so that one page of documentation explains a finding whichever tool raised it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lraudit.findings import Finding, Severity
from lraudit.keras.optimizer_state import OptimizerSnapshot, RateFn

RESTART_CAUSES = (
    "the model was compiled again with a new optimizer after loading (compile(), or assigning"
    " model.optimizer, starts a fresh step counter and fresh slots), load_weights() ran into a"
    " compiled but unbuilt optimizer (Keras skips the optimizer's variables), or the checkpoint"
    " holds no optimizer state (load_model(..., compile=False), a Keras 2 weights-only .h5)"
)
RESTART_FIX = (
    "resume with keras.saving.load_model(path) from a .keras file and do not compile again;"
    " if you must compile first, call model.optimizer.build(model.trainable_variables) before"
    " load_weights()"
)
CUSTOM_LOOP_RESTART = (
    "Likely cause: the tf.train.Checkpoint does not hold the optimizer that apply_gradients()"
    " uses, the restore was partial (expect_partial() hides that), or a new optimizer was"
    " created after the restore. Fix: put the optimizer object itself in the checkpoint, and"
    " call status.assert_existing_objects_matched() on what restore() returns"
)
SKIPPED_LOAD_FIX = (
    "call model.optimizer.build(model.trainable_variables) between compile() and"
    " load_weights(), or resume with keras.saving.load_model(path) from a .keras file"
)


@dataclass(frozen=True)
class Position:
    """Where the run says it stands when training resumes."""

    expected_step: int | None  # None: steps per epoch unknown
    initial_epoch: int | None = None  # None: not a fit() resume (custom loop)
    steps_per_epoch: int | None = None
    initial_step: int = 0  # tf_keras mid-epoch backups resume inside an epoch


def fmt_rate(rate: float | None) -> str:
    return "unknown" if rate is None else f"{rate:.6g}"


def rates_differ(actual: float, expected: float, rtol: float) -> bool:
    if math.isnan(actual) or math.isnan(expected):
        return not (math.isnan(actual) and math.isnan(expected))
    return not math.isclose(actual, expected, rel_tol=rtol, abs_tol=0.0)


def _where(pos: Position) -> str:
    if pos.initial_epoch is None:
        return f"the caller expects step {pos.expected_step}"
    text = f"fit() starts at epoch {pos.initial_epoch}"
    if pos.steps_per_epoch and pos.expected_step is not None:
        text += (
            f" (expected step {pos.expected_step} = {pos.initial_epoch} x"
            f" {pos.steps_per_epoch} steps per epoch"
        )
        text += f" + {pos.initial_step})" if pos.initial_step else ")"
    return text


def _safe(fn: RateFn | None, step: int) -> float | None:
    if fn is None:
        return None
    try:
        return fn(step)
    except Exception:  # a custom schedule that cannot run eagerly: no claim about it
        return None


def fit_without_initial_epoch(snap: OptimizerSnapshot, pos: Position) -> Finding:
    done = (
        f"{snap.step // pos.steps_per_epoch}"
        if pos.steps_per_epoch
        else "the number of epochs already trained"
    )
    span = (
        f" ({snap.step / pos.steps_per_epoch:g} epochs of {pos.steps_per_epoch} steps)"
        if pos.steps_per_epoch
        else ""
    )
    return Finding(
        code="LR001",
        name="fit-without-initial-epoch",
        severity=Severity.ERROR,
        message=(
            f"the optimizer was restored at step {snap.step}{span} but fit() starts at epoch 0:"
            " fit() was not given initial_epoch, so epoch-indexed schedules and callbacks"
            " (LearningRateScheduler, ReduceLROnPlateau, the epoch in checkpoint names) restart"
            " at epoch 0 while the step-indexed schedule continues, and the run trains all of"
            f" `epochs` again. Pass initial_epoch={done} to fit(), with epochs = the index of the"
            " final epoch (not a count of further epochs)."
        ),
        expected=0,
        actual=snap.step,
    )


def schedule_restarted(
    snap: OptimizerSnapshot, pos: Position, expected_rate: RateFn | None
) -> Finding:
    exp_step = pos.expected_step
    rate_now = snap.rate
    rate_due = _safe(expected_rate, exp_step) if exp_step is not None else None
    rate_text = ""
    if rate_now is not None and rate_due is not None and rates_differ(rate_now, rate_due, 1e-6):
        rate_text = f" (rate {fmt_rate(rate_now)} instead of {fmt_rate(rate_due)})"
    if snap.step == 0:
        what = (
            f"the optimizer's step counter is 0 but {_where(pos)}: the optimizer state was not"
            f" restored, so the schedule restarts at step 0{rate_text} and the optimizer's slot"
            " variables (momentum, Adam moments) start from zero."
        )
        if snap.skipped_load_warning:
            cause = (
                " Cause: Keras skipped the optimizer's variables when the weights were loaded"
                f' ("{snap.skipped_load_warning}"): load_weights() ran into a compiled but unbuilt'
                f" optimizer. Fix: {SKIPPED_LOAD_FIX}."
            )
        elif pos.initial_epoch is None:
            cause = f" {CUSTOM_LOOP_RESTART}."
        else:
            cause = f" Likely cause: {RESTART_CAUSES}. Fix: {RESTART_FIX}."
        return Finding(
            code="LRV002",
            name="schedule-restarted",
            severity=Severity.ERROR,
            message=what + cause,
            expected=exp_step,
            actual=0,
        )
    behind = (exp_step or 0) - snap.step
    matching = (
        f"initial_epoch={snap.step // pos.steps_per_epoch}"
        if pos.steps_per_epoch
        else "the epoch the checkpoint was written at"
    )
    what = (
        f"the optimizer's step counter is {snap.step} but {_where(pos)}: the schedule is"
        f" {behind} steps behind where the run stands{rate_text}."
    )
    cause = (
        " Likely cause: the checkpoint is older than initial_epoch says (resume from the"
        f" checkpoint of epoch {pos.initial_epoch}, or pass {matching}), the steps per epoch"
        " changed since the checkpoint (batch size, dataset size or number of replicas: pass"
        " ResumeGuard(steps_per_epoch=<the original value>) if that is intended), or the"
        f" optimizer was reset earlier in the run. If it was reset: {RESTART_FIX}."
        if pos.initial_epoch is not None
        else " Likely cause: the checkpoint restored is older than expected_step says, or"
        " expected_step counts something other than raw optimizer steps (under Keras 3 gradient"
        " accumulation the counter counts micro-batches). Fix: restore the checkpoint written at"
        " that step, or derive expected_step from a step saved with the checkpoint."
    )
    return Finding(
        code="LRV002",
        name="schedule-restarted",
        severity=Severity.ERROR,
        message=what + cause,
        expected=exp_step,
        actual=snap.step,
    )


def lr_mismatch(
    snap: OptimizerSnapshot,
    pos: Position,
    step_due: int,
    actual: float,
    expected: float,
    user_schedule: bool,
) -> Finding:
    if step_due != snap.step and pos.initial_epoch is None:
        cause = (
            f" The step counter is {snap.step - step_due} steps ahead: {_where(pos)}. Likely"
            " cause: the optimizer carries state from another run or checkpoint (an unintended"
            " restore), or expected_step counts something other than raw optimizer steps. Fix:"
            " restore the checkpoint that matches expected_step, or build a fresh optimizer for a"
            " fresh run."
        )
    elif step_due != snap.step:
        cause = (
            f" The step counter is {snap.step - step_due} steps ahead: {_where(pos)}. Likely"
            " cause: a Keras 3 BackupAndRestore with an integer save_freq restored a mid-epoch"
            ' backup and re-runs that epoch from its first batch (use save_freq="epoch"), the'
            " steps per epoch shrank since the checkpoint (batch size, dataset size, replicas:"
            " pass ResumeGuard(steps_per_epoch=<the original value>) if that is intended), or the"
            " optimizer state came from another run."
        )
    elif user_schedule:
        cause = (
            " The optimizer's rate differs from expected_schedule at the same step. Likely cause:"
            " the model was compiled with a different schedule or rate than the run used, or a"
            " callback or a hand-written line changed the rate. Fix: resume the optimizer saved by"
            " the run (keras.saving.load_model) instead of building a new one."
        )
    else:
        cause = ""
    return Finding(
        code="LRV003",
        name="lr-mismatch",
        severity=Severity.ERROR,
        message=(
            f"the next step will apply learning rate {fmt_rate(actual)} (optimizer step"
            f" {snap.step}) but the expected schedule gives {fmt_rate(expected)} at step"
            f" {step_due}.{cause}"
        ),
        expected=expected,
        actual=actual,
    )


def assess(
    snap: OptimizerSnapshot,
    pos: Position,
    expected_rate: RateFn | None,
    *,
    user_schedule: bool,
    rtol: float = 1e-6,
) -> list[Finding]:
    """All findings for one resume, most telling first; empty when the resume is sound.

    The order of the tests matters: a restarted counter explains a wrong rate, so a rate is
    only compared once the counter stands where it should (within the overflow slack).
    """
    if pos.initial_epoch == 0 and pos.initial_step == 0 and snap.step > 0:
        return [fit_without_initial_epoch(snap, pos)]
    exp_step = pos.expected_step
    if exp_step is not None and exp_step > 0:
        if snap.step == 0 or snap.step < exp_step - snap.overflow_slack:
            return [schedule_restarted(snap, pos, expected_rate)]
    elif exp_step is None and pos.initial_epoch and snap.step == 0:
        # Steps per epoch unknown, but any finished epoch means some steps were taken.
        return [schedule_restarted(snap, pos, expected_rate)]
    if expected_rate is None or snap.rate is None:
        return []
    step_due = exp_step if exp_step is not None and snap.step > exp_step else snap.step
    expected = _safe(expected_rate, step_due)
    if expected is None or not rates_differ(snap.rate, expected, rtol):
        return []
    return [lr_mismatch(snap, pos, step_due, snap.rate, expected, user_schedule)]


def lr_callback_with_schedule(callback_names: list[str], schedule: str) -> Finding:
    """A rate-setting callback next to a schedule: a crash in Keras 3 (for ReduceLROnPlateau
    only after a whole epoch has trained), silently ignored in Keras 2.11+ (hazard 10)."""
    names = " and ".join(sorted(set(callback_names)))
    return Finding(
        code="LR202",
        name="lr-callback-with-schedule",
        severity=Severity.ERROR,
        message=(
            f"{names} is in the callbacks but the optimizer's learning rate is a {schedule}"
            " schedule: Keras 3 raises TypeError when the callback sets the rate"
            " (ReduceLROnPlateau only after the first epoch has trained), and Keras 2.11+ and"
            " tf_keras silently ignore the callback. Fix: drop the callback, or give the optimizer"
            " a float learning rate and let the callback set it."
        ),
        expected=None,
        actual=schedule,
    )
