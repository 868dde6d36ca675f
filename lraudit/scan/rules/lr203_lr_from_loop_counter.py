"""LR203 lr-from-loop-counter: the rate follows a Python counter that restarts at 0.

In a script that restores training state, a counter kept in a plain Python variable
(`step = 0; step += 1`, `for epoch in range(EPOCHS)`, `enumerate(dataset)`) starts over on
every process start, while the restored optimizer's `iterations` does not.
"""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import argument
from lraudit.scan.model import OPTIMIZER, Event, ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import in_callback
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


def _restores_optimizer(facts: ModuleFacts, restore: Event) -> bool:
    if restore.detail.get("source") == "load_model":
        return not restore.detail.get("compile_false")
    return any(restore.objs[i].kind == OPTIMIZER for i in restore.targets if i in restore.objs) or any(
        restore.objs[o].kind == OPTIMIZER for m in restore.targets if m in restore.objs
        for o in restore.objs[m].optimizers if o in restore.objs)


def _optimizer_resumed(facts: ModuleFacts, event: Event, module_resumes: bool) -> bool:
    """Was the optimizer whose rate (or counter) is written restored?  A fresh optimizer
    starts at step 0 like the counter (fine-tuning from restored weights); one the analysis
    cannot trace counts as restored when the module restores an optimizer somewhere."""
    known = False
    for i in event.targets:
        opt = event.objs.get(i)
        if opt is None:
            continue
        if any(r.detail.get("source") != "backup" for r in facts.resumed(opt)):
            return True
        owner = event.objs.get(opt.owner) if opt.owner is not None else None
        if opt.api or opt.restores or (owner is not None and owner.node is not None):
            known = True  # constructed here, or `<model>.optimizer` of a model made on this path
    return not known and module_resumes


def check(facts: ModuleFacts) -> Iterator[Hit]:
    resumes = [r for r in facts.of_kind("restore") if r.detail.get("source") != "backup" and facts.is_resume(r)]
    if not resumes:
        return
    module_resumes = any(_restores_optimizer(facts, r) for r in resumes)
    cache: dict[int, object] = {}
    for event in facts.of_kind("lr_write", "iterations_write"):
        if in_callback(facts, event):
            continue  # a callback's own counters: LR401
        value = _value(event)
        if value is None or not _optimizer_resumed(facts, event, module_resumes):
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
