"""LR204 scheduler-overrides-plateau: an absolute LearningRateScheduler undoes ReduceLROnPlateau."""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.model import ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import callback_kinds, scheduler_function, uses_name


def _absolute(fn) -> bool:
    """The schedule function computes the rate from the epoch alone: its second parameter (the
    current rate, which carries the plateau's reduction) is missing or unused."""
    params = list(fn.params.posonly_params) + list(fn.params.params)
    return len(params) < 2 or not uses_name(fn.body, params[1].name.value)


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for train in facts.of_kind("train"):
        kinds = callback_kinds(facts, train)
        if "keras.callbacks.ReduceLROnPlateau" not in kinds.values():
            continue
        for i, kind in kinds.items():
            if kind != "keras.callbacks.LearningRateScheduler":
                continue
            fn = scheduler_function(facts, train.objs[i].node)
            if fn is None or not _absolute(fn):
                continue
            yield Hit(
                train.node,
                "`LearningRateScheduler` and `ReduceLROnPlateau` both set the learning rate in this "
                "`fit()`, and the scheduler's function computes the rate from the epoch alone (it "
                "ignores the current rate): at the start of every epoch it overwrites the rate that "
                "`ReduceLROnPlateau` lowered, so a plateau reduction lasts less than one epoch and the "
                "run never trains at the reduced rate. Use one mechanism, or let the function scale the "
                "rate it is given (`lambda epoch, lr: lr * 0.9 if epoch >= 10 else lr`).",
            )
            break


RULE = Rule(
    code="LR204",
    name="scheduler-overrides-plateau",
    severity=Severity.WARNING,
    summary="an absolute `LearningRateScheduler` beside `ReduceLROnPlateau` undoes every reduction",
    check=check,
    tokens=("ReduceLROnPlateau",),
)
