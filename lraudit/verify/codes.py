"""The verify finding codes: code -> (name, severity).  Names and codes are part of the contract.

LRV006/LRV007/LRV011 come from the replay engine (lraudit/verify/replay/).  LRV009 and LRV010 extend the set for two
things the fast path sees that the original six do not cover (an unverifiable custom schedule,
and a step counter that runs ahead of the epoch count); both are documented in rules/.
"""

from __future__ import annotations

from typing import Any

from lraudit.findings import Finding, Severity

CODES: dict[str, tuple[str, Severity]] = {
    "LRV001": ("no-optimizer-state", Severity.ERROR),
    "LRV002": ("schedule-restarted", Severity.ERROR),
    "LRV003": ("lr-mismatch", Severity.ERROR),
    "LRV004": ("schedule-changed", Severity.WARNING),
    "LRV005": ("lr-jump", Severity.WARNING),
    "LRV006": ("replay-mismatch", Severity.ERROR),
    "LRV007": ("optimizer-restore-skipped", Severity.ERROR),
    "LRV008": ("unreadable-checkpoint", Severity.ERROR),
    "LRV009": ("schedule-unverifiable", Severity.INFO),
    "LRV010": ("step-ahead-of-epoch", Severity.WARNING),
    "LRV011": ("replay-failed", Severity.INFO),
}


def make(code: str, message: str, checkpoint: str | None, expected: Any = None,
         actual: Any = None) -> Finding:
    name, severity = CODES[code]
    return Finding(code=code, name=name, severity=severity, message=message,
                   checkpoint=checkpoint, expected=expected, actual=actual)


def rule_page(code: str) -> str | None:
    """The Markdown page shipped for a code (lraudit/verify/rules/LRVnnn.md)."""
    import os  # noqa: PLC0415

    path = os.path.join(os.path.dirname(__file__), "rules", f"{code}.md")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None
