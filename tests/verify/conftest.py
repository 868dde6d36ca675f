"""Real checkpoint runs for the verify tests, generated once per test session.

Generation trains tiny models with TensorFlow, so it runs in a subprocess
(`fixtures/make_checkpoints.py`): the pytest process stays free of TensorFlow, which keeps the
fast-path tests honest and the session light.  Set LRAUDIT_FIXTURES_DIR to a directory already
filled by the generator to skip generation while iterating locally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verify_helpers import GENERATOR, ROOT, needs_tensorflow


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    """Directory holding every generated run and its `<name>.manifest.json`."""
    reuse = os.environ.get("LRAUDIT_FIXTURES_DIR")
    if reuse and any(Path(reuse).glob("*.manifest.json")):
        return Path(reuse)
    needs_tensorflow()
    out = tmp_path_factory.mktemp("checkpoint_runs")
    proc = subprocess.run([sys.executable, str(GENERATOR), str(out)], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)
    if proc.returncode != 0:
        pytest.fail(f"fixture generation failed:\n{proc.stderr[-4000:]}")
    return out


@pytest.fixture(scope="session")
def manifests(runs_dir) -> dict[str, dict]:
    found = {}
    for path in sorted(runs_dir.glob("*.manifest.json")):
        manifest = json.loads(path.read_text())
        found[manifest["name"]] = manifest
    return found
