"""verify never changes a checkpoint directory, in any mode, replay included.

The runs are copied, made read-only (files and directories), and every mode runs on them; the
content hash and the modification time of every file, and the set of paths, must be identical
afterwards.  Read-only permissions alone prove nothing when the tests run as root, which is why
the hashes and times are compared, not just "no PermissionError".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys

from verify_helpers import ROOT, needs_tensorflow, run_verify

sys.path.insert(0, str(ROOT / "fixtures"))
from make_checkpoints import REPLAY_ARGS  # noqa: E402

RUNS = ("k3_keras_recompile", "k3_weights_unbuilt", "k3_tfckpt_resume_ok", "k3_h5_resume_ok",
        "k3_mirrored_ok", "k2_h5_resume_ok", "k3_backup_epoch_ok")


def snapshot(root) -> dict[str, tuple[str, int, int]]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = ""
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            state[os.path.relpath(path, root)] = (digest, st.st_mtime_ns, st.st_mode)
    return state


def _make_read_only(root) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)


def _restore_writable(root) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


def test_checkpoint_dir_unchanged_by_every_mode(runs_dir, manifests, tmp_path):
    needs_tensorflow()
    target = tmp_path / "runs"
    target.mkdir()
    for name in RUNS:
        if name in manifests:
            shutil.copytree(runs_dir / name, target / name, copy_function=shutil.copy2)
    _make_read_only(target)
    before = snapshot(target)
    outside = tmp_path / "out"
    outside.mkdir()
    modes = [
        ["--replay", "0"],
        ["--replay", "0", "--format", "json"],
        ["--replay", "0", "--format", "sarif", "--output-file", str(outside / "v.sarif")],
        ["--replay", "0", "--format", "github"],
        ["--replay", "2", *REPLAY_ARGS, "--plot", str(outside / "rate.png")],
        ["--replay", "1", "--replay-all", *REPLAY_ARGS, "--format", "json"],
        ["--replay", "1", "--strategy", "mirrored", "--device", "cpu"],
    ]
    try:
        for args in modes:
            result = run_verify(target, *args)
            assert result.exit_code in (0, 1), (args, result.stderr[-2000:])
            assert "Traceback" not in result.stderr
            assert snapshot(target) == before, f"verify {' '.join(args)} changed the directory"
    finally:
        _restore_writable(target)
    assert (outside / "rate.png").stat().st_size > 0


def test_snapshot_detects_a_change(tmp_path):
    # the comparison above is not vacuous: touching or rewriting a file changes the snapshot
    (tmp_path / "a").write_bytes(b"x")
    before = snapshot(tmp_path)
    os.utime(tmp_path / "a", ns=(1, 1))
    assert snapshot(tmp_path) != before
