"""Python counters that start at 0 on every process start, and what an expression derives from.

A purely syntactic, per-function def-use pass: cheap, and enough for the way training loops
count (`step = 0 ... step += 1`, `for epoch in range(EPOCHS)`, `for i, batch in
enumerate(ds)`, `self.global_step += 1`).  A name counts as a restarting counter only when
*every* binding of it is one of those forms, so `step = int(ckpt.step)` anywhere in scope
(restored from the checkpoint) clears it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from lraudit.scan.literals import literal_value
from lraudit.scan.tree import path_to

_MAX_ROUNDS = 8


@dataclass
class _Bindings:
    """Every way each name (or `self.attr`) is bound in one scope."""

    zero: set[str] = field(default_factory=set)  # name = 0
    counted: set[str] = field(default_factory=set)  # name += k, or a 0-based loop variable
    other: set[str] = field(default_factory=set)  # anything else
    sources: dict[str, list[cst.BaseExpression]] = field(default_factory=dict)  # name -> RHS expressions
    is_class: bool = False  # a class: holds the `self.attr` bindings of all its methods

    def binds(self, name: str) -> bool:
        return name in self.zero or name in self.counted or name in self.other


def _key(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return "self." + node.attr.value
    return None


def _zero_based_iter(node: cst.BaseExpression) -> str | None:
    """'range' / 'enumerate' when the loop variable starts at 0, else None."""
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Name):
        return None
    args = [a for a in node.args if not a.star]
    if node.func.value == "range":
        positional = [a for a in args if a.keyword is None]
        if len(positional) == 1 or (len(positional) >= 2 and literal_value(positional[0].value) == 0):
            return "range"
    if node.func.value == "enumerate":
        start = next((a for a in args if a.keyword is not None and a.keyword.value == "start"), None)
        if start is None and len([a for a in args if a.keyword is None]) >= 2:
            start = [a for a in args if a.keyword is None][1]
        if start is None or literal_value(start.value) == 0:
            return "enumerate"
    return None


class _Collector(cst.CSTVisitor):
    """Bindings of one function body (not of the functions nested in it)."""

    def __init__(self, root: cst.CSTNode, bindings: _Bindings) -> None:
        self.root = root
        self.b = bindings

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.root

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return node is self.root

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        key = _key(target)
        if key is not None:
            if value is not None and literal_value(value) == 0 and not isinstance(literal_value(value), float):
                self.b.zero.add(key)
            else:
                self.b.other.add(key)
            if value is not None:
                self.b.sources.setdefault(key, []).append(value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._bind(el.value, None)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._bind(t.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        key = _key(node.target)
        if key is None:
            return
        if isinstance(node.operator, cst.AddAssign) and isinstance(literal_value(node.value), int):
            self.b.counted.add(key)
        else:
            self.b.other.add(key)
            self.b.sources.setdefault(key, []).append(node.value)

    def visit_For(self, node: cst.For) -> None:
        kind = _zero_based_iter(node.iter)
        target = node.target
        if kind == "enumerate" and isinstance(target, (cst.Tuple, cst.List)) and target.elements:
            first = _key(target.elements[0].value)
            if first is not None:
                self.b.counted.add(first)
                self.b.zero.add(first)
            for el in target.elements[1:]:
                self._bind(el.value, None)
        elif kind == "range" and _key(target) is not None:
            self.b.counted.add(_key(target))  # type: ignore[arg-type]
            self.b.zero.add(_key(target))  # type: ignore[arg-type]
        else:
            self._bind(target, None)
            key = _key(target)
            if key is not None:
                self.b.sources.setdefault(key, []).append(node.iter)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind(node.asname.name, None)

    def visit_Param(self, node: cst.Param) -> None:
        self.b.other.add(node.name.value)


def bindings(scope: cst.CSTNode) -> _Bindings:
    b = _Bindings()
    if isinstance(scope, cst.ClassDef):
        b.is_class = True
        for stmt in scope.body.body if isinstance(scope.body, cst.IndentedBlock) else ():
            if isinstance(stmt, cst.FunctionDef):
                method = bindings(stmt)
                for attr in ("zero", "counted", "other"):
                    getattr(b, attr).update(n for n in getattr(method, attr) if n.startswith("self."))
                for n, srcs in method.sources.items():
                    if n.startswith("self."):
                        b.sources.setdefault(n, []).extend(srcs)
        return b
    if isinstance(scope, cst.FunctionDef):
        for p in list(scope.params.posonly_params) + list(scope.params.params) + list(scope.params.kwonly_params):
            b.other.add(p.name.value)
        scope.body.visit(_Collector(scope, b))
    else:
        scope.visit(_Collector(scope, b))
    return b


def counters(b: _Bindings) -> set[str]:
    """Names whose every binding is `= 0`, `+= k` or a 0-based loop variable, and that count."""
    return {n for n in b.counted if n in b.zero and n not in b.other}


def names_in(node: cst.CSTNode) -> set[str]:
    """Names and `self.attr`s an expression reads (not attribute names, not call keywords)."""
    found: set[str] = set()

    class _Visitor(cst.CSTVisitor):
        def visit_Attribute(self, n: cst.Attribute) -> bool:
            key = _key(n)
            if key is not None:
                found.add(key)
            else:
                n.value.visit(self)  # `a.b`: reads `a`; `b` is an attribute name, not a variable
            return False

        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

        def visit_Arg(self, n: cst.Arg) -> bool:
            n.value.visit(self)
            return False

        def visit_Lambda(self, n: cst.Lambda) -> bool:
            return False

    node.visit(_Visitor())
    return found


def counter_source(value: cst.BaseExpression, scopes: list[_Bindings]) -> str | None:
    """The restarting counter `value` derives from, looking through local assignments in the
    scopes given (innermost first), or None."""
    seen: set[str] = set()
    todo = list(names_in(value))
    for _ in range(_MAX_ROUNDS):
        if not todo:
            break
        nxt: list[str] = []
        for name in todo:
            if name in seen:
                continue
            seen.add(name)
            for b in scopes:
                if name.startswith("self.") != b.is_class:
                    continue
                if b.binds(name):
                    if name in counters(b):
                        return name
                    for src in b.sources.get(name, ()):
                        nxt.extend(names_in(src))
                    break
        todo = nxt
    return None


def enclosing(module: cst.Module, target: cst.CSTNode) -> list[cst.CSTNode]:
    """The chain of scopes (FunctionDef/ClassDef, innermost first, module last) holding `target`.
    (A walk over node fields: a libcst visit would rebuild the whole module for each call.)"""
    path = path_to(module, target) or [module]
    return [n for n in reversed(path[:-1]) if isinstance(n, (cst.FunctionDef, cst.ClassDef))] + [module]


def rebound(module: cst.Module, at: cst.CSTNode, name: str) -> bool:
    """Is `name` (as seen from `at`) bound more than once, or counted (`+=`), in its scope?
    The interpreter walks a loop body once, so a name it saw as a literal may change later in
    the loop."""
    for scope in enclosing(module, at):
        b = bindings(scope)
        if name.startswith("self.") != b.is_class or not b.binds(name):
            continue
        sources = len(b.sources.get(name, ())) + (1 if name in b.zero and not b.sources.get(name) else 0)
        return name in b.counted or sources > 1 or (name in b.other and name in b.zero)
    return False
