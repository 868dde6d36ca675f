"""Reading and decoding a source file, and the per-file result record.

Kept apart from runner.py (which imports libcst) so that a file the prefilter rejects, or a
whole cached run, is handled without importing the parser.
"""

from __future__ import annotations

import os
import stat
import tokenize
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from lraudit.findings import Finding


class InputError(Exception):
    """A file that cannot be scanned: reported as one line with its path and reason."""


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    digest: str | None = None  # content hash of the bytes that were scanned (for the cache)


def decode(data: bytes) -> str:
    """Bytes -> text following PEP 263 (BOM, coding cookie), else strict UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 BOMs (UTF-32 LE starts alike)
        raise InputError("UTF-16/32 text (byte-order mark): Python reads source only as UTF-8 or a "
                         "declared 8-bit encoding; save it as UTF-8")
    if b"\x00" in data:
        raise InputError("binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
    except SyntaxError as exc:
        if "invalid or missing" not in str(exc):
            raise InputError(f"bad encoding declaration: {exc}") from None
        encoding = "utf-8"  # no usable cookie: decoding below says which byte is wrong
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid {encoding.upper().replace('-SIG', '')}: cannot decode byte "
                         f"0x{data[exc.start]:02x} at offset {exc.start}") from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}") from None
    return text.lstrip("\ufeff")


_SPECIAL = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
            (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"))


def read_source(path: Path) -> bytes:
    """The bytes of a source file, refusing anything that is not a regular file.

    A FIFO named `train.py` with no writer would block the whole run forever, and a device could
    stream without end; CI must never hang on a stray special file, so the file is opened
    non-blocking and checked with fstat (no race between the check and the read) before reading.
    Raises OSError when it cannot be opened or read, InputError when it is not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
            raise InputError(f"{kind}, not a regular file; not read")
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        return handle.read()
