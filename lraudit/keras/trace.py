"""The learning-rate trace: one JSON line per finished epoch, `lraudit-trace.jsonl`.

The trace is the run's real rate history, written while the run happens, so `verify` can
name the exact epoch where a resume broke the schedule even for formats that store no
schedule.  Each line is appended, flushed and fsync'ed before the epoch is over: a run killed
at any moment leaves every finished epoch on disk and at worst one half-written last line,
which `read_trace` skips.

Line format (keys in this order, nothing else):
    {"epoch": 3, "step": 12, "lr": 0.0125, "time": 1767225600.123}
epoch: epochs finished, 1-based like ModelCheckpoint's `{epoch}`; step: the optimizer's raw
step counter after the epoch; lr: the rate the next step will use (null if unknowable);
time: Unix time in seconds.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

TRACE_FILENAME = "lraudit-trace.jsonl"


@dataclass(frozen=True)
class TraceRecord:
    epoch: int
    step: int
    lr: float | None
    time: float

    def to_line(self) -> str:
        # Strict JSON: a non-finite rate (diverged run) is written as null, not NaN.
        lr = self.lr if self.lr is not None and math.isfinite(self.lr) else None
        body = {"epoch": self.epoch, "step": self.step, "lr": lr, "time": round(self.time, 3)}
        return json.dumps(body, allow_nan=False) + "\n"


def append_record(path: str, record: TraceRecord) -> None:
    """Append one line and force it to disk; a crash after this call cannot lose it."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    line = record.to_line().encode("utf-8")
    if _ends_torn(path):
        # A run killed mid-write left a half line; end it so this record stays whole.
        line = b"\n" + line
    with open(path, "ab") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _ends_torn(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except FileNotFoundError:
        return False


def parse_line(line: str) -> TraceRecord | None:
    """A record, or None for a line that is not one (blank, half-written, foreign)."""
    try:
        data = json.loads(line)
        lr = data["lr"]
        return TraceRecord(
            epoch=int(data["epoch"]),
            step=int(data["step"]),
            lr=None if lr is None else float(lr),
            time=float(data["time"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def read_trace(path: str) -> list[TraceRecord]:
    """Every complete record, in file order; a torn or garbled line is skipped, not fatal."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [rec for rec in map(parse_line, fh) if rec is not None]
