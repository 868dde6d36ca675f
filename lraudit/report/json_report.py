"""Machine output: the JSON contracts of DESIGN.md."""

from __future__ import annotations

import json

from lraudit.findings import Finding


def render_scan(findings: list[Finding]) -> str:
    return json.dumps([f.scan_json() for f in findings], indent=2) + "\n"


def render_statistics(findings: list[Finding]) -> str:
    """`--statistics --format json`: one object per rule, most frequent first."""
    from lraudit.report.text import rule_counts

    return json.dumps([{"code": c, "name": n, "count": k} for c, n, k in rule_counts(findings)],
                      indent=2) + "\n"
