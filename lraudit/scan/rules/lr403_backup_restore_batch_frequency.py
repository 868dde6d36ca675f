"""LR403 backup-restore-batch-frequency: Keras 3 resumes a batch-level backup at the epoch start.

Keras 3's BackupAndRestore records the batch but restores only the epoch: the interrupted
epoch runs again from its first batch while the restored optimizer already counted the
batches done, so the step-indexed schedule ends up ahead.  tf.keras (Keras 2) restores the
batch too, so the rule is silent there and says `info` when the flavour is unknown.
"""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.literals import argument, literal_value
from lraudit.scan.model import CONST, ModuleFacts
from lraudit.scan.names import Flavour
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import RESUME_GUARD


def _batch_frequency(create) -> int | None:
    call = create.call
    arg = argument(call, "save_freq", 1)
    if arg is None:
        return None
    value = literal_value(arg.value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    ids = create.detail.get("args", {}).get("save_freq") or create.detail.get("args", {}).get("1") or frozenset()
    values = {create.objs[i].value for i in ids if i in create.objs and create.objs[i].kind == CONST}
    if len(values) == 1 and len(ids) == 1:
        only = next(iter(values))
        if isinstance(only, int) and not isinstance(only, bool):
            return only
    return None


def check(facts: ModuleFacts) -> Iterator[Hit]:
    if facts.flavour is Flavour.KERAS2:
        return
    for create in facts.of_kind("create"):
        if create.detail.get("api") != "keras.callbacks.BackupAndRestore" or create.call is None:
            continue
        freq = _batch_frequency(create)
        if freq is None or freq <= 0:
            continue
        yield Hit(
            create.call,
            f"`BackupAndRestore(save_freq={freq})` backs up mid-epoch, but Keras 3 restores only the "
            "epoch: the interrupted epoch is trained again from its first batch while the restored "
            "optimizer already counted the batches done, so the learning-rate schedule runs ahead of "
            "the data (and those batches are seen twice). Use `save_freq=\"epoch\"`. " + RESUME_GUARD,
            severity=None if facts.flavour is Flavour.KERAS3 else Severity.INFO,
        )


RULE = Rule(
    code="LR403",
    name="backup-restore-batch-frequency",
    severity=Severity.WARNING,
    summary="Keras 3 `BackupAndRestore(save_freq=<int>)` replays the interrupted epoch",
    check=check,
    tokens=("BackupAndRestore",),
)
