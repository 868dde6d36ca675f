"""The README's rule table is generated from the rule objects; it must not go stale."""

from __future__ import annotations

from conftest import ROOT
from lraudit.scan.rules import markdown_table


def test_readme_rule_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- rules:start -->\n") + len("<!-- rules:start -->\n")
    end = readme.index("<!-- rules:end -->")
    assert readme[start:end] == markdown_table(), \
        "README rule table is stale: regenerate it with `lraudit rule --all --format markdown`"
