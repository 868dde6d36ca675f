"""LR503 lr-keyword: `lr=` in an optimizer constructor, rejected by Keras 3."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.facts import ModuleFacts, keyword
from lraudit.scan.rules import FixSpec, Hit, Rule
from lraudit.scan.rules.migration import is_legacy, keras3_severity, optimizer_constructions


def check(facts: ModuleFacts) -> Iterator[Hit]:
    severity = keras3_severity(facts)
    if severity is None:
        return
    for call, obj in optimizer_constructions(facts):
        arg = keyword(call, "lr")
        if arg is None or is_legacy(obj.api) or keyword(call, "learning_rate") is not None:
            continue
        name = (obj.api or "optimizer").rsplit(".", 1)[-1]
        yield Hit(
            arg,
            f"Keras 3 does not accept `lr=`: `{name}(lr=...)` raises ValueError (\"Argument(s) not "
            "recognized\"), so the optimizer, and the learning rate you meant, never exist and the "
            "resume script stops here. Spell it `learning_rate=` (also valid in Keras 2).",
            severity=severity,
            fix=FixSpec("safe", ((arg.keyword, cst.Name("learning_rate")),), "rename `lr=` to `learning_rate=`"),
        )


RULE = Rule(
    code="LR503",
    name="lr-keyword",
    severity=Severity.ERROR,
    summary="`lr=` in an optimizer constructor, rejected by Keras 3 (use `learning_rate=`)",
    check=check,
    tokens=("lr=", "lr ="),
    fixable=True,
)
