"""LR202 lr-callback-with-schedule: a rate-setting callback on an optimizer that has a schedule.

A `LearningRateSchedule` owns the rate: Keras 3 refuses to set it (TypeError), Keras 2.11-2.15
lets the callback write it and recomputes it from the schedule at the next step (the callback
silently does nothing), and older Keras 2 fails converting the schedule to a float.
"""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.model import ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import callback_kinds, has_schedule

_SETTERS = {"keras.callbacks.LearningRateScheduler": "LearningRateScheduler",
            "keras.callbacks.ReduceLROnPlateau": "ReduceLROnPlateau"}


def _schedule_name(train, opt) -> str:
    for i in opt.lr:
        o = train.objs.get(i)
        if o is not None and o.api:
            return o.api.rsplit(".", 1)[-1]
    return "LearningRateSchedule"


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for train in facts.of_kind("train"):
        kinds = callback_kinds(facts, train)
        setters = [(i, _SETTERS[k]) for i, k in kinds.items() if k in _SETTERS]
        if not setters:
            continue
        scheduled = [train.objs[o] for m in train.states() for o in m.optimizers
                     if o in train.objs and has_schedule(facts, train.objs[o], train.objs)]
        if not scheduled:
            continue
        cb_id, cb_name = setters[0]
        node = train.objs[cb_id].node or train.node
        schedule = _schedule_name(train, scheduled[0])
        yield Hit(
            node,
            f"`{cb_name}` sets the learning rate of an optimizer driven by the schedule `{schedule}`: Keras 3 "
            "raises TypeError (the rate is not settable), Keras 2.11-2.15 silently recomputes the rate "
            "from the schedule at the next step so the callback has no effect, and older Keras 2 "
            "fails. Use one mechanism: either the schedule (step-based, resumes with the optimizer) "
            "or a float `learning_rate` with the callback.",
        )


RULE = Rule(
    code="LR202",
    name="lr-callback-with-schedule",
    severity=Severity.ERROR,
    summary="`LearningRateScheduler`/`ReduceLROnPlateau` on an optimizer with a `LearningRateSchedule`",
    check=check,
    tokens=("LearningRateScheduler", "ReduceLROnPlateau"),
)
