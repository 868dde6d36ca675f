"""`scan --fix` must never lose or damage a user's file: it writes atomically (temporary file in
the same directory, then a rename), keeps encoding, byte-order mark, line endings, mode and
owner, fixes through a symbolic link instead of replacing it, and leaves alone a file that is
read-only, special, changed while it was fixed, or that does not parse."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lraudit.scan.fix import WriteRefused, write_atomic

LEGACY = "import keras\nopt = keras.optimizers.SGD(lr=0.1)\n"
FIXED = "import keras\nopt = keras.optimizers.SGD(learning_rate=0.1)\n"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def fix(cli, *paths: Path):
    result = cli("scan", "--no-cache", "--fix", *map(str, paths))
    assert result.exit_code in (0, 1, 2)
    return result


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".lraudit-tmp"))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_a_symlink_is_fixed_through_and_stays_a_link(tmp_path: Path, cli) -> None:
    """os.replace onto the link's path used to swap the link for a regular file and leave the
    real file unfixed."""
    real_dir = tmp_path / "shared"
    real_dir.mkdir()
    real = real_dir / "train.py"
    real.write_text(LEGACY)
    link = tmp_path / "train.py"
    os.symlink(real, link)
    fix(cli, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == FIXED
    assert leftovers(tmp_path) == leftovers(real_dir) == []


def test_line_endings_mode_and_bom_survive(tmp_path: Path, cli) -> None:
    cases = {
        "mixed.py": (b"import keras\r\nopt = keras.optimizers.SGD(lr=0.1)\nprint(1)\r\n",
                     b"import keras\r\nopt = keras.optimizers.SGD(learning_rate=0.1)\nprint(1)\r\n"),
        "cr_only.py": (LEGACY.replace("\n", "\r").encode(), FIXED.replace("\n", "\r").encode()),
        "bom_crlf.py": (b"\xef\xbb\xbf" + LEGACY.replace("\n", "\r\n").encode(),
                        b"\xef\xbb\xbf" + FIXED.replace("\n", "\r\n").encode()),
        "no_final_newline.py": (LEGACY.rstrip().encode(), FIXED.rstrip().encode()),
    }
    for name, (before, _) in cases.items():
        (tmp_path / name).write_bytes(before)
        os.chmod(tmp_path / name, 0o751)  # executable script, group-readable
    fix(cli, tmp_path)
    for name, (_, after) in cases.items():
        assert (tmp_path / name).read_bytes() == after, name
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o751, name
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not IS_ROOT, reason="only root can give a file to another owner")
def test_owner_is_kept_when_root_fixes_a_users_file(tmp_path: Path, cli) -> None:
    """A fix run as root (a CI container, a pre-commit hook under sudo) would otherwise leave
    the user's file owned by root."""
    target = tmp_path / "train.py"
    target.write_text(LEGACY)
    os.chown(target, 4242, 4343)
    fix(cli, target)
    assert target.read_text() == FIXED
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (4242, 4343)


def test_read_only_file_is_not_replaced(tmp_path: Path, cli) -> None:
    """The rename needs only the directory's permission, so it would silently defeat a file's
    read-only mode; the mode is honoured instead."""
    target = tmp_path / "train.py"
    target.write_text(LEGACY)
    target.chmod(0o444)
    other = tmp_path / "other.py"
    other.write_text(LEGACY)
    result = fix(cli, tmp_path)
    assert other.read_text() == FIXED  # the run goes on
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    if IS_ROOT:  # root may write any file (os.access says so): fixed like other.py
        assert target.read_text() == FIXED
    else:
        assert target.read_text() == LEGACY
        assert f"{target.as_posix()}: the file is read-only; not fixed" in result.stderr
        assert result.exit_code == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_neither_read_nor_replaced(tmp_path: Path, cli) -> None:
    pipe = tmp_path / "pipe.py"
    os.mkfifo(pipe)
    result = fix(cli, pipe)
    assert result.exit_code == 2 and "not a regular file; not read" in result.stderr
    assert stat.S_ISFIFO(pipe.lstat().st_mode)


def test_a_file_changed_after_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    """Between reading a file and renaming the fixed text over it, an editor may save it: that
    change must win over the fix."""
    target = tmp_path / "train.py"
    target.write_text(LEGACY)
    seen = os.stat(target)
    target.write_text(LEGACY + "print('edited meanwhile')\n")
    with pytest.raises(WriteRefused, match="changed while it was being fixed"):
        write_atomic(target, FIXED, "utf-8", expect=seen)
    assert target.read_text().endswith("print('edited meanwhile')\n")
    assert leftovers(tmp_path) == []
    write_atomic(target, FIXED, "utf-8", expect=os.stat(target))  # unchanged since: written
    assert target.read_text() == FIXED


def test_a_file_that_does_not_parse_is_never_written(tmp_path: Path, cli) -> None:
    target = tmp_path / "train.py"
    text = LEGACY + "model.fit(x, epochs=\n"
    target.write_text(text)
    before = target.stat().st_mtime_ns
    result = fix(cli, target)
    assert result.exit_code == 2 and "syntax error at line 3" in result.stderr
    assert target.read_text() == text and target.stat().st_mtime_ns == before


def test_encoding_that_cannot_hold_the_fix_leaves_the_file(tmp_path: Path) -> None:
    """write_atomic encodes before it creates anything: a failure leaves no temporary file."""
    target = tmp_path / "train.py"
    target.write_bytes(b"# -*- coding: ascii -*-\n" + LEGACY.encode())
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "# caf\u00e9\n" + FIXED, "ascii")
    assert target.read_bytes() == b"# -*- coding: ascii -*-\n" + LEGACY.encode()
    assert leftovers(tmp_path) == []
