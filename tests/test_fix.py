"""`lraudit scan --fix / --unsafe-fixes / --diff`: fixed files match the expected outputs,
parse, keep their bytes outside the edits, and a second run has nothing left to fix."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import libcst as cst
import pytest

from conftest import FIXTURES, ROOT
from lraudit.findings import Edit, Fix
from lraudit.scan.fix import apply_fixes, fix_text
from lraudit.scan.rules import ALL_RULES, BY_CODE

FIXES = ROOT / "fixtures" / "fixes"
CASES = sorted(p for p in FIXES.glob("*.py") if not p.name.endswith(".fixed.py"))


def _flags(name: str) -> list[str]:
    return ["--fix", "--unsafe-fixes"] if name.startswith("unsafe_") else ["--fix"]


def _json(cli, *args: str) -> list[dict]:
    result = cli("scan", "--format", "json", "--no-cache", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("source", CASES, ids=lambda p: p.stem)
def test_fixed_file_matches_the_expected_output(source: Path, tmp_path: Path, cli) -> None:
    target = tmp_path / source.name
    shutil.copy(source, target)
    before = _json(cli, str(target))
    assert any(f["fix"] for f in before), "the fixture has nothing to fix"
    after = _json(cli, *_flags(source.name), str(target))
    expected = source.with_name(source.stem + ".fixed.py").read_text(encoding="utf-8")
    assert target.read_text(encoding="utf-8") == expected
    cst.parse_module(expected)
    unsafe = source.name.startswith("unsafe_")
    assert not [f for f in after if f["fix"] and (unsafe or f["fix"]["applicability"] == "safe")]


@pytest.mark.parametrize("source", CASES, ids=lambda p: p.stem)
def test_fixing_twice_changes_nothing(source: Path, tmp_path: Path, cli) -> None:
    target = tmp_path / source.name
    shutil.copy(source.with_name(source.stem + ".fixed.py"), target)
    before = target.read_bytes()
    result = cli("scan", "--no-cache", *_flags(source.name), str(target))
    assert target.read_bytes() == before
    assert "fixed" not in result.stderr


def test_fix_on_the_fixture_scripts_leaves_parsing_files_with_nothing_fixable(tmp_path: Path, cli) -> None:
    tree = tmp_path / "scripts"
    shutil.copytree(FIXTURES, tree)
    cli("scan", "--no-cache", "--fix", "--unsafe-fixes", str(tree))
    for path in tree.glob("*.py"):
        cst.parse_module(path.read_text(encoding="utf-8"))
    assert not [f for f in _json(cli, str(tree)) if f["fix"]]


def test_unsafe_fixes_need_the_flag(tmp_path: Path, cli) -> None:
    target = tmp_path / "decay.py"
    shutil.copy(FIXES / "unsafe_decay_from_import.py", target)
    before = target.read_text()
    cli("scan", "--no-cache", "--fix", str(target))
    assert target.read_text() == before
    (finding,) = [f for f in _json(cli, str(target)) if f["code"] == "LR502"]
    assert finding["fix"]["applicability"] == "unsafe"


def test_diff_shows_the_fix_and_writes_nothing(tmp_path: Path, cli) -> None:
    target = tmp_path / "migrate.py"
    shutil.copy(FIXES / "keras3_migration.py", target)
    before = target.read_bytes()
    result = cli("scan", "--no-cache", "--diff", str(target))
    assert target.read_bytes() == before
    assert f"--- {target.as_posix()}" in result.output
    assert "-    model.compile(optimizer=keras.optimizers.Adam(lr=1e-3)" in result.output
    assert "+    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3)" in result.output


def test_json_fix_edits_are_one_based_and_exact(tmp_path: Path, cli) -> None:
    target = tmp_path / "opt.py"
    target.write_text("import keras\n\nopt = keras.optimizers.SGD(lr=0.1)\n")
    (finding,) = _json(cli, str(target))
    assert finding["code"] == "LR503"
    assert finding["fix"] == {"applicability": "safe", "edits": [
        {"line": 3, "column": 28, "end_line": 3, "end_column": 30, "content": "learning_rate"}]}


def test_suppressed_findings_are_not_fixed(tmp_path: Path, cli) -> None:
    target = tmp_path / "opt.py"
    text = "import keras\n\nopt = keras.optimizers.SGD(lr=0.1)  # noqa: LR503\n"
    target.write_text(text)
    cli("scan", "--no-cache", "--fix", str(target))
    assert target.read_text() == text


def test_encoding_bom_line_endings_and_permissions_survive(tmp_path: Path, cli) -> None:
    target = tmp_path / "legacy.py"
    text = ("# -*- coding: latin-1 -*-\r\n# r\xe9sum\xe9 d'entra\xeenement\r\nimport keras\r\n"
            "opt = keras.optimizers.Adam(lr=1e-3)\r\nprint(opt.lr)\r\n")
    target.write_bytes(text.encode("latin-1"))
    os.chmod(target, 0o640)
    cli("scan", "--no-cache", "--fix", str(target))
    want = text.replace("Adam(lr=", "Adam(learning_rate=").replace("opt.lr)", "opt.learning_rate)")
    assert target.read_bytes() == want.encode("latin-1")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["legacy.py"]  # no temporary file left behind

    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfimport keras\nopt = keras.optimizers.SGD(lr=0.1)\n")
    cli("scan", "--no-cache", "--fix", str(bom))
    assert bom.read_bytes() == b"\xef\xbb\xbfimport keras\nopt = keras.optimizers.SGD(learning_rate=0.1)\n"


def test_multi_line_replacement_uses_the_file_newline() -> None:
    text = ("import tensorflow as tf\r\nopt = tf.keras.optimizers.Adam(\r\n    learning_rate=1e-3,\r\n"
            "    decay=1e-6,\r\n)\r\n")
    out = fix_text(text, "x.py", [BY_CODE["LR502"]], unsafe=True)
    assert out.applied == 1
    assert "\n" not in out.text.replace("\r\n", "")
    assert "InverseTimeDecay(1e-3, decay_steps=1, decay_rate=1e-6)" in out.text


def test_overlapping_fixes_converge_in_rounds() -> None:
    text = "import keras\nopt = keras.optimizers.SGD(lr=0.01, momentum=0.9, decay=1e-4)\n"
    out = fix_text(text, "x.py", ALL_RULES, unsafe=True)
    assert out.text == ("import keras\nopt = keras.optimizers.SGD(learning_rate=keras.optimizers.schedules."
                        "InverseTimeDecay(0.01, decay_steps=1, decay_rate=1e-4), momentum=0.9)\n")
    assert not [f for f in out.findings if f.fix]


def test_a_fix_that_would_not_parse_is_dropped() -> None:
    text = "import keras\nopt = keras.optimizers.SGD(lr=0.1)\n"
    broken = Fix("safe", (Edit(2, 1, 2, 4, "opt ="),))  # `opt = = keras...`
    fixed, applied = apply_fixes(text, [broken])
    assert applied == 1 and fixed.startswith("import keras\nopt = =")
    # fix_text only ever keeps rounds whose result parses:
    from lraudit.scan import fix as fixmod

    new, n = fixmod._round(text, [broken])
    assert (new, n) == (text, 0)


def test_columns_count_characters_so_tabs_and_non_ascii_text_fix_in_place(tmp_path: Path, cli) -> None:
    target = tmp_path / "tab.py"
    target.write_text('import keras\nif True:\n\tx = "\u00e9\u00e9"; opt = keras.optimizers.SGD(lr=0.1); print(opt.lr)\n',
                      encoding="utf-8")
    cli("scan", "--no-cache", "--fix", str(target))
    assert target.read_text(encoding="utf-8").splitlines()[2] == \
        '\tx = "\u00e9\u00e9"; opt = keras.optimizers.SGD(learning_rate=0.1); print(opt.learning_rate)'
