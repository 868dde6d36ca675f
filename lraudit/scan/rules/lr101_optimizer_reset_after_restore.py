"""LR101 optimizer-reset-after-restore: a new optimizer replaces the restored one."""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.literals import has_star_args
from lraudit.scan.model import OPTIMIZER, Event, ModuleFacts
from lraudit.scan.names import Flavour
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import (
    describe_restore,
    has_suffix,
    is_keras3_file,
    is_legacy_h5,
    trained_after,
)
from lraudit.scan.rules.evidence import resume_evidence

_ADVICE = ("Keep the restored optimizer: pass `optimizer=model.optimizer` (or do not recompile), "
           "and change the rate through the schedule rather than a new optimizer.")


def _restored_into_new_optimizer(facts: ModuleFacts, restore: Event, compiled_at_restore: bool) -> bool | None:
    """Does a later compile() with a new optimizer lose this restore's optimizer state?

    True: certainly; None: depends on the Keras flavour; False: the state survives or was never
    in the file.  Keras 2 TF-format `load_weights` defers the optimizer restore and binds it to
    whatever optimizer compile() creates next, so that order is safe there.
    """
    source = restore.detail.get("source")
    if source == "load_model":
        return True
    if source == "checkpoint":
        tracked = [i for i in restore.targets if i in restore.objs and restore.objs[i].kind == OPTIMIZER]
        if tracked or compiled_at_restore:
            return True
        # `tf.train.Checkpoint(model=model)` restored before the first compile(): the restore is
        # deferred, and TensorFlow fills the optimizer's variables from the checkpoint when
        # compile() and the first step create them, so the counter does come back (Keras 2).
        return None if facts.flavour is Flavour.KERAS3 else False
    if source != "load_weights":
        return False
    path = restore.detail.get("path")
    if is_legacy_h5(path):
        return False  # no optimizer in the file at all: LR102's finding, not this one
    if compiled_at_restore:
        return True
    if is_keras3_file(path) or facts.flavour is Flavour.KERAS3:
        return True  # Keras 3 drops optimizer variables loaded into an uncompiled model
    if facts.flavour is Flavour.KERAS2 or (path is not None and not has_suffix(path)):
        return False
    return None


def _new_optimizers(event: Event, ids: frozenset[int], model_optimizers: frozenset[int]) -> bool:
    for i in ids:
        opt = event.objs.get(i)
        if opt is None or i in model_optimizers:
            continue
        if opt.kind == OPTIMIZER and opt.fresh and not opt.restores:
            return True
    return False


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for event in facts.of_kind("compile", "optimizer_assign"):
        if event.call is not None and has_star_args(event.call):
            continue
        new = event.detail.get("optimizer") if event.kind == "compile" else event.detail.get("value")
        if event.kind == "compile" and event.detail.get("optimizer_node") is None:
            continue  # compile() without an optimizer argument: too ambiguous to report
        for model_id in event.targets:
            model = event.objs.get(model_id)
            if model is None:
                continue
            resumes = facts.resumed(model)
            if not resumes or not trained_after(facts, event, frozenset({model_id})):
                continue
            reset = model.compile_false and event.kind == "compile"
            if not reset and not _new_optimizers(event, new or frozenset(), model.optimizers):
                continue
            verdicts = {True} if reset else {
                _restored_into_new_optimizer(facts, r, bool(r.objs.get(model_id) and r.objs[model_id].compiled))
                for r in resumes}
            if verdicts <= {False}:
                continue
            certain = True in verdicts
            if model.compile_false and event.kind == "compile":
                what = ("`load_model(..., compile=False)` leaves the saved optimizer in the file and "
                        "`compile()` creates a fresh one")
            else:
                what = ("`compile()` with a new optimizer" if event.kind == "compile"
                        else "assigning a new `.optimizer`")
                what += f" after {describe_restore(resumes[0])} discards the restored optimizer"
            evidence = [resume_evidence(facts, r) for r in resumes]
            best = next((i for i, e in enumerate(evidence) if e.proven), 0)
            yield Hit(
                event.node,
                f"{what}: its step counter and slot variables start from zero, so the learning-rate "
                f"schedule restarts (warmup runs again, a decayed rate jumps back up). {_ADVICE}"
                + evidence[best].sentence(resumes[best]),
                severity=evidence[best].cap(Severity.ERROR) if certain else Severity.WARNING,
            )
            break


RULE = Rule(
    code="LR101",
    name="optimizer-reset-after-restore",
    severity=Severity.ERROR,
    summary="a restored model is recompiled with a new optimizer",
    check=check,
    tokens=("compile", "optimizer"),
)
