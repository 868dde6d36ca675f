"""Property-based fuzzing of `lraudit scan` on mutated real training scripts.

The seeds are the fixture scripts and the fix examples: real-looking training code, bugs
included.  Mutations work on bytes (flips, truncation, splices from another script, random
bytes) and on lines (deleted, duplicated, re-indented, moved from another script), so that some
examples stay valid Python and reach the analysis while others exercise decoding and parsing.

The property: scanning returns findings or raises InputError (one line with a reason), and
`--fix` never produces text that does not parse.  Anything else is a bug to fix where it lives.

Fast by default (a few seconds, derandomized so CI sees the same examples); a longer random run:
`LRAUDIT_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_scan.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, ROOT
from mutations import byte_mutation
from lraudit.scan.fix import _parses, fix_text
from lraudit.scan.rules import ALL_RULES
from lraudit.scan.runner import InputError, decode, scan_text

LONG_RUN = "LRAUDIT_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("LRAUDIT_FUZZ_EXAMPLES", "15"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG_RUN, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True)

SEEDS = sorted([*FIXTURES.glob("*.py"), *(ROOT / "fixtures" / "fixes").glob("*.py")])
SEED_BYTES = [p.read_bytes() for p in SEEDS]
# Snippets that steer mutations toward what the rules read: restores, fits, rate writes.
TOKENS = [b"model.fit(x, epochs=", b"initial_epoch=", b"load_model(", b".load_weights(", b"compile(",
          b"optimizer.learning_rate = ", b"lr=", b"decay=", b"ModelCheckpoint(", b"BackupAndRestore(",
          b"tf.train.Checkpoint(", b"for epoch in range(", b"    ", b"\t", b"\r\n", b"\r", b"(", b")", b"[",
          b"]", b":", b"\\\n", b"'''", b'"', b"#", b"\x00", b"\xff", b"\xef\xbb\xbf", b"lambda: ", b"**"]


@st.composite
def mutated_source(draw) -> bytes:
    """One seed script with one to four byte- or line-level mutations."""
    data = bytearray(draw(st.sampled_from(SEED_BYTES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "insert", "token",
                                   "drop_line", "dup_line", "indent", "foreign_line"]))
        lines = bytes(data).splitlines(keepends=True) or [b""]
        if op in ("drop_line", "dup_line", "indent", "foreign_line"):
            i = draw(st.integers(0, len(lines) - 1))
            if op == "drop_line":
                del lines[i]
            elif op == "dup_line":
                lines.insert(i, lines[i])
            elif op == "indent":
                lines[i] = draw(st.sampled_from([b"    ", b"\t", b"  "])) + lines[i]
            else:
                other = draw(st.sampled_from(SEED_BYTES)).splitlines(keepends=True) or [b""]
                lines.insert(i, other[draw(st.integers(0, len(other) - 1))])
            data = bytearray(b"".join(lines))
            continue
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if not byte_mutation(draw, data, op, pos, SEED_BYTES, splice=(200, 400), insert_max=12):
            data[pos:pos] = draw(st.sampled_from(TOKENS))
    return bytes(data)


def _text_or_none(data: bytes) -> str | None:
    try:
        return decode(data)
    except InputError:
        return None


@FUZZ
@given(mutated_source())
def test_scan_returns_findings_or_one_input_error(data: bytes) -> None:
    text = _text_or_none(data)
    if text is None:
        return
    try:
        findings = scan_text(text, "mutated.py", ALL_RULES)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for f in findings:
        assert f.code.startswith("LR") and f.line >= 1 and f.column >= 1 and f.message


@FUZZ
@given(mutated_source())
def test_fix_never_produces_text_that_does_not_parse(data: bytes) -> None:
    text = _text_or_none(data)
    if text is None:
        return
    try:
        outcome = fix_text(text, "mutated.py", ALL_RULES, unsafe=True)
    except InputError:
        return
    if outcome.applied:
        assert _parses(outcome.text)
    else:
        assert outcome.text == text


@settings(max_examples=1 if not LONG_RUN else max(1, EXAMPLES // 100), deadline=None,
          derandomize=not LONG_RUN, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(mutated_source(), min_size=12, max_size=12))
def test_cli_on_a_tree_of_mutated_scripts(tmp_path_factory, sources: list[bytes]) -> None:
    """The whole command, as CI runs it: exit 0, 1 or 2, JSON on stdout, no traceback."""
    tree = tmp_path_factory.mktemp("mutated")
    for index, data in enumerate(sources):
        (tree / f"script_{index:02d}.py").write_bytes(data)
    proc = subprocess.run([sys.executable, "-m", "lraudit.cli", "scan", "--no-cache", "--format", "json",
                           str(tree)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert isinstance(json.loads(proc.stdout), list)
    for line in proc.stderr.splitlines():
        assert line.startswith("lraudit: "), line


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name)
def test_every_seed_scans_cleanly(seed: Path) -> None:
    """The unmutated seeds parse: the fuzzers start from real code, not from errors."""
    scan_text(decode(seed.read_bytes()), seed.name, ALL_RULES)
