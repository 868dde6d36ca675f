"""What a scan imports and keeps: the start-up and memory side of scan performance, checked by
what happens (modules imported, objects alive), never by timing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, ROOT, run_lraudit

BAD = 'import keras\nmodel = keras.models.load_model("ckpt/last.keras")\nmodel.fit(x, epochs=3)\n'
PLAIN = "import numpy as np\n\ndef fit(a, b):\n    return np.polyfit(a, b, 1)  # no training state here\n"


def _imported(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `lraudit` with -X importtime and return the top-level packages it imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lraudit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
             if line.startswith("import time:")}
    return proc, names


def test_a_file_the_prefilter_rejects_is_never_parsed(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text(PLAIN)
    proc, imported = _imported("scan", "--no-cache", "helpers.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "libcst" not in imported


def test_a_fully_cached_run_imports_no_parser(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "scripts")
    first = run_lraudit("scan", ".", "--format", "json", cwd=tmp_path)
    assert first.returncode == 1 and json.loads(first.stdout)
    proc, imported = _imported("scan", ".", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    assert "libcst" not in imported
    assert json.loads(proc.stdout[proc.stdout.index("["):]) == json.loads(first.stdout)


def test_a_file_that_can_hold_a_finding_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(BAD)
    proc, imported = _imported("scan", "--no-cache", "train.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert "libcst" in imported


def test_the_cli_imports_nothing_heavy_to_start() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import lraudit.cli, lraudit.scan.api"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"libcst", "tensorflow", "keras", "numpy", "h5py"}


# Run in a child process: the worker freezes the garbage collector's view of what it imported.
_NO_STATE_SURVIVES = r"""
import gc, sys
from pathlib import Path
import libcst as cst
from lraudit.scan.catalog import all_codes
from lraudit.scan.worker import scan_batch

def nodes():
    return sum(1 for o in gc.get_objects() if isinstance(o, cst.CSTNode))

files = sorted(Path(sys.argv[1]).glob("*.py"))
results = scan_batch([(str(f), f.name, all_codes(), True, None, 5.0) for f in files[:1]])  # warm up imports
gc.collect()
baseline = nodes()
gc.disable()  # only the worker's own collection may clean up
results = scan_batch([(str(f), f.name, all_codes(), True, None, 5.0) for f in files])
assert sum(len(r.findings) for r in results) > 0
print(baseline, nodes())
"""


def test_no_tree_outlives_its_file_in_a_worker() -> None:
    proc = subprocess.run([sys.executable, "-c", _NO_STATE_SURVIVES, str(FIXTURES)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    baseline, after = map(int, proc.stdout.split())
    assert after <= baseline
