"""Hostile and unusual inputs to `lraudit scan` beyond tests/test_scan_inputs.py: special files,
symlink loops, file names that are not UTF-8, sizes and depths that would exhaust the parser,
Python 2 and notebook exports.  Each gets normal findings or one stderr line with the path and
the reason; the other files are still scanned; the exit code is 0, 1 or 2; never a traceback,
a hang or a crash of the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from lraudit.scan.rules import ALL_RULES
from lraudit.scan.runner import MAX_EXPRESSION_DEPTH, MAX_PARSE_CHARS, InputError, scan_text

BAD = 'import keras\nmodel = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n'
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def scan(*args: str, cwd: Path | None = None, timeout: float = 120) -> tuple[subprocess.CompletedProcess, list]:
    """The real CLI in a subprocess: a hang or a crash shows as a timeout or a signal here."""
    proc = subprocess.run([sys.executable, "-m", "lraudit.cli", "scan", "--no-cache", *args],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout,
                          errors="surrogateescape")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1, 2), (proc.returncode, proc.stderr)
    findings = json.loads(proc.stdout) if "--format" in args and "json" in args and proc.stdout.strip() else []
    return proc, findings


def names_with(findings: list, code: str) -> list[str]:
    return sorted(Path(f["path"]).name for f in findings if f["code"] == code)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("lraudit: error: ")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_named_py_is_refused_not_read(tmp_path: Path) -> None:
    """A FIFO with no writer would block read() forever: CI must get an answer instead."""
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    assert line.endswith("pipe.py: a FIFO (named pipe), not a regular file; not read")
    assert names_with(findings, "LR001") == ["train.py"]
    proc, _ = scan(str(tmp_path / "pipe.py"), timeout=60)  # named on the command line too
    assert proc.returncode == 2 and "not a regular file" in proc.stderr


def test_directory_named_like_a_python_file_is_walked(tmp_path: Path) -> None:
    (tmp_path / "model.py").mkdir()
    (tmp_path / "model.py" / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert (proc.returncode, proc.stderr) == (1, "")
    assert [f["path"][-len("model.py/train.py"):] for f in findings] == ["model.py/train.py"]
    proc, findings = scan("--format", "json", str(tmp_path / "model.py"))
    assert proc.returncode == 1 and names_with(findings, "LR001") == ["train.py"]


def test_unreadable_file_is_one_line_and_the_rest_is_scanned(tmp_path: Path) -> None:
    locked = tmp_path / "locked.py"
    locked.write_text(BAD)
    locked.chmod(0)
    (tmp_path / "train.py").write_text(BAD)
    try:
        proc, findings = scan("--format", "json", str(tmp_path))
    finally:
        locked.chmod(0o644)
    assert "train.py" in names_with(findings, "LR001")
    if IS_ROOT:  # root reads a mode-000 file: it is scanned like any other (FIFO test: not read)
        assert proc.returncode == 1 and names_with(findings, "LR001") == ["locked.py", "train.py"]
    else:
        assert proc.returncode == 2
        assert [line.split(": ", 2)[-1] for line in error_lines(proc)] == ["cannot read: Permission denied"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_symlink_loop_files_are_reported_walked_or_named(tmp_path: Path) -> None:
    """Files that are symlinks to each other: walked, they were skipped without a word; named
    on the command line next to a pyproject.toml, resolving them raised out of the CLI."""
    (tmp_path / "pyproject.toml").write_text('[tool.lraudit]\nper-file-ignores = { "x/*.py" = ["LR1"] }\n')
    os.symlink("b.py", tmp_path / "a.py")
    os.symlink("a.py", tmp_path / "b.py")
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert proc.returncode == 2
    assert sorted(Path(line.split(": ")[2]).name for line in error_lines(proc)) == ["a.py", "b.py"]
    assert all(": cannot read: " in line for line in error_lines(proc))
    assert names_with(findings, "LR001") == ["train.py"]
    proc, findings = scan("--format", "json", "a.py", "train.py", cwd=tmp_path)
    assert proc.returncode == 2 and error_lines(proc) == [error_lines(proc)[0]]
    assert "a.py: cannot read: " in proc.stderr and names_with(findings, "LR001") == ["train.py"]


def _undecodable_name(directory: Path) -> Path:
    path = Path(os.fsdecode(os.fsencode(str(directory)) + b"/caf\xe9_train.py"))
    try:
        path.write_text(BAD)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses file names that are not UTF-8")
    return path


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_file_name_that_is_not_utf8_in_every_format(tmp_path: Path, fmt: str) -> None:
    """Linux names are bytes; a Latin-1 name reached the SARIF fingerprint and URI, and any
    --output-file, as lone surrogates that UTF-8 cannot encode."""
    src = tmp_path / "src"
    src.mkdir()
    _undecodable_name(src)
    proc, _ = scan("--format", fmt, str(src))
    assert proc.returncode == 1
    report = tmp_path / f"report.{fmt}"
    proc, _ = scan("--format", fmt, "--output-file", str(report), str(src))
    assert proc.returncode == 1 and report.stat().st_size > 0
    if fmt == "sarif":
        uri = json.loads(report.read_text())["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.endswith("caf%E9_train.py")
    if fmt == "text":
        assert b"caf\xe9_train.py:3:1: LR001" in report.read_bytes()  # the name's own bytes


def test_baseline_with_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _undecodable_name(src)
    baseline = tmp_path / "baseline.json"
    proc, _ = scan("--write-baseline", str(baseline), str(src))
    assert proc.returncode == 0
    proc, _ = scan("--baseline", str(baseline), str(src))
    assert proc.returncode == 0 and "1 known finding hidden" in proc.stdout


def test_spaces_and_non_ascii_in_directory_names(tmp_path: Path) -> None:
    deep = tmp_path / "my runs" / "expérience 1" / "日本"
    deep.mkdir(parents=True)
    (deep / "train script.py").write_text(BAD, encoding="utf-8")
    proc, findings = scan("--format", "json", str(tmp_path / "my runs"))
    assert proc.returncode == 1 and proc.stderr == ""
    assert findings[0]["path"].endswith("my runs/expérience 1/日本/train script.py")


def test_file_too_large_to_parse_is_refused_with_its_size() -> None:
    """A generated module that the prefilter cannot skip: libcst needs ~0.85 MB of memory per
    kB of source (a 10 MB file took over 10 GB), so past the limit it is refused up front."""
    rows = [f"    ({i}, {i * 0.5!r}),\n" for i in range(MAX_PARSE_CHARS // 20)]
    text = BAD + "TABLE = [\n" + "".join(rows) + "]\n"
    assert len(text) > MAX_PARSE_CHARS
    with pytest.raises(InputError, match=r"too large to analyse \(1\.\d million characters"):
        scan_text(text, "generated.py", ALL_RULES)
    small = BAD + "TABLE = [\n" + "".join(rows[:2000]) + "]\n"  # 40 kB: an ordinary size
    assert [f.code for f in scan_text(small, "small.py", ALL_RULES)] == ["LR001"]


CHAINS = {
    "unary": lambda n: "-" * n + "1",
    "not": lambda n: "not " * n + "x",
    "lambda": lambda n: "lambda: " * n + "1",
    "power": lambda n: "2**" * n + "1",
    "conditional": lambda n: "1 if x else " * n + "1",
    "sum": lambda n: " + ".join(["a"] * n),
    "method_chain": lambda n: "m" + ".f()" * n,
    "subscripts": lambda n: "a" + "[0]" * n,
    "attributes": lambda n: "a" + ".b" * n,
}


def test_deep_unbracketed_expressions_are_refused_not_crashed(tmp_path: Path) -> None:
    """libcst's native parser segfaulted (the whole scan died with signal 11) on 5,000-deep
    unary, `not`, `lambda`, `**` and conditional chains, and ran for hours on 100,000-term sums
    and method chains.  Depth 1,000 on one line: libcst survives but needs seconds, refused too."""
    header = 'import keras\nmodel = keras.models.load_model("ckpt/last.keras")\n'
    for name, chain in CHAINS.items():
        (tmp_path / f"{name}_5000.py").write_text(header + f"y = {chain(5000)}\nmodel.fit(x)\n")
        (tmp_path / f"{name}_1000.py").write_text(header + f"y = {chain(1000)}\nmodel.fit(x)\n")
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path), timeout=240)
    assert proc.returncode == 2
    reasons = {Path(line.split(": ")[2]).name: line.split(": ", 3)[3] for line in error_lines(proc)}
    assert sorted(reasons) == sorted(f"{n}_{d}.py" for n in CHAINS for d in (1000, 5000))
    assert all(r.startswith("too deeply nested to parse") for r in reasons.values()), reasons
    assert f"more than {MAX_EXPRESSION_DEPTH} levels deep at line 3" in reasons["sum_1000.py"]
    assert names_with(findings, "LR001") == ["train.py"]


def test_moderate_depth_still_gets_findings() -> None:
    """The guard refuses only what real code never writes: a 100-term sum on one line is fine."""
    text = BAD + "total = " + " + ".join(["a"] * 100) + "\n" + "flag = " + "not " * 50 + "x\n"
    assert [f.code for f in scan_text(text, "train.py", ALL_RULES)] == ["LR001"]


PYTHON2 = {
    "print_statement.py": 'print "resuming"\n',
    "except_comma.py": "try:\n    pass\nexcept ValueError, e:\n    pass\n",
    "octal.py": "mode = 0777\n",
    "backticks.py": "s = `epoch`\n",
    "exec_statement.py": 'exec "x = 1"\n',
    "raise_comma.py": 'raise ValueError, "bad"\n',
    "not_equal.py": "if a <> b:\n    pass\n",
    "long_literal.py": "n = 10L\n",
}


def test_python2_constructs_are_one_syntax_error_line_each(tmp_path: Path) -> None:
    for name, body in PYTHON2.items():
        (tmp_path / name).write_text("import keras\nmodel = keras.models.load_model('m.keras')\n"
                                     + body + "model.fit(x, epochs=3)\n")
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert proc.returncode == 2
    reasons = {Path(line.split(": ")[2]).name: line.split(": ", 3)[3] for line in error_lines(proc)}
    assert sorted(reasons) == sorted(PYTHON2)
    assert all(r.startswith("syntax error at line ") for r in reasons.values()), reasons
    assert names_with(findings, "LR001") == ["train.py"]


NOTEBOOKS = {
    # jupytext "light" format: cells separated by blank lines, markdown as comments
    "light.py": ("# ---\n# jupyter:\n#   jupytext:\n#     text_representation:\n#       format_name: light\n"
                 "# ---\n\n# # Resume training\n\nimport keras\n\n# +\n"
                 'model = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n# -\n'),
    # `jupyter nbconvert --to script`: In[] markers, magics turned into get_ipython() calls
    "nbconvert.py": ("#!/usr/bin/env python\n# coding: utf-8\n\n# In[1]:\n\n\n"
                     "get_ipython().run_line_magic('matplotlib', 'inline')\nimport keras\n\n\n# In[2]:\n\n\n"
                     'model = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n'),
    # jupytext percent format with commented magics and a markdown cell
    "percent.py": ("# %%\n# %matplotlib inline\nimport keras\n# %% [markdown]\n# Resume\n# %%\n"
                   'model = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n'),
}


def test_notebooks_saved_as_python_get_normal_findings(tmp_path: Path) -> None:
    for name, text in NOTEBOOKS.items():
        (tmp_path / name).write_text(text)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert (proc.returncode, proc.stderr) == (1, "")
    assert names_with(findings, "LR001") == sorted(NOTEBOOKS)


def test_notebook_with_raw_magics_is_a_syntax_error_line(tmp_path: Path) -> None:
    """A cell copied with its `!pip` / `%time` lines is not Python: one line naming the spot."""
    (tmp_path / "magics.py").write_text("# %%\n!pip install keras\n%time x = 1\n" + BAD)
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    assert "magics.py: syntax error at line 2" in line
    assert names_with(findings, "LR001") == ["train.py"]


ENCODINGS = {
    "utf16.py": (BAD.encode("utf-16"), "UTF-16/32 text (byte-order mark)"),
    "bad_cookie.py": (b"# -*- coding: klingon -*-\n" + BAD.encode(), "bad encoding declaration"),
    "bom_and_latin1_cookie.py": (b"\xef\xbb\xbf# coding: latin-1\n" + BAD.encode(), "bad encoding declaration"),
    "invalid_utf8.py": (b"# caf\xe9\n" + BAD.encode(), "not valid UTF-8: cannot decode byte 0xe9 at offset 5"),
    "nul_byte.py": (BAD.encode() + b"\x00", "binary file (contains NUL bytes)"),
    "elf.py": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "binary file (contains NUL bytes)"),
}


def test_undecodable_files_say_why(tmp_path: Path) -> None:
    for name, (data, _) in ENCODINGS.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert proc.returncode == 2
    reasons = {Path(line.split(": ")[2]).name: line.split(": ", 3)[3] for line in error_lines(proc)}
    assert sorted(reasons) == sorted(ENCODINGS)
    for name, (_, reason) in ENCODINGS.items():
        assert reasons[name].startswith(reason), (name, reasons[name])
    assert names_with(findings, "LR001") == ["train.py"]


ODD_BUT_VALID = {
    "cr_only.py": BAD.replace("\n", "\r").encode(),
    "form_feed.py": ("\x0c" + BAD).encode(),
    "no_final_newline.py": BAD.rstrip("\n").encode(),
    "latin1_cookie_crlf.py": ("# -*- coding: latin-1 -*-\r\n# r\xe9sum\xe9\r\n" + BAD.replace("\n", "\r\n")).encode("latin-1"),
    "bom_crlf.py": b"\xef\xbb\xbf" + BAD.replace("\n", "\r\n").encode(),
    "continuation.py": BAD.replace("model.fit(", "model \\\n    .fit(").encode(),
}
EMPTY_LIKE = {"whitespace.py": b"  \n\n\t\n", "bom_only.py": b"\xef\xbb\xbf", "comments.py": b"# model.fit(x)\n",
              "empty.py": b""}


def test_odd_line_endings_and_near_empty_files(tmp_path: Path) -> None:
    for name, data in {**ODD_BUT_VALID, **EMPTY_LIKE}.items():
        (tmp_path / name).write_bytes(data)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert (proc.returncode, proc.stderr) == (1, "")
    assert names_with(findings, "LR001") == sorted(ODD_BUT_VALID)


def test_huge_number_literals_neither_crash_nor_hang(tmp_path: Path) -> None:
    """The analysis folds literal arithmetic (`epochs=2*5`): a 5,000-digit integer raised
    ValueError out of the scan (a traceback, exit 1); `10**10**10` ran forever and `2**2**40`
    took gigabytes.  Now they are just not literals."""
    header = 'import keras\nmodel = keras.models.load_model("ckpt/last.keras")\n'
    cases = {"digits.py": "1" * 5000, "tower.py": "10**10**10", "wide.py": "2**2**40",
             "product.py": "*".join(["99999999999"] * 300)}
    for name, literal in cases.items():
        (tmp_path / name).write_text(header + f"model.fit(x, epochs={literal}, initial_epoch={literal})\n")
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path), timeout=120)
    assert (proc.returncode, proc.stderr) == (1, "")
    assert names_with(findings, "LR001") == ["train.py"]


def test_text_libcst_parses_but_cannot_build_a_tree_for(tmp_path: Path) -> None:
    """Found by fuzzing: a bytes literal next to a str literal (`b"doc" ""`) passes libcst's
    parser, then its node validation raised CSTValidationError out of the whole scan."""
    (tmp_path / "mixed.py").write_text('b"#docstring"""\n' + BAD)
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan("--format", "json", str(tmp_path))
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    assert line.endswith("mixed.py: syntax error at line 1, column 16: cannot mix bytes and nonbytes literals") \
        or "mixed.py: syntax error at line 1" in line
    assert names_with(findings, "LR001") == ["train.py"]


def test_the_scanned_codes_own_warnings_are_not_printed(tmp_path: Path) -> None:
    """`re.compile("\\d+")` in a scanned script: evaluating its string literals made Python warn
    "invalid escape sequence" on lraudit's stderr (a SyntaxWarning, shown by default, from
    Python 3.12); the script's warnings are its own business."""
    (tmp_path / "train.py").write_text(
        'import keras, re\nmodel = keras.models.load_model("ckpt/last.keras")\npattern = re.compile("\\d+")\n'
        'model.fit(x, epochs=3, initial_epoch=pattern)\n'
        'class S(keras.optimizers.schedules.LearningRateSchedule):\n'
        '    def get_config(self):\n        return {"\\d": 1}\n')
    proc = subprocess.run([sys.executable, "-W", "always", "-m", "lraudit.cli", "scan", "--no-cache", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    assert "invalid escape sequence" not in proc.stderr
