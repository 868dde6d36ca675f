"""LR501 optimizer-lr-attribute: `optimizer.lr` does not exist in Keras 3.

Reading it raises AttributeError; writing it creates a stray attribute and leaves the rate
unchanged.  Keras 2 has both names, so the rule is silent there; the rename is safe on both.
"""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from lraudit.findings import Severity
from lraudit.scan.model import MODEL, Event, ModuleFacts
from lraudit.scan.rules import FixSpec, Hit, Rule
from lraudit.scan.rules.migration import keras3_severity


def _is_optimizer(event: Event) -> bool:
    """`<x>.lr` where `<x>` is known to be a Keras optimizer (not a config or argparse object)."""
    for i in event.targets:
        o = event.objs.get(i)
        if o is not None and (o.api or "").startswith(("keras.optimizers.", "keras.mixed_precision.", "<restored>")):
            return True
    if event.detail.get("via_attribute"):
        if MODEL in event.detail.get("holder_kinds", ()):
            return True
        holder = (event.detail.get("holder") or "").split(".")[-1].lower()
        return "model" in holder
    return False


def check(facts: ModuleFacts) -> Iterator[Hit]:
    severity = keras3_severity(facts)
    if severity is None or not facts.imports.uses_tensorflow_or_keras:
        return  # Keras 2, or not Keras code at all (PyTorch trainers have `.optimizer` too)
    writes = {id(e.node) for e in facts.of_kind("lr_write") if e.detail.get("attr") == "lr"
              and e.detail.get("style") == "attribute"}
    seen: set[int] = set()
    for event in facts.of_kind("lr_attr"):
        node = event.node
        if id(node) in seen or not isinstance(node, cst.Attribute) or not _is_optimizer(event):
            continue
        seen.add(id(node))
        effect = ("creates a stray attribute and leaves the learning rate unchanged" if id(node) in writes
                  else "raises AttributeError, so the code that reads or sets the learning rate on resume breaks")
        yield Hit(
            node,
            f"Keras 3 optimizers have no `.lr`: this {effect}. Use `.learning_rate` (also valid in Keras 2).",
            severity=severity,
            fix=FixSpec("safe", ((node.attr, cst.Name("learning_rate")),), "use `.learning_rate`"),
        )


RULE = Rule(
    code="LR501",
    name="optimizer-lr-attribute",
    severity=Severity.ERROR,
    summary="`optimizer.lr`, removed in Keras 3 (use `optimizer.learning_rate`)",
    check=check,
    tokens=(".lr",),
    fixable=True,
)
