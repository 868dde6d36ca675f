"""LR104 unchecked-restore: a `tf.train.Checkpoint` restore whose outcome nobody checks.

`Checkpoint.restore()` matches what it can and stays silent about the rest: an optimizer that
is missing from the file (or from the Checkpoint) keeps its fresh state, and `restore(None)`
(no checkpoint found) restores nothing at all.  Only the returned status can tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import source_of
from lraudit.scan.model import OPTIMIZER, STATUS, Event, ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import RESUME_GUARD

_ASSERTS = ("assert_consumed", "assert_existing_objects_matched", "assert_nontrivial_match",
            "initialize_or_restore")
# The script checks what came back another way: an assertion on the optimizer's counter.
_COUNTER_CHECK = re.compile(r"\bassert\w*\b[^\n]*\biterations\b|\biterations\b[^\n]*\bassert", re.IGNORECASE)


@dataclass
class _Use:
    """How the status a restore returns is used: discarded, kept in a name, or handed on."""

    discarded: bool = False
    name: str | None = None
    escapes: bool = False


def _checks(facts: ModuleFacts) -> dict[int, set[str]]:
    """Restore event index -> status methods called on what it returned."""
    out: dict[int, set[str]] = {}
    for check in facts.of_kind("status_check"):
        for i in check.targets:
            status = check.objs.get(i)
            if status is not None and status.kind == STATUS:
                for index in status.members:
                    out.setdefault(index, set()).add(check.detail.get("method", ""))
    return out


def _uses(module: cst.Module, calls: set[int]) -> dict[int, _Use]:
    """For each restore call: is its result discarded, bound to a name, or passed on?"""
    out: dict[int, _Use] = {}

    def outermost(node: cst.BaseExpression) -> cst.BaseExpression:
        """`ckpt.restore(p).expect_partial()` -> the restore call, when it starts the chain."""
        while isinstance(node, cst.Call) and id(node) not in calls and isinstance(node.func, cst.Attribute):
            node = node.func.value
        return node

    class _Visitor(cst.CSTVisitor):
        def visit_Expr(self, node: cst.Expr) -> None:
            inner = outermost(node.value)
            if id(inner) in calls:
                out[id(inner)] = _Use(discarded=True)

        def visit_Assign(self, node: cst.Assign) -> None:
            inner = outermost(node.value)
            if id(inner) in calls:
                target = node.targets[0].target if len(node.targets) == 1 else None
                out[id(inner)] = _Use(name=target.value) if isinstance(target, cst.Name) else _Use(escapes=True)

    module.visit(_Visitor())
    return out


def _name_escapes(module: cst.Module, name: str) -> bool:
    """The status name is returned, stored, or passed to a call other than its own methods."""
    escapes = False

    class _Visitor(cst.CSTVisitor):
        def visit_Return(self, node: cst.Return) -> None:
            nonlocal escapes
            if node.value is not None and name in source_of(node.value).replace(".", " ").split():
                escapes = True

        def visit_Arg(self, node: cst.Arg) -> None:
            nonlocal escapes
            if isinstance(node.value, cst.Name) and node.value.value == name:
                escapes = True

        def visit_Assign(self, node: cst.Assign) -> None:
            nonlocal escapes
            if isinstance(node.value, cst.Name) and node.value.value == name:
                escapes = True

    module.visit(_Visitor())
    return escapes


def _latest_unguarded(restore: Event) -> bool:
    call = restore.call
    first = source_of(call.args[0].value) if call is not None and call.args else ""
    return "latest_checkpoint" in first and not restore.conditional


def _low_risk(facts: ModuleFacts, restore: Event) -> bool:
    """The Checkpoint tracks an optimizer, and a missing file cannot slip through (the restore
    runs only when a checkpoint was found, or this script writes that same checkpoint): the
    unchecked status can only hide a checkpoint left by an older version of the script.
    Reported as info."""
    if _latest_unguarded(restore):
        return False
    if not any(restore.objs[i].kind == OPTIMIZER for i in restore.targets if i in restore.objs):
        return False
    if restore.conditional and any("latest" in g or "exist" in g for g in restore.guards):
        return True  # `if manager.latest_checkpoint:` - the no-checkpoint case is handled
    ckpts = set(restore.detail.get("checkpoint") or ())
    for save in facts.of_kind("save"):
        if save.detail.get("source") != "checkpoint":
            continue
        for i in save.targets:
            o = save.objs.get(i)
            if i in ckpts or (o is not None and set(o.members) & ckpts):
                return True
    return False


def _message(facts: ModuleFacts, restore: Event, methods: set[str]) -> str:
    latest = _latest_unguarded(restore)
    trains_fit = any(True for _ in facts.after(restore, "train"))
    what = ("`.expect_partial()` silences the restore's report" if "expect_partial" in methods
            else "the status `restore()` returns is never checked")
    none = (" When no checkpoint exists yet, `latest_checkpoint` is None and `restore(None)` restores "
            "nothing, so a wrong directory also trains from scratch without a word." if latest else "")
    guard = " " + RESUME_GUARD if trains_fit else ""
    return (f"{what}: if the checkpoint lacks the optimizer (or the Checkpoint does not track it), its "
            "step counter stays 0 and the learning-rate schedule restarts silently." + none +
            " Check the restore: `ckpt.restore(path).assert_existing_objects_matched()` (or "
            "`assert_consumed()`)." + guard)


def check(facts: ModuleFacts) -> Iterator[Hit]:
    if not any(True for _ in facts.of_kind("train", "step")):
        return  # evaluation or export scripts may restore partially on purpose
    restores = [e for e in facts.of_kind("restore") if e.detail.get("source") == "checkpoint"
                and e.call is not None and isinstance(e.call.func, cst.Attribute)
                and e.call.func.attr.value in ("restore", "read")]
    if not restores:
        return
    if _COUNTER_CHECK.search(facts.source):
        return  # the script asserts on the optimizer's counter itself
    checks = _checks(facts)
    uses = _uses(facts.module, {id(e.call) for e in restores})
    reported: set[int] = set()
    for restore in restores:
        if id(restore.call) in reported:
            continue
        methods = checks.get(restore.index, set())
        if any(m in _ASSERTS for m in methods):
            continue
        if not any(True for _ in facts.after(restore, "train", "step")):
            continue  # nothing trains after it: a restore to evaluate or predict
        use = uses.get(id(restore.call))
        if use is None or use.escapes:
            continue  # returned or handed on: checked elsewhere, perhaps
        if use.name is not None and "expect_partial" not in methods and _name_escapes(facts.module, use.name):
            continue
        reported.add(id(restore.call))
        yield Hit(restore.call, _message(facts, restore, methods),
                  severity=Severity.INFO if _low_risk(facts, restore) else None)


RULE = Rule(
    code="LR104",
    name="unchecked-restore",
    severity=Severity.WARNING,
    summary="`Checkpoint.restore()` in a training script whose status is never asserted",
    check=check,
    tokens=("restore", ".read("),
)
