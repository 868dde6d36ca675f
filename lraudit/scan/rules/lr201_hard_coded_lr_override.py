"""LR201 hard-coded-lr-override: a constant is written over the optimizer's learning rate."""

from __future__ import annotations

import re
from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.literals import source_of
from lraudit.scan.model import ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import (
    has_schedule,
    in_callback,
    is_constant,
    resumes_near,
)
from lraudit.scan.rules.evidence import resume_evidence

# `args.lr`, `FLAGS.learning_rate`, `config.LR`: a value fixed for the whole run (the command
# line's or the config's initial rate), as constant as a literal for this rule.
_RUN_OPTION = re.compile(r"(?:args|opts?|options|flags|FLAGS|config|cfg|hparams|params|hp)\.\w*(?:lr|rate)\w*",
                         re.IGNORECASE)


def _constant_text(facts: ModuleFacts, event) -> str:
    values = sorted({event.objs[i].value for i in event.detail["value"] if i in event.objs})
    return ", ".join(repr(v) for v in values)


def _run_option(write) -> str | None:
    node = write.detail.get("value_node")
    text = source_of(node) if node is not None else ""
    return text if _RUN_OPTION.fullmatch(text) else None


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for write in facts.of_kind("lr_write"):
        resumes = resumes_near(facts, write)
        option = None
        if not is_constant(write, write.detail["value"]):
            option = _run_option(write)
            if option is None or not any(facts.resumed(o) for o in write.states()):
                continue  # an option's rate matters only where it replaces a restored one
        if in_callback(facts, write):
            continue  # a callback that sets the rate is a schedule of its own (LR401 territory)
        if write.loop_depth and write.if_depth:
            continue  # a hand-written step schedule inside the training loop, not an override
        opts = list(write.states())
        restored = any(facts.resumed(o) for o in opts)
        scheduled = any(has_schedule(facts, o, write.objs) for o in opts)
        if not (restored or scheduled or resumes):
            continue  # a script that never resumes: the constant is just its rate (or its schedule)
        value = f"`{option}` (the run's initial rate)" if option else _constant_text(facts, write)
        if scheduled and write.detail.get("style") == "attribute":
            effect = (f"sets the learning rate to the constant {value} on an optimizer driven by a "
                      "LearningRateSchedule: Keras 3 and Keras 2.11-2.15 raise TypeError (the rate "
                      "of a schedule is not settable)")
        elif scheduled:
            effect = (f"sets the learning rate to the constant {value} on an optimizer driven by a "
                      "LearningRateSchedule: Keras 3 raises TypeError; Keras 2.11-2.15 writes it and "
                      "recomputes the rate from the schedule at the next step, so the line silently "
                      "has no effect")
        elif restored:
            restore = next(r for o in opts for r in facts.resumed(o))
            effect = (f"sets the learning rate to the constant {value} after the optimizer was restored, "
                      "so the resumed run trains at that value instead of the rate the checkpoint held."
                      + resume_evidence(facts, restore).sentence(restore).rstrip("."))
        else:
            effect = (f"hard-codes the learning rate to {value} in a script that resumes; on a path where "
                      "the optimizer was restored, the run gets this value instead of the rate the "
                      "checkpoint held")
        yield Hit(
            write.node,
            f"This line {effect}. Put the rate in the optimizer's `learning_rate` (a float or a "
            "LearningRateSchedule) when it is built, and let the restored optimizer keep its value.",
            severity=Severity.ERROR if (restored or scheduled) else None,
        )


RULE = Rule(
    code="LR201",
    name="hard-coded-lr-override",
    severity=Severity.WARNING,
    summary="a constant written into the optimizer's learning rate",
    check=check,
    tokens=("lr", "learning_rate"),
)
