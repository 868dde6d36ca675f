"""Machine output: the JSON contracts of DESIGN.md."""

from __future__ import annotations

import json

from lraudit.findings import Finding


def render_scan(findings: list[Finding]) -> str:
    return json.dumps([f.scan_json() for f in findings], indent=2) + "\n"
