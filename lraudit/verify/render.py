"""Text and JSON output for verify.  The text form is a table per run, then the findings (each
with what to do), then the shared summary line; JSON is DESIGN.md's verify object."""

from __future__ import annotations

import json

from lraudit.report.text import finding_line, summary_line
from lraudit.verify import schedules
from lraudit.verify.analyze import RunResult
from lraudit.verify.engine import VerifyResult

_HEADERS = ("checkpoint", "format", "epoch", "step", "rate", "expected rate", "status")


def render_json(result: VerifyResult) -> str:
    return json.dumps(result.to_json(), indent=2) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _status(row) -> str:
    if row.status == "unreadable":
        return "unreadable"
    flagged = [c for c in row.codes]
    return ",".join(flagged) if flagged else "ok"


def _epoch(row) -> str:
    pos = row.info.position
    if pos is None:
        return "-"
    return f"{pos.epochs}+{pos.batches}b" if pos.batches else str(pos.epochs)


def _run_header(run: RunResult) -> str:
    n = len(run.rows)
    parts = [f"{n} checkpoint{'s' if n != 1 else ''}"]
    if run.steps_per_epoch:
        parts.append(f"{run.steps_per_epoch} steps/epoch ({run.steps_per_epoch_source})")
    if run.schedule is not None:
        parts.append(f"schedule {schedules.describe(run.schedule)} from {run.schedule_source}")
    if run.trace is not None:
        parts.append(f"trace {run.trace.display} ({len(run.trace.records)} epochs)")
    return f"run {run.display}: " + ", ".join(parts)


def render_table(run: RunResult) -> list[str]:
    lines = [_run_header(run)]
    if not run.rows:
        return lines
    body = [
        (row.info.display, row.info.format, _epoch(row),
         "-" if row.info.step is None else str(row.info.step),
         _num(row.lr), _num(row.expected_lr), _status(row))
        for row in run.rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(_HEADERS)]
    right = {2, 3, 4, 5}

    def fmt(cells) -> str:
        return "  " + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines.append(fmt(_HEADERS))
    lines.extend(fmt(r) for r in body)
    for row in run.rows:
        if row.info.error:
            lines.append(f"  ! {row.info.display}: {row.info.error}")
    return lines


def render_text(result: VerifyResult, colour: bool = False) -> str:
    lines: list[str] = []
    for run in result.runs:
        lines.extend(render_table(run))
        lines.append("")
    lines.extend(render_replay(result))
    findings = result.findings
    for finding in findings:
        lines.append(finding_line(finding, colour))
    if findings:
        lines.append("")
    checked = len(result.rows)
    lines.append(summary_line(findings, checked, noun="checkpoint"))
    return "\n".join(lines) + "\n"


_REPLAY_MEANING = {
    "ok": " (Keras restores the stored counter and applies the rate the checkpoint describes)",
    "restore-skipped": " (the loaded optimizer lost the stored counter: LRV007)",
    "mismatch": " (the applied rate differs from the checkpoint's schedule: LRV006)",
    "error": " (could not be replayed; see the message above)",
}


def render_replay(result: VerifyResult) -> list[str]:
    """One block per replayed checkpoint: device, status, and each step's rates."""
    lines: list[str] = []
    for entry in result.replay:
        meaning = _REPLAY_MEANING.get(entry["status"], "")
        lines.append(f"replay {entry['checkpoint']} on {entry['device'] or 'no device'}: "
                     f"{entry['status']}{meaning}")
        for step in entry["steps"]:
            applied = "skipped (loss-scale overflow)" if step["lr_applied"] is None else _num(step["lr_applied"])
            lines.append(f"  step {step['step']}: applied {applied}, expected "
                         f"{_num(step['lr_expected'])}")
    if lines:
        lines.append("")
    return lines
