"""Line and column of reported nodes, computed only for them.

libcst's PositionProvider over a whole module costs several times the parse: MetadataWrapper
first visits (and so rebuilds) the whole tree, then code generation records a range for every
node.  Findings are rare, so a reported node is positioned within its module-level statement
alone, by the same code generation state PositionProvider uses (identical ranges), stopping as
soon as every reported node of that statement has its range; the lines of the statements
before it shift the result.  Nodes the interpreter never saw fall back to one pass over the
module.
"""

from __future__ import annotations

from typing import Iterable

import libcst as cst
from libcst.metadata.position_provider import PositionProvidingCodegenState

Where = tuple[int, int, int, int]  # 1-based line, column, end line, end column


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


def ranges(module: cst.Module, wanted: Iterable[cst.CSTNode] = ()) -> dict:
    """node -> CodeRange for `module`, complete up to the last of `wanted` (all when empty)."""
    store = _Ranges()
    state = _LocatingState(module, store, {id(n) for n in wanted})
    try:
        module._codegen(state)
    except Exception:
        # Unwinding runs the enclosing nodes' range bookkeeping, which may fail on children
        # never generated (a KeyError): those ranges are not wanted.  Any other failure is real.
        if not state.done:
            raise
    return store._computed


class Positions:
    """1-based (line, column, end_line, end_column) of reported nodes, computed lazily.

    `want()` the nodes first (all the reported ones and their fix targets): each statement is
    then generated once, up to its last wanted node."""

    def __init__(self, module: cst.Module, top_of: dict[int, int]) -> None:
        self.module = module
        self.top_of = top_of
        self.offsets: list[int] = []  # line offset of each module-level statement, as computed
        self.wanted: dict[int, list[cst.CSTNode]] = {}  # statement index -> nodes
        self.per_statement: dict[int, dict] = {}
        self.full: dict | None = None

    def want(self, nodes: Iterable[cst.CSTNode]) -> None:
        for node in nodes:
            index = self.top_of.get(id(node))
            if index is not None:
                self.wanted.setdefault(index, []).append(node)

    def _offset(self, index: int) -> int:
        if not self.offsets:
            header = cst.Module(body=[], header=self.module.header, footer=[],
                                default_newline=self.module.default_newline)
            self.offsets.append(header.code.count("\n") if self.module.header else 0)
        while len(self.offsets) <= index:
            stmt = self.module.body[len(self.offsets) - 1]
            self.offsets.append(self.offsets[-1] + self.module.code_for_node(stmt).count("\n"))
        return self.offsets[index]

    def _statement_ranges(self, index: int, node: cst.CSTNode) -> dict:
        found = self.per_statement.get(index)
        if found is None or node not in found:
            single = cst.Module(body=[self.module.body[index]], header=[], footer=[],
                                default_indent=self.module.default_indent,
                                default_newline=self.module.default_newline)
            wanted = self.wanted.get(index, [])
            found = ranges(single, wanted if any(n is node for n in wanted) else ())
            self.per_statement[index] = found
        return found

    def get(self, node: cst.CSTNode) -> Where | None:
        index = self.top_of.get(id(node))
        if index is not None and index < len(self.module.body):
            pos = self._statement_ranges(index, node).get(node)
            if pos is not None:
                shift = self._offset(index)
                return pos.start.line + shift, pos.start.column + 1, pos.end.line + shift, pos.end.column + 1
        if self.full is None:
            self.full = ranges(self.module)
        pos = self.full.get(node)
        if pos is None:
            return None
        return pos.start.line, pos.start.column + 1, pos.end.line, pos.end.column + 1
