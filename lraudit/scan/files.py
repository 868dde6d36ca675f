"""Which files to scan: directory walks honour .gitignore and `exclude`.  (Which of them are
worth parsing is the prefilter's question: needs.py.)"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

DEFAULT_EXCLUDES = (".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".eggs", "__pycache__",
                    "node_modules", "build", "dist", "site-packages", ".mypy_cache", ".ruff_cache",
                    ".lraudit_cache", "__pypackages__", ".ipynb_checkpoints")


@dataclass(frozen=True)
class IgnorePattern:
    base: str  # directory of the .gitignore, relative to the walk root ('' for the root)
    pattern: str
    negate: bool
    dir_only: bool
    anchored: bool

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not rel.startswith(self.base + "/"):
                return False
            rel = rel[len(self.base) + 1:]
        if self.anchored:
            return fnmatch.fnmatchcase(rel, self.pattern) or fnmatch.fnmatchcase(rel, self.pattern + "/*")
        name = rel.rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(name, self.pattern) or fnmatch.fnmatchcase(rel, "*/" + self.pattern)


def parse_gitignore(text: str, base: str) -> list[IgnorePattern]:
    out = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if line.startswith("**/"):
            line, anchored = line[3:], "/" in line[3:]
        out.append(IgnorePattern(base, line, negate, dir_only, anchored))
    return out


def _ignored(patterns: list[IgnorePattern], rel: str, is_dir: bool) -> bool:
    verdict = False
    for p in patterns:
        if p.matches(rel, is_dir):
            verdict = not p.negate
    return verdict


def matches_any(path: str, globs: Iterable[str]) -> bool:
    """`exclude` globs match the relative path, any of its parent directories, or the name."""
    parts = path.replace(os.sep, "/").split("/")
    candidates = {"/".join(parts[:i]) for i in range(1, len(parts) + 1)} | set(parts)
    return any(fnmatch.fnmatchcase(c, g.rstrip("/")) for g in globs for c in candidates)


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def discover(paths: Iterable[str], exclude: Iterable[str] = ()) -> Discovery:
    """Expand the command-line paths into Python files, in a stable order."""
    exclude = tuple(exclude)
    found = Discovery()
    seen: set[Path] = set()
    resolved_dirs: dict[Path, Path] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            found.errors.append((raw, "no such file or directory"))
            continue
        if path.is_dir():
            for file in _walk(path, exclude, found):
                key = _identity(file, resolved_dirs)
                if key not in seen:
                    seen.add(key)
                    found.files.append(file)
        elif not matches_any(str(path), exclude):
            key = path.resolve() if path.exists() else path
            if key not in seen:
                seen.add(key)
                found.files.append(path)
    return found


def _identity(file: Path, resolved_dirs: dict[Path, Path]) -> Path:
    """`file.resolve()` (the file itself when it does not exist), the same file reached twice
    through symlinks or overlapping paths being scanned once.  A file that is not a symlink
    resolves to its resolved directory plus its name, and directories are resolved once each:
    resolving every file walks every path component again (a third of a warm run's time)."""
    try:
        if not stat.S_ISLNK(os.lstat(file).st_mode):
            parent = resolved_dirs.get(file.parent)
            if parent is None:
                parent = resolved_dirs[file.parent] = file.parent.resolve()
            return parent / file.name
    except OSError:
        pass
    return file.resolve() if file.exists() else file


def _walk(root: Path, exclude: tuple[str, ...], found: Discovery) -> Iterator[Path]:
    patterns: list[IgnorePattern] = []
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            st = directory.stat()
        except OSError as exc:
            found.errors.append((str(directory), exc.strerror or str(exc)))
            continue
        if (st.st_dev, st.st_ino) in visited:
            continue  # symlink loop
        visited.add((st.st_dev, st.st_ino))
        rel_dir = "" if directory == root else directory.relative_to(root).as_posix()
        gitignore = directory / ".gitignore"
        if gitignore.is_file():
            try:
                patterns = patterns + parse_gitignore(gitignore.read_text(errors="replace"), rel_dir)
            except OSError:
                pass
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            found.errors.append((str(directory), exc.strerror or str(exc)))
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir()
            except OSError as exc:  # a symlink loop: say so for a Python file, never skip it silently
                if entry.name.endswith(".py") and not matches_any(rel, exclude) \
                        and not _ignored(patterns, rel, False):
                    found.errors.append((Path(entry.path).as_posix(), f"cannot read: {exc.strerror or exc}"))
                continue
            if is_dir:
                if entry.name in DEFAULT_EXCLUDES or matches_any(rel, exclude) or _ignored(patterns, rel, True):
                    continue
                subdirs.append(Path(entry.path))
            elif entry.name.endswith((".py", ".pyi")) is False or entry.name.endswith(".pyi"):
                continue
            elif not matches_any(rel, exclude) and not _ignored(patterns, rel, False):
                yield Path(entry.path)
        stack.extend(reversed(subdirs))


_TEST_DIRS = frozenset({"test", "tests", "testing"})


def is_test_code(path: str) -> bool:
    """A test module (`test_*.py`, `*_test.py`, `conftest.py`, or under a `tests/` folder).

    Tests save, load and fit on purpose to check that saving works, and assert the very
    failures the rules describe; they are not training runs anyone resumes.  Their findings
    are reported as info (never failing a run at the default `--fail-on warning`)."""
    if os.path.isabs(path):  # only the folders below the working directory say "tests"
        try:
            relative = os.path.relpath(path)
        except ValueError:  # another drive
            relative = path
        path = relative if not relative.startswith("..") else "/".join(Path(path).parts[-2:])
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    if name.startswith("test_") or name.endswith(("_test.py", "_tests.py")) or name in ("conftest.py", "tests.py"):
        return True
    return any(part in _TEST_DIRS for part in parts[:-1])
