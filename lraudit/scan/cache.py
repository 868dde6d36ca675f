"""Result cache: an unchanged tree rescans without reading or parsing a single file.

One JSON index per (lraudit version, effective configuration) in `.lraudit_cache/` at the
project root, read once per run.  An entry is reused without opening the file when its size,
mtime and inode match (a stat, nothing else); otherwise the file's content hash decides, so a
touched-but-identical file is not re-parsed either.  An entry whose mtime was within
`RACY_NS` of the moment it was recorded is "racily clean" (a same-size edit in the same
timestamp tick would not show in the stat), so it is confirmed by its content hash until it
ages out, as git does for its index.  The index is written once per run, atomically, so a
crash never leaves a corrupt cache; a corrupt or foreign index is simply ignored.

Importing this module must stay cheap: a fully cached run never imports libcst.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lraudit import __version__
from lraudit.findings import Finding

CACHE_DIR = ".lraudit_cache"
FORMAT = 2  # bump when the index layout changes
RACY_NS = 2_000_000_000  # coarse file systems keep mtimes in whole (or two) seconds


ANALYSIS_DIR = Path(__file__).parent  # lraudit/scan: the analysis and its rules


def analysis_fingerprint(root: Path = ANALYSIS_DIR) -> str:
    """Name, size and mtime of every module under `root`: findings depend on the code that
    made them, not only on the version number, which a development checkout never bumps
    (an edited rule must not be answered from the cache).  Stats only: well under 1 ms."""
    stamps = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                try:
                    st = os.stat(os.path.join(folder, name))
                except OSError:
                    continue
                stamps.append((os.path.relpath(os.path.join(folder, name), root), st.st_size, st.st_mtime_ns))
    return hashlib.sha256(json.dumps(sorted(stamps)).encode()).hexdigest()[:16]


def config_key(*parts: object) -> str:
    blob = json.dumps([__version__, FORMAT, analysis_fingerprint(), *parts], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class Entry:
    size: int
    mtime_ns: int
    ino: int
    digest: str
    findings: list[dict]
    seen_ns: int  # when the entry was recorded (for the racy-clean check)

    def to_json(self) -> list:
        return [self.size, self.mtime_ns, self.ino, self.digest, self.findings, self.seen_ns]

    @classmethod
    def from_json(cls, raw: list) -> "Entry":
        size, mtime_ns, ino, digest, findings, seen_ns = raw
        return cls(int(size), int(mtime_ns), int(ino), str(digest), list(findings), int(seen_ns))


@dataclass
class ResultCache:
    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    dirty: bool = False
    now_ns: int = field(default_factory=time.time_ns)

    @classmethod
    def open(cls, root: Path, key: str) -> "ResultCache":
        path = root / CACHE_DIR / f"scan-{key}.json"
        cache = cls(path)
        try:
            raw = json.loads(path.read_bytes())
            cache.entries = {str(k): Entry.from_json(v) for k, v in raw.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            cache.entries = {}
        return cache

    def lookup(self, file: Path, stat: os.stat_result) -> list[Finding] | None:
        """The cached findings of an unchanged file, else None."""
        entry = self.entries.get(str(file))
        if entry is None or entry.size != stat.st_size:
            return None
        same_stat = entry.mtime_ns == stat.st_mtime_ns and entry.ino == stat.st_ino
        racy = entry.mtime_ns + RACY_NS >= entry.seen_ns
        if not same_stat or racy:
            try:
                if content_hash(file.read_bytes()) != entry.digest:
                    return None
            except OSError:
                return None
            if not same_stat or stat.st_mtime_ns + RACY_NS < self.now_ns:
                entry.mtime_ns, entry.ino, entry.seen_ns = stat.st_mtime_ns, stat.st_ino, self.now_ns
                self.dirty = True
        return [Finding.from_scan_json(d) for d in entry.findings]

    def store(self, file: Path, stat: os.stat_result, digest: str, findings: list[Finding]) -> None:
        self.entries[str(file)] = Entry(stat.st_size, stat.st_mtime_ns, stat.st_ino, digest,
                                        [f.scan_json() | {"fingerprint_source": f.fingerprint_source}
                                         for f in findings], self.now_ns)
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
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({k: v.to_json() for k, v in self.entries.items()}, out, separators=(",", ":"))
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError:
            pass  # a read-only tree still scans; it just is not cached
