"""Per-checkpoint and cross-checkpoint reasoning: what rate each checkpoint will resume with,
and where in the run a resume broke the schedule.

Inputs are the ordered CheckpointInfos of one run (what the readers saw), the run's trace when
there is one, and the user's expectations (--schedule, --steps-per-epoch, --rtol).  Outputs are
one Row per checkpoint (the table) and the findings.  Principles:

* Evidence, not guesses: a step counter is "behind" only against a position the checkpoint
  records (epoch in its file name, backup metadata) times a steps-per-epoch that the user gave
  or that the run's own checkpoints agree on, or against an earlier checkpoint's counter.
* One finding per event: a restart makes every later checkpoint of the run wrong too; they are
  marked in the table, but the finding names the first checkpoint where it happened.
* Every message says what happens to the learning rate and what to do instead.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lraudit.findings import Finding, Severity
from lraudit.verify import codes, schedules
from lraudit.verify import model as m
from lraudit.verify.model import CheckpointInfo
from lraudit.verify.trace import Trace, trace_findings
from lraudit.verify.trace import steps_per_epoch as trace_steps_per_epoch


@dataclass
class Options:
    schedule: dict[str, Any] | None = None      # normalized, from --schedule
    steps_per_epoch: int | None = None
    rtol: float = 1e-6


@dataclass
class Row:
    info: CheckpointInfo
    lr: float | None = None              # the rate the restored optimizer applies next
    expected_step: int | None = None
    expected_lr: float | None = None
    status: str = "ok"
    codes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.info.display,
            "format": self.info.format,
            "epoch": self.info.epoch,
            "step": self.info.step,
            "lr": _json_float(self.lr),
            "expected_step": self.expected_step,
            "expected_lr": _json_float(self.expected_lr),
            "status": self.status,
        }


@dataclass
class RunResult:
    run_dir: str
    display: str
    rows: list[Row]
    findings: list[Finding]
    steps_per_epoch: int | None = None
    steps_per_epoch_source: str | None = None
    schedule: dict[str, Any] | None = None
    schedule_source: str | None = None
    trace: Trace | None = None


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.6g}"


def _eval(schedule: dict[str, Any] | None, step: int | None) -> float | None:
    if schedule is None or step is None or not schedules.is_builtin(schedule):
        return None
    try:
        value = schedules.evaluate(schedule, step)
    except schedules.ScheduleError:
        return None
    return value if math.isfinite(value) else None


# ----------------------------------------------------------------------------- the run


def analyze_run(run_dir: str, display: str, infos: list[CheckpointInfo], options: Options,
                trace: Trace | None = None) -> RunResult:
    rows = [Row(info=i) for i in infos]
    findings: list[Finding] = []
    result = RunResult(run_dir=run_dir, display=display, rows=rows, findings=findings, trace=trace)

    for row in rows:
        if not row.info.readable:
            row.status = "unreadable"
            findings.append(_unreadable(row.info, rows))

    readable = [r for r in rows if r.info.readable]
    _choose_schedule(result, readable, options, findings)
    _choose_steps_per_epoch(result, readable, options)

    for row in readable:
        row.lr = _rate_applied(row.info)
        _normalize_position(row.info, result.steps_per_epoch)

    _no_optimizer(readable, findings)
    _restarts_and_ahead(result, readable, findings)
    _schedule_changes(readable, findings)
    _rate_mismatches(result, readable, options, findings)
    _jumps(readable, options, findings)

    if trace is not None and trace.records:
        float_rate = result.schedule is None and not any(
            r.info.lr_kind == "schedule" for r in readable)
        findings.extend(trace_findings(trace, result.schedule, float_rate,
                                       result.steps_per_epoch, options.rtol))

    for row in readable:
        if row.expected_lr is None:
            row.expected_lr = _eval(result.schedule, row.expected_step if row.expected_step is not None
                                    else row.info.step)
        if any(codes.CODES[c][1] >= Severity.WARNING for c in row.codes):
            row.status = "finding"
    order = {r.info.display: i for i, r in enumerate(rows)}
    findings.sort(key=lambda f: (order.get(f.checkpoint or "", len(rows)), f.code))
    return result


def _mark(rows: list[Row], row: Row, code: str) -> None:
    if code not in row.codes:
        row.codes.append(code)


# ----------------------------------------------------------------------------- expectations


def _choose_schedule(result: RunResult, readable: list[Row], options: Options,
                     findings: list[Finding]) -> None:
    if options.schedule is not None:
        result.schedule, result.schedule_source = options.schedule, "--schedule"
    else:
        for row in readable:
            if row.info.schedule is not None:
                result.schedule, result.schedule_source = row.info.schedule, row.info.display
                break
    seen_custom: set[str] = set()
    for row in readable:
        sched = row.info.schedule
        if sched is None or schedules.is_builtin(sched):
            continue
        key = schedules.describe(sched)
        if key in seen_custom:
            continue
        seen_custom.add(key)
        registered = sched.get("registered_name") or sched.get("class_name")
        findings.append(codes.make(
            "LRV009",
            f"the optimizer uses a custom schedule {registered!r}"
            + (f" (module {sched['module']!r})" if sched.get("module") else "") + "; its "
            "rate can only be computed by running its code, so the fast path checked the step "
            "counter but not the rate. To check the rate, pass the equivalent built-in schedule "
            "with --schedule, or let replay evaluate it (--custom-objects naming the file or "
            "module that defines it).",
            row.info.display, expected=None, actual=sched.get("class_name")))
        _mark(readable, row, "LRV009")


def _choose_steps_per_epoch(result: RunResult, readable: list[Row], options: Options) -> None:
    if options.steps_per_epoch:
        result.steps_per_epoch, result.steps_per_epoch_source = options.steps_per_epoch, "--steps-per-epoch"
        return
    if result.trace is not None and result.trace.records:
        spe = trace_steps_per_epoch(result.trace)
        if spe:
            result.steps_per_epoch, result.steps_per_epoch_source = spe, "trace"
            return
    spe = infer_steps_per_epoch([r.info for r in readable])
    if spe:
        result.steps_per_epoch, result.steps_per_epoch_source = spe, "inferred"


def infer_steps_per_epoch(infos: list[CheckpointInfo]) -> int | None:
    """Steps per epoch, when the run's own checkpoints establish it.

    Each pair of consecutive checkpoints that both record a position and a counter proposes
    (step difference) / (epoch difference) when that is a positive integer; a restart makes its
    pair negative, zero or fractional, so it proposes nothing.  The most common proposal is
    accepted only when the run's first positioned checkpoint agrees with it (a run starts
    consistent, before any resume could break it), or when at least two pairs propose it and no
    pair proposes anything else (the early checkpoints may have been rotated away).  Otherwise
    the steps per epoch changed during the run (another batch size on resume) or the evidence is
    too thin, and position-based checks are skipped rather than guessed: precision first.
    """
    usable = [i for i in infos if i.position is not None and i.step is not None]
    proposals: Counter[int] = Counter()
    for a, b in zip(usable, usable[1:]):
        d_epochs = b.position.epochs - a.position.epochs
        d_steps = (b.step - b.position.batches) - (a.step - a.position.batches)
        if d_epochs > 0 and d_steps > 0 and d_steps % d_epochs == 0:
            proposals[d_steps // d_epochs] += 1
    if not proposals:
        return None
    ranked = proposals.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    best, support = ranked[0]
    first = usable[0]
    expected_first = first.position.epochs * best + first.position.batches
    slack = _tolerance(first, expected_first, best)
    if expected_first - slack <= first.step <= expected_first or \
            (first.position.alt_batches is not None
             and first.step == first.position.epochs * best + first.position.alt_batches):
        return best
    if len(ranked) == 1 and support >= 2:
        return best
    return None


def _normalize_position(info: CheckpointInfo, spe: int | None) -> None:
    """`2 epochs + 4 batches` is `3 epochs` once steps per epoch is known (tf-keras backups
    record the last batch index even at epoch ends)."""
    pos = info.position
    if pos is None or not spe or pos.batches < spe:
        return
    pos.epochs += pos.batches // spe
    if pos.alt_batches is not None:
        pos.alt_batches -= (pos.batches // spe) * spe
    pos.batches %= spe


def _rate_applied(info: CheckpointInfo) -> float | None:
    """The rate the optimizer restored from this checkpoint applies at its next step."""
    if info.schedule is not None:
        return _eval(info.schedule, info.step)
    if info.lr is not None:
        return info.lr
    if info.lr_kind == "float" and info.config_lr is not None:
        return info.config_lr
    return None


# ----------------------------------------------------------------------------- findings


_NO_OPT_ADVICE = {
    m.LEGACY_H5: "it was saved with include_optimizer=False; save with model.save('x.keras') (or "
                 "include_optimizer=True)",
    m.H5_WEIGHTS_K2: "Keras 2 HDF5 save_weights('x.h5') never stores the optimizer; save the "
                     "full model (model.save) or use the TF checkpoint format "
                     "(save_weights('prefix'))",
    m.TF_CHECKPOINT: "pass the optimizer to the checkpoint: tf.train.Checkpoint(model=model, "
                     "optimizer=optimizer)",
    m.SAVED_MODEL: "model.export() and inference SavedModels carry no optimizer; save a training "
                   "checkpoint with model.save('x.keras')",
}


def _no_optimizer(readable: list[Row], findings: list[Finding]) -> None:
    streak_open = False
    for row in readable:
        info = row.info
        if info.has_optimizer is False:
            _mark(readable, row, "LRV001")
            if streak_open:
                continue
            streak_open = True
            later = _count_following(readable, row, lambda r: r.info.has_optimizer is False)
            also = f" ({later} later checkpoint{'s' if later != 1 else ''} of this run likewise)" if later else ""
            advice = _NO_OPT_ADVICE.get(info.format, "save it from a compiled model that has trained "
                                         "(model.save('x.keras') or ModelCheckpoint), so that the "
                                         "optimizer's variables are included")
            findings.append(codes.make(
                "LRV001",
                f"the checkpoint holds model weights but no optimizer state (no step counter){also}: "
                "resuming from it starts the optimizer at step 0, so the learning-rate schedule "
                "restarts from its initial rate and momentum/Adam slots start from zero. "
                f"To fix: {advice}.",
                info.display, expected="optimizer step counter", actual=None))
        else:
            streak_open = False


def _count_following(rows: list[Row], row: Row, pred) -> int:
    idx = rows.index(row)
    count = 0
    for other in rows[idx + 1:]:
        if not pred(other):
            break
        count += 1
    return count


def _tolerance(info: CheckpointInfo, expected: int, spe: int) -> int:
    """Mixed precision: Keras 3 does not count steps skipped on overflow; allow a few."""
    if not info.mixed_precision:
        return 0
    return max(0, min(spe - 1, max(16, expected // 200)))


def _behind_tolerance(info: CheckpointInfo, expected: int, spe: int) -> int:
    """How far behind its position a checkpoint may be without a reset being the explanation.

    A file name that records only `{epoch}` may come from a mid-epoch save (integer save_freq),
    which names the *current* epoch: its counter lies anywhere in the last epoch.  A reset at a
    resume always costs at least one whole epoch, so less than that is not reported there.
    """
    pos = info.position
    if pos is not None and pos.source == "file name" and pos.batches == 0:
        return max(spe - 1, _tolerance(info, expected, spe))
    return _tolerance(info, expected, spe)


def _restarts_and_ahead(result: RunResult, readable: list[Row], findings: list[Finding]) -> None:
    spe = result.steps_per_epoch
    spe_note = f"{spe} steps per epoch ({result.steps_per_epoch_source})" if spe else ""
    sched = result.schedule
    prev_offset = 0
    prev_row: Row | None = None
    for row in readable:
        info = row.info
        if info.step is None:
            continue
        offset = None
        if spe and info.position is not None:
            candidates = info.position.expected_steps(spe)
            expected = min(candidates, key=lambda s: abs(s - info.step))
            row.expected_step = expected
            tol = _behind_tolerance(info, expected, spe)
            offset = info.step - expected
            if -tol <= offset < 0:
                offset = 0
        else:
            row.expected_step = None
        reported = False
        if offset is not None and offset < 0:
            _mark(readable, row, "LRV002")
            row.expected_lr = _eval(sched, row.expected_step)
            if offset < prev_offset:
                findings.append(_restart(info, row.expected_step, spe_note, sched, _where(info)))
                reported = True
        elif offset is not None and offset > 0:
            _mark(readable, row, "LRV010")
            if offset > prev_offset:
                findings.append(_ahead(info, row.expected_step, offset, spe, spe_note))
        if offset is not None:
            prev_offset = offset
        # Without a position, an earlier checkpoint's counter is the evidence.
        if prev_row is not None and info.step < prev_row.info.step and not reported \
                and "LRV002" not in row.codes:
            _mark(readable, row, "LRV002")
            if row.expected_step is None:
                row.expected_step = prev_row.info.step
            findings.append(_restart(info, prev_row.info.step, "", sched,
                                     f"the previous checkpoint {prev_row.info.display}", at_least=True))
        elif info.train_counter is not None and info.step < info.train_counter and not reported \
                and "LRV002" not in row.codes:
            _mark(readable, row, "LRV002")
            row.expected_step = info.train_counter
            findings.append(_restart(info, info.train_counter, "", sched,
                                     "the batches fit() ran (train_counter)"))
        prev_row = row


def _where(info: CheckpointInfo) -> str:
    pos = info.position
    if pos is None:
        return ""
    where = f"epoch {pos.epochs}"
    if pos.batches:
        where = f"{pos.epochs} epochs + {pos.batches} batches"
    return f"{where} ({pos.source})"


def _restart(info: CheckpointInfo, expected: int, spe_note: str, sched: dict | None, where: str,
             at_least: bool = False) -> Finding:
    if at_least:
        basis = f"{where} already had step {expected}"
        exp_text = f"at least {expected}"
    else:
        basis = f"the checkpoint stands at {where}" + (f" with {spe_note}" if spe_note else "")
        exp_text = str(expected)
    rate = ""
    found_rate, expected_rate = _eval(sched, info.step), _eval(sched, expected)
    if found_rate is not None and expected_rate is not None:
        rate = (f" The optimizer now applies the schedule's rate for step {info.step} "
                f"({_fmt(found_rate)}) instead of the one for step {expected} ({_fmt(expected_rate)}).")
    return codes.make(
        "LRV002",
        f"the optimizer step counter is {info.step}, but {basis}, so it should be {exp_text}: a resume "
        f"before this checkpoint reset the optimizer and the learning-rate schedule restarted.{rate} "
        "Restore the optimizer together with the weights: load_model() the .keras file and do not "
        "compile() again, or build the optimizer (model.optimizer.build(model.trainable_variables)) "
        "before load_weights(), then resume with fit(initial_epoch=<epochs done>).",
        info.display, expected=expected, actual=info.step)


def _ahead(info: CheckpointInfo, expected: int, offset: int, spe: int, spe_note: str) -> Finding:
    epochs = offset / spe if spe else 0
    return codes.make(
        "LRV010",
        f"the optimizer step counter is {info.step}, {offset} steps ({epochs:.2g} epochs) ahead of "
        f"where the checkpoint stands ({_where(info)}, {spe_note}, i.e. step {expected}): the epoch "
        "count started over at a resume while the optimizer kept counting (fit() without "
        "initial_epoch, or Keras 3 BackupAndRestore(save_freq=N) replaying the interrupted epoch "
        "from its first batch). A step-based schedule is now ahead of the data, decaying too early, "
        "and epoch-indexed callbacks (LearningRateScheduler, checkpoint names) restarted. Resume "
        "with fit(initial_epoch=<epochs done>), and use BackupAndRestore(save_freq='epoch').",
        info.display, expected=expected, actual=info.step)


def _kind_key(info: CheckpointInfo) -> tuple[str, dict | None] | None:
    """What a checkpoint's config says the rate is; None when the format stores no config."""
    if info.schedule is not None:
        return ("schedule", info.schedule)
    if info.lr_kind == "float" and info.config_lr is not None:
        return ("float", None)
    return None


def _schedule_changes(readable: list[Row], findings: list[Finding]) -> None:
    prev: tuple[Row, tuple[str, dict | None]] | None = None
    for row in readable:
        key = _kind_key(row.info)
        if key is None:
            continue
        if prev is not None:
            prev_row, prev_key = prev
            changed = prev_key[0] != key[0] or (
                key[0] == "schedule" and not schedules.same_schedule(prev_key[1], key[1]))
            if changed:
                before = _describe_key(prev_row.info, prev_key)
                after = _describe_key(row.info, key)
                _mark(readable, row, "LRV004")
                findings.append(codes.make(
                    "LRV004",
                    f"the learning-rate schedule changed between {prev_row.info.display} and this "
                    f"checkpoint: {before} became {after}. From here on the rate follows a different "
                    "curve than the one training started with (typical cause: the schedule was rebuilt "
                    "at resume, e.g. decay_steps recomputed from the remaining epochs). If the change "
                    "is intended, pass the new schedule with --schedule; otherwise rebuild the "
                    "optimizer with the original schedule (or load_model() without recompiling).",
                    row.info.display, expected=before, actual=after))
        prev = (row, key)


def _describe_key(info: CheckpointInfo, key: tuple[str, dict | None]) -> str:
    if key[0] == "schedule" and key[1] is not None:
        return schedules.describe(key[1])
    return f"constant rate {_fmt(info.config_lr)}"


def _rate_mismatches(result: RunResult, readable: list[Row], options: Options,
                     findings: list[Finding]) -> None:
    sched = result.schedule
    if sched is None or not schedules.is_builtin(sched):
        return
    scale = schedules.scale_of(sched)
    started = result.schedule_source == "--schedule"
    open_cause: str | None = None
    for row in readable:
        info = row.info
        if not started:
            started = info.display == result.schedule_source
            if not started:
                continue
        if info.step is None:
            open_cause = None
            continue
        actual, step, cause = row.lr, info.step, None
        if info.schedule is not None:
            if not schedules.is_builtin(info.schedule):
                open_cause = None
                continue
            cause = f"its stored schedule {schedules.describe(info.schedule)}"
        elif actual is not None:
            src = info.lr_source or "optimizer config"
            cause = f"a constant rate stored in {src}" + (" (read from the weights layout)" if info.lr_heuristic else "")
        elif info.last_step_lr is not None and info.step > 0:
            actual, step = info.last_step_lr, info.step - 1
            cause = "the rate of its last step (_current_learning_rate)"
        else:
            open_cause = None
            continue
        expected = _eval(sched, step)
        if expected is None or actual is None:
            open_cause = None
            continue
        if schedules.close(actual, expected, options.rtol, scale):
            open_cause = None
            continue
        _mark(readable, row, "LRV003")
        if row.expected_lr is None:
            row.expected_lr = expected
        if open_cause == cause:
            continue
        open_cause = cause
        findings.append(codes.make(
            "LRV003",
            f"at step {step} the restored optimizer will apply {_fmt(actual)} ({cause}), but the "
            f"expected schedule {schedules.describe(sched)} (from {result.schedule_source}) gives "
            f"{_fmt(expected)} (relative difference {_reldiff(actual, expected):.2g} > rtol "
            f"{options.rtol:g}). Training continues at the wrong rate. If the new rate is intended, "
            "pass it with --schedule; otherwise restore the optimizer with the original schedule "
            "(load_model() without recompiling, or the same schedule object before load_weights()).",
            info.display, expected=expected, actual=actual))


def _reldiff(a: float, b: float) -> float:
    denom = max(abs(a), abs(b))
    return abs(a - b) / denom if denom else 0.0


def _constant_rate(info: CheckpointInfo) -> float | None:
    if info.schedule is not None or info.lr_kind == "schedule":
        return None
    if info.lr is not None:
        return info.lr
    if info.lr_kind == "float":
        return info.config_lr
    return None


def _jumps(readable: list[Row], options: Options, findings: list[Finding]) -> None:
    """A constant rate that rises between consecutive checkpoints (not during a warmup ramp)."""
    rising_prefix = True
    prev: tuple[Row, float] | None = None
    for row in readable:
        rate = _constant_rate(row.info)
        if rate is None:
            if row.info.schedule is not None:
                prev, rising_prefix = None, True
            continue
        if prev is not None:
            prev_row, prev_rate = prev
            if rate > prev_rate * (1 + options.rtol) and rate - prev_rate > 1e-12:
                if not rising_prefix:
                    _mark(readable, row, "LRV005")
                    factor = rate / prev_rate if prev_rate > 0 else math.inf
                    findings.append(codes.make(
                        "LRV005",
                        f"the constant learning rate rose from {_fmt(prev_rate)} at "
                        f"{prev_row.info.display} to {_fmt(rate)} here ({factor:.3g}x): something set "
                        "the rate by hand at a resume (optimizer.learning_rate = ..., a new optimizer "
                        "in compile(), or LearningRateScheduler restarting at epoch 0); "
                        "ReduceLROnPlateau and decaying callbacks only lower it. Training continues at "
                        "the higher rate. Restore the rate from the checkpoint (load_model() without "
                        "recompiling) and pass initial_epoch to fit() so epoch-based callbacks "
                        "continue where they stopped.",
                        row.info.display, expected=prev_rate, actual=rate))
            else:
                rising_prefix = False
        prev = (row, rate)


def _unreadable(info: CheckpointInfo, rows: list[Row]) -> Finding:
    idx = [r.info for r in rows].index(info)
    earlier = [r.info.display for r in rows[:idx] if r.info.readable]
    fallback = f" Resume from {earlier[-1]} instead, or" if earlier else ""
    return codes.make(
        "LRV008",
        f"cannot read this checkpoint: {info.error}. Its optimizer state and learning rate are "
        f"unknown, and resuming from it will fail or start from scratch.{fallback} re-save it "
        "(check that the save finished and the disk was not full).",
        info.display, expected=None, actual=info.error)
