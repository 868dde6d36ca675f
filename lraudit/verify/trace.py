"""`lraudit-trace.jsonl`: the run's real learning-rate history, one line per epoch end.

The ResumeGuard callback appends `{"epoch", "step", "lr", "time"}` at every epoch end, across
all the sessions of a run, next to its checkpoints.  Checkpoints are snapshots (often sparse,
sometimes overwritten); the trace records every epoch, so a restart or a jump is reported at
the exact epoch it happened, also for formats that store no schedule.

The file is appended while training runs and a killed job can leave a half-written last line:
that line is ignored.  Malformed lines elsewhere are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from lraudit.findings import Finding
from lraudit.verify import codes, schedules

_MAX_TRACE = 256 * 1024 * 1024


@dataclass(frozen=True)
class TraceRecord:
    line: int
    epoch: int | None
    step: int
    lr: float | None
    time: float | None = None


@dataclass
class Trace:
    path: str
    display: str
    records: list[TraceRecord] = field(default_factory=list)
    skipped: int = 0
    partial_last_line: bool = False
    error: str | None = None


def read_trace(path: str, display: str, storage=None) -> Trace:
    """`storage`: where the trace lives (lraudit.verify.storage; default: the local disk)."""
    trace = Trace(path=path, display=display)
    try:
        with (storage.open(path) if storage is not None else open(path, "rb")) as fh:
            data = fh.read(_MAX_TRACE + 1)
    except OSError as exc:
        trace.error = f"cannot read the trace ({exc.strerror or exc})"
        return trace
    if len(data) > _MAX_TRACE:
        trace.error = "trace file is too large to read"
        return trace
    lines = data.split(b"\n")
    ends_cleanly = data.endswith(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = number == len(lines) and not ends_cleanly
        record = _parse(raw, number)
        if record is None:
            if last:
                trace.partial_last_line = True
            else:
                trace.skipped += 1
            continue
        trace.records.append(record)
    return trace


def _parse(raw: bytes, number: int) -> TraceRecord | None:
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    try:
        return _record(obj, number)
    except (OverflowError, ValueError):  # {"epoch": Infinity}, {"step": 1e400 as an integer}
        return None


def _record(obj: object, number: int) -> TraceRecord | None:
    if not isinstance(obj, dict):
        return None
    step = obj.get("step")
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not float(step).is_integer():
        return None
    epoch = obj.get("epoch")
    epoch = int(epoch) if isinstance(epoch, (int, float)) and not isinstance(epoch, bool) else None
    lr = obj.get("lr")
    lr = float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None
    if lr is not None and not math.isfinite(lr):
        lr = None
    when = obj.get("time")
    when = float(when) if isinstance(when, (int, float)) and not isinstance(when, bool) else None
    return TraceRecord(line=number, epoch=epoch, step=int(step), lr=lr, time=when)


def steps_per_epoch(trace: Trace) -> int | None:
    """The step increase over one epoch, when every such pair of consecutive records agrees.

    Pairs across a restart (the step falls) or an epoch restart do not count; if the increase
    still varies, the run changed its steps per epoch (another batch size) and none is returned.
    """
    diffs = set()
    for prev, cur in zip(trace.records, trace.records[1:]):
        if prev.epoch is not None and cur.epoch is not None and cur.epoch - prev.epoch == 1 \
                and cur.step > prev.step:
            diffs.add(cur.step - prev.step)
    return diffs.pop() if len(diffs) == 1 else None


def _epoch_label(record: TraceRecord) -> str:
    return f"epoch {record.epoch}" if record.epoch is not None else f"line {record.line}"


def trace_findings(trace: Trace, schedule: dict | None, float_rate: bool, spe: int | None,
                   rtol: float) -> list[Finding]:
    """Restarts (LRV002), epoch restarts (LRV010), jumps (LRV005) and off-schedule rates
    (LRV003) as the trace saw them, each at the first epoch it happened."""
    findings: list[Finding] = []
    records = trace.records
    where = trace.display
    rising_prefix = True
    mismatch_open = False
    builtin = schedule is not None and schedules.is_builtin(schedule)
    scale = schedules.scale_of(schedule) if builtin else 0.0
    for prev, cur in zip(records, records[1:]):
        label = _epoch_label(cur)
        if cur.step < prev.step:
            expected = prev.step
            if spe and prev.epoch is not None and cur.epoch is not None and cur.epoch > prev.epoch:
                expected = prev.step + spe * (cur.epoch - prev.epoch)
            rate_note = ""
            if builtin:
                rate_note = (f" The rate went back to {_fmt(_safe_eval(schedule, cur.step))} instead of "
                             f"{_fmt(_safe_eval(schedule, expected))}.")
            findings.append(codes.make(
                "LRV002",
                f"the trace shows the optimizer step counter fell from {prev.step} "
                f"({_epoch_label(prev)}, line {prev.line}) to {cur.step} at {label} (line {cur.line}): "
                f"a resume before {label} reset the optimizer, so the schedule restarted.{rate_note} "
                "Resume with the optimizer state: load_model() on the .keras file without recompiling, "
                "or build the optimizer before load_weights().",
                where, expected=expected, actual=cur.step))
        elif prev.epoch is not None and cur.epoch is not None and cur.epoch <= prev.epoch \
                and cur.step > prev.step:
            findings.append(codes.make(
                "LRV010",
                f"the trace shows the epoch count going back from {prev.epoch} to {cur.epoch} "
                f"(line {cur.line}) while the optimizer kept counting ({prev.step} -> {cur.step}): the "
                "run was resumed without initial_epoch, so epoch-indexed callbacks "
                "(LearningRateScheduler, ModelCheckpoint file names) started over and a step-based "
                "schedule is ahead of the epoch count. Resume with fit(initial_epoch=<epochs done>).",
                where, expected=prev.epoch + 1, actual=cur.epoch))
        if prev.lr is None or cur.lr is None:
            continue
        if builtin:
            expected_now = _safe_eval(schedule, cur.step)
            ok = expected_now is not None and (
                schedules.close(cur.lr, expected_now, rtol, scale)
                or schedules.close(cur.lr, _safe_eval(schedule, max(cur.step - 1, 0)) or math.nan, rtol, scale))
            if expected_now is not None and not ok and not mismatch_open:
                findings.append(codes.make(
                    "LRV003",
                    f"the trace records rate {_fmt(cur.lr)} at {label} (step {cur.step}, line {cur.line}), "
                    f"but {schedules.describe(schedule)} gives {_fmt(expected_now)} at that step: the "
                    "optimizer is not following the run's schedule. Rebuild the optimizer with the "
                    "original schedule before restoring, or pass the intended one with --schedule.",
                    where, expected=expected_now, actual=cur.lr))
            mismatch_open = expected_now is not None and not ok
            continue
        if not float_rate:
            continue
        if cur.lr > prev.lr * (1 + rtol) and cur.lr - prev.lr > 1e-12:
            if rising_prefix:
                continue  # a warmup ramp from the first record on is a plan, not a jump
            findings.append(codes.make(
                "LRV005",
                f"the trace shows the constant learning rate rising from {_fmt(prev.lr)} "
                f"({_epoch_label(prev)}) to {_fmt(cur.lr)} at {label} (line {cur.line}): the rate was "
                "set by hand at a resume, a new optimizer was compiled, or LearningRateScheduler "
                "restarted at epoch 0; ReduceLROnPlateau only lowers it. Restore the rate from the "
                "checkpoint (load_model without recompiling) and pass initial_epoch to fit().",
                where, expected=prev.lr, actual=cur.lr))
        else:
            rising_prefix = False
    return findings


def _safe_eval(schedule: dict, step: int) -> float | None:
    try:
        return schedules.evaluate(schedule, step)
    except schedules.ScheduleError:
        return None


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.6g}"
