"""Line and column of reported nodes, computed only for them.

libcst keeps no positions in its tree, and its PositionProvider over a whole module costs
several times the parse: MetadataWrapper first visits (and so rebuilds) the whole tree, then
code generation records a range for every node.  Findings are rare, so a reported node is
positioned by generating code for the innermost statement that holds it alone, started at
that statement's line and indentation, with the same code generation state PositionProvider
uses (identical ranges), stopping as soon as the wanted nodes have their ranges.

Where a statement starts comes from CPython's own tree (`ast`, a tenth of libcst's parse
time): its statements carry line numbers, and they line up one to one with libcst's compound
statements, and n to one with a libcst line of n small statements.  A statement whose place
cannot be derived that way, or a node the interpreter never recorded (`ModuleFacts.located`),
falls back to one pass over the whole module.
"""

from __future__ import annotations

import ast
import sys
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import libcst as cst
from libcst.metadata.position_provider import PositionProvidingCodegenState

Where = tuple[int, int, int, int]  # 1-based line, column, end line, end column


def parse_python(text: str) -> ast.Module:
    """CPython's parse of `text`, minus its cap on int literal digits (a 5,000-digit literal is
    valid Python that the interpreter refuses only to convert, not a syntax error) and without
    its warnings ("invalid escape sequence" and the like are not lraudit's to print)."""
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if limit is None:
            return ast.parse(text)
        sys.set_int_max_str_digits(0)
        try:
            return ast.parse(text)
        finally:
            sys.set_int_max_str_digits(limit)


class _Done(Exception):
    """Every wanted range is known: stop generating code."""


class _Ranges:
    """What the codegen state records into, in place of a metadata provider (`_computed`:
    node -> CodeRange, exactly as PositionProvider fills it)."""

    def __init__(self) -> None:
        self._computed: dict = {}


class _LocatingState(PositionProvidingCodegenState):
    """PositionProvider's codegen state that stops once the wanted nodes are done.  A node's
    range is final when its own code generation ends (libcst records a syntactic range only
    for the node being generated, before `after_codegen`); the enclosing nodes' ranges are
    left incomplete and must not be used."""

    def __init__(self, module: cst.Module, ranges: _Ranges, wanted: set[int]) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline,
                         provider=ranges)
        self.wanted = wanted
        self.done = False

    def after_codegen(self, node: cst.CSTNode) -> None:
        super().after_codegen(node)
        wanted = self.wanted
        if wanted and id(node) in wanted:
            wanted.discard(id(node))
            if not wanted:
                self.done = True
                raise _Done


def ranges(module: cst.Module, wanted: Iterable[cst.CSTNode] = (), *, start: cst.CSTNode | None = None,
           line: int = 1, indents: Sequence[str] = ()) -> dict:
    """node -> CodeRange for `module` (or for its statement `start`, which begins at `line`
    inside blocks indented by `indents`), complete up to the last of `wanted` (all when empty)."""
    store = _Ranges()
    state = _LocatingState(module, store, {id(n) for n in wanted})
    state.line = line
    state.indent_tokens = list(indents)
    try:
        (start or module)._codegen(state)
    except Exception:
        # Unwinding runs the enclosing nodes' range bookkeeping, which may fail on children
        # never generated (a KeyError): those ranges are not wanted.  Any other failure is real.
        if not state.done:
            raise
    return store._computed


@dataclass(frozen=True)
class Place:
    """Where a statement's generated code begins: the line of its first leading (blank or
    comment) line, and the indentation of the blocks around it."""

    line: int
    indents: tuple[str, ...]


# libcst compound statement -> the CPython statement types it corresponds to.
_PAIRS: dict[type, tuple[type, ...]] = {
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef),
    cst.ClassDef: (ast.ClassDef,),
    cst.If: (ast.If,),
    cst.For: (ast.For, ast.AsyncFor),
    cst.While: (ast.While,),
    cst.With: (ast.With, ast.AsyncWith),
    cst.Try: (ast.Try,),
}
if hasattr(cst, "TryStar") and hasattr(ast, "TryStar"):
    _PAIRS[cst.TryStar] = (ast.TryStar,)
if hasattr(cst, "Match") and hasattr(ast, "Match"):
    _PAIRS[cst.Match] = (ast.Match,)

# The first word on a compound statement's first line (after its decorators): a cheap check
# that the two trees really line up before their line numbers are trusted.
_KEYWORDS: dict[type, tuple[str, ...]] = {
    ast.FunctionDef: ("def",), ast.AsyncFunctionDef: ("async",), ast.ClassDef: ("class",),
    ast.If: ("if", "elif"), ast.For: ("for",), ast.AsyncFor: ("async",), ast.While: ("while",),
    ast.With: ("with",), ast.AsyncWith: ("async",), ast.Try: ("try",),
}
if hasattr(ast, "TryStar"):
    _KEYWORDS[ast.TryStar] = ("try",)
if hasattr(ast, "Match"):
    _KEYWORDS[ast.Match] = ("match",)


def _suites(stmt: cst.BaseStatement, node: ast.stmt) -> Iterator[tuple[cst.CSTNode, list[ast.stmt]]]:
    """(libcst suite or elif statement, the CPython statements it holds) for each block of a
    compound statement, in source order."""
    if isinstance(stmt, getattr(cst, "Match", ())):
        for case, ast_case in zip(stmt.cases, node.cases):  # type: ignore[attr-defined]
            yield case.body, ast_case.body
        return
    yield stmt.body, node.body  # type: ignore[attr-defined]
    if isinstance(stmt, (cst.Try, getattr(cst, "TryStar", cst.Try))):
        for handler, ast_handler in zip(stmt.handlers, node.handlers):  # type: ignore[attr-defined]
            yield handler.body, ast_handler.body
        if stmt.orelse is not None:
            yield stmt.orelse.body, node.orelse  # type: ignore[attr-defined]
        if stmt.finalbody is not None:
            yield stmt.finalbody.body, node.finalbody  # type: ignore[attr-defined]
    elif isinstance(stmt, (cst.If, cst.For, cst.While)):
        if isinstance(stmt.orelse, cst.If):
            yield stmt.orelse, node.orelse  # type: ignore[attr-defined]  # elif: a statement at this level
        elif stmt.orelse is not None:
            yield stmt.orelse.body, node.orelse  # type: ignore[attr-defined]


def _first_line(stmt: cst.BaseStatement, node: ast.stmt, lines: list[str]) -> int | None:
    """The line where `stmt`'s generated code begins, or None if the trees disagree."""
    decorators = getattr(stmt, "decorators", ())
    if decorators:
        ast_decorators = getattr(node, "decorator_list", ())
        if len(ast_decorators) != len(decorators):
            return None
        # CPython numbers a decorator by its expression, which may sit below its `@`
        # (`@(` newline `name)`); nothing but brackets, blanks and comments lie between them.
        token = ast_decorators[0].lineno
        while token > 1 and not lines[token - 1].lstrip().startswith("@"):
            token -= 1
        if not lines[token - 1].lstrip().startswith("@"):
            return None
        return token - len(stmt.leading_lines) - len(decorators[0].leading_lines)
    token = node.lineno
    if token > len(lines):
        return None
    keywords = _KEYWORDS.get(type(node))
    if keywords is not None and not lines[token - 1].lstrip().startswith(keywords):
        return None
    return token - len(stmt.leading_lines)


def _walk(stmts: Sequence[cst.CSTNode], nodes: Sequence[ast.stmt], indents: tuple[str, ...],
          default_indent: str, lines: list[str], out: dict[int, Place]) -> None:
    """Record the Place of `stmts` (one block) and of every statement nested in them."""
    j = 0
    for stmt in stmts:
        if j >= len(nodes):
            return
        node = nodes[j]
        if isinstance(stmt, cst.SimpleStatementLine):
            j += len(stmt.body)
        elif isinstance(node, _PAIRS.get(type(stmt), ())):
            j += 1
        else:
            return  # the trees disagree: leave the rest of this block to the fallback
        line = _first_line(stmt, node, lines)
        if line is None:
            return
        out[id(stmt)] = Place(line, indents)
        if isinstance(stmt, cst.SimpleStatementLine):
            continue
        for suite, inner in _suites(stmt, node):
            if isinstance(suite, cst.If):  # elif: same indentation, it stands for its own block
                _walk([suite], inner, indents, default_indent, lines, out)
            elif isinstance(suite, cst.IndentedBlock):
                indent = default_indent if suite.indent is None else suite.indent
                _walk(suite.body, inner, (*indents, indent), default_indent, lines, out)


class Positions:
    """1-based (line, column, end_line, end_column) of reported nodes, computed lazily.

    `located`: id(node) -> (index of its module-level statement, innermost statement), as the
    interpreter recorded them.  `want()` the nodes first (all the reported ones and their fix
    targets): each statement is then generated once, up to its last wanted node."""

    def __init__(self, module: cst.Module, located: dict[int, tuple[int, cst.CSTNode]], text: str,
                 tree: ast.Module | None = None) -> None:
        self.module = module
        self.located = located
        self.text = text  # as parsed: newlines normalised
        self.tree = tree  # CPython's tree of `text`, when the caller has it
        self.wanted: dict[int, list[cst.CSTNode]] = {}  # id(statement) -> nodes
        self.per_statement: dict[int, dict] = {}
        self.walked: set[int] = set()  # module-level statements whose places are known
        self.places: dict[int, Place] = {}
        self._python: tuple[list[ast.stmt], list[int], list[str]] | None = None
        self.full: dict | None = None

    def want(self, nodes: Iterable[cst.CSTNode]) -> None:
        for node in nodes:
            found = self.located.get(id(node))
            if found is not None:
                self.wanted.setdefault(id(found[1]), []).append(node)

    def _python_tree(self) -> tuple[list[ast.stmt], list[int], list[str]]:
        """CPython's module-level statements, the index among them where each libcst
        module-level statement begins, and the source lines."""
        if self._python is None:
            first, count = [], 0
            for stmt in self.module.body:
                first.append(count)
                count += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
            tree = self.tree if self.tree is not None else parse_python(self.text)
            self._python = (tree.body, first, self.text.split("\n"))
        return self._python

    def _place(self, top: int, stmt: cst.CSTNode) -> Place | None:
        if top not in self.walked:
            self.walked.add(top)
            body, first, lines = self._python_tree()
            if top < len(first) and first[top] < len(body):
                _walk([self.module.body[top]], body[first[top]:], (), self.module.default_indent,
                      lines, self.places)
        return self.places.get(id(stmt))

    def _statement_ranges(self, stmt: cst.CSTNode, place: Place, node: cst.CSTNode) -> dict:
        found = self.per_statement.get(id(stmt))
        if found is None or node not in found:
            wanted = self.wanted.get(id(stmt), [])
            found = ranges(self.module, wanted if any(n is node for n in wanted) else (), start=stmt,
                           line=place.line, indents=place.indents)
            self.per_statement[id(stmt)] = found
        return found

    def get(self, node: cst.CSTNode) -> Where | None:
        found = self.located.get(id(node))
        pos = None
        if found is not None and 0 <= found[0] < len(self.module.body):
            place = self._place(*found)
            if place is not None:
                pos = self._statement_ranges(found[1], place, node).get(node)
        if pos is None:
            if self.full is None:
                self.full = ranges(self.module)
            pos = self.full.get(node)
            if pos is None:
                return None
        return pos.start.line, pos.start.column + 1, pos.end.line, pos.end.column + 1
