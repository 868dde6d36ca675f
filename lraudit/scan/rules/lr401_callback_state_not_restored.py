"""LR401 callback-state-not-restored: a stateful learning-rate callback starts over on resume.

No Keras save format (nor BackupAndRestore) stores callback state.  `ReduceLROnPlateau`
resets its patience counter and best value at `on_train_begin`; a custom callback that counts
in `self.<counter>` starts its count again at 0.
"""

from __future__ import annotations

import re
from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.literals import argument, source_of
from lraudit.scan.model import Event, ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import (
    INITIAL_EPOCH_POSITION,
    always_zero,
    callback_kinds,
    has_schedule,
)
from lraudit.scan.rules.counters import bindings, counters


def counting_rate_writer(facts: ModuleFacts, class_name: str) -> str | None:
    """The `self.<counter>` of a module callback class that also writes the learning rate."""
    cls = facts.classes.get(class_name)
    if cls is None:
        return None
    if not any(e.scope.startswith(class_name + ".") for e in facts.of_kind("lr_write")):
        return None
    found = sorted(counters(bindings(cls)))
    return found[0] if found else None


_PLATEAU_STATE = re.compile(r"self\.(?:best|wait|cooldown_counter)\s*=(?!=)")


def _keeps_state(facts: ModuleFacts, class_name: str | None) -> bool:
    """A subclass of ReduceLROnPlateau of this module's own that puts its state back itself: it
    overrides `on_train_begin` or assigns `self.best`/`self.wait`/`self.cooldown_counter`."""
    cls = facts.classes.get(class_name or "")
    if cls is None:
        return False
    text = source_of(cls)
    return "def on_train_begin" in text or bool(_PLATEAU_STATE.search(text))


def _continues(facts: ModuleFacts, train: Event) -> bool:
    """The fit() itself says it continues a run: an `initial_epoch` that is not always 0."""
    call = train.call
    pos = INITIAL_EPOCH_POSITION.get(train.detail.get("method"))
    if call is None or pos is None:
        return False
    initial = argument(call, "initial_epoch", pos)
    return initial is not None and not always_zero(facts, train, initial)


def _resumes(facts: ModuleFacts, train: Event) -> tuple[bool, bool]:
    """(explicit resume, BackupAndRestore) reaching the trained model.  An explicit restore
    counts as a resume only with evidence beyond loading weights (which may be a warm start):
    the fit continues an epoch count, the restore is conditional (the resume branch of an
    existence check or a try), or it is a `tf.train.Checkpoint` restore."""
    explicit = False
    # BackupAndRestore among this fit's own callbacks restores inside the call (its restore
    # event comes after the train event, so the model states here do not show it yet).
    backup = any(train.objs[i].api == "keras.callbacks.BackupAndRestore" for i in train.detail["callbacks"]
                 if i in train.objs)
    continues = _continues(facts, train)
    for model in train.states():
        for r in facts.resumed(model):
            if r.detail.get("source") == "backup":
                backup = True
            elif continues or r.conditional or r.detail.get("source") == "checkpoint":
                explicit = True
    return explicit, backup


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for train in facts.of_kind("train"):
        explicit, backup = _resumes(facts, train)
        if not (explicit or backup):
            continue
        how = "a resumed run" if explicit else "a run that BackupAndRestore resumes after an interruption"
        severity = None if explicit else Severity.INFO
        scheduled = any(has_schedule(facts, train.objs[o], train.objs)
                        for m in train.states() for o in m.optimizers if o in train.objs)
        for i, kind in callback_kinds(facts, train).items():
            cb = train.objs[i]
            node = cb.node or train.node
            if kind == "keras.callbacks.ReduceLROnPlateau" and not scheduled and not _keeps_state(facts, cb.api):
                yield Hit(
                    node,
                    f"`ReduceLROnPlateau` starts over on {how}: its patience counter, cooldown and best "
                    "value are reset, so the first resumed epoch counts as an improvement and the next "
                    "learning-rate reduction comes up to `patience` epochs late (reductions already made "
                    "survive only if the optimizer itself was restored). Persist `best`, `wait` and "
                    "`cooldown_counter` with the checkpoint and set them again after the callback's "
                    "`on_train_begin`, or keep the run in one piece.",
                    severity=severity,
                )
            elif cb.api in facts.classes:
                counter = counting_rate_writer(facts, cb.api)
                if counter is None:
                    continue
                yield Hit(
                    node,
                    f"`{cb.api}` writes the learning rate from its own counter `{counter}`, which starts at "
                    f"0 again on {how} while the restored optimizer carries on: the rate it sets restarts "
                    "its schedule. Derive the rate from the `epoch` argument (it follows `initial_epoch`) "
                    "or from `self.model.optimizer.iterations`, which are restored with the run.",
                    severity=severity,
                )


RULE = Rule(
    code="LR401",
    name="callback-state-not-restored",
    severity=Severity.WARNING,
    summary="a stateful learning-rate callback in a script that resumes",
    check=check,
    tokens=("ReduceLROnPlateau", "Callback"),
)
