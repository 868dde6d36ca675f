"""Bounded cost per file (issue 18): huge literals are summarised rather than parsed, deep
nesting is refused before libcst runs, a wall-clock budget stops the rest, symlink loops reach
a file once, and a run that could not check an input never says "No findings".

Speed itself is measured by benchmarks/scan_growth.py, not here: these tests check the
mechanisms (what libcst is given, which line the user gets) on the real CLI."""

from __future__ import annotations

import random
import time

import pytest

from lraudit.scan.budget import (SUMMARY_KEEP, TooComplex, parse_cost, summarise_literals,
                                 time_budget)
from lraudit.scan.positions import parse_python
from lraudit.scan.rules import ALL_RULES
from lraudit.scan.runner import parse_summarised, scan_text
from test_scan_hostile import BAD, error_lines, names_with, scan

TAIL = BAD.replace("import keras\n", "")   # load_model() then fit() without initial_epoch: LR001


def _big_list(n: int) -> str:
    rng = random.Random(1)
    return "DATA = [" + ", ".join(f"{rng.random():.5f}" for _ in range(n)) + "]\n"


def _big_dict(n: int) -> str:
    return "TABLE = {\n" + "".join(f"    'k{i}': ({i}, -{i}.5, 'v'),\n" for i in range(n)) + "}\n"


def _concatenation(n: int) -> str:
    return "MSG = (\n" + "".join(f'    "part {i} of a message "\n' for i in range(n)) + ")\n"


@pytest.mark.parametrize("literal", [_big_list(2000), _big_dict(2000), _concatenation(20000)],
                         ids=["list", "dict", "implicit-concatenation"])
def test_large_literals_are_summarised_keeping_every_position(literal: str) -> None:
    text = "import keras\n" + literal + TAIL
    summarised = summarise_literals(text, parse_python(text))
    assert len(summarised) == len(text)
    assert [i for i, c in enumerate(summarised) if c == "\n"] == \
           [i for i, c in enumerate(text) if c == "\n"]
    assert summarised.endswith(TAIL) and summarised.startswith("import keras\n")
    assert parse_cost(summarised).seconds < parse_cost(text).seconds / 20   # libcst reads blanks
    kept = summarised[len("import keras\n"):len(summarised) - len(TAIL)]
    assert kept.count(",") <= 3 * SUMMARY_KEEP
    # the finding after the literal is found, on its own line
    (finding,) = scan_text(text, "big.py", ALL_RULES)
    assert (finding.code, finding.line) == ("LR001", text.count("\n"))


def test_an_implicit_concatenation_libcst_could_not_parse_gets_findings(tmp_path) -> None:
    """libcst rejects some thousands of concatenated string parts as a syntax error (before the
    summary, the file was reported as one); Python accepts them."""
    (tmp_path / "msg.py").write_text("import keras\n" + _concatenation(20000) + TAIL)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert error_lines(proc) == [] and names_with(findings, "LR001") == ["msg.py"]


def test_an_800_kB_literal_scans_with_its_finding(tmp_path) -> None:
    text = "import keras\n" + _big_list(100_000) + TAIL
    assert 700_000 < len(text) < 1_000_000
    (tmp_path / "data.py").write_text(text)
    proc, findings = scan("--format", "json", str(tmp_path / "data.py"))
    assert proc.returncode == 1 and error_lines(proc) == []
    assert [(f["code"], f["line"]) for f in findings] == [("LR001", 4)]


def test_mixed_literals_are_not_summarised() -> None:
    """Only all-constant containers are cut: a list of calls may hold what a rule looks for."""
    items = ", ".join(f"keras.callbacks.ModelCheckpoint('w{i}.h5')" for i in range(300))
    text = f"import keras\nCALLBACKS = [{items}]\n"
    assert summarise_literals(text, parse_python(text)) == text


def test_a_fix_never_writes_a_summary_back(tmp_path) -> None:
    values = ", ".join(f"{i / 1000:.3f}" for i in range(1, 401))
    path = tmp_path / "opt.py"
    original = f"import tensorflow as tf\nopt = tf.keras.optimizers.SGD(lr=[{values}][0])\n"
    path.write_text(original)
    proc, _ = scan("--fix", str(path))
    fixed = path.read_text()
    assert "learning_rate=[" in fixed and f"[{values}]" in fixed
    assert fixed == original.replace("(lr=", "(learning_rate=")


def test_deep_nesting_is_refused_before_libcst_runs(tmp_path) -> None:
    """40 nested calls a line: libcst would need about 4 MB and 10 ms for each of them."""
    line = "v = " + "f(" * 40 + "x" + ")" * 40 + "\n"
    (tmp_path / "deep.py").write_text("import keras\n" + line * 2000 + TAIL)
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert proc.returncode == 2
    (error,) = error_lines(proc)
    assert error.startswith(f"lraudit: error: {tmp_path / 'deep.py'}: too complex to analyse in 5 s "
                            "(brackets nested up to 40 deep; parsing alone would need about")
    assert "--time-budget" in error
    assert names_with(findings, "LR001") == ["train.py"]          # the run goes on


def test_the_budget_is_configurable_and_reported_in_one_line(tmp_path) -> None:
    big = "import keras\n" + "x = keras.layers.Dense(4)(x)\n" * 20_000 + TAIL
    (tmp_path / "big.py").write_text(big)
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", "--time-budget", "0.5", str(tmp_path))
    (error,) = error_lines(proc)
    assert ": too complex to analyse in 0.5 s" in error and "big.py" in error
    assert names_with(findings, "LR001") == ["train.py"]
    (tmp_path / "pyproject.toml").write_text("[tool.lraudit]\ntime-budget = 60\n")
    proc, findings = scan("--format", "json", str(tmp_path), cwd=tmp_path)
    assert error_lines(proc) == [] and names_with(findings, "LR001") == ["big.py", "train.py"]
    (tmp_path / "pyproject.toml").write_text("[tool.lraudit]\ntime-budget = 'soon'\n")
    proc, _ = scan(str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "time-budget must be a positive number" in proc.stderr


def test_the_wall_clock_budget_interrupts_python_code() -> None:
    start = time.monotonic()
    with pytest.raises(TooComplex, match=r"too complex to analyse in 0.05 s"):
        with time_budget(0.05):
            while True:
                pass
    assert time.monotonic() - start < 30
    with time_budget(5):   # the timer is disarmed after the block
        pass
    time.sleep(0.01)


def test_parse_summarised_refuses_by_the_budget_given() -> None:
    text = "import keras\n" + "x = f(a, b, c)\n" * 5000
    parse_summarised(text, 5.0)
    with pytest.raises(TooComplex):
        parse_summarised(text, 0.01)


def test_symlink_loops_reach_each_file_once(tmp_path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(BAD)
    (project / "data.py").write_text("import keras\n" + _big_list(50_000) + TAIL)
    (project / "up").symlink_to("..")
    (project / "self").symlink_to(".")
    (project / "nested").mkdir()
    (project / "nested" / "back").symlink_to("../..")
    proc, findings = scan("--format", "json", str(project))
    assert proc.returncode == 1 and error_lines(proc) == []
    assert names_with(findings, "LR001") == ["data.py", "train.py"]
    proc, _ = scan(str(project))
    assert proc.stdout.strip().endswith("in 2 files checked.")


def test_no_findings_line_is_never_printed_next_to_an_error(tmp_path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import keras\nmodel = keras.models.load_model('m.keras')\nmodel.fit(x\n")
    for args in ([str(tmp_path / "missing.py")], [str(broken)],
                 [str(broken), str(tmp_path / "missing.py")]):
        proc, _ = scan(*args)
        assert proc.returncode == 2
        assert "No findings" not in proc.stdout
        assert proc.stdout.startswith(f"Incomplete: {len(args)} input")
    (tmp_path / "train.py").write_text(BAD)
    proc, _ = scan(str(tmp_path))
    assert proc.returncode == 2
    assert proc.stdout.splitlines()[-1].startswith(
        "Incomplete: 1 input could not be checked (see the errors above); found 1 finding")
    assert proc.stdout.splitlines()[-1].endswith("in 1 file checked.")
