"""Scan one file: read, prefilter, parse once, build the facts once, run every selected rule
over them, then position and suppress what was found."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import libcst as cst

from lraudit.findings import Edit, Finding, Fix, Severity
from lraudit.scan.budget import DEFAULT_BUDGET_S, check_parse_cost, summarise_literals
from lraudit.scan.facts import build_facts
from lraudit.scan.files import is_test_code
from lraudit.scan.literals import source_of
from lraudit.scan.model import ModuleFacts
from lraudit.scan.names import Flavour
from lraudit.scan.needs import needed
from lraudit.scan.positions import Positions, parse_python
from lraudit.scan.project import Pins, resolve_flavour
from lraudit.scan.rules import FixSpec, Hit, Rule

# Reading and decoding live in source.py (no libcst there); re-exported for fix.py and tests.
from lraudit.scan.source import FileResult, InputError, decode, read_source  # noqa: F401
from lraudit.scan.suppress import is_suppressed


def normalize_newlines(text: str) -> str:
    """libcst infers one newline style from the first line and rejects files that mix them,
    which Python itself accepts; lines keep their numbers either way."""
    if "\r" not in text:
        return text
    if text.count("\r\n") == text.count("\n") == text.count("\r"):
        return text  # consistently CRLF
    return text.replace("\r\n", "\n").replace("\r", "\n")


# CPython's tokenizer refuses more than 200 nested brackets; libcst's native parser would
# overflow its stack (a crash, not an error) long before it reports that.
MAX_NESTING = 200
_BRACKETS = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in "()[]{}"))


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting, ignoring strings (an overestimate is harmless: it only ever
    refuses what Python would refuse too, or text with hundreds of brackets inside strings)."""
    if text.count("(") + text.count("[") + text.count("{") < MAX_NESTING:
        return 0
    depth = deepest = 0
    for ch in text.translate(_BRACKETS):
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return deepest


# libcst's tree costs about 0.85 MB of memory per kB of source (and ~10 ms per kB to build): a
# 10 MB generated module that the prefilter lets through would need ~9 GB.  Training scripts
# are far below this; anything above is refused with its size instead of exhausting memory.
MAX_PARSE_CHARS = 1_000_000


# libcst's native parser takes time quadratic in an expression's depth and overflows its stack
# (a segfault that kills the whole scan) on unbracketed chains some thousands deep: `- - - 1`,
# `not not x`, `lambda: lambda: 1`, `2**2**2`, `a if b else a if b else ...`; `a + a + ...` or
# `m.f().f()...` of 10,000 terms take hours.  CPython's own parser is linear and guards its
# stack (RecursionError or MemoryError from about 2,000 levels), so every file goes through
# `ast.parse` first, for about a tenth of libcst's time.  Between MAX_EXPRESSION_DEPTH and that
# limit libcst survives but needs seconds per expression; the tree is walked for that only when
# a physical line is long enough to hold such a chain (real code stays below 50 levels).
MAX_EXPRESSION_DEPTH = 400


def _python_tree(text: str) -> ast.Module:
    """CPython's tree of `text`, after refusing, with a reason, what libcst would crash or
    stall on (see MAX_EXPRESSION_DEPTH).

    The interpreter running lraudit decides what is Python, and its SyntaxError's words and
    position are the ones users know ("Missing parentheses in call to 'print'", the right
    line): newer libcst releases accept grammar that no Python 3 does (`raise E, "msg"`) or
    that only 3.14 does (`except A, B:`), so Python 2 code would otherwise be analysed as if
    it were valid."""
    try:
        tree = parse_python(text)
    except SyntaxError as exc:
        raise InputError(f"syntax error at line {exc.lineno or 1}, column {exc.offset or 1}: {exc.msg}") from None
    except (RecursionError, MemoryError):  # CPython's parser gives up on depth with these
        raise InputError("too deeply nested to parse (an expression thousands of levels deep)") from None
    if max(map(len, text.splitlines()), default=0) < MAX_EXPRESSION_DEPTH:
        return tree
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)  # operator nodes carry no position: their parent's
        if depth > MAX_EXPRESSION_DEPTH:
            raise InputError(f"too deeply nested to parse (an expression more than "
                             f"{MAX_EXPRESSION_DEPTH} levels deep at line {line})")
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return tree


def parse_both(text: str, budget_s: float = DEFAULT_BUDGET_S) -> tuple[cst.Module, ast.Module]:
    """libcst's and CPython's trees of `text` (newlines normalised); InputError when either
    refuses it.  CPython's serves the guard above and then the positions of findings."""
    module, tree, _ = parse_summarised(text, budget_s)
    return module, tree


def parse_summarised(text: str, budget_s: float = DEFAULT_BUDGET_S) -> tuple[cst.Module, ast.Module, str]:
    """`parse_both`, plus the text libcst parsed: `text` with its large constant literals
    summarised (budget.py), every position unchanged."""
    if len(text) > MAX_PARSE_CHARS:
        raise InputError(f"too large to analyse ({len(text) / 1e6:.1f} million characters; lraudit "
                         f"parses up to {MAX_PARSE_CHARS / 1e6:.0f} million, about 1 GB of memory): "
                         "a generated file? exclude it")
    text = normalize_newlines(text)
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        raise InputError(f"too deeply nested to parse ({depth} levels of brackets; Python allows {MAX_NESTING})")
    tree = _python_tree(text)
    summarised = summarise_literals(text, tree)
    check_parse_cost(summarised, budget_s)
    try:
        return cst.parse_module(summarised), tree, summarised
    except cst.ParserSyntaxError as exc:
        # CPython accepted the file (its tree is built above), libcst's tokenizer did not: mixed
        # tab and space indentation that CPython resolves with 8-column tabs.  Expanded so, the
        # indentation means the same to both; lines keep their numbers, columns on tab-indented
        # lines move, so scan_text drops fixes for such a file.
        expanded = _expand_leading_tabs(summarised)
        if expanded != summarised and "dent" in str(exc):
            try:
                return cst.parse_module(expanded), tree, expanded
            except cst.ParserSyntaxError:
                pass
        raise InputError(f"syntax error at line {exc.raw_line}, column {exc.raw_column + 1}: "
                         f"{str(exc.message).splitlines()[0]}") from None
    except cst.CSTValidationError as exc:
        raise InputError(f"syntax error: {exc}") from None
    except (RecursionError, MemoryError):
        raise InputError("too deeply nested to parse") from None


_LEADING_WHITESPACE = re.compile(r"^[ \t]+", re.MULTILINE)


def _expand_leading_tabs(text: str) -> str:
    return _LEADING_WHITESPACE.sub(lambda m: m.group(0).expandtabs(8), text)


def parse(text: str) -> cst.Module:
    return parse_both(text)[0]


def _fix(spec: FixSpec | None, positions) -> Fix | None:
    if spec is None:
        return None
    edits = []
    for old, new in spec.replacements:
        where = positions.get(old)
        if where is None:
            return None
        edits.append(Edit(*where, content=source_of(new)))
    return Fix(spec.applicability, tuple(edits), spec.description)


def scan_text(text: str, path: str, rules: Iterable[Rule], *, use_prefilter: bool = True,
              target_keras: str | None = None, module: cst.Module | None = None,
              pins: Pins | None = None, budget_s: float = DEFAULT_BUDGET_S) -> list[Finding]:
    """All findings of `rules` in one module's text (raises InputError when it cannot parse).

    `pins`: the project's dependency pins (project.py); they decide the Keras flavour when the
    module's imports do not, and `target_keras` overrides both."""
    rules = list(rules)
    if not rules:
        return []
    if use_prefilter:  # only the rules whose need the text meets (needs.py)
        keep = set(needed(text, [r.code for r in rules], {r.code: r.tokens for r in rules}))
        rules = [r for r in rules if r.code in keep]
        if not rules:
            return []
    tree = None
    summarised = text
    if module is None:
        module, tree, summarised = parse_summarised(text, budget_s)
    facts = build_facts(module, text)
    if target_keras:
        facts.flavour = Flavour(target_keras)
    elif pins is not None:
        facts.flavour = resolve_flavour(facts.flavour, facts.imports, pins)
    hits: list[tuple[Rule, Hit]] = []
    for rule in rules:
        hits.extend((rule, hit) for hit in rule.check(facts))
    if not hits:
        return []
    positions = Positions(module, facts.located, normalize_newlines(text), tree)
    positions.want(hit.node for _, hit in hits)
    positions.want(old for _, hit in hits if hit.fix is not None for old, _ in hit.fix.replacements)
    lines = text.splitlines()
    findings: dict[tuple, Finding] = {}
    for rule, hit in hits:
        where = positions.get(hit.node)
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
    if len(summarised) != len(normalize_newlines(text)):  # tabs expanded: no column is exact
        findings = {key: replace(f, fix=None) for key, f in findings.items()}
    elif summarised is not text:
        _drop_fixes_over_summaries(findings, text, summarised)
    if is_test_code(path):
        for key, finding in findings.items():
            if finding.severity > Severity.INFO:
                findings[key] = replace(finding, severity=Severity.INFO,
                                        message=finding.message + " (In test code: reported as info.)")
    return sorted(findings.values(), key=lambda f: f.sort_key)


def _drop_fixes_over_summaries(findings: dict[tuple, Finding], text: str, summarised: str) -> None:
    """A fix whose edits touch a summarised literal would write its blanks into the file: such
    a finding keeps its message and loses its fix."""
    from lraudit.scan.fix import _line_starts, _offset  # noqa: PLC0415 - fix imports this module

    starts = _line_starts(normalize_newlines(text))
    original = normalize_newlines(text)
    for key, finding in findings.items():
        if finding.fix is None:
            continue
        for edit in finding.fix.edits:
            start = _offset(starts, edit.line, edit.column)
            end = _offset(starts, edit.end_line, edit.end_column)
            if start is None or end is None or original[start:end] != summarised[start:end]:
                findings[key] = replace(finding, fix=None)
                break


def scan_file(path: Path, display: str, rules: list[Rule], *, use_prefilter: bool = True,
              target_keras: str | None = None) -> FileResult:
    """Read, prefilter and scan one file (worker.scan_job, with Rule objects)."""
    from lraudit.scan.worker import scan_job

    return scan_job((str(path), display, tuple(r.code for r in rules), use_prefilter, target_keras,
                     DEFAULT_BUDGET_S))


def facts_for(text: str) -> ModuleFacts:
    """Parse and model one module (for tests and `lraudit` debugging)."""
    return build_facts(parse(text), text)
