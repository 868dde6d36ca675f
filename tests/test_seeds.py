"""The code in the articles the product started from (../shared/seeds) is what users write:
every resume example there must be flagged.  The articles are read at test time, not copied."""

from __future__ import annotations

import re

import pytest

from conftest import SHARED
from lraudit.scan.rules import ALL_RULES
from lraudit.scan.runner import scan_text

SEEDS = SHARED / "seeds"
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason="the shared seeds are not checked out here")


def blocks(prefix: str) -> list[str]:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_seed_000_resume_examples_each_have_a_finding() -> None:
    examples = blocks("000")
    assert len(examples) == 3
    found = [sorted({f.code for f in scan_text(code, f"seed000_{i}.py", ALL_RULES)})
             for i, code in enumerate(examples)]
    assert found[0] and "LR101" in found[0]  # load_model then compile with a new optimizer
    assert found[1] and "LR001" in found[1]  # Checkpoint.restore then fit without initial_epoch
    assert found[2] and "LR101" in found[2]  # load_model then compile(optimizer="adam")


def test_seed_001_has_no_resume_and_no_finding() -> None:
    for i, code in enumerate(blocks("001")):
        assert scan_text(code, f"seed001_{i}.py", ALL_RULES) == []
