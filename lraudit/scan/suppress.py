"""`# noqa`, `# noqa: LR001,LR101` and `# lraudit: ignore[LR001]` on the reported line."""

from __future__ import annotations

import re

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_IGNORE = re.compile(r"#\s*lraudit:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)


def suppressed_codes(line: str) -> set[str] | None:
    """Codes suppressed on this line; an empty set means all; None means no suppression."""
    if "#" not in line:
        return None
    result: set[str] | None = None
    for pattern in (_NOQA, _IGNORE):
        for match in pattern.finditer(line):
            codes = match.group("codes")
            if not codes:
                return set()
            result = (result or set()) | {c.upper() for c in re.split(r"[\s,]+", codes.strip()) if c}
    return result


def is_suppressed(lines: list[str], code: str, line: int, end_line: int | None = None) -> bool:
    """The start or end line of the flagged node may carry the comment (multi-line calls)."""
    for number in {line, end_line or line}:
        if 1 <= number <= len(lines):
            codes = suppressed_codes(lines[number - 1])
            if codes is not None and (not codes or code in codes):
                return True
    return False
