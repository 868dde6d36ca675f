"""The fast path never imports TensorFlow or Keras, and the CLI's import stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from verify_helpers import ROOT, make_checkpoints

PROBE = """
import json, sys
from lraudit.cli import main
try:
    main([*sys.argv[1:], "--format", "json"], prog_name="lraudit", standalone_mode=False)
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"))
print(json.dumps({"heavy": heavy, "h5py": "h5py" in sys.modules}))
"""


def _probe(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_verify_on_real_checkpoints_imports_no_tensorflow(runs_dir, manifests):
    # .keras, legacy .h5, TF object checkpoints and SavedModels: every reader family
    for name in ("k3_keras_recompile", "k3_h5_recompile", "k3_tfckpt_resume_ok", "k3_savedmodel_ok"):
        if name not in manifests:
            continue
        result = _probe("verify", str(runs_dir / name), "--replay", "0")
        assert result["heavy"] == [], f"{name}: {result['heavy']}"
        assert result["h5py"] or name in ("k3_tfckpt_resume_ok", "k3_savedmodel_ok")


def test_import_cli_and_verify_command_is_light():
    code = ("import sys, lraudit.cli, lraudit.verify.command; "
            "bad = [m for m in ('tensorflow', 'keras', 'h5py', 'numpy') if m in sys.modules]; "
            "print(','.join(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_generator_module_imports_without_tensorflow():
    # the tests parametrize over its registry at collection time
    assert "k3_keras_recompile" in make_checkpoints.RUNS
    code = (f"import importlib.util, sys; s = importlib.util.spec_from_file_location('m', r'{ROOT}/fixtures/make_checkpoints.py'); "
            "m = importlib.util.module_from_spec(s); sys.modules['m'] = m; s.loader.exec_module(m); "
            "print('tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


BLOCKER = '''
import sys

class _NoHeavy:
    """Pretend TensorFlow and Keras are not installed (only h5py + numpy, the verify extra)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"{name} is blocked for this test")
        return None

sys.meta_path.insert(0, _NoHeavy())
'''


def test_fast_path_works_with_tensorflow_absent(runs_dir, manifests, tmp_path):
    if "k3_keras_recompile" not in manifests:
        pytest.skip("fixture run missing")
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-m", "lraudit.cli", "verify", str(runs_dir / "k3_keras_recompile"),
                           "--format", "json", "--replay", "0"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [f["code"] for f in report["findings"]] == ["LRV002"]
    check = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert check.returncode != 0  # the blocker really hides TensorFlow
