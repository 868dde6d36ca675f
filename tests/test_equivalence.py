"""Findings are identical with and without the prefilter, the cache and parallelism: these are
speed features and must never change a verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import FIXTURES, SHARED, run_lraudit


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
    assert _scan(root, "--jobs", "2") == reference                         # cold cache
    assert (root / ".lraudit_cache").is_dir()
    assert _scan(root, "--jobs", "2") == reference                         # warm cache
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
