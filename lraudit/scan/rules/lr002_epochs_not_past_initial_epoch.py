"""LR002 epochs-not-past-initial-epoch: `epochs` read as a count when Keras reads it as an index."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import argument, has_star_args, source_of
from lraudit.scan.model import ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import bound_nodes, constant_ints, parameter_default_ids
from lraudit.scan.rules.counters import rebound

# (epochs, initial_epoch) positions in each training method's signature (Keras 2 and 3 agree).
POSITIONS = {"fit": (3, 11), "fit_generator": (2, 13)}


def _ids(train, arg_name: str, position: int) -> frozenset[int]:
    args = train.detail.get("args", {})
    return args.get(arg_name) or args.get(str(position)) or frozenset()


def _same(a: cst.BaseExpression, b: cst.BaseExpression) -> bool:
    return " ".join(source_of(a).split()) == " ".join(source_of(b).split())


def remaining_count(train, epochs: cst.BaseExpression, initial: cst.BaseExpression) -> cst.BaseExpression | None:
    """`epochs=total - start` with `initial_epoch=start`: the subtraction, else None."""
    for node in bound_nodes(train, epochs):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract):
            if _same(node.right, initial) or any(_same(node.right, n) for n in bound_nodes(train, initial)
                                                 if isinstance(n, cst.Name)):
                return node
    return None


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for train in facts.of_kind("train"):
        method, call = train.detail.get("method"), train.call
        if method not in POSITIONS or call is None or has_star_args(call):
            continue
        epochs_pos, initial_pos = POSITIONS[method]
        epochs_arg = argument(call, "epochs", epochs_pos)
        initial_arg = argument(call, "initial_epoch", initial_pos)
        if epochs_arg is None or initial_arg is None:
            continue
        defaults = parameter_default_ids(facts)
        starts = constant_ints(train, _ids(train, "initial_epoch", initial_pos), defaults)
        ends = constant_ints(train, _ids(train, "epochs", epochs_pos), defaults)
        changing = any(isinstance(a.value, cst.Name) and rebound(facts.module, call, a.value.value)
                       for a in (epochs_arg, initial_arg))
        if starts and ends and max(ends) <= min(starts) and not changing:
            yield Hit(
                call,
                f"`{method}(initial_epoch={min(starts)}, epochs={max(ends)})` trains no epoch at all: "
                "`epochs` is the index of the last epoch, not a count, so Keras returns at once without "
                "an error and the learning-rate schedule never moves on. Pass "
                f"`epochs={min(starts)} + <epochs to train>` (the final epoch index).",
            )
            continue
        if starts == [0] or starts is not None and all(v == 0 for v in starts):
            continue  # starting at epoch 0, a count and an index agree
        subtraction = remaining_count(train, epochs_arg.value, initial_arg.value)
        if subtraction is not None:
            total, start = source_of(subtraction.left).strip(), source_of(subtraction.right).strip()
            yield Hit(
                call,
                f"`epochs={total} - {start}` passes the number of remaining epochs, but `epochs` is the "
                f"index of the last epoch: the resumed run stops at epoch `{total} - {start}`, trains "
                f"too few epochs (none once `{start}` reaches half of `{total}`), and the learning-rate "
                f"schedule never reaches its end. Pass `epochs={total}` together with "
                f"`initial_epoch={start}`.",
            )


RULE = Rule(
    code="LR002",
    name="epochs-not-past-initial-epoch",
    severity=Severity.ERROR,
    summary="`fit(initial_epoch=a, epochs=b)` with `b <= a`, or `epochs` computed as a remaining count",
    check=check,
    tokens=("initial_epoch",),
)
