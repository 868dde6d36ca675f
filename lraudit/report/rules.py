"""Rule metadata for reporters that describe rules, not just findings (SARIF).

Both engines document their rules as Markdown pages that open with `# CODE name` and a
`**Severity:** level` line.  Reading the pages here, instead of importing each engine's rule
catalog, keeps the reporters engine-neutral and lets `verify` be described before it has a
Python-side catalog (verify's codes table supplies names and severities when it exists): a
code that has no page is described from its findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from lraudit.findings import Finding, Severity

_PACKAGE = Path(__file__).resolve().parent.parent
SCAN_PAGES = _PACKAGE / "scan" / "rules"
VERIFY_PAGES = _PACKAGE / "verify" / "rules"

_HEADING = re.compile(r"^#\s+(?P<code>[A-Z]+\d+)\s+(?P<name>\S+)\s*$", re.M)
_SEVERITY = re.compile(r"\*\*Severity:\*\*\s*(?P<sev>error|warning|info)", re.I)


@dataclass(frozen=True)
class RuleMeta:
    code: str
    name: str
    severity: Severity
    summary: str = ""
    page: str = ""  # the rule's Markdown page; empty when it has none

    @property
    def description(self) -> str:
        """The page's "What it finds" section, the closest thing a rule has to a definition."""
        return section(self.page, "What it finds") or self.summary or self.name


def section(page: str, title: str) -> str:
    """The body of `## title` in a Markdown page, stripped; empty when absent."""
    match = re.search(rf"^##\s+{re.escape(title)}\s*\n(.*?)(?=^##\s|\Z)", page, re.S | re.M)
    return match.group(1).strip() if match else ""


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    return match.group(1) if match else flat


def from_page(page: str) -> RuleMeta | None:
    """Metadata from a rule page alone; None when the page has no `# CODE name` heading."""
    head = _HEADING.search(page)
    if head is None:
        return None
    sev = _SEVERITY.search(page)
    severity = Severity.parse(sev.group("sev")) if sev else Severity.WARNING
    return RuleMeta(head.group("code"), head.group("name"), severity,
                    _first_sentence(section(page, "What it finds")), page)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""  # a missing page costs the help text, never the report


def scan_rules() -> list[RuleMeta]:
    """The scan catalog; importing it is cheap next to the scan that produced the findings."""
    from lraudit.scan.rules import ALL_RULES

    return [RuleMeta(r.code, r.name, r.severity, r.summary, _read(r.doc_path)) for r in ALL_RULES]


def page_rules(directory: Path) -> list[RuleMeta]:
    """Every rule described by a `*.md` page in `directory` (the verify catalog today)."""
    if not directory.is_dir():
        return []
    metas = (from_page(_read(p)) for p in sorted(directory.glob("*.md")))
    return [m for m in metas if m is not None]


def verify_rules() -> list[RuleMeta]:
    """The verify codes table (names and severities are its contract) with each code's page,
    plus any page whose code the table does not list yet."""
    try:
        from lraudit.verify.codes import CODES
    except ImportError:  # an engine without a codes table is described by its pages alone
        CODES = {}
    pages = {m.code: m for m in page_rules(VERIFY_PAGES)}
    out = []
    for code, (name, severity) in CODES.items():
        page = pages.pop(code, None)
        out.append(RuleMeta(code, name, severity, page.summary if page else name.replace("-", " "),
                            page.page if page else ""))
    return sorted(out + list(pages.values()), key=lambda m: m.code)


def catalog(kind: str) -> list[RuleMeta]:
    if kind == "scan":
        return scan_rules()
    if kind == "verify":
        return verify_rules()
    raise ValueError(f"unknown engine {kind!r} (expected scan or verify)")


def complete(rules: Iterable[RuleMeta], findings: Iterable[Finding]) -> list[RuleMeta]:
    """`rules` plus a minimal entry for every reported code they do not describe, so that each
    SARIF result can point at a rule."""
    out = {r.code: r for r in rules}
    for f in findings:
        if f.code not in out:
            out[f.code] = RuleMeta(f.code, f.name, f.severity, f.name.replace("-", " "))
    return sorted(out.values(), key=lambda r: r.code)
