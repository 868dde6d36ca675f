"""LR302 schedule-not-registered: `load_model()` cannot find the script's custom schedule class."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import keyword, source_of
from lraudit.scan.model import ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.schedules import (
    is_registered,
    schedule_classes,
    used_by_an_optimizer,
)

# Registration other than the decorator: a scope or the global custom-object table.
_OTHER_REGISTRATION = ("custom_object_scope", "CustomObjectScope", "get_custom_objects")


def _covered_by_custom_objects(call: cst.Call, name: str) -> bool:
    arg = keyword(call, "custom_objects")
    if arg is None:
        return False
    if isinstance(arg.value, cst.Dict):
        return name in source_of(arg.value)
    return True  # a variable: assume it holds what is needed


def check(facts: ModuleFacts) -> Iterator[Hit]:
    if any(token in facts.source for token in _OTHER_REGISTRATION):
        return
    # Without a get_config the save already fails (LR301); registering would not help.
    unregistered = [s.name for s in schedule_classes(facts)
                    if not is_registered(facts, s) and used_by_an_optimizer(facts, s.name)
                    and (s.method("get_config") is not None or not s.direct)]
    if not unregistered:
        return
    for restore in facts.of_kind("restore"):
        call = restore.call
        if restore.detail.get("source") != "load_model" or call is None or restore.detail.get("compile_false"):
            continue
        missing = [n for n in unregistered if not _covered_by_custom_objects(call, n)]
        if not missing:
            continue
        name = missing[0]
        yield Hit(
            call,
            f"`load_model()` cannot rebuild the optimizer's custom learning-rate schedule `{name}`: the "
            "class is neither registered nor passed in `custom_objects`, so loading fails (Keras 3: "
            "TypeError, Keras 2: unknown object), and the usual way out, `compile=False` plus a new "
            "optimizer, restarts the schedule from step 0. Decorate the class with "
            "`@keras.saving.register_keras_serializable()` or pass "
            f"`custom_objects={{\"{name}\": {name}}}`.",
        )


RULE = Rule(
    code="LR302",
    name="schedule-not-registered",
    severity=Severity.WARNING,
    summary="a custom schedule that `load_model()` cannot deserialize (not registered, no `custom_objects`)",
    check=check,
    tokens=("LearningRateSchedule",),
)
