"""Shared by the Keras 3 migration rules (LR501-LR503): which calls build Keras optimizers,
how severe a Keras-3-only problem is for a file, and how the file spells Keras."""

from __future__ import annotations

import re

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import source_of
from lraudit.scan.model import OPTIMIZER, ModuleFacts, Obj
from lraudit.scan.names import Flavour, canonical
from lraudit.scan.tree import descendants

# Keras optimizers whose constructor takes `learning_rate` (positional 0) and `**kwargs`.
_NOT_CONSTRUCTORS = {"Optimizer", "LossScaleOptimizer", "TFOptimizer"}


def optimizer_constructions(facts: ModuleFacts) -> Iterator[tuple[cst.Call, Obj]]:
    """Each call that builds a Keras optimizer, once, in source order."""
    seen: set[int] = set()
    found = []
    for obj in facts.objs.values():
        node = obj.node
        if obj.kind != OPTIMIZER or not isinstance(node, cst.Call) or id(node) in seen:
            continue
        api = obj.api or ""
        if not api.startswith("keras.optimizers.") or api.rsplit(".", 1)[-1] in _NOT_CONSTRUCTORS:
            continue
        if facts.resolve(node.func) != api:
            continue  # compile(optimizer="adam") and the like: no constructor call to edit
        seen.add(id(node))
        found.append((node, obj))
    return iter(found)


def is_legacy(api: str | None) -> bool:
    """The Keras 2 optimizers that still take `lr=`: `optimizers.legacy.*` and `optimizer_v1.*`."""
    return bool(api) and (".legacy." in api or ".optimizer_v1." in api)


# `if hasattr(tf.keras.optimizers, "legacy"):` ... `else:` (no legacy module: TF <= 2.10), and
# explicit version tests: the branch for old TensorFlow runs where the old APIs are right.
_VERSION_TEST = re.compile(r"hasattr\([^)]*optimizers[^)]*['\"]legacy['\"]\)|__version__|version\.parse|"
                           r"\bVERSION\b|LooseVersion|packaging\.version")


def old_version_nodes(facts: ModuleFacts) -> set[int]:
    """ids of the nodes in branches that run only on old TensorFlow/Keras versions: the `else`
    of a `hasattr(..., "legacy")` test, or either branch of an explicit version comparison
    (which one is old cannot always be told, so both are treated as gated)."""
    memo = facts.memo.get("old_version_nodes")
    if memo is not None:
        return memo
    out: set[int] = set()
    for node in descendants(facts.module):
        if not isinstance(node, cst.If):
            continue
        test = source_of(node.test)
        if not _VERSION_TEST.search(test):
            continue
        branches = [node.orelse] if "hasattr" in test else [node.body, node.orelse]
        for branch in branches:
            if branch is not None:
                out.update(id(n) for n in descendants(branch))
    facts.memo["old_version_nodes"] = out
    return out


def keras3_severity(facts: ModuleFacts) -> Severity | None:
    """Severity of a problem that exists only under Keras 3: the rule's own (error) when the
    file targets Keras 3, a warning when the flavour is unknown, None (silent) on Keras 2."""
    if facts.flavour is Flavour.KERAS3:
        return Severity.ERROR
    if facts.flavour is Flavour.UNKNOWN:
        return Severity.WARNING
    return None


def _canonical_module(dotted: str) -> str:
    return canonical(dotted + ".X")[:-2]


def inverse_time_decay_spelling(facts: ModuleFacts, optimizer_func: cst.BaseExpression) -> str | None:
    """How this module can spell `keras.optimizers.schedules.InverseTimeDecay` with the names
    it already has: next to the optimizer it calls (`tf.keras.optimizers.SGD` ->
    `tf.keras.optimizers.schedules.InverseTimeDecay`), else through any import alias of
    tensorflow, keras, tf_keras, their optimizers or schedules module, or the class itself."""
    if isinstance(optimizer_func, cst.Attribute):
        owner = optimizer_func.value
        where = facts.resolve(owner)
        if where == "keras.optimizers":
            return f"{source_of(owner)}.schedules.InverseTimeDecay"
        if where == "keras.optimizers.legacy" and isinstance(owner, cst.Attribute):
            return f"{source_of(owner.value)}.schedules.InverseTimeDecay"
    for local, full in sorted(facts.imports.aliases.items()):
        if full == "tensorflow":
            return f"{local}.keras.optimizers.schedules.InverseTimeDecay"
        where = _canonical_module(full)
        if where == "keras" or full in ("keras", "tf_keras"):
            return f"{local}.optimizers.schedules.InverseTimeDecay"
        if where == "keras.optimizers":
            return f"{local}.schedules.InverseTimeDecay"
        if where == "keras.optimizers.schedules":
            return f"{local}.InverseTimeDecay"
        if where == "keras.optimizers.schedules.InverseTimeDecay":
            return local
    return None

