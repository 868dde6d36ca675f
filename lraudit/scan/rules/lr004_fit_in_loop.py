"""LR004 fit-in-loop: every `fit()` call in a Python loop starts again at epoch 0.

Only reported when something reads the epoch index to set the learning rate: a
`LearningRateScheduler`, or a callback class of the module's own whose `on_epoch_*` method
writes the rate.  Without such a consumer the restart only renumbers the logs.  Loops that
build a new model each time (cross-validation, hyper-parameter sweeps) or compile a new
optimizer each time start fresh runs on purpose and are not reported.
"""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import argument, has_star_args
from lraudit.scan.model import Event, ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import (INITIAL_EPOCH_POSITION, constant_ints, epoch_lr_callbacks,
                                       initial_epoch_ids, parameter_default_ids)
from lraudit.scan.rules.counters import rebound


def _fresh_each_iteration(facts: ModuleFacts, train: Event) -> bool:
    """The model, or its optimizer, is created anew inside the loop: each fit() is a new run."""
    first_id, first_event = train.loop_start  # type: ignore[misc]
    for m in train.targets:
        model = train.objs.get(m)
        if model is None:
            continue
        if m >= first_id and model.node is not None:  # built by a call in the loop (not a free name)
            return True
        if any(o >= first_id and o in train.objs and train.objs[o].fresh and train.objs[o].api
               for o in model.optimizers):  # a new optimizer built in the loop
            return True
    return any(e.kind == "compile" and e.targets & train.targets
               for e in facts.events[first_event:train.index])


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for train in facts.of_kind("train"):
        method, call = train.detail.get("method"), train.call
        if not train.loop_start or method not in INITIAL_EPOCH_POSITION or call is None or has_star_args(call):
            continue
        initial = argument(call, "initial_epoch", INITIAL_EPOCH_POSITION[method])
        if initial is not None:
            if constant_ints(train, initial_epoch_ids(train), parameter_default_ids(facts)) is None:
                continue  # computed: assume it advances with the loop
            if isinstance(initial.value, cst.Name) and rebound(facts.module, call, initial.value.value):
                continue  # `done = 0 ... done += n`: advances, later in the loop body
        known, unknown = epoch_lr_callbacks(facts, train)
        if not (known or unknown) or _fresh_each_iteration(facts, train):
            continue
        given = "a constant `initial_epoch`" if initial is not None else "no `initial_epoch`"
        advice = ("Call `fit()` once with the total `epochs`, or pass `initial_epoch=<epochs done so "
                  "far>` and `epochs=<that + this chunk>` on each call.")
        if known:
            yield Hit(
                call,
                f"`{method}()` runs inside a loop with {given}: every call starts again at epoch 0, "
                f"so `{known[0]}` sets the learning rate for epoch 0, 1, ... on each pass and the "
                f"rate never follows the schedule past the first call. {advice}",
            )
        else:
            yield Hit(
                call,
                f"`{method}()` runs inside a loop with {given}: every call starts again at epoch 0. "
                f"If the function given to `{unknown[0]}` (defined outside this file) uses its "
                "epoch argument, it sets the rate for epoch 0, 1, ... again on each pass. "
                f"{advice}",
                severity=Severity.INFO,
            )


RULE = Rule(
    code="LR004",
    name="fit-in-loop",
    severity=Severity.WARNING,
    summary="`fit()` in a Python loop without an advancing `initial_epoch`",
    check=check,
    tokens=("fit",),
)
