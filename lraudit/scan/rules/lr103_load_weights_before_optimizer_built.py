"""LR103 load-weights-before-optimizer-built: Keras 3 skips the saved optimizer variables."""

from __future__ import annotations

from typing import Iterator

from lraudit.findings import Severity
from lraudit.scan.model import ModuleFacts
from lraudit.scan.names import Flavour
from lraudit.scan.rules import Hit, Rule
from lraudit.scan.rules.common import (
    is_keras3_file,
    is_legacy_h5,
    is_plain_sgd,
    trained_after,
)
from lraudit.scan.rules.evidence import resume_evidence


def check(facts: ModuleFacts) -> Iterator[Hit]:
    if facts.flavour is Flavour.KERAS2:
        return  # Keras 2 defers the optimizer restore until the first step: no skip
    for restore in facts.of_kind("restore"):
        if restore.detail.get("source") != "load_weights" or not facts.is_resume(restore):
            continue
        path = restore.detail.get("path")
        if is_legacy_h5(path):
            continue  # holds no optimizer at all (LR102)
        if path is None or path == "<latest>":
            if facts.flavour is not Flavour.KERAS3:
                continue  # `sys.argv[1]`, `args.ckpt`: an unknown path is no evidence of Keras 3
        elif not is_keras3_file(path):
            continue  # a TF-format prefix (`x.ckpt`, no suffix): only Keras 2 reads it, lazily
        for model_id in restore.targets:
            model = restore.objs.get(model_id)
            if model is None or not model.compiled or not model.optimizers:
                continue
            opts = [restore.objs[i] for i in model.optimizers if i in restore.objs]
            if any(o.opt_built or not o.fresh or o.restores for o in opts):
                continue
            if opts and all(is_plain_sgd(o) for o in opts):
                continue  # no slot variables: the variable counts match and the restore works
            if trained_after(facts, restore, frozenset({model_id})) is None:
                continue
            certain = is_keras3_file(path)
            evidence = resume_evidence(facts, restore)
            yield Hit(
                restore.node,
                "`load_weights()` right after `compile()` loads into an optimizer that has no variables "
                "yet: Keras 3 skips the saved optimizer state with only a warning, the step counter "
                "stays 0 and the learning-rate schedule restarts. Build the optimizer first "
                "(`model.optimizer.build(model.trainable_variables)`) or resume with "
                "`keras.models.load_model()` from a `.keras` file." + evidence.sentence(restore),
                severity=evidence.cap(Severity.ERROR) if certain else Severity.WARNING,
            )
            break


RULE = Rule(
    code="LR103",
    name="load-weights-before-optimizer-built",
    severity=Severity.ERROR,
    summary="Keras 3 `compile()` then `load_weights()` with the optimizer unbuilt",
    check=check,
    tokens=("load_weights",),
)
