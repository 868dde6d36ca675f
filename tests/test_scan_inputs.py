"""Broken and odd inputs to `lraudit scan`: each gets normal findings or one clear stderr line
with the path and the reason; the rest of the run continues; exit codes follow DESIGN.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_lraudit

BAD = 'import keras\nmodel = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n'


def scan(*args: str, cwd: Path | None = None):
    proc = run_lraudit("scan", "--no-cache", "--format", "json", *args, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1, 2)
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else [])


@pytest.mark.parametrize("name,data", [
    ("crlf.py", BAD.replace("\n", "\r\n").encode()),
    ("mixed_endings.py", b'import keras\r\nmodel = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\r\n'),
    ("tabs.py", b'import keras\nif True:\n\tmodel = keras.models.load_model("ckpt/last.keras")\n\tmodel.fit(x, epochs=3)\n'),
    ("bom.py", b"\xef\xbb\xbf" + BAD.encode()),
    ("notebook_export.py", ("# %%\nimport keras\n# %% [markdown]\n# Resume\n# %%\n"
                            'model = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n').encode()),
    ("spaced name \u00e9\u00e8.py", BAD.encode()),
])
def test_odd_but_valid_files_get_normal_findings(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    proc, findings = scan(str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert [f["code"] for f in findings] == ["LR001"]
    assert findings[0]["path"].endswith(name)


def test_empty_file_and_directory_without_python(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_bytes(b"")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("model.fit(x)")
    proc, findings = scan(str(tmp_path))
    assert (proc.returncode, findings, proc.stderr) == (0, [], "")
    proc, findings = scan(str(tmp_path / "docs"))
    assert (proc.returncode, findings) == (0, [])


def test_python2_code_is_a_clear_error(tmp_path: Path) -> None:
    # a resume script (the prefilter parses only files that can hold a finding)
    (tmp_path / "old.py").write_text('import keras\nprint "fitting"\nmodel.load_weights(p)\nmodel.fit(x)\n')
    (tmp_path / "new.py").write_text(BAD)
    proc, findings = scan(str(tmp_path))
    assert proc.returncode == 2
    assert "old.py: syntax error at line" in proc.stderr
    assert [f["code"] for f in findings] == ["LR001"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_symlink_loop_terminates(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(BAD)
    os.symlink(tmp_path, tmp_path / "pkg" / "loop")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.py")
    proc, findings = scan(str(tmp_path))
    assert [f["code"] for f in findings] == ["LR001"]
    assert "dangling.py" in proc.stderr


def test_ten_megabyte_generated_file(tmp_path: Path) -> None:
    """A generated data module (the usual 10 MB .py) is handled next to real scripts; it holds
    no training-state token, so the prefilter never parses it."""
    rows = "".join(f"    ({i}, {i * 0.5!r}, 'label_{i % 97}'),\n" for i in range(330_000))
    path = tmp_path / "generated_table.py"
    path.write_text("TABLE = [\n" + rows + "]\n")
    assert path.stat().st_size > 10_000_000
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan(str(tmp_path))
    assert proc.returncode == 1 and proc.stderr == ""
    assert [(f["path"].rsplit("/", 1)[-1], f["code"]) for f in findings] == [("train.py", "LR001")]


def test_deeply_nested_expression_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "deep.py").write_text("model.load_weights(p)\nmodel.fit(" + "(" * 5000 + "1" + ")" * 5000 + ")\n")
    (tmp_path / "train.py").write_text(BAD)
    proc, findings = scan(str(tmp_path))
    assert proc.returncode == 2
    assert "deep.py: too deeply nested" in proc.stderr
    assert [f["code"] for f in findings] == ["LR001"]
