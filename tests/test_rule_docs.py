"""Every rule page's Bad examples fire the rule and its Good examples do not: the docs are the
first test suite of each rule (fixit's idea), and each rule has at least three of both."""

from __future__ import annotations

import re

import pytest

from lraudit.scan.rules import ALL_RULES, Rule
from lraudit.scan.runner import scan_text


def examples(rule: Rule, section: str) -> list[str]:
    page = rule.doc_path.read_text(encoding="utf-8")
    match = re.search(rf"^## {section}\n(.*?)(?=^## |\Z)", page, re.S | re.M)
    assert match, f"{rule.code}.md has no '## {section}' section"
    return re.findall(r"```python\n(.*?)```", match.group(1), re.S)


CASES = [(r, s, i, code) for r in ALL_RULES for s in ("Bad", "Good") for i, code in enumerate(examples(r, s))]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_each_rule_has_a_page_with_enough_examples(rule: Rule) -> None:
    page = rule.doc_path.read_text(encoding="utf-8")
    assert page.startswith(f"# {rule.code} {rule.name}\n")
    for heading in ("## What it finds", "## Why it matters", "## What to do"):
        assert heading in page
    assert len(examples(rule, "Bad")) >= 3
    assert len(examples(rule, "Good")) >= 3


@pytest.mark.parametrize("rule,section,index,code", CASES,
                         ids=[f"{r.code}-{s}-{i}" for r, s, i, _ in CASES])
def test_examples(rule: Rule, section: str, index: int, code: str) -> None:
    found = [f for f in scan_text(code, "example.py", [rule]) if f.code == rule.code]
    if section == "Bad":
        assert found, f"{rule.code} did not fire on its bad example {index}"
        for f in found:
            assert "learning" in f.message.lower() or "schedule" in f.message.lower()
    else:
        assert not found, f"{rule.code} fired on its good example {index}: {found[0].message}"
