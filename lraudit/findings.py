"""The one record both engines emit.

Scan findings carry a source location, verify findings carry a checkpoint path and the
expected/actual values.  Reporters and exit codes only look at this record, never at which
engine produced it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that `severity >= fail_on` decides the exit code."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected error, warning or info)") from None


@dataclass(frozen=True)
class Edit:
    """Replace the text between two 1-based (line, column) positions; end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "content": self.content,
        }


@dataclass(frozen=True)
class Fix:
    """A mechanical fix.  `safe` fixes keep behaviour apart from the bug they repair."""

    applicability: str  # "safe" | "unsafe"
    edits: tuple[Edit, ...]
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"applicability": self.applicability, "edits": [e.to_json() for e in self.edits]}


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    message: str
    # scan location (1-based)
    path: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    fix: Fix | None = None
    # verify location and evidence
    checkpoint: str | None = None
    expected: Any = None
    actual: Any = None
    # normalized source of the flagged statement, for baselines (not part of the JSON contract)
    fingerprint_source: str = field(default="", compare=False)

    def scan_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": str(self.severity),
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "fix": self.fix.to_json() if self.fix else None,
        }

    @classmethod
    def from_scan_json(cls, d: dict[str, Any]) -> "Finding":
        """Inverse of `scan_json` (plus the fingerprint), for the result cache and baselines."""
        fix = None
        if d.get("fix"):
            fix = Fix(d["fix"]["applicability"], tuple(Edit(**e) for e in d["fix"]["edits"]))
        return cls(code=d["code"], name=d["name"], severity=Severity.parse(d["severity"]),
                   message=d["message"], path=d["path"], line=d["line"], column=d["column"],
                   end_line=d["end_line"], end_column=d["end_column"], fix=fix,
                   fingerprint_source=d.get("fingerprint_source", ""))

    def verify_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": str(self.severity),
            "message": self.message,
            "checkpoint": self.checkpoint,
            "expected": self.expected,
            "actual": self.actual,
        }

    @property
    def sort_key(self) -> tuple:
        return (self.path or self.checkpoint or "", self.line or 0, self.column or 0, self.code)


def exit_code(findings: list[Finding], fail_on: Severity, *, errors: bool = False) -> int:
    """DESIGN.md: 2 for unreadable input/usage/internal errors, 1 for findings at or above
    `fail_on`, 0 otherwise.  Input errors win: a partial scan must not pass a gate."""
    if errors:
        return 2
    return 1 if any(f.severity >= fail_on for f in findings) else 0
