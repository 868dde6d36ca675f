"""Rule codes without importing the rules.

Rule modules import libcst (0.15 s), and a scan whose files all fail the prefilter or hit the
cache must not pay for that.  The codes come from the rule modules' file names (`lr001_*.py`
defines LR001; a test checks that against the imported catalog), and `select_codes` applies
`--select`/`--ignore` exactly as `lraudit.scan.rules.select_rules` does.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

RULES_DIR = Path(__file__).parent / "rules"
_MODULE = re.compile(r"^lr(\d{3})_\w+\.py$")


@lru_cache(maxsize=1)
def all_codes() -> tuple[str, ...]:
    """Every rule code, sorted."""
    try:
        names = [p.name for p in RULES_DIR.iterdir()]
    except OSError:  # pragma: no cover - the package is always installed with its rules
        names = []
    return tuple(sorted(f"LR{m.group(1)}" for m in map(_MODULE.match, names) if m))


def _matches(code: str, patterns: list[str]) -> bool:
    return any(p == "ALL" or code.startswith(p) for p in patterns)


def unknown_selectors(patterns: Iterable[str]) -> list[str]:
    """The codes or prefixes that match no rule (`LR999`, a typo): selecting them would turn
    the gate off without a word, so the command line refuses them."""
    codes = all_codes()
    return [p for p in (s.strip().upper() for s in patterns) if p and p != "ALL"
            and not any(c.startswith(p) for c in codes)]


def select_codes(select: Iterable[str] | None, ignore: Iterable[str] | None) -> list[str]:
    """Codes and prefixes (`LR1`, `LR101`, `ALL`); ignore wins over select, like ruff."""
    sel = [s.strip().upper() for s in (select or ["ALL"]) if s.strip()]
    ign = [s.strip().upper() for s in (ignore or []) if s.strip()]
    return [c for c in all_codes() if _matches(c, sel) and not _matches(c, ign)]


def codes_for(codes: list[str], ignored: set[str]) -> list[str]:
    """`codes` less those a per-file-ignores entry turns off for one file."""
    if not ignored:
        return codes
    return [c for c in codes if not any(p == "ALL" or c.startswith(p) for p in ignored)]
