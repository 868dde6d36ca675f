"""Small queries the rules share, so each rule reads like its definition."""

from __future__ import annotations

from typing import Iterable

from lraudit.scan.facts import (CONST, OPTIMIZER, SCHEDULE, Event, ModuleFacts, Obj, keyword,
                                literal_value)
from lraudit.scan.names import Flavour

WEIGHTS_ONLY_H5 = (".h5", ".hdf5")
KERAS3_SUFFIXES = (".weights.h5", ".keras", ".weights.json")


def describe_restore(event: Event) -> str:
    source = event.detail.get("source")
    return {
        "load_model": "`load_model()`",
        "load_weights": "`load_weights()`",
        "checkpoint": "`Checkpoint.restore()`",
        "backup": "`BackupAndRestore`",
    }.get(source, "a restore")


def is_legacy_h5(path: str | None) -> bool:
    """A Keras 2 style `.h5` weights file: holds layer weights only, never the optimizer."""
    if not path:
        return False
    lower = path.lower()
    return lower.endswith(WEIGHTS_ONLY_H5) and not lower.endswith(".weights.h5")


def is_keras3_file(path: str | None) -> bool:
    return bool(path) and path.lower().endswith(KERAS3_SUFFIXES)


def has_suffix(path: str | None) -> bool:
    """True when the path visibly names a file with an extension."""
    if not path:
        return False
    tail = path.replace("\\", "/").rsplit("/", 1)[-1]
    return "." in tail.strip(".{}")


def optimizers_of(facts: ModuleFacts, models: Iterable[Obj]) -> list[Obj]:
    return [facts.objs[i] for m in models for i in m.optimizers if i in facts.objs]


def has_schedule(facts: ModuleFacts, opt: Obj, objs: dict[int, Obj] | None = None) -> bool:
    """The optimizer was given a LearningRateSchedule (built-in or a local subclass)."""
    table = objs or facts.objs
    return any(i in table and table[i].kind == SCHEDULE for i in opt.lr)


def is_constant(event: Event, ids: frozenset[int]) -> bool:
    """Every value the expression may take is a numeric literal."""
    states = [event.objs.get(i) for i in ids]
    return bool(states) and all(
        s is not None and s.kind == CONST and isinstance(s.value, (int, float)) and not isinstance(s.value, bool)
        for s in states)


def trained_after(facts: ModuleFacts, event: Event, models: frozenset[int]) -> Event | None:
    for later in facts.after(event, "train"):
        if later.targets & models:
            return later
    return None


def is_plain_sgd(opt: Obj) -> bool:
    """SGD without momentum keeps no slot variables, so Keras 3's count check passes."""
    if opt.kind != OPTIMIZER or not opt.api:
        return False
    if opt.api.lower() not in ("keras.optimizers.sgd",):
        return False
    node = opt.node
    if node is None or not hasattr(node, "args"):
        return True  # compile(optimizer="sgd")
    momentum = keyword(node, "momentum")  # type: ignore[arg-type]
    return momentum is None or literal_value(momentum.value) in (0, 0.0)


def flavour_severity(facts: ModuleFacts, certain: bool, high, low):
    """The rule's severity when the Keras flavour makes it certain, a lower one otherwise."""
    return high if certain or facts.flavour is Flavour.KERAS3 else low
