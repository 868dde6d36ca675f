"""Turn a worker's measurements into the `replay` JSON entry and LRV006/LRV007 findings.

LRV007 (optimizer-restore-skipped): after Keras loaded the checkpoint, the optimizer's step
counter is not the one the file stores, so resuming that way restarts the schedule.
LRV006 (replay-mismatch): the counter came back, but the rate applied at replayed step k is not
what the checkpoint's own schedule (or stored rate) gives at the stored step + k; or a custom
schedule, rebuilt from its config, disagrees with the rates the run recorded while training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lraudit.findings import Finding
from lraudit.verify import codes, schedules
from lraudit.verify.replay.plan import Job

# A rate recovered from the weight change carries float32 rounding of the update; the
# optimizer's own reading is exact up to float32.
MEASURED_RTOL = 1e-3
READING_RTOL = 1e-5


@dataclass
class Verdict:
    entry: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    custom_checked: bool = False
    notes: list[str] = field(default_factory=list)


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.6g}"


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _fix_for(job: Job, load_path: str) -> str:
    fmt = job.row.info.format
    if "load_weights" in load_path:
        return ("build the optimizer before loading the weights "
                "(model.optimizer.build(model.trainable_variables), then model.load_weights(...)), "
                "or save and resume with model.save('x.keras') / keras.saving.load_model")
    if "tf.train.Checkpoint" in load_path:
        return ("attach the optimizer under the name it was saved with, and call "
                "assert_existing_objects_matched() on the restore status")
    if job.row.info.mixed_precision:
        return ("set the same dtype policy before loading (keras.mixed_precision."
                "set_global_policy('mixed_float16')) so that the LossScaleOptimizer is rebuilt")
    if fmt == "saved-model":
        return "resume from a .keras file with load_model, which restores the optimizer"
    return "resume with load_model on a .keras file saved with the optimizer"


def judge(job: Job, outcome: dict[str, Any] | None, rtol: float) -> Verdict:
    info = job.row.info
    entry: dict[str, Any] = {"checkpoint": info.display, "device": None, "steps": [],
                             "status": "error"}
    verdict = Verdict(entry=entry)
    if outcome is None or outcome.get("error"):
        reason = str(outcome["error"]) if outcome else "the replay process produced no result"
        entry["device"] = (outcome or {}).get("device")
        entry["reason"] = reason
        verdict.notes.append(f"{info.display}: replay failed: {reason}")
        verdict.findings.append(codes.make(
            "LRV011", f"replay could not reload and step this checkpoint, so the rate its "
                      f"optimizer applies after a resume is not verified ({reason}); the fast "
                      "path's checks above still hold. Fix the cause and replay again, or pass "
                      "--replay 0 to check the stored state only.",
            info.display, actual=reason))
        return verdict
    entry["device"] = outcome.get("device")
    load_path = outcome.get("load_path") or "loading"
    stored, loaded = info.step, outcome.get("loaded_step")
    restored_values = {k: float(v) for k, v in (outcome.get("schedule_values") or {}).items()}
    steps = outcome.get("steps") or []

    skipped_restore = stored is not None and loaded is not None and loaded != stored
    if skipped_restore:
        warn = next((w for w in outcome.get("warnings", []) if "skip" in w.lower()), None)
        first = steps[0] if steps else None
        applied_now = _finite(first.get("measured") if first and first.get("measured") is not None
                              else (first or {}).get("reading"))
        should = job.expected(stored, restored_values)
        verdict.findings.append(codes.make(
            "LRV007",
            f"after {load_path}, the optimizer's step counter is {loaded} but the checkpoint "
            f"stores {stored}" + (f" (Keras warned: {warn!r})" if warn else "") + ". Resuming "
            f"this way restarts the schedule at step {loaded}: the first step applies "
            f"{_fmt(applied_now)} instead of {_fmt(should)}. Fix: {_fix_for(job, load_path)}.",
            info.display, expected=stored, actual=loaded))
        entry["status"] = "restore-skipped"

    # Replayed steps: what was applied against what the checkpoint's schedule gives.
    mismatch_step: tuple[int, float, float] | None = None
    position = stored if stored is not None else (loaded or 0)
    for step in steps:
        counter, advanced = step.get("counter"), step.get("advanced", 0)
        measured, reading = _finite(step.get("measured")), _finite(step.get("reading"))
        applied = measured if measured is not None else reading
        expected = job.expected(position, restored_values)
        if not advanced:   # a mixed-precision step skipped for overflow: nothing was applied
            entry["steps"].append({"step": counter, "lr_applied": None, "lr_expected": _finite(expected)})
            continue
        entry["steps"].append({"step": counter, "lr_applied": applied, "lr_expected": _finite(expected)})
        tol = max(rtol, MEASURED_RTOL if measured is not None else READING_RTOL)
        scale = schedules.scale_of(job.schedule) if job.schedule else 0.0
        if (not skipped_restore and mismatch_step is None and applied is not None
                and expected is not None and not schedules.close(applied, expected, tol, scale)):
            mismatch_step = (position, applied, expected)
        position += advanced

    history = _custom_history_mismatch(job, restored_values, rtol)
    if mismatch_step is not None:
        at, applied, expected = mismatch_step
        how = "measured from the weight update" if outcome.get("measured") else "the optimizer's reading"
        verdict.findings.append(codes.make(
            "LRV006",
            f"replaying from {info.display} ({load_path}), step {at} applied {_fmt(applied)} "
            f"({how}) but {_describe_expectation(job)} gives {_fmt(expected)}. The resumed "
            "run trains at a different rate than the checkpoint describes; check the "
            "optimizer wrapper and the schedule's get_config/from_config round trip.",
            info.display, expected=expected, actual=applied))
    elif history is not None:
        verdict.findings.append(history)
    if entry["status"] != "restore-skipped":
        entry["status"] = "mismatch" if verdict.findings else "ok"
    if job.expectation == "restored" and restored_values and outcome.get("schedule_class"):
        verdict.custom_checked = history is None
    rebuilt = outcome.get("rebuilt")
    if rebuilt:
        verdict.notes.append(f"{info.display}: {rebuilt}")
    if outcome.get("slots_nonzero") is False and (loaded or 0) > 0 and not skipped_restore \
            and not rebuilt:
        verdict.notes.append(f"{info.display}: the step counter was restored but every optimizer "
                             "slot variable (momentum, moments) is zero: that state restarts")
    return verdict


def _describe_expectation(job: Job) -> str:
    if job.expectation == "schedule" and job.schedule is not None:
        return f"the schedule {schedules.describe(job.schedule)}"
    if job.expectation == "constant":
        return "the rate stored in the checkpoint"
    return "the schedule restored from the checkpoint"


def _custom_history_mismatch(job: Job, values: dict[str, float], rtol: float) -> Finding | None:
    """A custom schedule rebuilt from its config against the rates the run really applied.

    Evidence: the run's trace (rate for the next step at each epoch end) and tf_keras's
    `_current_learning_rate` (the rate of the last step before saving).
    """
    if job.expectation != "restored" or not values:
        return None
    info = job.row.info
    evidence: list[tuple[int, float, str]] = []
    trace = job.run.trace
    if trace is not None:
        for record in trace.records:
            if record.lr is not None and str(record.step) in values and record.step <= (info.step or 0):
                evidence.append((record.step, record.lr, f"trace {trace.display} line {record.line}"))
    if info.last_step_lr is not None and info.step:
        evidence.append((info.step - 1, info.last_step_lr, "the rate of its last step (_current_learning_rate)"))
    for step, recorded, source in evidence:
        rebuilt = values.get(str(step))
        if rebuilt is None or schedules.close(rebuilt, recorded, max(rtol, READING_RTOL)):
            continue
        return codes.make(
            "LRV006",
            f"the schedule restored from {info.display} gives {_fmt(rebuilt)} at step {step}, but "
            f"training applied {_fmt(recorded)} there ({source}): the schedule does not survive "
            "saving and loading, so the resumed run follows a different curve. Make its "
            "get_config() return every constructor argument (from_config rebuilds it from them).",
            info.display, expected=recorded, actual=rebuilt)
    return None
