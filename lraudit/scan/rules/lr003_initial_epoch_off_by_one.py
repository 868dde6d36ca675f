"""LR003 initial-epoch-off-by-one: `initial_epoch` one away from the epochs actually finished.

Two sources of the number are provably 0-based or 1-based, so a mismatch is visible:
`History.epoch` and the CSVLogger `epoch` column hold 0-based indices (the last one is the
number of finished epochs minus one), while ModelCheckpoint writes `{epoch}` as `epoch + 1`,
the number of finished epochs itself (for epoch-level saves).
"""

from __future__ import annotations

import re
from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import (
    argument,
    has_star_args,
    literal_value,
    source_of,
)
from lraudit.scan.model import Event, ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import INITIAL_EPOCH_POSITION, RESUME_GUARD, bound_nodes

_TRAIN_METHODS = ("fit", "fit_generator")
# The last entry of a CSV log's `epoch` column, as pandas spells it.
_CSV_LAST_EPOCH = re.compile(
    r"""(\[\s*['"]epoch['"]\s*\]|\.epoch)\s*(\.iloc\s*\[\s*-\s*1\s*\]|\.values\s*\[\s*-\s*1\s*\]|\.max\(\s*\)|"""
    r"""\.to_list\(\s*\)\s*\[\s*-\s*1\s*\]|\.tolist\(\s*\)\s*\[\s*-\s*1\s*\]|\.iat\s*\[\s*-\s*1\s*\])\s*$""")
_PARSE_MARKERS = (".group(", "split(", "findall(", "search(", "match(", "re.sub(", ".stem", "basename(",
                  "strip(", "replace(", "[-", "[:")
_MAX_HOPS = 4


def _unwrap(node: cst.BaseExpression) -> cst.BaseExpression:
    """`int(x)` / `float(x)` / `(x)` -> x."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("int", "float") \
            and len(node.args) == 1:
        node = node.args[0].value
    return node


def _is_minus_one(node: cst.BaseExpression) -> bool:
    return literal_value(node) == -1


def _history_like(event: Event, node: cst.BaseExpression) -> bool:
    """`history`, `hist`, `model.history`, or a name bound to what `fit()` returned."""
    text = source_of(node).strip().lower()
    if re.search(r"(^|[._])hist(ory)?\w*$", text):
        return True
    for bound in bound_nodes(event, node) if isinstance(node, cst.Name) else ():
        if isinstance(bound, cst.Call) and isinstance(bound.func, cst.Attribute) \
                and bound.func.attr.value in _TRAIN_METHODS:
            return True
    return False


def _last_history_epoch(event: Event, node: cst.BaseExpression) -> bool:
    """`<history>.epoch[-1]`."""
    node = _unwrap(node)
    if not isinstance(node, cst.Subscript) or len(node.slice) != 1:
        return False
    index = node.slice[0].slice
    if not isinstance(index, cst.Index) or not _is_minus_one(index.value):
        return False
    value = node.value
    return isinstance(value, cst.Attribute) and value.attr.value == "epoch" and _history_like(event, value.value)


def _last_csv_epoch(facts: ModuleFacts, node: cst.BaseExpression) -> bool:
    if not any(c.detail.get("api") == "keras.callbacks.CSVLogger" for c in facts.of_kind("create")):
        return False
    text = " ".join(source_of(_unwrap(node)).split())
    return bool(_CSV_LAST_EPOCH.search(text)) and "read_csv" in facts.source


def _epoch_checkpoints(facts: ModuleFacts) -> bool:
    """The script names its checkpoints with ModelCheckpoint's 1-based `{epoch}` at epoch level,
    and saves no other templated file names (whose numbering could be 0-based)."""
    named = False
    for create in facts.of_kind("create"):
        if create.detail.get("api") != "keras.callbacks.ModelCheckpoint" or create.call is None:
            continue
        path = create.detail.get("path") or ""
        source = source_of(create.call.args[0].value) if create.call.args else ""
        if "{epoch" not in path and "{epoch" not in source:
            continue
        freq = argument(create.call, "save_freq", 7)
        if freq is not None and isinstance(literal_value(freq.value), int):
            return False  # batch-level saves name an unfinished epoch: no fixed rule applies
        named = True
    if not named:
        return False
    return not any("{" in (e.detail.get("path") or "") for e in facts.of_kind("save"))


def _parsed_number(facts: ModuleFacts, event: Event, node: cst.BaseExpression, hops: int = 0) -> bool:
    """An int parsed out of a file name (through names and the module's own functions)."""
    if hops > _MAX_HOPS:
        return False
    if isinstance(node, cst.Name):
        bound = bound_nodes(event, node)
        return any(b is not node and _parsed_number(facts, event, b, hops + 1) for b in bound)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in facts.classes:
        return False
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("max", "min") \
            and len(node.args) == 1:
        return _parsed_number(facts, event, node.args[0].value, hops + 1) or _looks_parsed(node)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
        fn = _function(facts, node.func.value)
        if fn is not None:
            returns = [r.value for r in _returns(fn) if r.value is not None]
            return bool(returns) and all(_parsed_number(facts, event, r, hops + 1) or _is_zero(r) for r in returns) \
                and any(not _is_zero(r) for r in returns)
    return _looks_parsed(node)


def _is_zero(node: cst.BaseExpression) -> bool:
    return literal_value(node) == 0


def _looks_parsed(node: cst.BaseExpression) -> bool:
    text = source_of(node)
    return "int(" in text and any(m in text for m in _PARSE_MARKERS)


def _function(facts: ModuleFacts, name: str) -> cst.FunctionDef | None:
    for stmt in facts.module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


def _returns(fn: cst.FunctionDef) -> list[cst.Return]:
    found: list[cst.Return] = []

    class _Visitor(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is fn  # not into nested functions

        def visit_Return(self, node: cst.Return) -> None:
            found.append(node)

    fn.visit(_Visitor())
    return found


def _file_name_shift(facts: ModuleFacts, event: Event, node: cst.BaseExpression) -> int | None:
    """+1 or -1 when `node` is `<number parsed from a checkpoint name> ± 1`."""
    if not isinstance(node, cst.BinaryOperation) or not isinstance(node.operator, (cst.Add, cst.Subtract)):
        return None
    if literal_value(node.right) != 1:
        return None
    if not _parsed_number(facts, event, node.left):
        return None
    return 1 if isinstance(node.operator, cst.Add) else -1


def check(facts: ModuleFacts) -> Iterator[Hit]:
    epoch_names: bool | None = None
    for train in facts.of_kind("train"):
        method, call = train.detail.get("method"), train.call
        if method not in INITIAL_EPOCH_POSITION or call is None or has_star_args(call):
            continue
        initial = argument(call, "initial_epoch", INITIAL_EPOCH_POSITION[method])
        if initial is None:
            continue
        for node in bound_nodes(train, initial.value):
            if _last_history_epoch(train, node) or _last_csv_epoch(facts, node):
                yield Hit(
                    call,
                    "`initial_epoch` is the last entry of the epoch log, a 0-based index: one less than "
                    "the epochs already finished, so the last finished epoch is trained again and "
                    "epoch-indexed learning-rate schedules and callbacks lag one epoch behind the "
                    "optimizer's step counter. Pass that entry `+ 1` (or `len(history.epoch)`). "
                    + RESUME_GUARD,
                )
                break
            if epoch_names is None:
                epoch_names = _epoch_checkpoints(facts)
            shift = _file_name_shift(facts, train, node) if epoch_names else None
            if shift is not None:
                effect = ("the last finished epoch is trained again" if shift < 0 else
                          "one epoch is skipped")
                yield Hit(
                    call,
                    f"`initial_epoch` is the epoch parsed from a ModelCheckpoint `{{epoch}}` file name "
                    f"{'minus' if shift < 0 else 'plus'} one, but ModelCheckpoint already writes the number "
                    f"of finished epochs (`epoch + 1`): {effect}, and epoch-indexed learning-rate "
                    "schedules and callbacks drift one epoch away from the optimizer's step counter. "
                    "Pass the parsed number unchanged. " + RESUME_GUARD,
                )
                break


RULE = Rule(
    code="LR003",
    name="initial-epoch-off-by-one",
    severity=Severity.WARNING,
    summary="`initial_epoch` from `history.epoch[-1]` or a `{epoch}` file name with a stray ±1",
    check=check,
    tokens=("initial_epoch",),
)
