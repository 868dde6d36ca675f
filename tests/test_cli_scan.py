"""The scan command's contract: JSON shape, exit codes, errors, config, suppressions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import run_lraudit

BAD = """import keras
model = keras.models.load_model("ckpt/m.keras")
model.fit(x, epochs=10)
"""
GOOD = """import keras
model = keras.models.load_model("ckpt/m.keras")
model.fit(x, epochs=10, initial_epoch=5)
"""


def write(tmp: Path, name: str, text: str | bytes) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def test_json_contract(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD)
    result = cli("scan", str(tmp_path), "--format", "json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)
    assert list(finding) == ["code", "name", "severity", "message", "path", "line", "column",
                             "end_line", "end_column", "fix"]
    assert finding["code"] == "LR001" and finding["name"] == "fit-without-initial-epoch"
    assert finding["severity"] == "error"
    assert (finding["line"], finding["column"], finding["end_line"]) == (3, 1, 3)
    assert finding["end_column"] == len("model.fit(x, epochs=10)") + 1
    assert finding["fix"] is None
    assert finding["path"].endswith("train.py")


def test_text_output_and_summary(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD)
    result = cli("scan", str(tmp_path))
    first, summary = result.stdout.strip().splitlines()
    assert first.startswith(f"{tmp_path.as_posix()}/train.py:3:1: LR001 [error] ")
    assert summary == "Found 1 finding (1 error) in 1 file checked."
    assert "\x1b[" not in result.stdout  # not a terminal: no colour


def test_clean_tree_exits_zero(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", GOOD)
    result = cli("scan", str(tmp_path))
    assert result.exit_code == 0
    assert "No findings" in result.stdout


def test_exit_zero_and_quiet(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD)
    result = cli("scan", str(tmp_path), "--exit-zero", "--quiet")
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == 1


def test_select_and_ignore_with_prefixes(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD)
    assert cli("scan", str(tmp_path), "--ignore", "LR0").exit_code == 0
    assert cli("scan", str(tmp_path), "--select", "LR1,LR2").exit_code == 0
    assert cli("scan", str(tmp_path), "--select", "LR001").exit_code == 1


def test_output_file(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD)
    out = tmp_path / "report.json"
    result = cli("scan", str(tmp_path / "train.py"), "--format", "json", "--output-file", str(out))
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads(out.read_text())[0]["code"] == "LR001"


@pytest.mark.parametrize("comment", ["# noqa", "# noqa: LR001", "# lraudit: ignore[LR001]",
                                     "# lraudit: ignore", "# NOQA: LR101, LR001"])
def test_suppression_comments(tmp_path: Path, cli, comment: str) -> None:
    write(tmp_path, "train.py", BAD.replace("epochs=10)", f"epochs=10)  {comment}"))
    assert cli("scan", str(tmp_path)).exit_code == 0


def test_suppression_of_another_code_does_not_hide(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD.replace("epochs=10)", "epochs=10)  # noqa: LR101"))
    assert cli("scan", str(tmp_path)).exit_code == 1


def test_pyproject_config(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD)
    write(tmp_path, "legacy/old.py", BAD)
    write(tmp_path, "scripts/adhoc.py", BAD)
    write(tmp_path, "pyproject.toml", """
[tool.lraudit]
exclude = ["legacy"]
per-file-ignores = { "scripts/*.py" = ["LR0"] }
""")
    result = cli("scan", str(tmp_path), "--format", "json")
    paths = [f["path"] for f in json.loads(result.stdout)]
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["train.py"]
    # command-line options override the file
    write(tmp_path, "pyproject.toml", "[tool.lraudit]\nignore = [\"LR001\"]\n")
    assert cli("scan", str(tmp_path)).exit_code == 0
    assert cli("scan", str(tmp_path), "--ignore", "LR2").exit_code == 1


def test_bad_config_is_a_usage_error(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", GOOD)
    write(tmp_path, "pyproject.toml", "[tool.lraudit]\nselekt = [\"LR001\"]\n")
    result = cli("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "selekt" in result.stderr and "pyproject.toml" in result.stderr


def test_gitignore_is_honoured(tmp_path: Path, cli) -> None:
    write(tmp_path, ".gitignore", "generated/\n*_tmp.py\n")
    write(tmp_path, "generated/train.py", BAD)
    write(tmp_path, "train_tmp.py", BAD)
    write(tmp_path, "train.py", GOOD)
    result = cli("scan", str(tmp_path))
    assert result.exit_code == 0, result.stdout
    assert "in 1 file checked" in result.stdout


def test_bad_files_are_reported_and_the_rest_still_scanned(tmp_path: Path) -> None:
    write(tmp_path, "a_syntax.py", "import keras\nmodel.fit(x, epochs=\n")
    write(tmp_path, "b_latin1.py", "model.fit(x)  # '\xe9t\xe9'\n".encode("latin-1"))
    write(tmp_path, "c_binary.py", b"\x00\x01\x02ELF")
    write(tmp_path, "d_train.py", BAD)
    unreadable = write(tmp_path, "e_secret.py", BAD)
    unreadable.chmod(0)
    try:
        proc = run_lraudit("scan", str(tmp_path), "--format", "json")
    finally:
        unreadable.chmod(0o644)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any("a_syntax.py: syntax error at line 2" in line for line in lines)
    assert any("b_latin1.py: not valid UTF-8" in line for line in lines)
    assert any("c_binary.py: binary file" in line for line in lines)
    if os.geteuid() != 0:  # root reads anything
        assert any("e_secret.py: cannot read" in line for line in lines)
    codes = [(f["path"].rsplit("/", 1)[-1], f["code"]) for f in json.loads(proc.stdout)]
    assert ("d_train.py", "LR001") in codes


def test_declared_encoding_is_honoured(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD).encode("latin-1"))
    assert cli("scan", str(tmp_path)).exit_code == 1


def test_missing_path_is_exit_2(tmp_path: Path, cli) -> None:
    write(tmp_path, "train.py", BAD)
    result = cli("scan", str(tmp_path / "nope.py"), str(tmp_path / "train.py"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.py'}: no such file or directory" in result.stderr
    assert "LR001" in result.stdout


def test_scan_never_modifies_files(tmp_path: Path, cli) -> None:
    path = write(tmp_path, "train.py", BAD)
    before = path.stat().st_mtime_ns, path.read_bytes()
    cli("scan", str(tmp_path))
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def test_rule_command(cli) -> None:
    page = cli("rule", "lr001")
    assert page.exit_code == 0 and page.stdout.startswith("# LR001 fit-without-initial-epoch")
    listing = json.loads(cli("rule", "--all", "--format", "json").stdout)
    assert {"LR001", "LR101", "LR102", "LR103", "LR201"} <= {r["code"] for r in listing}
    assert cli("rule", "LR999").exit_code == 2


def test_cli_import_is_light() -> None:
    code = ("import sys, lraudit.cli, lraudit.scan.api, lraudit.scan.runner; "
            "bad = [m for m in ('tensorflow', 'keras', 'h5py', 'numpy', 'tf_keras') if m in sys.modules]; "
            "print(','.join(bad))")
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("args", [["--select", "LR999"], ["--select", "LR1,LRX"], ["--ignore", "LR9"]])
def test_a_selector_that_matches_no_rule_is_a_usage_error(tmp_path: Path, cli, args) -> None:
    """A typo in --select would turn the gate off without a word."""
    write(tmp_path, "train.py", BAD)
    result = cli("scan", str(tmp_path), *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert "matches no rule" in result.stderr


def test_a_selector_typo_in_the_config_is_a_usage_error(tmp_path: Path, cli) -> None:
    write(tmp_path, "pyproject.toml", '[tool.lraudit]\nselect = ["LR0", "LR77"]\n')
    write(tmp_path, "train.py", BAD)
    result = cli("scan", str(tmp_path))
    assert result.exit_code == 2 and "[tool.lraudit] select: LR77 matches no rule" in result.stderr


def test_rule_pages_of_verify_codes(cli) -> None:
    page = cli("rule", "LRV002")
    assert page.exit_code == 0 and page.stdout.startswith("# LRV002 schedule-restarted")
    as_json = json.loads(cli("rule", "lrv011", "--format", "json").stdout)
    assert (as_json["code"], as_json["severity"]) == ("LRV011", "info")
    assert cli("rule", "LRV099").exit_code == 2
