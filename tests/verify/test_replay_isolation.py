"""Replay never imports code from the working directory, the checkpoint folder or PYTHONPATH,
and a replay worker can never start lraudit again.

The hostile folders hold a module file for every top-level module the replay worker imports
(the standard library's and TensorFlow's, measured, not listed by hand) plus `sitecustomize` and
`usercustomize`.  Each such file, if executed, leaves a marker file behind; the test runs a real
`lraudit verify` with replay, from the installed console script, and asserts that replay ran
and that no marker exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from verify_helpers import ROOT, needs_tensorflow

RUN = "k3_keras_recompile"
LRAUDIT = Path(sys.executable).with_name("lraudit")

WORKER_IMPORTS = """
import json, sys
from lraudit.verify.replay.worker import import_keras
import_keras(3)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.fixture(scope="module")
def worker_modules() -> list[str]:
    """Top-level names of every module a replay worker has imported once Keras is loaded."""
    needs_tensorflow()
    proc = subprocess.run([sys.executable, "-I", "-c", WORKER_IMPORTS], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"enum", "copy", "platform", "tensorflow", "keras", "numpy"} <= set(names)
    return [n for n in names if n.isidentifier() and n not in ("__main__", "builtins", "sys")]


PARENT_IMPORTS = """
import atexit, json, sys
def dump():
    with open(sys.argv[1], "w") as handle:
        json.dump(sorted({name.split(".")[0] for name in sys.modules}), handle)
atexit.register(dump)
from lraudit.cli import main
main(["verify", sys.argv[2], "--replay", "1", "--format", "json"], prog_name="lraudit")
"""


@pytest.fixture(scope="module")
def parent_modules(runs_dir, tmp_path_factory) -> set[str]:
    """Top-level names the lraudit process itself imports during a verify with replay.

    PYTHONPATH is the user's own setting for the lraudit process; what matters is that the
    worker does not inherit it, so the PYTHONPATH folder holds only modules the worker alone
    imports (TensorFlow, Keras, ...): any of them running proves the worker read PYTHONPATH."""
    if not (runs_dir / RUN).is_dir():
        pytest.skip(f"run {RUN} was not generated here")
    out = tmp_path_factory.mktemp("parent") / "modules.json"
    proc = subprocess.run([sys.executable, "-I", "-c", PARENT_IMPORTS, str(out), str(runs_dir / RUN)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr[-2000:]
    return set(json.loads(out.read_text()))


def _plant(folder: Path, names: list[str], markers: Path, startup: bool = True) -> None:
    """A `NAME.py` for each name (and the interpreter's start-up hooks `sitecustomize` and
    `usercustomize` with `startup`) that records its own execution in `markers`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in [*names, *(("sitecustomize", "usercustomize") if startup else ())]:
        (folder / f"{name}.py").write_text(
            f"open({str(markers / (folder.name + '.' + name))!r}, 'w').close()\n"
            "raise SystemExit('hostile module ran')\n", encoding="utf-8")


def _verify(cwd: Path, target: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    if not LRAUDIT.is_file():
        pytest.fail(f"the lraudit console script is not installed next to {sys.executable}")
    env = dict(os.environ, **env_extra)
    return subprocess.run([str(LRAUDIT), "verify", target, "--replay", "1", "--format", "json"],
                          capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.mark.parametrize("layout", ["verify-dot-inside-the-run", "run-elsewhere"])
def test_modules_in_the_working_directory_and_the_target_never_run(
        layout, runs_dir, worker_modules, parent_modules, tmp_path):
    if not (runs_dir / RUN).is_dir():
        pytest.skip(f"run {RUN} was not generated here")
    markers = tmp_path / "markers"
    markers.mkdir()
    run = tmp_path / "run"
    shutil.copytree(runs_dir / RUN, run)
    _plant(run, worker_modules, markers)
    on_path = tmp_path / "on_pythonpath"
    worker_only = [name for name in worker_modules if name not in parent_modules]
    assert {"tensorflow", "keras"} <= set(worker_only)
    _plant(on_path, worker_only, markers, startup=False)
    if layout == "verify-dot-inside-the-run":
        cwd, target = run, "."
    else:
        cwd, target = tmp_path / "cwd", str(run)
        _plant(cwd, worker_modules, markers)
    proc = _verify(cwd, target, {"PYTHONPATH": str(on_path)})
    assert sorted(p.name for p in markers.iterdir()) == []
    assert proc.returncode == 1, proc.stderr[-2000:]        # the run's LRV002 findings
    (entry,) = json.loads(proc.stdout)["replay"]
    assert entry["status"] == "ok" and len(entry["steps"]) == 1, entry


def test_a_package_root_named_by_the_user_is_importable(runs_dir, tmp_path):
    if not (runs_dir / RUN).is_dir():
        pytest.skip(f"run {RUN} was not generated here")
    needs_tensorflow()
    package = tmp_path / "src" / "mylab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "schedules.py").write_text("IMPORTED = True\n")
    # named by module, it is found only under the root the user names
    proc = subprocess.run([str(LRAUDIT), "verify", str(runs_dir / RUN), "--replay", "1",
                           "--format", "json", "--custom-objects", "mylab.schedules"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path / "src")
    assert "--package-root" in proc.stderr, proc.stderr[-2000:]
    proc = subprocess.run([str(LRAUDIT), "verify", str(runs_dir / RUN), "--replay", "1",
                           "--format", "json", "--custom-objects", "mylab.schedules",
                           "--package-root", str(tmp_path / "src")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (entry,) = json.loads(proc.stdout)["replay"]
    assert entry["status"] == "ok"


NESTED = """
import json, subprocess
proc = subprocess.run([{lraudit!r}, "verify", {target!r}, "--replay", "1"],
                      capture_output=True, text=True, timeout=120)
with open({out!r}, "w") as handle:
    json.dump([proc.returncode, proc.stderr], handle)
"""


def test_a_worker_cannot_start_lraudit_again(runs_dir, tmp_path):
    """A module the worker imports (here the user's own --custom-objects file) that starts
    lraudit: the nested lraudit refuses at start-up, so no second generation of workers."""
    if not (runs_dir / RUN).is_dir():
        pytest.skip(f"run {RUN} was not generated here")
    out = tmp_path / "nested.json"
    spawner = tmp_path / "spawner.py"
    spawner.write_text(NESTED.format(lraudit=str(LRAUDIT), target=str(runs_dir / RUN),
                                     out=str(out)), encoding="utf-8")
    proc = subprocess.run([str(LRAUDIT), "verify", str(runs_dir / RUN), "--replay", "1",
                           "--custom-objects", str(spawner)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    code, stderr = json.loads(out.read_text())
    assert code == 2
    assert stderr.strip() == ("lraudit: error: refusing to start inside a replay worker "
                              "(LRAUDIT_REPLAY_WORKER is set)")
    assert proc.returncode == 1, proc.stderr[-2000:]    # the outer replay still ran


def test_the_marker_refuses_every_command():
    env = dict(os.environ, LRAUDIT_REPLAY_WORKER="1")
    for args in (["--version"], ["scan", "."], ["verify", "."]):
        proc = subprocess.run([str(LRAUDIT), *args], capture_output=True, text=True,
                              timeout=60, env=env, cwd=ROOT)
        assert proc.returncode == 2 and proc.stdout == ""
        assert "refusing to start inside a replay worker" in proc.stderr
