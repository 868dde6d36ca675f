"""LR503 lr-keyword: `lr=` in an optimizer constructor.

Keras 3 rejects it (ValueError).  The Keras 2 optimizers of TF 2.11-2.15 and tf_keras accept
it and drop it with a log warning, so the optimizer trains at its default rate; only the
legacy optimizers (TF <= 2.10, `optimizers.legacy.*`) still honour it.  Verified with
Keras 3.15 and tf_keras 2.21: `Adam(lr=0.3).learning_rate` is 0.001.
"""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.literals import keyword, literal_value
from lraudit.scan.model import ModuleFacts
from lraudit.scan.names import Flavour
from lraudit.scan.rules import FixSpec, Hit, Rule
from lraudit.scan.rules.migration import is_legacy, old_version_nodes, optimizer_constructions

_DEFAULT_RATES = {"SGD": "0.01", "Adadelta": "0.001", "Adagrad": "0.001", "Adam": "0.001", "AdamW": "0.001",
                  "Adamax": "0.001", "Ftrl": "0.001", "Nadam": "0.001", "RMSprop": "0.001", "Lion": "0.001"}


def _uses_tf_keras(facts: ModuleFacts) -> bool:
    return any(r.split(".")[0] == "tf_keras" for r in facts.imports.roots)


def check(facts: ModuleFacts) -> Iterator[Hit]:
    for call, obj in optimizer_constructions(facts):
        arg = keyword(call, "lr")
        if arg is None or is_legacy(obj.api) or keyword(call, "learning_rate") is not None:
            continue
        if id(call) in old_version_nodes(facts):
            continue  # the branch for TensorFlow <= 2.10, where `lr=` is the real argument
        name = (obj.api or "optimizer").rsplit(".", 1)[-1]
        default = _DEFAULT_RATES.get(name, "its default")
        if facts.flavour is Flavour.KERAS3:
            severity, effect = None, (
                f"Keras 3 rejects `lr=`: `{name}(lr=...)` raises ValueError (\"Argument(s) not recognized\"), "
                "so the resume script stops before any learning rate is set")
        else:
            certain = _uses_tf_keras(facts)
            severity = None if certain else Severity.WARNING
            who = "tf_keras" if certain else "Keras 2 from TF 2.11 on"
            value = literal_value(arg.value)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and default != "its default" \
                    and float(value) == float(default):
                severity = Severity.INFO  # the dropped value is the default: nothing changes today
                effect = (f"{who} drops `lr=` with only a log warning; {value} happens to be `{name}`'s "
                          "default, so the learning rate is right today, but a change of this value would be ignored "
                          "(and Keras 3 rejects the argument)")
            else:
                effect = (f"{who} drops `lr=` with only a log warning: `{name}` trains at its default "
                          f"learning rate ({default}), not the one written here (and Keras 3 rejects the "
                          "argument)")
        yield Hit(
            arg,
            f"{effect}. Spell it `learning_rate=` (valid on every Keras version).",
            severity=severity,
            fix=FixSpec("safe", ((arg.keyword, cst.Name("learning_rate")),), "rename `lr=` to `learning_rate=`"),
        )


RULE = Rule(
    code="LR503",
    name="lr-keyword",
    severity=Severity.ERROR,
    summary="`lr=` in an optimizer constructor: rejected by Keras 3, ignored by Keras 2.11+ (use `learning_rate=`)",
    check=check,
    tokens=("lr=", "lr ="),
    fixable=True,
)
