"""The rule catalog: one small module per rule, each a query over `ModuleFacts`.

A rule module defines `RULE = Rule(...)` and its page `LRxxx.md` sits beside it; the page's
"Bad"/"Good" examples are run through the rule by the test suite, so docs cannot drift.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import libcst as cst

from lraudit.findings import Fix, Severity

DOCS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Hit:
    """What a rule reports; the runner turns it into a positioned Finding."""

    node: cst.CSTNode
    message: str
    severity: Severity | None = None  # None: the rule's default
    fix: "FixSpec | None" = None


@dataclass(frozen=True)
class FixSpec:
    """A libcst node replacement; positions are computed by the runner."""

    applicability: str  # safe | unsafe
    replacements: tuple[tuple[cst.CSTNode, cst.CSTNode], ...]
    description: str = ""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    check: Callable[..., Iterable[Hit]]
    # Substrings of which a file must contain at least one for this rule to possibly fire.
    tokens: tuple[str, ...] = ()
    fixable: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def doc_path(self) -> Path:
        return DOCS_DIR / f"{self.code}.md"


def _discover() -> list[Rule]:
    rules = []
    for info in pkgutil.iter_modules([str(DOCS_DIR)]):
        if info.name.startswith("lr"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            rules.append(module.RULE)
    return sorted(rules, key=lambda r: r.code)


ALL_RULES: list[Rule] = _discover()
BY_CODE: dict[str, Rule] = {r.code: r for r in ALL_RULES}


def select_rules(select: Iterable[str] | None, ignore: Iterable[str] | None) -> list[Rule]:
    """Codes and prefixes (`LR1`, `LR101`, `ALL`); ignore wins over select, like ruff."""
    sel = [s.strip().upper() for s in (select or ["ALL"]) if s.strip()]
    ign = [s.strip().upper() for s in (ignore or []) if s.strip()]

    def matches(code: str, patterns: list[str]) -> bool:
        return any(p == "ALL" or code.startswith(p) for p in patterns)

    return [r for r in ALL_RULES if matches(r.code, sel) and not matches(r.code, ign)]


def markdown_table(rules: Iterable[Rule] | None = None) -> str:
    """The README's rule table, generated from the rule objects (a test keeps it current)."""
    rows = ["| Code | Name | Severity | Fix | What it finds |", "|---|---|---|---|---|"]
    for r in rules if rules is not None else ALL_RULES:
        fix = "yes" if r.fixable else ""
        rows.append(f"| [{r.code}](lraudit/scan/rules/{r.code}.md) | `{r.name}` | {r.severity} | {fix} | {r.summary} |")
    return "\n".join(rows) + "\n"
