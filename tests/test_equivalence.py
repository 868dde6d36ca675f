"""Findings are identical with and without the prefilter, the cache and parallelism: these are
speed features and must never change a verdict.

The prefilter (lraudit/scan/needs.py) claims, per rule, which words a file must contain for
the rule to report.  Beyond the fixtures as written, the claim is checked on nearby programs:
each source with one line removed (every line that holds a word some need mentions) and with
its TensorFlow/Keras imports removed, so that a need that is too strict shows up as a finding
the full analysis reports and the prefilter would hide.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, SHARED, run_lraudit
from lraudit.scan.needs import NEEDS, needed
from lraudit.scan.rules import ALL_RULES
from lraudit.scan.runner import InputError, scan_text

CODES = [r.code for r in ALL_RULES]


def _corpus(tmp_path: Path) -> Path:
    """The fixtures, the rule examples and enough copies to exceed the pool threshold."""
    root = tmp_path / "corpus"
    shutil.copytree(FIXTURES, root / "fixtures")
    for i in range(4):
        shutil.copytree(FIXTURES, root / f"copy{i}")
    (root / "unrelated.py").write_text("def add(a, b):\n    return a + b\n")
    return root


def _scan(root: Path, *flags: str) -> list[dict]:
    proc = run_lraudit("scan", ".", "--format", "json", *flags, cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def test_prefilter_cache_and_jobs_do_not_change_findings(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    reference = _scan(root, "--no-prefilter", "--no-cache", "--jobs", "1")
    assert reference, "the corpus must produce findings for this test to mean anything"
    assert _scan(root, "--no-cache", "--jobs", "1") == reference          # prefilter only
    assert _scan(root, "--no-cache", "--jobs", "2") == reference          # process pool
    assert _scan(root, "--no-prefilter", "--no-cache", "--jobs", "2") == reference
    assert _scan(root, "--jobs", "2") == reference                         # cold cache
    assert (root / ".lraudit_cache").is_dir()
    assert _scan(root, "--jobs", "2") == reference                         # warm cache
    assert _scan(root, "--jobs", "1") == reference                         # warm cache, serial
    # an edited file is rescanned, not served stale from the cache
    target = root / "fixtures" / "resume_keras_file.py"
    target.write_text(target.read_text().replace("epochs=args.epochs,", "epochs=args.epochs, initial_epoch=start,"))
    edited = _scan(root)
    assert len(edited) == len(reference) - 1


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    reference = _scan(root)
    for index in (root / ".lraudit_cache").glob("scan-*.json"):
        index.write_text("{not json")
    assert _scan(root) == reference


def test_same_size_edit_with_the_same_mtime_is_not_served_from_the_cache(tmp_path: Path) -> None:
    """A same-size edit inside one timestamp tick leaves size, mtime and inode alone; entries
    recorded that close to their file's mtime are confirmed by content until they age out.
    (The mtime is set ahead of the clock, so the entry is "racy" however slow the machine.)"""
    root = tmp_path / "p"
    root.mkdir()
    script = root / "train.py"
    resume = 'import keras\nmodel = keras.models.load_model("m.keras")\nmodel.fit(x, epochs=30, initial_epoch={})\n'
    script.write_text(resume.format(0))
    tick = time.time_ns() + 10_000_000_000
    os.utime(script, ns=(tick, tick))
    before = script.stat()
    assert [f["code"] for f in _scan(root)] == ["LR001"]
    script.write_text(resume.format(9))
    os.utime(script, ns=(tick, tick))
    after = script.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert _scan(root) == []


# --------------------------------------------------------------------------------------------
# the prefilter's needs, on every program the test suite knows and on programs near them


def _sources() -> list[tuple[str, str]]:
    out = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("*.py"))]
    out += [(p.name, p.read_text(encoding="utf-8")) for p in sorted((ROOT / "fixtures" / "fixes").glob("*.py"))]
    for rule in ALL_RULES:
        page = rule.doc_path.read_text(encoding="utf-8")
        out += [(f"{rule.code}-{i}", code) for i, code in enumerate(re.findall(r"```python\n(.*?)```", page, re.S))]
    from test_hazards import MINIMAL, RIGHT

    out += [(f"hazard-{h}", code) for h, _, code, _ in MINIMAL]
    out += [(f"right-{h}", code) for h, _, code in RIGHT]
    seeds = SHARED / "seeds"
    if seeds.is_dir():
        for path in sorted(seeds.glob("*.txt")):
            blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
            out += [(f"seed-{path.name[:3]}-{i}", code) for i, code in enumerate(blocks)]
    return out


def _vocabulary() -> set[str]:
    """Every word some need mentions."""
    words: set[str] = set()

    def walk(need) -> None:
        for name in ("name", "text", "holding"):
            if isinstance(getattr(need, name, None), str):
                words.add(getattr(need, name))
        words.update(getattr(need, "names", ()))
        for part in getattr(need, "parts", ()):
            walk(part)

    for need in NEEDS.values():
        walk(need)
    return words


_VOCABULARY = _vocabulary()
_IMPORT = re.compile(r"^\s*(import|from)\s+(tensorflow|keras|tf_keras)\b.*$", re.M)


def _variants(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    out = [text, _IMPORT.sub("", text)]
    for i, line in enumerate(lines):
        if any(word in line for word in _VOCABULARY):
            out.append("".join(lines[:i] + lines[i + 1:]))
    return out


SOURCES = _sources()


@pytest.mark.parametrize("name,text", SOURCES, ids=[name for name, _ in SOURCES])
def test_no_need_hides_a_finding(name: str, text: str) -> None:
    """With the prefilter, scan_text runs exactly the rules whose need holds on the same parse,
    so "findings identical" is "every rule that reports has its need met"."""
    for variant in _variants(text):
        try:
            full = scan_text(variant, name, ALL_RULES, use_prefilter=False)
        except (InputError, RecursionError):
            continue  # the removed line broke the syntax
        reporting = {f.code for f in full}
        missing = reporting - set(needed(variant, CODES))
        assert not missing, f"{sorted(missing)} would be hidden by the prefilter in this variant of {name}:\n{variant}"
        assert scan_text(variant, name, ALL_RULES) == full


def test_the_suite_exercises_every_rule() -> None:
    """The sources above must make every rule report somewhere, or its need goes untested."""
    reporting = {f.code for name, text in SOURCES for f in scan_text(text, name, ALL_RULES, use_prefilter=False)}
    assert reporting == set(CODES)


def test_every_rule_has_a_need() -> None:
    assert set(NEEDS) == set(CODES)


# Programs whose finding hangs on a spelling the prefilter must not miss.
EDGE_CASES = [
    # initial_epoch as the 12th positional argument of fit(): no `initial_epoch` word at all
    ("LR002", "import keras\nmodel = keras.models.load_model('m.keras')\n"
              "model.fit(x, y, 32, 3, 1, None, 0.0, None, True, None, None, 5)\n"),
    # a call split over lines, a comment, a string holding a bracket
    ("LR002", "import keras\nmodel = keras.models.load_model('m.keras')\n"
              "model.fit(  # resume\n    x, y, 32, 3, 1, None, 0.0, None, True, None, \")\", 5)\n"),
    # `lr=` keyword spelled across a line break inside the call
    ("LR503", "import keras\nopt = keras.optimizers.Adam(\n    lr\n    =0.1)\n"),
    # `.lr` attribute with blanks around the dot
    ("LR501", "import keras\nmodel = keras.models.load_model('m.keras')\nprint(model.optimizer . lr)\n"),
]


@pytest.mark.parametrize("code,text", EDGE_CASES)
def test_spelling_edge_cases_pass_the_prefilter(code: str, text: str) -> None:
    full = scan_text(text, "edge.py", ALL_RULES, use_prefilter=False)
    assert code in {f.code for f in full}, "the edge case must report for this test to mean anything"
    assert code in needed(text, CODES)
    assert scan_text(text, "edge.py", ALL_RULES) == full


def test_the_cache_is_keyed_by_the_analysis_code_not_only_the_version(tmp_path: Path, cli, monkeypatch) -> None:
    """A development checkout never bumps the version: an edited rule module must not be
    answered from results its old code made."""
    from lraudit.scan import cache

    package = tmp_path / "pkg"
    (package / "rules").mkdir(parents=True)
    (package / "rules" / "lr999_x.py").write_text("A = 1\n")
    before = cache.analysis_fingerprint(package)
    assert cache.analysis_fingerprint(package) == before
    (package / "rules" / "lr999_x.py").write_text("A = 22\n")
    assert cache.analysis_fingerprint(package) != before

    root = tmp_path / "p"
    root.mkdir()
    (root / "train.py").write_text('import keras\nmodel = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n')
    monkeypatch.chdir(root)
    assert cli("scan", ".").exit_code == 1
    assert len(list((root / ".lraudit_cache").glob("scan-*.json"))) == 1
    monkeypatch.setattr(cache, "analysis_fingerprint", lambda root=None: "edited-analysis")
    assert cli("scan", ".").exit_code == 1
    assert len(list((root / ".lraudit_cache").glob("scan-*.json"))) == 2
