"""LR301 schedule-missing-get-config: a custom schedule that cannot be saved, or saves wrong.

Reported only in a module that saves whole models (the optimizer, and so the schedule, is
serialised then); a schedule used only with weights or `tf.train.Checkpoint` never needs it.
"""

from __future__ import annotations

import re
import warnings
from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.model import ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import full_model_checkpoints, is_full_model_save
from lraudit.scan.rules.schedules import ScheduleClass, schedule_classes


def _config_keys(fn: cst.FunctionDef) -> set[str] | None:
    """The keys `get_config` returns when it returns one dict literal (or a name built from
    dict literals and `.update({...})`); None when they cannot be read."""
    dicts: dict[str, set[str]] = {}
    returned: list[cst.BaseExpression] = []
    unreadable = False

    def literal_keys(node: cst.BaseExpression) -> set[str] | None:
        if not isinstance(node, cst.Dict):
            return None
        keys = set()
        for el in node.elements:
            if not isinstance(el, cst.DictElement) or not isinstance(el.key, cst.SimpleString):
                return None
            with warnings.catch_warnings():  # "\d" in a key: the user's warning, not ours
                warnings.simplefilter("ignore")
                keys.add(el.key.evaluated_value)
        return keys

    class _Visitor(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is fn

        def visit_Assign(self, node: cst.Assign) -> None:
            nonlocal unreadable
            if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
                keys = literal_keys(node.value)
                if keys is None:
                    unreadable = True
                else:
                    dicts[node.targets[0].target.value] = keys

        def visit_Call(self, node: cst.Call) -> None:
            nonlocal unreadable
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "update" and isinstance(func.value, cst.Name):
                keys = literal_keys(node.args[0].value) if len(node.args) == 1 and node.args[0].keyword is None \
                    else None
                if keys is None or func.value.value not in dicts:
                    unreadable = True
                else:
                    dicts[func.value.value] |= keys

        def visit_Return(self, node: cst.Return) -> None:
            if node.value is not None:
                returned.append(node.value)

    fn.visit(_Visitor())
    if unreadable or len(returned) != 1:
        return None
    value = returned[0]
    if isinstance(value, cst.Name):
        return dicts.get(value.value)
    return literal_keys(value)


def _init_params(sched: ScheduleClass) -> list[str]:
    init = sched.method("__init__")
    if init is None:
        return []
    params = list(init.params.posonly_params) + list(init.params.params)
    return [p.name.value for p in params[1:]] + [p.name.value for p in init.params.kwonly_params]


def _calls_base_get_config(fn: cst.FunctionDef) -> bool:
    text = cst.Module(body=[]).code_for_node(fn.body)
    return bool(re.search(r"super\([^)]*\)\s*\.\s*get_config\s*\(|LearningRateSchedule\.get_config\(", text))


def _problem(sched: ScheduleClass) -> str | None:
    get_config = sched.method("get_config")
    if get_config is None:
        if not sched.direct:
            return None  # inherits a built-in schedule's get_config (maybe incomplete: not provable)
        return "defines no `get_config()`"
    if sched.direct and sched.defines_here("get_config") and _calls_base_get_config(get_config) \
            and len(sched.chain) == 1:
        return "calls `super().get_config()`, which `LearningRateSchedule` does not implement"
    if sched.method("from_config") is not None:
        return None  # a custom from_config may map keys any way it likes
    keys = _config_keys(get_config)
    if keys is None:
        return None
    # `name` only labels the schedule; leaving it out changes no learning rate.
    missing = [p for p in _init_params(sched) if p not in keys and p != "name"]
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        return f"returns a `get_config()` without the constructor parameter(s) {names}"
    return None


def check(facts: ModuleFacts) -> Iterator[Hit]:
    classes = schedule_classes(facts)
    if not classes:
        return
    saves = [e for e in facts.of_kind("save") if is_full_model_save(facts, e)] + full_model_checkpoints(facts)
    if not saves:
        return
    built = {o.api for o in facts.objs.values() if o.api}
    for sched in classes:
        if sched.name not in built:
            continue  # defined, never used here: whoever saves it is elsewhere
        problem = _problem(sched)
        if problem is None:
            continue
        crash = "defines no" in problem or "super()" in problem
        effect = ("saving the model raises NotImplementedError (with ModelCheckpoint, at the end of the "
                  "first epoch), and the usual way out, saving weights only or reloading with "
                  "`compile=False`, loses the optimizer so the learning-rate schedule restarts"
                  if crash else
                  "the reloaded model rebuilds the schedule without them: loading fails on a missing "
                  "argument, or the learning rate silently follows the defaults instead of the "
                  "trained schedule")
        yield Hit(
            sched.node.name,
            f"Learning-rate schedule `{sched.name}` {problem}: {effect}. Return every constructor "
            "argument from `get_config()` (plain Python values), e.g. "
            "`return {\"warmup_steps\": self.warmup_steps, ...}`.",
        )


RULE = Rule(
    code="LR301",
    name="schedule-missing-get-config",
    severity=Severity.ERROR,
    summary="a custom `LearningRateSchedule` without a complete `get_config()` in a script that saves models",
    check=check,
    tokens=("LearningRateSchedule",),
)
