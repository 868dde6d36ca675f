"""`lraudit scan fixtures/scripts --format json` reports exactly the `# expect:` markers."""

from __future__ import annotations

import json
import re

from conftest import FIXTURES, ROOT, run_lraudit

_EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")


def expected() -> set[tuple[str, int, str]]:
    out = set()
    for path in sorted(FIXTURES.glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = _EXPECT.search(line)
            if match:
                for code in re.split(r"[,\s]+", match.group(1).strip()):
                    out.add((path.name, number, code))
    return out


def test_fixture_scan_reports_exactly_the_marked_findings() -> None:
    proc = run_lraudit("scan", "fixtures/scripts", "--format", "json", cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    findings = json.loads(proc.stdout)
    got = {(f["path"].rsplit("/", 1)[-1], f["line"], f["code"]) for f in findings}
    want = expected()
    assert want, "fixtures carry no expectations"
    assert got - want == set(), f"unexpected findings: {sorted(got - want)}"
    assert want - got == set(), f"missed findings: {sorted(want - got)}"


def test_look_alike_fixtures_are_silent() -> None:
    proc = run_lraudit("scan", *sorted(str(p) for p in FIXTURES.glob("ok_*.py")), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout
