"""Where a finding points, as the path a CI system can resolve.

Scan findings carry the path as the user spelled it; verify findings carry a checkpoint path
relative to the verify target.  CI annotations and SARIF want a path relative to the working
directory (the repository checkout), with forward slashes.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from lraudit.findings import Finding


def finding_path(f: Finding, root: str | None = None) -> str | None:
    """The finding's file (scan) or checkpoint (verify), joined to `root` when given and made
    relative to the current directory when it lies below it."""
    raw = f.path if f.path is not None else f.checkpoint
    if raw is None:
        return None
    path = Path(root, raw) if root else Path(raw)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.as_posix()
    return os.path.normpath(path).replace(os.sep, "/")


def to_uri(path: str) -> str:
    """A SARIF artifact URI: relative paths stay relative (resolved against %SRCROOT%),
    absolute ones become file:// URIs; both percent-encoded."""
    if PurePosixPath(path).is_absolute() or Path(path).is_absolute():
        return Path(path).as_uri()
    # surrogateescape: a file name that is not valid UTF-8 is percent-encoded as its own bytes
    return quote(path, safe="/", errors="surrogateescape")
