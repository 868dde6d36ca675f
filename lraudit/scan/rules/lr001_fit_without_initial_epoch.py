"""LR001 fit-without-initial-epoch: a restored model trains from epoch 0 again."""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.literals import argument, has_star_args, literal_value, source_of
from lraudit.scan.model import ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import INITIAL_EPOCH_POSITION, always_zero, describe_restore, epoch_consumer
from lraudit.scan.rules.evidence import resume_evidence


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for train in facts.of_kind("train"):
        method = train.detail["method"]
        call = train.call
        if method not in INITIAL_EPOCH_POSITION or call is None or has_star_args(call):
            continue
        initial = argument(call, "initial_epoch", INITIAL_EPOCH_POSITION[method])
        if initial is not None and not always_zero(facts, train, initial):
            continue
        if any(train.objs[i].api == "keras.callbacks.BackupAndRestore" for i in train.detail["callbacks"]):
            continue  # BackupAndRestore sets the initial epoch itself
        restores = [r for m in train.states() for r in facts.resumed(m) if r.detail.get("source") != "backup"]
        if not restores:
            continue
        given = ("passes no `initial_epoch`" if initial is None else "passes `initial_epoch=0`"
                 if literal_value(initial.value) == 0 else
                 f"passes `initial_epoch={source_of(initial.value)}`, which is 0 on every path")
        evidence = [resume_evidence(facts, r) for r in restores]
        best = next((i for i, e in enumerate(evidence) if e.proven), 0)
        consumer = epoch_consumer(facts, train)
        restart = (f"the epoch count restarts at 0, and {consumer} sees epoch 0 again (an epoch-indexed "
                   "learning-rate schedule starts over, epoch-numbered checkpoints are overwritten); "
                   if consumer else "epoch-indexed schedules and callbacks restart at epoch 0 and ")
        # Neither a proven resume nor anything that reads the epoch (a save/load/fit round trip,
        # a model reloaded before any training): the restart changes nothing lraudit can see.
        severity = evidence[best].cap(Severity.ERROR) if consumer or evidence[best].proven else Severity.INFO
        yield Hit(
            call,
            f"`{method}()` trains a model resumed by {describe_restore(restores[best])} but {given}: "
            f"{restart}the run trains all `epochs` "
            "again. Pass `initial_epoch=<epochs already completed>` and keep `epochs` as the final "
            "epoch index." + evidence[best].sentence(restores[best]),
            severity=severity,
        )


RULE = Rule(
    code="LR001",
    name="fit-without-initial-epoch",
    severity=Severity.ERROR,
    summary="`fit()` on a restored model without `initial_epoch`",
    check=check,
    tokens=("fit",),
)
