"""Baseline of known findings: survives edits that move lines, still catches new findings of the
same rule in the same file, and treats a missing or corrupt baseline as a usage error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lraudit.findings import Finding, Severity
from lraudit.scan import baseline

SCRIPT = """import tensorflow as tf

model = tf.keras.models.load_model("checkpoints/last.keras")
model.fit(x_train, y_train, epochs=50)
"""
NEW_FIT = "model.fit(x_more, y_more, epochs=60)\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "train.py").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_write_baseline_records_findings_without_lines(project: Path, cli) -> None:
    result = cli("scan", ".", "--write-baseline", "lraudit-baseline.json")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "recorded 1 finding in lraudit-baseline.json" in result.stderr
    doc = json.loads((project / "lraudit-baseline.json").read_text())
    assert doc["version"] == 1
    (entry,) = doc["findings"]
    assert set(entry) == {"code", "path", "fingerprint"}
    assert entry["code"] == "LR001" and entry["path"] == "train.py"


def test_moved_finding_is_suppressed_and_new_one_reported(project: Path, cli) -> None:
    assert cli("scan", ".", "--write-baseline", "base.json").exit_code == 0
    assert cli("scan", ".").exit_code == 1  # without the baseline the finding still fails

    # unrelated edits above the known finding move it down by four lines
    lines = SCRIPT.splitlines(keepends=True)
    moved = lines[:2] + ["# a comment\n", "EPOCHS = 50\n", "\n", "import os\n"] + lines[2:]
    (project / "train.py").write_text("".join(moved))
    result = cli("scan", ".", "--baseline", "base.json")
    assert result.exit_code == 0, result.output
    assert "LR001" not in result.stdout
    assert "No findings" in result.stdout and "1 known finding hidden by the baseline" in result.stdout

    # a new finding of the same rule in the same file is reported, and only it
    (project / "train.py").write_text("".join(moved) + NEW_FIT)
    result = cli("scan", ".", "--baseline", "base.json", "--format", "json")
    assert result.exit_code == 1
    (new,) = json.loads(result.stdout)
    assert new["code"] == "LR001" and new["path"] == "train.py" and new["line"] == len(moved) + 1


def test_copies_of_a_known_line_count_as_a_multiset(project: Path, cli) -> None:
    assert cli("scan", ".", "--write-baseline", "base.json").exit_code == 0
    fit = SCRIPT.splitlines(keepends=True)[-1]
    (project / "train.py").write_text(SCRIPT + fit)  # the same statement twice
    result = cli("scan", ".", "--baseline", "base.json", "--format", "json")
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)) == 1
    # recording both, then deleting one copy, leaves nothing new
    assert cli("scan", ".", "--write-baseline", "base.json").exit_code == 0
    (project / "train.py").write_text(SCRIPT)
    assert cli("scan", ".", "--baseline", "base.json").exit_code == 0


def test_baseline_matches_however_the_paths_are_spelled(project: Path, cli, monkeypatch) -> None:
    assert cli("scan", "train.py", "--write-baseline", "base.json").exit_code == 0
    assert cli("scan", str(project), "--baseline", str(project / "base.json")).exit_code == 0
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    assert cli("scan", "..", "--baseline", "../base.json").exit_code == 0


def test_editing_the_flagged_statement_makes_it_new(project: Path, cli) -> None:
    assert cli("scan", ".", "--write-baseline", "base.json").exit_code == 0
    (project / "train.py").write_text(SCRIPT.replace("epochs=50", "epochs=80"))
    assert cli("scan", ".", "--baseline", "base.json").exit_code == 1
    # whitespace inside the statement is not an edit
    (project / "train.py").write_text(SCRIPT.replace("epochs=50)", "epochs = 50 )"))
    assert cli("scan", ".", "--baseline", "base.json").exit_code == 0


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_baseline_applies_to_every_format_and_fail_on(project: Path, cli, fmt: str) -> None:
    assert cli("scan", ".", "--write-baseline", "base.json").exit_code == 0
    (project / "train.py").write_text(SCRIPT + NEW_FIT)
    result = cli("scan", ".", "--baseline", "base.json", "--format", fmt)
    assert result.exit_code == 1
    assert result.stdout.count("LR001") >= 1
    assert str(len(SCRIPT.splitlines()) + 1) in result.stdout  # the new line is the one reported
    assert cli("scan", ".", "--baseline", "base.json", "--format", fmt, "--exit-zero").exit_code == 0


@pytest.mark.parametrize("content,reason", [
    (None, "baseline file not found"),
    ("{not json", "invalid JSON at line 1"),
    ("[1, 2]", "not a baseline"),
    ('{"version": 99, "findings": []}', "unsupported baseline version 99"),
    ('{"version": 1, "findings": [{"code": "LR001"}]}', "must be a list of objects"),
    (b"\xff\xfe\x00garbage", "cannot read baseline"),
])
def test_missing_or_corrupt_baseline_is_a_usage_error(project: Path, cli, content, reason: str) -> None:
    path = project / "base.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = cli("scan", ".", "--baseline", "base.json")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("lraudit: error: base.json: ") and reason in line


def test_unwritable_baseline_is_a_usage_error(project: Path, cli) -> None:
    result = cli("scan", ".", "--write-baseline", str(project / "no-such-dir" / "base.json"))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "cannot write baseline" in line


def test_fingerprints_ignore_lines_and_order() -> None:
    def f(line: int, source: str = "model.fit(x)") -> Finding:
        return Finding("LR001", "fit-without-initial-epoch", Severity.ERROR, "m", path="t.py", line=line,
                       column=1, fingerprint_source=source)

    root = Path(os.getcwd())
    first = baseline.fingerprints([f(3), f(9)], root)
    assert first == baseline.fingerprints([f(30), f(90)], root)
    assert first[0] != first[1]  # duplicates differ by occurrence index
    known = baseline.Baseline(baseline.Counter(fp for _, fp in first), root)
    assert baseline.new_findings([f(12), f(5)], known) == ([], 2)
    new, hidden = baseline.new_findings([f(1), f(2), f(3)], known)
    assert hidden == 2 and [x.line for x in new] == [3]
