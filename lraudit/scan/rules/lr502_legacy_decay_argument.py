"""LR502 legacy-decay-argument: `decay=` on a Keras optimizer.

Keras 2's legacy optimizers decay the rate as `lr / (1 + decay * iterations)`, driven by the
optimizer's step counter; Keras 3 ignores the argument with a mere warning.  The autofix
writes the schedule that computes exactly that, `InverseTimeDecay(lr, decay_steps=1,
decay_rate=decay)`: unsafe, because on Keras 3 it changes behaviour (which is the point).
"""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import argument, keyword, literal_value
from lraudit.scan.model import SCHEDULE, ModuleFacts, Obj
from lraudit.scan.names import Flavour
from lraudit.scan.rules import FixSpec, Hit, Rule
from lraudit.scan.rules.migration import (
    inverse_time_decay_spelling,
    is_legacy,
    optimizer_constructions,
    source_of,
)

_EQUIVALENT = ("`learning_rate=InverseTimeDecay(<lr>, decay_steps=1, decay_rate=<decay>)` computes exactly "
               "the same rate on every Keras version and resumes with the optimizer's step counter")


def _resumes(facts: ModuleFacts) -> bool:
    return any(facts.is_resume(r) for r in facts.of_kind("restore"))


def _severity(facts: ModuleFacts, obj: Obj) -> tuple[Severity | None, str]:
    """(severity or None for silent, what happens) for this file's flavour."""
    ignored = ("Keras 3 ignores `decay=` (with only a UserWarning): the learning rate stays constant "
               "instead of decaying")
    ignored_if = ("If this runs on Keras 3, `decay=` is ignored (with only a UserWarning) and the learning "
                  "rate stays constant instead of decaying")
    tied = ("`decay=` divides the learning rate by `1 + decay * optimizer.iterations`: it follows the "
            "optimizer's step counter, not the epoch, so a resume that loses the optimizer state jumps "
            "back to the initial rate")
    refused = "Keras 2.11-2.15's new optimizers refuse it with a ValueError"
    if is_legacy(obj.api):
        # the legacy classes honour it; only a resume that also loses the optimizer (LR101/LR102) hurts
        return (Severity.INFO, tied + ", and Keras 3 ignores the argument") if _resumes(facts) else (None, "")
    if facts.flavour is Flavour.KERAS2:
        return ((Severity.INFO, f"{tied} (Keras 2 before 2.11; {refused}), and Keras 3 ignores the argument")
                if _resumes(facts) else (None, ""))
    if facts.flavour is Flavour.KERAS3:
        return Severity.WARNING, ignored
    if _resumes(facts):
        return Severity.WARNING, f"{ignored}; on Keras 2, {tied} ({refused})"
    return Severity.INFO, ignored_if


def _name_in_use(module: cst.Module, name: str) -> bool:
    """Is `name` read or bound anywhere as a plain name (attribute names do not count)?"""
    attrs: set[int] = set()
    used = False

    class _Visitor(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            attrs.add(id(node.attr))

        def visit_Name(self, node: cst.Name) -> None:
            nonlocal used
            if node.value == name and id(node) not in attrs:
                used = True

    module.visit(_Visitor())
    return used


def _import_schedules(facts: ModuleFacts) -> tuple[cst.ImportFrom, cst.ImportFrom] | None:
    """`from x.keras.optimizers import SGD` -> the same import with `schedules` added, when no
    other spelling of the schedules module exists and the name `schedules` is free."""
    if "schedules" in facts.imports.aliases or _name_in_use(facts.module, "schedules"):
        return None
    for stmt in facts.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.ImportFrom) or small.relative or isinstance(small.names, cst.ImportStar):
                continue
            module = source_of(small.module) if small.module is not None else ""
            top = module.split(".")[0]
            if top not in ("keras", "tensorflow", "tf_keras") or not module.endswith("optimizers"):
                continue
            names = list(small.names)
            last = names[-1]
            new_last = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            added = cst.ImportAlias(name=cst.Name("schedules"), comma=last.comma)
            return small, small.with_changes(names=[*names[:-1], new_last, added])
    return None


def _fix(facts: ModuleFacts, call: cst.Call, decay: cst.Arg, obj: Obj) -> FixSpec | None:
    rate = argument(call, "learning_rate", 0) or keyword(call, "lr")
    if rate is None or rate.star:
        return None  # the default rate differs between versions: do not guess it
    if any(i in facts.objs and facts.objs[i].kind == SCHEDULE for i in obj.lr):
        return None  # decay on top of a schedule: no single built-in schedule equals that
    spelling = inverse_time_decay_spelling(facts, call.func)
    extra: tuple = ()
    if spelling is None:
        imported = _import_schedules(facts)
        if imported is None:
            return None
        spelling = "schedules.InverseTimeDecay"
        extra = (imported,)
    schedule = cst.parse_expression(
        f"{spelling}({source_of(rate.value).strip()}, decay_steps=1, decay_rate={source_of(decay.value).strip()})")
    args = list(call.args)
    index_decay = args.index(decay)
    new_rate = rate.with_changes(value=schedule, keyword=cst.Name("learning_rate") if rate.keyword else None)
    out = []
    for i, a in enumerate(args):
        if i == index_decay:
            continue
        out.append(new_rate if a is rate else a)
    if index_decay == len(args) - 1 and out:
        out[-1] = out[-1].with_changes(comma=decay.comma)  # keep the call's trailing-comma style
    return FixSpec("unsafe", ((call, call.with_changes(args=out)),) + extra,
                   "replace `decay=` with an equivalent InverseTimeDecay schedule")


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for call, obj in optimizer_constructions(facts):
        decay = keyword(call, "decay")
        if decay is None or literal_value(decay.value) in (0, 0.0, None):
            continue
        severity, effect = _severity(facts, obj)
        if severity is None:
            continue
        yield Hit(
            decay,
            f"{effect}. {_EQUIVALENT[0].upper()}{_EQUIVALENT[1:]}.",
            severity=severity,
            fix=_fix(facts, call, decay, obj),
        )


RULE = Rule(
    code="LR502",
    name="legacy-decay-argument",
    severity=Severity.WARNING,
    summary="the legacy `decay=` optimizer argument (ignored by Keras 3, tied to the step counter in Keras 2)",
    check=check,
    tokens=("decay=", "decay ="),
    fixable=True,
)
