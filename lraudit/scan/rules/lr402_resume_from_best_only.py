"""LR402 resume-from-best-only: the resume file is the best epoch's, not the last one's."""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.literals import argument, keyword, literal_value, source_of
from lraudit.scan.model import Event, ModuleFacts
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import INITIAL_EPOCH_POSITION, RESUME_GUARD, always_zero


def _path_key(event: Event, expr) -> tuple[str, str | None]:
    return " ".join(source_of(expr).split()), event.detail.get("path")


def _same_file(a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
    if a[0] == b[0]:
        return True
    return a[1] is not None and a[1] == b[1] and "{" not in a[1]


def _writers(facts: ModuleFacts) -> list[tuple[tuple[str, str | None], bool]]:
    """(path key, best-only?) of every ModelCheckpoint and explicit save in the module."""
    out = []
    for create in facts.of_kind("create"):
        call = create.call
        if create.detail.get("api") != "keras.callbacks.ModelCheckpoint" or call is None or not call.args:
            continue
        path = argument(call, "filepath", 0)
        if path is None:
            continue
        best = keyword(call, "save_best_only")
        best_only = best is not None and literal_value(best.value) is True
        out.append((_path_key(create, path.value), best_only))
    for save in facts.of_kind("save"):
        call = save.call
        if call is None or not call.args:
            continue
        path = argument(call, "filepath", 0)
        if path is not None:
            out.append((_path_key(save, path.value), False))
    return out


def _resumes_at_epoch(facts: ModuleFacts, restore: Event) -> bool:
    """A later fit() on the restored model passes an initial_epoch that is not always 0."""
    for train in facts.after(restore, "train"):
        if not train.targets & restore.targets or train.call is None:
            continue
        pos = INITIAL_EPOCH_POSITION.get(train.detail.get("method"))
        if pos is None:
            continue
        initial = argument(train.call, "initial_epoch", pos)
        if initial is not None and not always_zero(facts, train, initial):
            return True
    return False


def check(facts: ModuleFacts) -> Iterator[Hit]:
    writers = _writers(facts)
    if not any(best for _, best in writers):
        return
    for restore in facts.of_kind("restore"):
        call = restore.call
        if restore.detail.get("source") not in ("load_model", "load_weights") or call is None or not call.args:
            continue
        if not facts.is_resume(restore):
            continue
        path = argument(call, "filepath", 0)
        if path is None:
            continue
        key = _path_key(restore, path.value)
        sources = [best for wkey, best in writers if _same_file(wkey, key)]
        if not sources or not all(sources) or not _resumes_at_epoch(facts, restore):
            continue
        yield Hit(
            call,
            "This resumes from the checkpoint written with `save_best_only=True`: it holds the best "
            "epoch's weights and optimizer, not the last epoch's, while `initial_epoch` counts from "
            "where the run stopped. The epochs after the best one are skipped and the optimizer's step "
            "counter, and so the learning-rate schedule, stands earlier than the epoch counter says. "
            "Resume from a checkpoint written every epoch (a second ModelCheckpoint without "
            "`save_best_only`) and keep the best one for evaluation. " + RESUME_GUARD,
        )


RULE = Rule(
    code="LR402",
    name="resume-from-best-only",
    severity=Severity.INFO,
    summary="the only checkpoint the script resumes from is written with `save_best_only=True`",
    check=check,
    tokens=("save_best_only",),
)
