"""Result cache: an unchanged tree rescans without reading or parsing a single file.

One JSON index per (lraudit version, effective configuration) in `.lraudit_cache/` at the
project root.  An entry is reused when the file's size and mtime match; otherwise the file's
content hash decides (a touched-but-identical file is not re-parsed either).  The index is
written once per run, atomically, so a crash never leaves a corrupt cache; a corrupt or
foreign index is simply ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lraudit import __version__
from lraudit.findings import Finding

CACHE_DIR = ".lraudit_cache"


def config_key(*parts: object) -> str:
    blob = json.dumps([__version__, *parts], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class Entry:
    size: int
    mtime_ns: int
    digest: str
    findings: list[dict]


@dataclass
class ResultCache:
    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def open(cls, root: Path, key: str) -> "ResultCache":
        path = root / CACHE_DIR / f"scan-{key}.json"
        cache = cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            cache.entries = {k: Entry(**v) for k, v in raw.items()}
        except (OSError, ValueError, TypeError):
            pass
        return cache

    def lookup(self, file: Path, stat: os.stat_result) -> list[Finding] | None:
        entry = self.entries.get(str(file))
        if entry is None or entry.size != stat.st_size:
            return None
        if entry.mtime_ns != stat.st_mtime_ns:
            try:
                if content_hash(file.read_bytes()) != entry.digest:
                    return None
            except OSError:
                return None
            entry.mtime_ns = stat.st_mtime_ns
            self.dirty = True
        return [Finding.from_scan_json(d) for d in entry.findings]

    def store(self, file: Path, stat: os.stat_result, digest: str, findings: list[Finding]) -> None:
        self.entries[str(file)] = Entry(stat.st_size, stat.st_mtime_ns, digest,
                                        [f.scan_json() | {"fingerprint_source": f.fingerprint_source}
                                         for f in findings])
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            gitignore = self.path.parent / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({k: vars(v) for k, v in self.entries.items()}, out)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only tree still scans; it just is not cached
