"""Read-only traversal of a libcst tree without rebuilding it.

`CSTNode.visit()` and `CSTNode.children` both go through `_visit_and_replace_children`, which
constructs (and validates) a new copy of every node visited, even for a read-only visitor:
a whole-module visit costs about as much as the parse.  Where only the set of nodes or the
ancestors of one node matter (not the order of a visitor's callbacks), these walk the node
fields directly.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import libcst as cst

_FIELDS: dict[type, tuple[str, ...]] = {}


def child_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The nodes directly under `node`: every CSTNode held by one of its fields (alone or in
    a sequence).  The order is the fields' order, not necessarily the source order."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """`node` and every node under it (in no particular order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child_nodes(current))


def path_to(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.CSTNode] | None:
    """The nodes from `root` down to `target` (both included), or None when it is not there."""
    stack: list[tuple[cst.CSTNode, int]] = [(root, 0)]
    path: list[cst.CSTNode] = []
    while stack:
        current, depth = stack.pop()
        del path[depth:]
        path.append(current)
        if current is target:
            return path
        stack.extend((child, depth + 1) for child in child_nodes(current))
    return None
