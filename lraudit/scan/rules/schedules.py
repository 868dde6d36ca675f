"""The module's own `LearningRateSchedule` subclasses, read syntactically (shared by LR301/LR302)."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from lraudit.scan.model import OPTIMIZER, ModuleFacts
from lraudit.scan.names import dotted_name

BASE = "keras.optimizers.schedules.LearningRateSchedule"


@dataclass(frozen=True)
class ScheduleClass:
    name: str
    node: cst.ClassDef
    chain: tuple[cst.ClassDef, ...]  # the class, then its local ancestors
    direct: bool  # derives from LearningRateSchedule itself (not from a built-in schedule)

    def method(self, name: str) -> cst.FunctionDef | None:
        for cls in self.chain:
            for stmt in cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ():
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                    return stmt
        return None

    def defines_here(self, name: str) -> bool:
        return any(isinstance(s, cst.FunctionDef) and s.name.value == name
                   for s in (self.node.body.body if isinstance(self.node.body, cst.IndentedBlock) else ()))


def schedule_classes(facts: ModuleFacts) -> list[ScheduleClass]:
    out = []
    for name, cls in facts.classes.items():
        if BASE not in facts.class_bases.get(name, ()):
            continue
        chain = [cls]
        direct = False
        current = cls
        for _ in range(8):
            parent = None
            for base in current.bases:
                dotted = dotted_name(base.value)
                if dotted in facts.classes:
                    parent = facts.classes[dotted]
                elif facts.resolve(base.value) == BASE:
                    direct = True
            if parent is None or parent in chain:
                break
            chain.append(parent)
            current = parent
        out.append(ScheduleClass(name, cls, tuple(chain), direct))
    return out


def is_registered(facts: ModuleFacts, sched: ScheduleClass) -> bool:
    for cls in sched.chain[:1]:
        for deco in cls.decorators:
            target = deco.decorator.func if isinstance(deco.decorator, cst.Call) else deco.decorator
            if facts.resolve(target) == "keras.saving.register_keras_serializable":
                return True
            if (dotted_name(target) or "").endswith("register_keras_serializable"):
                return True
    return False


def used_by_an_optimizer(facts: ModuleFacts, name: str) -> bool:
    for o in facts.objs.values():
        if o.kind == OPTIMIZER and any(i in facts.objs and facts.objs[i].api == name for i in o.lr):
            return True
    return False
