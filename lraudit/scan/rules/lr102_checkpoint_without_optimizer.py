"""LR102 checkpoint-without-optimizer: the resume source cannot hold optimizer state."""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.literals import keyword, literal_value
from lraudit.scan.model import OPTIMIZER, Event, ModuleFacts
from lraudit.scan.names import Flavour
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import (
    has_schedule,
    has_suffix,
    in_callback,
    is_legacy_h5,
    related_scopes,
    trained_after,
)
from lraudit.scan.rules.evidence import resume_evidence

_RESTARTS = ("so a resumed run starts with a fresh optimizer: the step counter and slot variables "
             "are zero and the learning-rate schedule restarts")


def _severity(facts: ModuleFacts, opts: list[int]) -> Severity:
    scheduled = any(i in facts.objs and has_schedule(facts, facts.objs[i]) for i in opts)
    return Severity.ERROR if scheduled else Severity.WARNING


def _model_optimizers(facts: ModuleFacts, models: frozenset[int]) -> list[int]:
    return [o for m in models if m in facts.objs for o in facts.objs[m].optimizers]


def _trains(facts: ModuleFacts) -> bool:
    return any(True for _ in facts.of_kind("train", "step"))


def _visible(facts: ModuleFacts, event: Event) -> set[int]:
    """Every object the names visible at `event` are bound to, and what those hold (once per
    event: the same steps are asked about for every checkpoint and restore)."""
    views = facts.memo.setdefault("visible", {})
    found = views.get(event.index)
    if found is None:
        found = views[event.index] = facts.reachable(frozenset().union(*event.env.values())) if event.env else set()
    return found


def _concerns(facts: ModuleFacts, opt: int, step: Event, event: Event) -> bool:
    """Optimizer `opt`, stepped at `step`, concerns `event` (a checkpoint made, a restore) when
    one could see the other: the optimizer, or the model it was read from (`model.optimizer`),
    is visible at `event`, or what `event` acts on is visible where the optimizer steps."""
    here = _visible(facts, event)
    return opt in here or facts.objs[opt].owner in here or bool(event.targets & _visible(facts, step))


def _checkpoints(facts: ModuleFacts) -> Iterator[Hit]:
    """`tf.train.Checkpoint(...)` that leaves out the optimizer the custom loop steps.

    Only optimizers that concern the checkpoint count (`_concerns`): a test module's methods,
    each with its own model and optimizer, say nothing about each other's checkpoints."""
    steps: list[tuple[int, Event]] = []
    for step in facts.of_kind("step"):
        for i in step.targets:
            opt = facts.objs.get(i)
            if opt is None or opt.kind != OPTIMIZER or opt.node is None:
                return  # an optimizer of unknown origin: cannot tell what it is
            steps.append((i, step))
    if not steps:
        return
    for create in facts.of_kind("create"):
        if create.detail.get("api") != "tensorflow.train.Checkpoint" or create.call is None:
            continue
        if any(a.star for a in create.call.args):
            continue
        stepped = {i for i, step in steps if _concerns(facts, i, step, create)}
        if not stepped:
            continue
        members = frozenset().union(*create.detail["args"].values()) if create.detail["args"] else frozenset()
        # and what was attached later (`ckpt.optimizer = opt`), as the final state records it
        members = members.union(*(facts.objs[c].members for c in create.targets if c in facts.objs))
        tracked = facts.reachable(members)
        # `model.optimizer` is tracked by the model: a Checkpoint holding the model holds it.
        if any(i in tracked or facts.objs[i].owner in tracked for i in stepped):
            continue
        yield Hit(
            create.call,
            "`tf.train.Checkpoint` does not track the optimizer that `apply_gradients` updates, "
            f"{_RESTARTS}. Add it: `tf.train.Checkpoint(model=model, optimizer=optimizer)`.",
            severity=_severity(facts, sorted(stepped)),
        )


def _periodic(facts: ModuleFacts, save: Event) -> bool:
    """A save that checkpoints a run as it trains (in a loop, or in a callback), as opposed to
    one file written after training, which is kept for inference as often as for resuming."""
    return save.loop_depth > 0 or in_callback(facts, save)


def _saves(facts: ModuleFacts) -> Iterator[Hit]:
    if not _trains(facts):
        return
    # `save_weights()` to a plain `.h5` is a resume checkpoint only in a script that resumes:
    # otherwise it is as likely an export, the best epoch kept for evaluation, or weights for
    # another program.  (A periodic weights-only ModelCheckpoint is the resume checkpoint.)
    restores = [r for r in facts.of_kind("restore") if facts.is_resume(r) and trained_after(facts, r, r.targets)]
    for save in facts.of_kind("save"):
        resumes = any(related_scopes(r.scope, save.scope) for r in restores)
        call = save.call
        if call is None:
            continue
        source = save.detail.get("source")
        opts = _model_optimizers(facts, save.targets)
        include = keyword(call, "include_optimizer")
        if source in ("save", "save_model") and include is not None and literal_value(include.value) is False:
            # Deliberate for an export (serving, another program); a hazard when this file is
            # what a resume reads: the script resumes, or saves like this as it trains.
            checkpoint = resumes or _periodic(facts, save)
            yield Hit(call, "The model is saved with `include_optimizer=False`, "
                            f"{_RESTARTS}. Save with the optimizer (the default) to resume from this file."
                            + ("" if checkpoint else " (This script neither resumes nor saves like "
                                                     "this while it trains: if the file is an export, "
                                                     "ignore this.)"),
                      severity=_severity(facts, opts) if checkpoint else Severity.INFO)
        elif (source == "save_weights" and is_legacy_h5(save.detail.get("path")) and _periodic(facts, save)
              and resumes):
            yield Hit(call, "`save_weights()` to a plain `.h5` file stores layer weights only, never the "
                            f"optimizer, {_RESTARTS}. Save a `.keras` model (or `.weights.h5` in Keras 3) "
                            "to resume from.",
                      severity=_severity(facts, opts))
    for create in facts.of_kind("create"):
        call = create.call
        if create.detail.get("api") != "keras.callbacks.ModelCheckpoint" or call is None:
            continue
        weights_only = keyword(call, "save_weights_only")
        best_only = keyword(call, "save_best_only")
        text = create.detail.get("path")
        if weights_only is not None and literal_value(weights_only.value) is True and is_legacy_h5(text):
            if best_only is not None and literal_value(best_only.value) is True:
                continue  # the best epoch's weights, kept to evaluate; resuming from them is LR402's
            fits = [e for e in facts.of_kind("train") if create.targets & e.detail["callbacks"]]
            if any(e.objs[i].api == "keras.callbacks.BackupAndRestore" for e in fits for i in e.detail["callbacks"]
                   if i in e.objs):
                continue  # the run resumes from its backup, optimizer included
            opts = [o for e in fits for o in _model_optimizers(facts, e.targets)]
            # Read back by a resume in this script: the hazard.  Otherwise the files may as well
            # feed evaluation or another program (a separate resume script would be the hazard).
            resumed = any(related_scopes(r.scope, create.scope) for r in restores)
            yield Hit(call, "`ModelCheckpoint(save_weights_only=True)` to a plain `.h5` file stores layer "
                            f"weights only, never the optimizer, {_RESTARTS}. Checkpoint to `.keras` "
                            "(full model) or `.weights.h5` (Keras 3) instead."
                            + ("" if resumed else " (Nothing in this script resumes from these files: if "
                                                  "they only feed evaluation, ignore this.)"),
                      severity=_severity(facts, opts) if resumed else Severity.INFO)


def _separate_optimizer(facts: ModuleFacts, restore: Event) -> int | None:
    """An optimizer a custom loop steps after `load_weights()`, which the weights file cannot
    hold: made in the script, not the restored model's compiled optimizer, never restored
    itself, and concerning this restore (`_concerns`)."""
    for step in facts.after(restore, "step"):
        for i in step.targets:
            opt = step.objs.get(i)
            if opt is None or opt.kind != OPTIMIZER or opt.node is None or not opt.fresh or opt.owner is not None:
                continue
            if opt.restores or any(i in step.objs[m].optimizers for m in restore.targets if m in step.objs):
                continue
            if _concerns(facts, i, step, restore):
                return i
    return None


def _loads(facts: ModuleFacts) -> Iterator[Hit]:
    reported: set[int] = set()  # separate optimizers already reported (one finding each)
    for restore in facts.of_kind("restore"):
        call = restore.call
        if call is None or not facts.is_resume(restore):
            continue
        trained = trained_after(facts, restore, restore.targets)
        if trained is None:
            if restore.detail.get("source") != "load_weights" or is_legacy_h5(restore.detail.get("path")):
                continue
            stepped = _separate_optimizer(facts, restore)
            if stepped is not None and stepped not in reported:
                reported.add(stepped)
                yield Hit(call, "`load_weights()` restores the model's weights only: the optimizer the custom "
                                "loop steps with `apply_gradients` is not part of the model, so it is never "
                                "saved or restored with it: its step counter and slot variables start from "
                                "zero and its learning-rate schedule restarts. Save and restore it with the "
                                "model: `tf.train.Checkpoint(model=model, optimizer=optimizer)`.",
                          severity=_severity(facts, [stepped]))
            continue
        path = restore.detail.get("path")
        opts = _model_optimizers(facts, restore.targets)
        if restore.detail.get("source") == "load_weights" and is_legacy_h5(path):
            # weights from a plain `.h5` are as often initial weights as a resume: only a load
            # the file shows to be a resume gets the rule's severity
            evidence = resume_evidence(facts, restore)
            yield Hit(call, "Resuming with `load_weights()` from a plain `.h5` file restores layer weights "
                            f"only, {_RESTARTS}. Resume from a `.keras` model with `load_model()` instead."
                            + evidence.sentence(restore),
                      severity=_severity(facts, opts) if evidence.proven else Severity.INFO)
        elif (restore.detail.get("source") == "load_model" and path and path != "<latest>"
              and not has_suffix(path) and "{" not in path and facts.flavour is not Flavour.KERAS3):
            reloaded = any(later.detail.get("source") == "load_weights" and later.targets & restore.targets
                           for later in facts.after(restore, "restore"))
            if not reloaded:
                yield Hit(call, "`load_model()` on a SavedModel directory does not restore the optimizer "
                                f"(Keras 2), {_RESTARTS}. Call `model.load_weights(<same dir>)` after "
                                "loading, or save and resume from a `.keras` file.",
                          severity=_severity(facts, opts))


def check(facts: ModuleFacts) -> Iterator[Hit]:
    yield from _checkpoints(facts)
    yield from _saves(facts)
    yield from _loads(facts)


RULE = Rule(
    code="LR102",
    name="checkpoint-without-optimizer",
    severity=Severity.WARNING,
    summary="the resume source cannot hold optimizer state",
    check=check,
    tokens=("Checkpoint", "save", "load_"),
)
