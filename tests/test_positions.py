"""Positions of reported nodes equal libcst's own PositionProvider, node for node.

`positions.Positions` never runs the provider: it generates code for the innermost statement
alone, started at the line CPython's tree gives it (see positions.py).  These tests hold it to
the provider on every node the interpreter recorded, in the fixture scripts, the rule pages'
examples, hand-made awkward layouts and mutated scripts, and check that the fast path was the
one taken (a fallback to the whole module is correct but is the cost the module exists to avoid).
"""

from __future__ import annotations

import os
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from libcst.metadata import MetadataWrapper, PositionProvider

from conftest import FIXTURES, ROOT
from lraudit.scan.facts import build_facts
from lraudit.scan.positions import Positions
from lraudit.scan.runner import InputError, decode, normalize_newlines, parse_both
from test_fuzz_scan import mutated_source

AWKWARD = {
    "decorators_and_comments": '''\
"""Module docstring."""
# header comment

import keras


# comment before the decorator
@keras.saving.register_keras_serializable()
# between decorators
@(
    staticmethod
)
# after decorators
def make(lr=keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9)):
    return keras.optimizers.SGD(learning_rate=lr)


@\\
staticmethod
def other(): return make()
''',
    "branches_and_loops": '''\
import keras
model = keras.models.load_model("m.keras")
if model:
    model.fit(x, epochs=3)
elif (
      model is None):
    model.fit(x, epochs=4)
    # trailing comment in the block
else:
    model.fit(x, epochs=5)
for epoch in range(3):
    model.fit(x, initial_epoch=epoch, epochs=epoch + 1)
else:
    model.optimizer.learning_rate = 0.1
while False:
    pass
else:
    model.compile(optimizer="sgd")
if model: model.fit(x); model.save("m.keras")
a = 1; model.fit(x, epochs=9)
''',
    "try_with_match": '''\
import keras
try:
    model = keras.models.load_model("m.keras")
except OSError:
    model = keras.Sequential()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
else:
    pass
finally:
    model.fit(x, epochs=2)
try:
    model.load_weights("w.h5")
except* ValueError:
    model.fit(x, epochs=1)
with open("f") as fh, \\
        open("g") as gh:
    model.fit(x, epochs=3)
match model:
    case None:
        model.fit(x, epochs=4)
    case _:
        model.optimizer.lr = 0.5
''',
    "classes_tabs_and_async": '''\
import keras
class Trainer:
\t"""Tab-indented."""
\tdef __init__(self):
\t\tself.model = keras.models.load_model("m.keras")

\tdef run(self, data):
\t\tfor step in range(3):
\t\t    self.model.fit(data, epochs=step)

\tclass Inner:
\t\tasync def go(self, model):
\t\t\tasync with lock:
\t\t\t\tmodel.fit(x, epochs=1)
\t\t\tasync for item in items:
\t\t\t\tmodel.optimizer.learning_rate = 0.01
Trainer().run(None)
''',
    "odd_text": '# -*- coding: utf-8 -*-\nimport keras\n\x0c\nnom_très_long = keras.models.load_model("modèle.keras")\n'
                'nom_très_long.fit(x, epochs=3)  # é\n\ndef f(\n    a,\n    b=keras.optimizers.SGD(lr=0.1),\n):\n'
                '    return nom_très_long.fit(a, initial_epoch=b)\n',
}


def _cases() -> list[tuple[str, str]]:
    cases = [(f"awkward/{name}", text) for name, text in AWKWARD.items()]
    cases += [(f"awkward/{name}/crlf", text.replace("\n", "\r\n")) for name, text in AWKWARD.items()]
    for path in sorted([*FIXTURES.glob("*.py"), *(ROOT / "fixtures" / "fixes").glob("*.py"),
                        *(ROOT / "lraudit" / "scan" / "rules").glob("*.py")]):
        cases.append((str(path.relative_to(ROOT)), decode(path.read_bytes())))
    return cases


def _compare(text: str) -> tuple[int, bool]:
    """(nodes compared, whether any needed the whole-module fallback); asserts equality."""
    module, tree = parse_both(text)
    facts = build_facts(module, text)
    provider = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = Positions(module, facts.located, normalize_newlines(text), tree)
    nodes: dict[int, cst.CSTNode] = {}
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        nodes[id(node)] = node
        stack.extend(node.children)
    compared = 0
    for key in list(facts.located):
        node = nodes.get(key)
        if node is None:
            continue
        r = provider[node]
        assert positions.get(node) == (r.start.line, r.start.column + 1, r.end.line, r.end.column + 1), \
            (type(node).__name__, cst.Module([]).code_for_node(node)[:80])
        compared += 1
    return compared, positions.full is not None


@pytest.mark.parametrize("name,text", _cases(), ids=[name for name, _ in _cases()])
def test_positions_equal_libcsts_position_provider(name: str, text: str) -> None:
    compared, fell_back = _compare(text)
    assert compared > 0
    assert not fell_back, "a recorded node needed the whole-module pass"


def test_the_awkward_layouts_reach_every_kind_of_block() -> None:
    """The hand-made layouts really hold what they claim (else the test above proves less)."""
    kinds = set()
    for text in AWKWARD.values():
        module, _ = parse_both(text)
        stack: list[cst.CSTNode] = [module]
        while stack:
            node = stack.pop()
            kinds.add(type(node).__name__)
            stack.extend(node.children)
    assert {"Decorator", "If", "Else", "For", "While", "Try", "TryStar", "Finally", "With", "Match",
            "MatchCase", "ClassDef", "FunctionDef", "SimpleStatementSuite", "ExceptStarHandler"} <= kinds


EXAMPLES = int(os.environ.get("LRAUDIT_FUZZ_EXAMPLES", "15"))


@settings(max_examples=EXAMPLES, deadline=None, derandomize="LRAUDIT_FUZZ_EXAMPLES" not in os.environ,
          database=None, suppress_health_check=list(HealthCheck))
@given(mutated_source())
def test_positions_equal_the_provider_on_mutated_scripts(data: bytes) -> None:
    try:
        text = decode(data)
        _compare(text)
    except InputError:
        return


def test_findings_and_fixes_of_the_fixtures_need_no_whole_module_pass(monkeypatch) -> None:
    """Reported nodes and fix targets (a keyword, an attribute's name, an import a fix extends)
    are all recorded by the interpreter, so none needs the whole-module pass."""
    import lraudit.scan.positions as positions_module
    from lraudit.scan.rules import ALL_RULES
    from lraudit.scan.runner import scan_text

    whole = []
    real = positions_module.ranges

    def counting(module, wanted=(), **kw):
        if kw.get("start") is None:
            whole.append(module)
        return real(module, wanted, **kw)

    monkeypatch.setattr(positions_module, "ranges", counting)
    findings = fixes = 0
    for path in sorted([*FIXTURES.glob("*.py"), *(ROOT / "fixtures" / "fixes").glob("*.py")]):
        for finding in scan_text(decode(path.read_bytes()), str(path), ALL_RULES):
            findings += 1
            fixes += finding.fix is not None
    assert findings > 20 and fixes > 5
    assert whole == []
