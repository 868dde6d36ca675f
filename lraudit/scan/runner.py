"""Scan one file: read, prefilter, parse once, build the facts once, run every selected rule
over them, then position and suppress what was found."""

from __future__ import annotations

import tokenize
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Iterable

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from lraudit.findings import Edit, Finding, Fix
from lraudit.scan.cache import content_hash
from lraudit.scan.facts import ModuleFacts, build_facts, source_of
from lraudit.scan.files import prefilter
from lraudit.scan.names import Flavour
from lraudit.scan.rules import FixSpec, Hit, Rule
from lraudit.scan.suppress import is_suppressed


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


def parse(text: str) -> cst.Module:
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise InputError(f"syntax error at line {exc.raw_line}, column {exc.raw_column + 1}: "
                         f"{str(exc.message).splitlines()[0]}") from None
    except (RecursionError, MemoryError):
        raise InputError("too deeply nested to parse") from None


def _position(positions, node: cst.CSTNode):
    pos = positions.get(node)
    if pos is None:
        return None
    return pos.start.line, pos.start.column + 1, pos.end.line, pos.end.column + 1


def _fix(spec: FixSpec | None, positions) -> Fix | None:
    if spec is None:
        return None
    edits = []
    for old, new in spec.replacements:
        where = _position(positions, old)
        if where is None:
            return None
        edits.append(Edit(*where, content=source_of(new)))
    return Fix(spec.applicability, tuple(edits), spec.description)


def scan_text(text: str, path: str, rules: Iterable[Rule], *, use_prefilter: bool = True,
              target_keras: str | None = None, module: cst.Module | None = None) -> list[Finding]:
    """All findings of `rules` in one module's text (raises InputError when it cannot parse)."""
    rules = list(rules)
    if not rules:
        return []
    if use_prefilter and not prefilter(text, {t for r in rules for t in r.tokens}):
        return []
    module = module if module is not None else parse(text)
    facts = build_facts(module, text)
    if target_keras:
        facts.flavour = Flavour(target_keras)
    hits: list[tuple[Rule, Hit]] = []
    for rule in rules:
        if use_prefilter and rule.tokens and not prefilter(text, rule.tokens):
            continue
        hits.extend((rule, hit) for hit in rule.check(facts))
    if not hits:
        return []
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    lines = text.splitlines()
    findings: dict[tuple, Finding] = {}
    for rule, hit in hits:
        where = _position(positions, hit.node)
        if where is None:
            continue
        line, column, end_line, end_column = where
        if is_suppressed(lines, rule.code, line, end_line):
            continue
        key = (rule.code, line, column)
        if key in findings:
            continue  # the same node reached through two call paths
        findings[key] = Finding(
            code=rule.code, name=rule.name, severity=hit.severity or rule.severity, message=hit.message,
            path=path, line=line, column=column, end_line=end_line, end_column=end_column,
            fix=_fix(hit.fix, positions), fingerprint_source=" ".join(source_of(hit.node).split()),
        )
    return sorted(findings.values(), key=lambda f: f.sort_key)


def scan_file(path: Path, display: str, rules: list[Rule], *, use_prefilter: bool = True,
              target_keras: str | None = None) -> FileResult:
    result = FileResult(display)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        return result
    result.digest = content_hash(data)
    try:
        text = decode(data)
        result.findings = scan_text(text, display, rules, use_prefilter=use_prefilter,
                                    target_keras=target_keras)
    except InputError as exc:
        result.error = str(exc)
    except RecursionError:
        result.error = "too deeply nested to analyse"
    return result


def facts_for(text: str) -> ModuleFacts:
    """Parse and model one module (for tests and `lraudit` debugging)."""
    return build_facts(parse(text), text)
