"""LR001 fit-without-initial-epoch: a restored model trains from epoch 0 again."""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.facts import ModuleFacts, argument, has_star_args, literal_value
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import describe_restore

# Position of `initial_epoch` in each training method's signature (Keras 2 and 3 agree).
_INITIAL_EPOCH_POSITION = {"fit": 11, "fit_generator": 13}


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for train in facts.of_kind("train"):
        method = train.detail["method"]
        call = train.call
        if method not in _INITIAL_EPOCH_POSITION or call is None or has_star_args(call):
            continue
        initial = argument(call, "initial_epoch", _INITIAL_EPOCH_POSITION[method])
        if initial is not None and literal_value(initial.value) != 0:
            continue
        if any(train.objs[i].api == "keras.callbacks.BackupAndRestore" for i in train.detail["callbacks"]):
            continue  # BackupAndRestore sets the initial epoch itself
        restores = [r for m in train.states() for r in facts.resumed(m) if r.detail.get("source") != "backup"]
        if not restores:
            continue
        given = "passes `initial_epoch=0`" if initial is not None else "passes no `initial_epoch`"
        yield Hit(
            call,
            f"`{method}()` trains a model resumed by {describe_restore(restores[0])} but {given}: "
            "epoch-indexed schedules and callbacks restart at epoch 0 and the run trains all `epochs` "
            "again. Pass `initial_epoch=<epochs already completed>` and keep `epochs` as the final "
            "epoch index.",
        )


RULE = Rule(
    code="LR001",
    name="fit-without-initial-epoch",
    severity=Severity.ERROR,
    summary="`fit()` on a restored model without `initial_epoch`",
    check=check,
    tokens=("fit",),
)
