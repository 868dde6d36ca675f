"""Human output: one line per finding, coloured on a terminal, then a summary line."""

from __future__ import annotations

import os
from collections import Counter
from typing import IO

from lraudit.findings import Finding, Severity

_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def use_colour(stream: IO[str], forced: bool | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if forced is not None:
        return forced
    if os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def finding_line(f: Finding, colour: bool = False) -> str:
    where = f"{f.path}:{f.line}:{f.column}" if f.path is not None else (f.checkpoint or "")
    sev = _paint(f"[{f.severity}]", _COLOURS[f.severity], colour)
    code = _paint(f.code, "1", colour)
    fixable = "" if not f.fix else " (fixable)" if f.fix.applicability == "safe" else " (unsafe fix)"
    return f"{where}: {code} {sev} {f.message}{fixable}"


def summary_line(findings: list[Finding], files_checked: int | None = None, noun: str = "file",
                 baselined: int = 0, unchecked: int = 0) -> str:
    """The last line of a text report.  `unchecked`: inputs that could not be checked (their
    errors are on stderr); then the line starts with "Incomplete" and never says "No findings",
    which would read as a pass."""
    counts = Counter(f.severity for f in findings)
    prefix = (f"Incomplete: {unchecked} input{'s' if unchecked != 1 else ''} could not be "
              "checked (see the errors above); ") if unchecked else ""
    if not findings:
        head = f"{prefix}0 findings" if unchecked else "No findings"
    else:
        parts = [f"{counts[s]} {s}" + ("s" if counts[s] != 1 else "") for s in sorted(counts, reverse=True)]
        head = f"{prefix}{'f' if unchecked else 'F'}ound {len(findings)} finding{'s' if len(findings) != 1 else ''} ({', '.join(parts)})"
    if files_checked is not None:
        head += f" in {files_checked} {noun}{'s' if files_checked != 1 else ''} checked"
    safe = sum(1 for f in findings if f.fix and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicability != "safe")
    if safe:
        head += f"; {safe} fixable with --fix"
    if unsafe:  # applied only on request: they may change what the script does
        head += f"; {unsafe} {'more ' if safe else ''}with --fix --unsafe-fixes"
    if baselined:
        head += f"; {baselined} known finding{'s' if baselined != 1 else ''} hidden by the baseline"
    return head + "."


def render(findings: list[Finding], files_checked: int | None = None, colour: bool = False,
           quiet: bool = False, noun: str = "file", baselined: int = 0, unchecked: int = 0) -> str:
    lines = [finding_line(f, colour) for f in findings]
    if not quiet:
        lines.append(summary_line(findings, files_checked, noun, baselined, unchecked))
    return "\n".join(lines) + ("\n" if lines else "")


def rule_counts(findings: list[Finding]) -> list[tuple[str, str, int]]:
    """(code, name, count) per rule, most frequent first: where a cleanup pays off most."""
    counts = Counter((f.code, f.name) for f in findings)
    return sorted(((code, name, n) for (code, name), n in counts.items()), key=lambda t: (-t[2], t[0]))


def render_statistics(findings: list[Finding]) -> str:
    rows = rule_counts(findings)
    width = max((len(str(n)) for _, _, n in rows), default=1)
    code_width = max((len(code) for code, _, _ in rows), default=1)
    return "".join(f"{n:>{width}}  {code:<{code_width}}  {name}\n" for code, name, n in rows)
