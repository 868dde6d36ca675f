"""Broken checkpoints give LRV008 with the reason while the rest of the run is still checked;
a bad target gives one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import zipfile

import pytest

from verify_helpers import run_verify, verify_json


@pytest.fixture
def good_run(runs_dir, manifests, tmp_path):
    if "k3_keras_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    target = tmp_path / "run"
    shutil.copytree(runs_dir / "k3_keras_resume_ok", target)
    return target


def _rows(report):
    return {r["path"]: r for r in report["checkpoints"]}


def _lrv008(report):
    return {f["checkpoint"]: f for f in report["findings"] if f["code"] == "LRV008"}


def _truncate(path, fraction=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction))


@pytest.mark.parametrize("damage, reason", [
    ("truncate", "zip archive"),
    ("empty", "0 bytes"),
    ("garbage", "zip archive"),
    ("no_weights", "no model.weights.h5"),
    ("deep_config", "nested too deeply"),
    ("bad_json", "not valid JSON"),
    ("truncate_member", "truncated"),
])
def test_damaged_keras_file_is_lrv008_and_others_checked(good_run, damage, reason):
    victim = good_run / "ep03.keras"
    if damage == "truncate":
        _truncate(victim)
    elif damage == "empty":
        victim.write_bytes(b"")
    elif damage == "garbage":
        victim.write_bytes(os.urandom(5000))
    elif damage in ("no_weights", "deep_config", "bad_json"):
        with zipfile.ZipFile(victim) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        if damage == "no_weights":
            members.pop("model.weights.h5")
        elif damage == "deep_config":
            members["config.json"] = b"[" * 200000 + b"]" * 200000
        else:
            members["config.json"] = b"{not json"
        victim.unlink()
        with zipfile.ZipFile(victim, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    elif damage == "truncate_member":
        # keep the central directory valid but lose the end of the weights member: rebuild the
        # zip with a weights member whose HDF5 content is cut short
        with zipfile.ZipFile(victim) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        members["model.weights.h5"] = members["model.weights.h5"][:600]
        victim.unlink()
        with zipfile.ZipFile(victim, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    code, report = verify_json(good_run)
    assert code == 1
    bad = _lrv008(report)
    assert list(bad) == ["ep03.keras"]
    assert reason.lower() in bad["ep03.keras"]["message"].lower()
    rows = _rows(report)
    assert rows["ep03.keras"]["status"] == "unreadable"
    for other in ("ep01.keras", "ep02.keras", "ep04.keras"):
        assert rows[other]["status"] == "ok" and rows[other]["step"] is not None
    assert [f["code"] for f in report["findings"]] == ["LRV008"]


def test_truncated_legacy_h5(runs_dir, manifests, tmp_path):
    if "k3_h5_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    target = tmp_path / "run"
    shutil.copytree(runs_dir / "k3_h5_resume_ok", target)
    _truncate(target / "ep02.h5", 0.3)
    (target / "notes.h5").write_bytes(b"this is not hdf5 at all" * 10)
    code, report = verify_json(target)
    bad = _lrv008(report)
    assert "truncated" in bad["ep02.h5"]["message"] or "HDF5" in bad["ep02.h5"]["message"]
    assert "not an HDF5 file" in bad["notes.h5"]["message"]
    assert _rows(report)["ep04.h5"]["step"] == 16
    assert code == 1


def test_tf_checkpoint_damage(runs_dir, manifests, tmp_path):
    if "k3_tfckpt_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    target = tmp_path / "run"
    shutil.copytree(runs_dir / "k3_tfckpt_resume_ok", target)
    _truncate(target / "ckpt-2.index", 0.5)                        # index cut short
    (target / "ckpt-3.data-00000-of-00001").unlink()               # data shard gone
    (target / "ckpt-4.index").unlink()                             # index gone, data left
    with open(target / "checkpoint", "a") as fh:                   # state file names a ghost
        fh.write('all_model_checkpoint_paths: "ckpt-9"\n')
    code, report = verify_json(target)
    bad = _lrv008(report)
    assert "truncated" in bad["ckpt-2"]["message"] or "corrupt" in bad["ckpt-2"]["message"]
    assert "missing" in bad["ckpt-3"]["message"]
    assert "without its .index" in bad["ckpt-4"]["message"]
    assert "state file" in bad["ckpt-9"]["message"]
    assert _rows(report)["ckpt-1"]["step"] == 4
    assert code == 1


def test_backup_with_broken_metadata(runs_dir, manifests, tmp_path):
    if "k3_backup_epoch_ok" not in manifests:
        pytest.skip("fixture run missing")
    target = tmp_path / "run"
    shutil.copytree(runs_dir / "k3_backup_epoch_ok", target)
    (target / "training_metadata.json").write_text("{half")
    code, report = verify_json(target)
    bad = _lrv008(report)
    assert list(bad) == ["latest.weights.h5"]
    assert "training_metadata.json" in bad["latest.weights.h5"]["message"]
    assert _rows(report)["latest.weights.h5.bkp"]["step"] == 8


def test_missing_target_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nope"
    result = run_verify(missing)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "no such file" in lines[0]
    assert "Traceback" not in result.stderr


def test_not_a_checkpoint_file(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("print('hi')\n")
    result = run_verify(path)
    assert result.exit_code == 2
    assert "not a checkpoint" in result.stderr and str(path) in result.stderr


def test_directory_without_checkpoints(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    result = run_verify(tmp_path)
    assert result.exit_code == 2
    assert "no checkpoints found" in result.stderr


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_unreadable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        result = run_verify(locked)
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2 and "permission denied" in result.stderr


def test_verify_never_writes_into_the_checkpoint_directory(good_run):
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in good_run.rglob("*")}
    run_verify(good_run)
    run_verify(good_run, "--format", "json")
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in good_run.rglob("*")}
    assert before == after
