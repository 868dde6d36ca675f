"""Nothing a user passes or a checkpoint contains is ever executed on the fast path.

* `--schedule` specs are parsed with `ast` and only literals are accepted: a spec written to run
  code is refused, and nothing it names runs (checked with an audit hook and a marker file).
* The fast path never unpickles: its modules do not import pickle or any loader built on it,
  and checkpoints carrying pickles (a pickled member in a `.keras` zip, a pickled attribute in
  a legacy `.h5`, a pickle named like a data shard) are read without one being loaded.

Both run in a child process with a Python audit hook that records code execution and process
creation ("exec" after start-up, "os.system", "subprocess.Popen", "pickle.find_class").
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from verify_helpers import ROOT

AUDITED = r"""
import json, os, sys
events = []
armed = False
WATCH = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "pickle.find_class",
         "ctypes.dlopen", "exec")
def hook(event, args):
    if armed and event.startswith(WATCH):
        code = args[0] if event == "exec" else None
        if code is not None and (code.co_filename.startswith("<frozen") or os.path.isfile(code.co_filename)):
            return  # the import system running a module's code (a codec loaded lazily, say)
        events.append(event)
sys.addaudithook(hook)
import importlib
mode, *rest = sys.argv[1:]
if mode == "spec":
    from lraudit.verify.spec import SpecError, parse_schedule
    import lraudit.verify.schedules  # import everything before arming: imports execute module code
    armed = True
    outcomes = []
    for text in rest:
        try:
            parse_schedule(text)
            outcomes.append("accepted")
        except SpecError as exc:
            outcomes.append(f"SpecError: {exc}")
    armed = False
    print(json.dumps({"events": events, "outcomes": outcomes}))
elif mode == "selftest":  # what the hook records when something does unpickle or evaluate
    import pickle
    data = open(rest[0], "rb").read()
    armed = True
    pickle.loads(data)
    eval(compile("1 + 1", "<spec>", "eval"))
    armed = False
    print(json.dumps({"events": events}))
else:
    from lraudit.verify.engine import verify
    import lraudit.verify.formats.backup, lraudit.verify.formats.h5files, lraudit.verify.formats.keras_zip
    import lraudit.verify.formats.tfbundle, h5py, numpy
    armed = True
    result = verify(rest[0])
    armed = False
    rows = [r.to_json() for r in result.rows]
    print(json.dumps({"events": events, "rows": rows,
                      "findings": [f.verify_json() for f in result.findings]}))
"""


def audited(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", AUDITED, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_schedule_specs_are_parsed_never_evaluated(tmp_path):
    marker = tmp_path / "MARKER"
    hostile = [
        f"__import__('os').system('touch {marker}')",
        f"ExponentialDecay(initial_learning_rate=open({str(marker)!r}, 'w').close() or 0.1, decay_steps=1, decay_rate=0.5)",
        f"ExponentialDecay(0.1, 10, (lambda: __import__('os').system('touch {marker}'))())",
        f"CosineDecay(0.1, [__import__('subprocess').run(['touch', {str(marker)!r}])][0])",
        "ExponentialDecay(0.1, 10, 0.5, **__import__('os').environ)",
        f"keras.optimizers.schedules.ExponentialDecay.__init__.__globals__['os'].system('touch {marker}')",
        "ExponentialDecay(0.1, 10, 9**9**9)",  # would take forever to compute if evaluated
    ]
    report = audited("spec", *hostile)
    assert report["events"] == []
    assert all(outcome.startswith("SpecError: ") for outcome in report["outcomes"]), report["outcomes"]
    assert not marker.exists()


def test_schedule_spec_on_the_command_line_is_a_usage_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "MARKER"
    (tmp_path / "run").mkdir()
    proc = subprocess.run([sys.executable, "-m", "lraudit.cli", "verify", "--replay", "0", "--schedule",
                           f"__import__('os').system('touch {marker}')", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "--schedule" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


# --------------------------------------------------------------------------- no unpickling

FAST_PATH = [p for p in (ROOT / "lraudit" / "verify").rglob("*.py")
             if "replay" not in p.relative_to(ROOT / "lraudit" / "verify").parts]
LOADERS = re.compile(r"^\s*(?:import|from)\s+(pickle|cPickle|_pickle|dill|cloudpickle|joblib|marshal|shelve)\b"
                     r"|allow_pickle\s*=\s*True|\beval\(|\bexec\(|pickle\.loads?\(", re.M)


@pytest.mark.parametrize("path", FAST_PATH, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_fast_path_modules_import_no_unpickler(path: Path):
    """Static half: no fast-path module imports pickle or anything built on it, nor evaluates."""
    assert not LOADERS.findall(path.read_text(encoding="utf-8"))


class _Bomb:
    """Unpickling this runs os.system; a test fails if that ever happens."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_carrying_pickles_are_read_without_unpickling(runs_dir, manifests, tmp_path):
    """Dynamic half: pickles planted where a careless reader would load them."""
    for name in ("k3_keras_resume_ok", "k3_h5_resume_ok", "k3_tfckpt_resume_ok"):
        if name not in manifests:
            pytest.skip(f"fixture run {name} missing")
    h5py = pytest.importorskip("h5py")
    import numpy as np

    marker = tmp_path / "MARKER"
    payload = pickle.dumps(_Bomb(str(marker)))
    target = tmp_path / "runs"
    keras_run = target / "keras"
    shutil.copytree(runs_dir / "k3_keras_resume_ok", keras_run)
    with zipfile.ZipFile(keras_run / "ep02.keras") as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    (keras_run / "ep02.keras").unlink()
    with zipfile.ZipFile(keras_run / "ep02.keras", "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr("assets/model.pkl", payload)
        archive.writestr("variables.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, "
                                          b"'shape': (1,), }" + b" " * 52 + b"\n" + payload)
    h5_run = target / "h5"
    shutil.copytree(runs_dir / "k3_h5_resume_ok", h5_run)
    with h5py.File(h5_run / "ep02.h5", "r+") as f:
        f.attrs["training_config"] = np.void(payload)      # pickled bytes where JSON belongs
        f["optimizer_weights"].attrs["pickled"] = np.void(payload)
    tf_run = target / "tf"
    shutil.copytree(runs_dir / "k3_tfckpt_resume_ok", tf_run)
    (tf_run / "ckpt-2.data-00000-of-00001").write_bytes(payload)  # a pickle posing as a data shard

    report = audited("verify", str(target))
    assert report["events"] == []
    assert not marker.exists()
    rows = {r["path"]: r for r in report["rows"]}
    assert rows["keras/ep02.keras"]["status"] == "ok"       # the extra members are ignored
    assert rows["h5/ep03.h5"]["status"] == "ok"
    assert rows["tf/ckpt-1"]["status"] == "ok"
    bad = {f["checkpoint"] for f in report["findings"] if f["code"] == "LRV008"}
    assert "h5/ep02.h5" in bad  # pickled bytes are not JSON: unreadable, not loaded
    assert rows["tf/ckpt-2"]["status"] in ("ok", "finding", "unreadable")  # read as raw numbers


def test_the_audit_hook_sees_an_unpickle_and_an_eval(tmp_path):
    """The detector itself works: the assertions above would see an unpickle or an eval."""
    marker = tmp_path / "MARKER"
    payload = tmp_path / "payload.pkl"
    payload.write_bytes(pickle.dumps(_Bomb(str(marker))))
    events = audited("selftest", str(payload))["events"]
    assert "pickle.find_class" in events and "os.system" in events and "exec" in events
    assert marker.exists()
