"""Baseline of known findings: adopt lraudit in a repository that already has findings, and fail
CI only on new ones.

A finding is identified by its code, its file and the whitespace-normalized source of the
flagged node, never by its line: edits elsewhere in the file move lines but leave the finding
known.  Identical findings in one file (the same line copied twice) are told apart by their
occurrence index in source order, and the baseline is matched as a multiset, so adding a third
copy of a known line is a new finding while deleting one is not.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lraudit import __version__
from lraudit.findings import Finding

VERSION = 1


class BaselineError(Exception):
    """A baseline file that cannot be used; the CLI reports it as one line and exits 2."""


@dataclass
class Baseline:
    fingerprints: Counter = field(default_factory=Counter)
    root: Path = field(default_factory=Path.cwd)  # paths in the file are relative to this


def relative_path(path: str, root: Path) -> str:
    """The finding's file relative to the baseline's directory, so the baseline matches however
    lraudit was invoked (`scan .`, `scan src/train.py`, absolute paths, from a sub-directory)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(root))).as_posix()
    except ValueError:
        return absolute.as_posix()


_SKIP_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                tokenize.ENDMARKER}


def normalize(source: str) -> str:
    """The flagged source as a token sequence: `epochs=50)` and `epochs = 50 )`, or a call
    re-wrapped over several lines, are the same statement; comments are not part of it."""
    try:
        tokens = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type not in _SKIP_TOKENS]
    except (tokenize.TokenError, SyntaxError):  # a fragment tokenize cannot finish
        return " ".join(source.split())
    return " ".join(tokens)


def _digest(code: str, path: str, source: str, occurrence: int) -> str:
    text = "\x1f".join((code, path, source, str(occurrence)))
    # surrogateescape: a file name that is not valid UTF-8 (kept by Python as lone surrogates)
    # hashes by its original bytes instead of failing the whole report
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def fingerprints(findings: Iterable[Finding], root: Path) -> list[tuple[str, str]]:
    """(relative path, fingerprint) per finding, in the given order."""
    seen: Counter = Counter()
    out = []
    for f in findings:
        path = relative_path(f.path or f.checkpoint or "", root)
        source = normalize(f.fingerprint_source) if f.fingerprint_source else " ".join(f.message.split())
        key = (f.code, path, source)
        out.append((path, _digest(f.code, path, source, seen[key])))
        seen[key] += 1
    return out


def _in_source_order(findings: Iterable[Finding]) -> list[Finding]:
    # occurrence indexes must not depend on the order the engine happened to report in
    return sorted(findings, key=lambda f: f.sort_key)


def dumps(findings: Iterable[Finding], root: Path) -> str:
    ordered = _in_source_order(findings)
    entries = [{"code": f.code, "path": path, "fingerprint": fp}
               for f, (path, fp) in zip(ordered, fingerprints(ordered, root))]
    entries.sort(key=lambda e: (e["path"], e["code"], e["fingerprint"]))
    doc = {"version": VERSION, "tool": f"lraudit {__version__}", "findings": entries}
    return json.dumps(doc, indent=2) + "\n"


def write(path: Path, findings: Iterable[Finding]) -> int:
    """Record `findings` in `path` (paths relative to its directory); returns how many."""
    findings = list(findings)
    try:
        path.write_text(dumps(findings, path.resolve().parent), encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"{path}: cannot write baseline: {exc.strerror or exc}") from None
    return len(findings)


def load(path: Path) -> Baseline:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found (create it with --write-baseline)") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BaselineError(f"{path}: cannot read baseline: {reason}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: not a baseline: invalid JSON at line {exc.lineno}, "
                            f"column {exc.colno}") from None
    if not isinstance(doc, dict) or "findings" not in doc:
        raise BaselineError(f"{path}: not a baseline: expected an object with 'version' and 'findings'")
    if doc.get("version") != VERSION:
        raise BaselineError(f"{path}: unsupported baseline version {doc.get('version')!r} "
                            f"(this lraudit reads version {VERSION})")
    entries = doc["findings"]
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries):
        raise BaselineError(f"{path}: not a baseline: 'findings' must be a list of objects "
                            "with a 'fingerprint'")
    return Baseline(Counter(e["fingerprint"] for e in entries), path.resolve().parent)


def new_findings(findings: list[Finding], baseline: Baseline) -> tuple[list[Finding], int]:
    """The findings the baseline does not account for, in their original order, and how many
    it did account for."""
    ordered = _in_source_order(findings)
    remaining = Counter(baseline.fingerprints)
    known: set[int] = set()
    for f, (_, fp) in zip(ordered, fingerprints(ordered, baseline.root)):
        if remaining[fp] > 0:
            remaining[fp] -= 1
            known.add(id(f))
    return [f for f in findings if id(f) not in known], len(known)
