"""Applying fixes: the libcst replacements rules attach to their findings, safe and unsafe.

A rule's `FixSpec` replaces nodes; the runner turns each replacement into a text edit (the
node's exact span and the new node's code), so applying a fix touches nothing else: formatting,
comments and line endings stay as they were.  Fixes are applied in rounds: all the
non-overlapping ones, then a rescan, until nothing fixable is left (overlapping fixes of one
node land in a later round, on the rescanned text).  A round whose result does not parse is
retried fix by fix, dropping the ones that break it, so a fixed file always parses.
Files are written atomically (a temporary file in the same directory, then `os.replace`),
keeping their encoding, byte-order mark, line endings, permissions and (where allowed) owner.
A symbolic link is fixed through (the link stays a link); a read-only file, a special file, or
one that changed between reading and writing is left alone with a one-line reason.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Iterable

from lraudit.findings import Edit, Finding, Fix
from lraudit.scan.project import Pins, project_pins
from lraudit.scan.rules import Rule
from lraudit.scan.runner import (
    FileResult,
    InputError,
    decode,
    parse,
    read_source,
    scan_text,
)

MAX_ROUNDS = 8
_NEWLINES = re.compile(r"\r\n|\r|\n")


@dataclass
class FixOutcome:
    """The text after fixing, how many fixes went in, and the findings that remain."""

    text: str
    applied: int = 0
    findings: list[Finding] = field(default_factory=list)


def wanted(finding: Finding, unsafe: bool) -> bool:
    return finding.fix is not None and (finding.fix.applicability == "safe" or unsafe)


def _line_starts(text: str) -> list[int]:
    """Offset of each line's first character; lines end as Python's tokenizer ends them."""
    starts = [0]
    for match in _NEWLINES.finditer(text):
        starts.append(match.end())
    return starts


def _offset(starts: list[int], line: int, column: int) -> int | None:
    if line < 1 or line > len(starts):
        return None
    return starts[line - 1] + column - 1


def _newline(text: str) -> str:
    match = _NEWLINES.search(text)
    return match.group() if match else "\n"


def _spans(text: str, fix: Fix, starts: list[int]) -> list[tuple[int, int, str]] | None:
    newline = _newline(text)
    out = []
    for edit in fix.edits:
        start = _offset(starts, edit.line, edit.column)
        end = _offset(starts, edit.end_line, edit.end_column)
        if start is None or end is None or not 0 <= start <= end <= len(text):
            return None
        content = edit.content.replace("\r\n", "\n").replace("\n", newline) if newline != "\n" else edit.content
        out.append((start, end, content))
    return out


def apply_fixes(text: str, fixes: Iterable[Fix]) -> tuple[str, int]:
    """Apply every fix whose edits overlap no edit of a fix applied before it (source order)."""
    starts = _line_starts(text)
    taken: list[tuple[int, int]] = []
    chosen: list[tuple[int, int, str]] = []
    applied = 0
    for fix in sorted(fixes, key=lambda f: min((e.line, e.column) for e in f.edits) if f.edits else (0, 0)):
        spans = _spans(text, fix, starts)
        if not spans:
            continue
        if any(s < e2 and s2 < e or (s == e == s2 == e2) for s, e, _ in spans for s2, e2 in taken):
            continue
        if all(text[s:e] == c for s, e, c in spans):
            continue  # already in place: nothing to do
        taken.extend((s, e) for s, e, _ in spans)
        chosen.extend(spans)
        applied += 1
    for start, end, content in sorted(chosen, key=lambda s: s[0], reverse=True):
        text = text[:start] + content + text[end:]
    return text, applied


def _parses(text: str) -> bool:
    try:
        parse(text)
        return True
    except InputError:
        return False


def _round(text: str, fixes: list[Fix]) -> tuple[str, int]:
    """One round: everything at once when the result parses, else fix by fix."""
    new, applied = apply_fixes(text, fixes)
    if applied == 0 or _parses(new):
        return new, applied
    applied = 0
    for fix in fixes:
        candidate, n = apply_fixes(text, [fix])
        if n and _parses(candidate):
            text, applied = candidate, applied + 1
            break  # later fixes' positions refer to the old text: rescan first
    return text, applied


def fix_text(text: str, path: str, rules: list[Rule], *, unsafe: bool = False,
             target_keras: str | None = None, pins: Pins | None = None,
             use_prefilter: bool = True) -> FixOutcome:
    """Fix `text` until no wanted fix is left; the findings returned are what remains."""

    def scan(source: str) -> list[Finding]:
        return scan_text(source, path, rules, use_prefilter=use_prefilter, target_keras=target_keras, pins=pins)

    findings = scan(text)
    outcome = FixOutcome(text, 0, findings)
    for _ in range(MAX_ROUNDS):
        fixes = [f.fix for f in outcome.findings if wanted(f, unsafe)]
        if not fixes:
            break
        new, applied = _round(outcome.text, fixes)  # type: ignore[arg-type]
        if applied == 0 or new == outcome.text:
            break
        outcome = FixOutcome(new, outcome.applied + applied, scan(new))
    return outcome


def unified_diff(old: str, new: str, display: str) -> str:
    """A `diff -u` style patch, applicable with `patch -p0` from where the scan ran."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    lines = []
    for line in difflib.unified_diff(a, b, fromfile=display, tofile=display):
        lines.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _encoding(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    return encoding


class WriteRefused(Exception):
    """The fixed text is not written; the message says why (the file is left as it was)."""


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def write_atomic(path: Path, text: str, encoding: str, expect: os.stat_result | None = None) -> None:
    """Replace `path` with `text` in one step, keeping its permissions; never half-written.

    A symbolic link is followed, so the file it points to is fixed and the link stays a link.
    `expect`: the file's stat when it was read; if it changed since (an editor or another tool
    wrote it), nothing is written rather than losing that change.
    """
    data = text.encode(encoding)
    target = Path(os.path.realpath(path))
    st = target.stat()
    if not stat.S_ISREG(st.st_mode):
        raise WriteRefused("not a regular file; not fixed")
    if expect is not None and _identity(st) != _identity(expect):
        raise WriteRefused("the file changed while it was being fixed; left as it is now")
    if not os.access(target, os.W_OK):
        # os.replace would succeed anyway (it needs only the directory): honour the file's mode
        raise WriteRefused("the file is read-only; not fixed")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".lraudit-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if hasattr(os, "chown"):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)  # a fix run as root keeps the file's owner
            except OSError:
                pass  # not permitted for others' files: the writer owns it, as with any editor
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass
class FileFix:
    result: FileResult  # findings: what remains after fixing (the original ones with diff only)
    applied: int = 0
    diff: str | None = None


def fix_file(path: Path, display: str, rules: list[Rule], *, unsafe: bool = False, write: bool = True,
             target_keras: str | None = None, use_prefilter: bool = True) -> FileFix:
    """Fix one file: write it (`write`) or only describe the change as a diff."""
    result = FileResult(display)
    try:
        before = os.stat(path)
        data = read_source(path)
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        return FileFix(result)
    except InputError as exc:
        result.error = str(exc)
        return FileFix(result)
    try:
        text = decode(data)
        outcome = fix_text(text, display, rules, unsafe=unsafe, target_keras=target_keras,
                           pins=None if target_keras else project_pins(path), use_prefilter=use_prefilter)
    except InputError as exc:
        result.error = str(exc)
        return FileFix(result)
    except RecursionError:
        result.error = "too deeply nested to analyse"
        return FileFix(result)
    except Exception as exc:  # noqa: BLE001 - a bug in one fix leaves that file as it was, the rest goes on
        result.error = f"internal error ({type(exc).__name__}: {exc}); file left unchanged, please report it"
        return FileFix(result)
    if outcome.applied == 0 or outcome.text == text:
        result.findings = outcome.findings
        return FileFix(result)
    if not _parses(outcome.text):  # cannot happen (every round is checked), but never write it
        result.error = "internal error: the fixed text does not parse; file left unchanged"
        return FileFix(result)
    diff = unified_diff(text, outcome.text, display)
    if not write:
        result.findings = scan_text(text, display, rules, use_prefilter=use_prefilter, target_keras=target_keras,
                                    pins=None if target_keras else project_pins(path))
        return FileFix(result, outcome.applied, diff)
    try:
        write_atomic(path, outcome.text, _encoding(data), expect=before)
    except WriteRefused as exc:
        result.error = str(exc)
        result.findings = outcome.findings
        return FileFix(result)
    except (OSError, UnicodeEncodeError) as exc:
        result.error = f"cannot write the fixed file: {getattr(exc, 'strerror', None) or exc}"
        result.findings = outcome.findings
        return FileFix(result)
    result.findings = outcome.findings
    return FileFix(result, outcome.applied, diff)


def fix_files(run, files: Iterable[Path], rules_for, *, unsafe: bool, write: bool,
              target_keras: str | None, use_prefilter: bool = True):
    """`scan --fix` / `--diff` over discovered files, serially (each file may be rescanned a few
    times, and written): fills the ScanRun's findings, errors, diffs and fixed count."""
    for file in sorted(files, key=lambda p: p.as_posix()):
        display = file.as_posix()
        fixed = fix_file(file, display, rules_for(display), unsafe=unsafe, write=write,
                         target_keras=target_keras, use_prefilter=use_prefilter)
        if fixed.result.error:
            run.errors.append((display, fixed.result.error))
            run.files_failed += 1
        run.findings.extend(fixed.result.findings)
        if fixed.diff and not write:
            run.diffs.append(fixed.diff)
        if write:
            run.fixed += fixed.applied
    run.errors.sort()
    return run
