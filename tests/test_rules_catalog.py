"""The rule catalog as issue 3 fixes it: codes, names, severities, fixability, and what
`lraudit rule` shows; the prefilter tokens never hide a finding."""

from __future__ import annotations

import json
import re

import pytest

from conftest import FIXTURES, ROOT
from lraudit.scan.rules import ALL_RULES, BY_CODE
from lraudit.scan.runner import scan_text

CATALOG = {
    "LR001": ("fit-without-initial-epoch", "error", False),
    "LR002": ("epochs-not-past-initial-epoch", "error", False),
    "LR003": ("initial-epoch-off-by-one", "warning", False),
    "LR004": ("fit-in-loop", "warning", False),
    "LR101": ("optimizer-reset-after-restore", "error", False),
    "LR102": ("checkpoint-without-optimizer", "warning", False),
    "LR103": ("load-weights-before-optimizer-built", "error", False),
    "LR104": ("unchecked-restore", "warning", False),
    "LR201": ("hard-coded-lr-override", "warning", False),
    "LR202": ("lr-callback-with-schedule", "error", False),
    "LR203": ("lr-from-loop-counter", "warning", False),
    "LR204": ("scheduler-overrides-plateau", "warning", False),
    "LR301": ("schedule-missing-get-config", "error", False),
    "LR302": ("schedule-not-registered", "warning", False),
    "LR401": ("callback-state-not-restored", "warning", False),
    "LR402": ("resume-from-best-only", "info", False),
    "LR403": ("backup-restore-batch-frequency", "warning", False),
    "LR501": ("optimizer-lr-attribute", "error", True),
    "LR502": ("legacy-decay-argument", "warning", True),
    "LR503": ("lr-keyword", "error", True),
}


def test_the_catalog_is_complete_and_as_specified() -> None:
    assert {r.code: (r.name, str(r.severity), r.fixable) for r in ALL_RULES} == CATALOG


def test_rule_all_lists_every_rule(cli) -> None:
    text = cli("rule", "--all")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert len(lines) == len(CATALOG)
    for line, (code, (name, severity, fixable)) in zip(lines, sorted(CATALOG.items())):
        assert line.split()[:3] == [code, name, severity]
        assert line.rstrip().endswith("fixable") == fixable
    listed = json.loads(cli("rule", "--all", "--format", "json").stdout)
    assert {r["code"]: (r["name"], r["severity"], r["fixable"]) for r in listed} == CATALOG


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_rule_page_is_shown(code: str, cli) -> None:
    page = cli("rule", code.lower())
    assert page.exit_code == 0 and page.stdout.startswith(f"# {code} {CATALOG[code][0]}\n")
    as_json = json.loads(cli("rule", code, "--format", "json").stdout)
    assert as_json["code"] == code and as_json["doc"] == page.stdout


def _sources() -> list[tuple[str, str]]:
    out = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("*.py"))]
    for rule in ALL_RULES:
        page = rule.doc_path.read_text(encoding="utf-8")
        out += [(f"{rule.code}-{i}", code) for i, code in enumerate(re.findall(r"```python\n(.*?)```", page, re.S))]
    out += [(p.name, p.read_text(encoding="utf-8")) for p in sorted((ROOT / "fixtures" / "fixes").glob("*.py"))]
    return out


def test_prefilter_tokens_never_hide_a_finding() -> None:
    for name, text in _sources():
        for rule in ALL_RULES:
            full = scan_text(text, name, [rule], use_prefilter=False)
            if full:
                assert scan_text(text, name, [rule]) == full, f"{rule.code} tokens hide a finding in {name}"


def test_every_message_says_what_happens_to_the_rate_and_what_to_do() -> None:
    for name, text in _sources():
        for finding in scan_text(text, name, ALL_RULES, use_prefilter=False):
            message = finding.message.lower()
            assert "learning rate" in message or "learning-rate" in message or "schedule" in message, name
            assert any(w in message for w in ("use ", "pass ", "keep ", "call ", "return ", "derive ", "decorate ",
                                              "resume ", "assert", "check ", "add ", "put ", "persist ",
                                              "spell ", "build ", "instead", "save ", "set ")), (name, finding.code, finding.message)


def test_lr101_says_what_compile_false_really_does() -> None:
    """`load_model(..., compile=False)` restores no optimizer at all: the message must not claim
    that `compile()` discards a restored one, and must read as one sentence."""
    code = ("import keras\n\nmodel = keras.models.load_model('ckpt/last.keras', compile=False)\n"
            "model.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')\n"
            "model.fit(x, y, epochs=20, initial_epoch=10)\n")
    (finding,) = [f for f in scan_text(code, "resume.py", ALL_RULES) if f.code == "LR101"]
    assert finding.message.startswith("`load_model(..., compile=False)` leaves the saved optimizer in the file")
    assert "discards the restored optimizer" not in finding.message
    assert finding.message.count(" after ") == 0


def test_lr503_does_not_claim_a_rate_change_when_lr_is_the_default() -> None:
    code = ("import tensorflow as tf\n\nsame = tf.keras.optimizers.SGD(lr=0.01, momentum=0.9)\n"
            "other = tf.keras.optimizers.Adam(lr=3e-4)\n")
    same, other = sorted((f for f in scan_text(code, "opt.py", ALL_RULES) if f.code == "LR503"), key=lambda f: f.line)
    assert str(same.severity) == "info" and "happens to be `SGD`'s default" in same.message
    assert "not the one written here" not in same.message
    assert str(other.severity) == "warning" and "trains at its default learning rate (0.001)" in other.message
