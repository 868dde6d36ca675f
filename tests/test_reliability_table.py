"""The reliability table in tests/README.md names real tests: a renamed or deleted test must
not leave a row claiming a proof that no longer runs."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

TABLE = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_every_test_the_table_names_exists() -> None:
    references = REFERENCE.findall(TABLE)
    assert len(references) > 50
    missing = []
    for path, name in sorted(set(references)):
        source = ROOT / path
        if not source.is_file():
            missing.append(f"{path} (no such file)")
            continue
        defined = {node.name for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
                   if isinstance(node, ast.FunctionDef)}
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_hostile_input_test_is_in_the_table() -> None:
    """The suites written for issues 8 and 18 are listed test by test."""
    listed = set(REFERENCE.findall(TABLE))
    for path in ("tests/test_scan_hostile.py", "tests/test_fix_safety.py", "tests/verify/test_verify_hostile.py",
                 "tests/verify/test_safe_inputs.py", "tests/test_fuzz_scan.py", "tests/verify/test_fuzz_verify.py",
                 "tests/test_scan_bounds.py", "tests/verify/test_replay_isolation.py"):
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
        unlisted = sorted(name for name in tests if (path, name) not in listed)
        assert unlisted == [], f"{path}: {unlisted}"
