"""LR203 lr-from-loop-counter: the rate follows a Python counter that restarts at 0.

In a script that restores training state, a counter kept in a plain Python variable
(`step = 0; step += 1`, `for epoch in range(EPOCHS)`, `enumerate(dataset)`) starts over on
every process start, while the restored optimizer's `iterations` does not.
"""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.facts import Event, ModuleFacts, argument
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.counters import bindings, counter_source, enclosing


def _value(event: Event) -> cst.BaseExpression | None:
    if event.kind == "lr_write":
        return event.detail.get("value_node")
    call = event.call
    if call is None:
        return None
    if isinstance(call.func, cst.Attribute) and call.func.attr.value == "assign":
        arg = argument(call, "value", 0)
    else:  # keras.backend.set_value(opt.iterations, value)
        arg = argument(call, "value", 1)
    return arg.value if arg is not None else None


def check(facts: ModuleFacts) -> Iterator[Hit]:
    if not any(facts.is_resume(r) for r in facts.of_kind("restore") if r.detail.get("source") != "backup"):
        return
    callbacks = {name for name, bases in facts.class_bases.items() if any(b.startswith("keras.callbacks.") for b in bases)}
    cache: dict[int, object] = {}
    for event in facts.of_kind("lr_write", "iterations_write"):
        if event.scope.split(".")[0] in callbacks:
            continue  # a callback's own counters: LR401
        value = _value(event)
        if value is None:
            continue
        scopes = enclosing(facts.module, event.node)
        found = counter_source(value, [cache.setdefault(id(s), bindings(s)) for s in scopes])  # type: ignore[misc]
        if found is None:
            continue
        what = ("the optimizer's step counter is set" if event.kind == "iterations_write"
                else "the learning rate is computed")
        yield Hit(
            event.node,
            f"Here {what} from `{found}`, a Python counter that starts at 0 every time the script "
            "starts: after a restore, warmup and decay begin again from step 0 while the restored "
            "model and optimizer carry on. Derive the rate from `optimizer.iterations` (it is saved "
            "and restored with the optimizer), or keep the counter in a `tf.Variable` tracked by the "
            "checkpoint and start the loop from its restored value.",
        )


RULE = Rule(
    code="LR203",
    name="lr-from-loop-counter",
    severity=Severity.WARNING,
    summary="the learning rate is derived from a Python counter that restarts at 0",
    check=check,
    tokens=("lr", "learning_rate", "iterations"),
)
