"""Hostile and damaged verify inputs beyond test_verify_bad_inputs.py: special files, links out
of the checkpoint, zip archives with traversal names or absurd declared sizes, HDF5 groups of
the wrong kind, HDF5 damage that made the library hang or allocate gigabytes, TF index damage
that made the protobuf reader raise, and checkpoints still being written.

Each damaged checkpoint is LRV008 with a reason (or read normally when the damage is harmless);
the rest of the run is still checked; a bad target is one line and exit 2; nothing hangs.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from lraudit.verify.engine import verify
from verify_helpers import ROOT, run_verify, verify_json

h5py = pytest.importorskip("h5py")


def copy_run(runs_dir: Path, manifests: dict, name: str, target: Path) -> Path:
    if name not in manifests:
        pytest.skip(f"fixture run {name} missing")
    shutil.copytree(runs_dir / name, target)
    return target


def lrv008(report: dict) -> dict[str, str]:
    return {f["checkpoint"]: f["message"] for f in report["findings"] if f["code"] == "LRV008"}


def rows(report: dict) -> dict[str, dict]:
    return {r["path"]: r for r in report["checkpoints"]}


def verify_subprocess(target: Path, timeout: float = 60) -> tuple[int, dict, str]:
    """The CLI in a child process: a hang fails the test (timeout) instead of stalling pytest."""
    proc = subprocess.run([sys.executable, "-m", "lraudit.cli", "verify", "--replay", "0", "--format", "json",
                           str(target)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


# --------------------------------------------------------------------------- special files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifos_named_like_checkpoint_files_are_never_read(runs_dir, manifests, tmp_path):
    """A FIFO with no writer blocks open() or read() forever: ckpt-9.index hung verify."""
    tf = copy_run(runs_dir, manifests, "k3_tfckpt_resume_ok", tmp_path / "tf")
    os.mkfifo(tf / "ckpt-9.index")
    keras = copy_run(runs_dir, manifests, "k3_keras_resume_ok", tmp_path / "keras")
    os.mkfifo(keras / "ep05.keras")
    backup = copy_run(runs_dir, manifests, "k3_backup_epoch_ok", tmp_path / "backup")
    (backup / "training_metadata.json").unlink()
    os.mkfifo(backup / "training_metadata.json")
    code, report, _ = verify_subprocess(tmp_path)
    assert code == 1
    bad = lrv008(report)
    assert "not a regular file" in bad["tf/ckpt-9"]
    assert set(bad) == {"tf/ckpt-9", "keras/ep05.keras"}
    assert rows(report)["tf/ckpt-1"]["status"] == "ok" and rows(report)["keras/ep04.keras"]["status"] == "ok"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_dangling_and_looping_links_named_like_checkpoints(runs_dir, manifests, tmp_path):
    """Unreadable checkpoint files that root cannot read either (so this runs as root too)."""
    run = copy_run(runs_dir, manifests, "k3_keras_resume_ok", tmp_path / "run")
    os.symlink(run / "gone.keras", run / "ep05.keras")
    os.symlink("ep07.keras", run / "ep06.keras")
    os.symlink("ep06.keras", run / "ep07.keras")
    code, report = verify_json(run)
    assert code == 1
    bad = lrv008(report)
    assert set(bad) == {"ep05.keras", "ep06.keras", "ep07.keras"}
    assert "No such file" in bad["ep05.keras"] and "symbolic links" in bad["ep06.keras"]
    assert rows(report)["ep04.keras"]["status"] == "ok"


def test_empty_directory_is_a_usage_error(tmp_path):
    result = run_verify(tmp_path)
    assert result.exit_code == 2 and result.stdout == ""
    assert "no checkpoints found" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- zip archives


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_zip_with_path_traversal_names_is_read_and_writes_nothing(runs_dir, manifests, tmp_path):
    """Members are read by name from the open archive, never extracted: `../` and absolute
    member names are inert, and the checkpoint itself still reads."""
    run = copy_run(runs_dir, manifests, "k3_keras_resume_ok", tmp_path / "deep" / "run")
    members = _members(run / "ep02.keras")
    (run / "ep02.keras").unlink()
    with zipfile.ZipFile(run / "ep02.keras", "w") as archive:
        archive.writestr("../../escaped.txt", b"x")
        archive.writestr("/tmp/lraudit-absolute-member.txt", b"x")
        for name, data in members.items():
            archive.writestr(name, data)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, report = verify_json(run)
    assert code == 0 and rows(report)["ep02.keras"]["status"] == "ok"
    assert rows(report)["ep02.keras"]["step"] == rows(report)["ep01.keras"]["step"] * 2
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/lraudit-absolute-member.txt").exists()


def test_zip_that_is_not_a_keras_archive(runs_dir, manifests, tmp_path):
    run = copy_run(runs_dir, manifests, "k3_keras_resume_ok", tmp_path / "run")
    (run / "ep03.keras").unlink()
    with zipfile.ZipFile(run / "ep03.keras", "w") as archive:  # a renamed office document
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    code, report = verify_json(run)
    assert code == 1 and "not a Keras 3 .keras file" in lrv008(report)["ep03.keras"]


def _patch_declared_size(path: Path, member: str, size: int) -> None:
    """Rewrite a member's uncompressed size in the central directory (what ZipFile trusts)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    pos = 0
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        assert pos >= 0, member
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + name_len] == name:
            struct.pack_into("<I", data, pos + 24, size)
            break
        pos += 4
    path.write_bytes(bytes(data))


def test_zip_members_declaring_absurd_sizes_are_not_read(runs_dir, manifests, tmp_path):
    """A config.json declaring 4 GB is refused from the central directory alone; a compressed
    weights member claiming 1000 times its size (a zip bomb: Keras stores it uncompressed) is
    not inflated, because h5py's seeks would inflate it again and again."""
    run = copy_run(runs_dir, manifests, "k3_keras_resume_ok", tmp_path / "run")
    _patch_declared_size(run / "ep02.keras", "config.json", 0xFFFFFFF0)
    members = _members(run / "ep03.keras")
    (run / "ep03.keras").unlink()
    with zipfile.ZipFile(run / "ep03.keras", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    _patch_declared_size(run / "ep03.keras", "model.weights.h5", 0xFFFFFFF0)
    code, report = verify_json(run)
    bad = lrv008(report)
    assert code == 1 and set(bad) == {"ep02.keras", "ep03.keras"}
    assert "config.json declares 4294967280 bytes" in bad["ep02.keras"]
    assert "not written by Keras, and not inflated" in bad["ep03.keras"]


# --------------------------------------------------------------------------- HDF5 structure


def _edit_h5(path: Path, edit) -> None:
    with h5py.File(path, "r+") as f:
        edit(f)


def _replace(f, name: str, value) -> None:
    del f[name]
    f[name] = value


H5_DAMAGE = {
    "optimizer_is_a_dataset": (lambda f: _replace(f, "optimizer", 3), "optimizer is not an HDF5 group"),
    "counter_is_a_float": (lambda f: _replace(f, "optimizer/vars/0", 4.0), "not the integer step counter"),
    "counter_is_a_group": (lambda f: (f.__delitem__("optimizer/vars/0"), f.create_group("optimizer/vars/0")),
                           "not the integer step counter"),
    "counter_is_a_vector": (lambda f: _replace(f, "optimizer/vars/0", [1, 2, 3]), "not the integer step counter"),
    "counter_is_a_dangling_link": (lambda f: _replace(f, "optimizer/vars/0", h5py.SoftLink("/nowhere")),
                                   "not the integer step counter"),
    "counter_links_to_another_file": (lambda f: _replace(f, "optimizer/vars/0", h5py.ExternalLink("/etc/hostname", "/x")),
                                      "is an external link to '/etc/hostname'"),
    "vars_links_to_another_file": (lambda f: _replace(f, "optimizer/vars", h5py.ExternalLink("other.h5", "/vars")),
                                   "optimizer/vars is an external link"),
    "counter_stored_in_another_file": (
        lambda f: (f.__delitem__("optimizer/vars/0"),
                   f.create_dataset("optimizer/vars/0", shape=(1,), dtype="<i8", external=[("outside.bin", 0, 8)])),
        "keeps its value in another file"),
}


def _damaged_is_lrv008(run: Path, name: str, edit, reason: str) -> dict:
    """Apply `edit` to the checkpoint `name` of `run`: it alone is LRV008, for `reason`."""
    _edit_h5(run / name, edit)
    code, report = verify_json(run)
    bad = lrv008(report)
    assert code == 1 and list(bad) == [name] and reason in bad[name]
    return report


@pytest.mark.parametrize("damage", sorted(H5_DAMAGE))
def test_weights_h5_with_groups_missing_or_of_the_wrong_kind(runs_dir, manifests, tmp_path, damage):
    run = copy_run(runs_dir, manifests, "k3_weights_resume_ok", tmp_path / "run")
    report = _damaged_is_lrv008(run, "ep03.weights.h5", *H5_DAMAGE[damage])
    assert rows(report)["ep04.weights.h5"]["status"] == "ok"


def test_weights_h5_without_optimizer_variables_is_read_as_such(runs_dir, manifests, tmp_path):
    run = copy_run(runs_dir, manifests, "k3_weights_resume_ok", tmp_path / "run")
    _edit_h5(run / "ep03.weights.h5", lambda f: f.__delitem__("optimizer/vars"))
    code, report = verify_json(run)
    assert not lrv008(report)
    assert rows(report)["ep03.weights.h5"]["status"] != "unreadable"


LEGACY_DAMAGE = {
    "optimizer_weights_links_out": (lambda f: _replace(f, "optimizer_weights", h5py.ExternalLink("x.h5", "/")),
                                    "optimizer_weights is an external link"),
    "training_config_is_numbers": (lambda f: f.attrs.__setitem__("training_config", [1, 2, 3]),
                                   "training_config is not valid JSON"),
    "weight_names_lists_a_ghost": (lambda f: f["optimizer_weights"].attrs.__setitem__(
        "weight_names", [b"sgd/iteration:0"]), "is missing or not an integer scalar"),
}


@pytest.mark.parametrize("damage", sorted(LEGACY_DAMAGE))
def test_legacy_h5_with_attributes_or_groups_of_the_wrong_kind(runs_dir, manifests, tmp_path, damage):
    run = copy_run(runs_dir, manifests, "k3_h5_resume_ok", tmp_path / "run")
    _damaged_is_lrv008(run, "ep03.h5", *LEGACY_DAMAGE[damage])


def _global_heap(data: bytes) -> int:
    pos = data.find(b"GCOL")
    assert pos > 0
    return pos


def test_string_attribute_length_beyond_the_file_is_refused_before_hdf5_allocates(runs_dir, manifests, tmp_path):
    """Found by fuzzing: one flipped bit in the length HDF5 reads for `training_config` made a
    21 kB file cost 1.5 GB of memory and two seconds (up to 4 GB with a 32-bit length)."""
    run = copy_run(runs_dir, manifests, "k3_h5_resume_ok", tmp_path / "run")
    path = run / "ep03.h5"
    with h5py.File(path, "r") as f:
        length = len(f.attrs["training_config"].encode())
    data = bytearray(path.read_bytes())
    heap = _global_heap(data)
    record = data.find(struct.pack("<IQ", length, heap))  # (length, heap address, index)
    assert record > 0
    struct.pack_into("<I", data, record, 0x7FFFFFF0)
    path.write_bytes(bytes(data))
    code, report = verify_json(run)
    assert "attribute training_config is corrupt: a string of 2147483632 bytes" in lrv008(report)["ep03.h5"]


def test_global_heap_that_hdf5_would_loop_on_is_refused(runs_dir, manifests, tmp_path):
    """Found by fuzzing: one byte inserted into a legacy .h5 left an empty free-space entry in
    the global heap, and HDF5 1.14 spins on it forever while decoding `keras_version`."""
    run = copy_run(runs_dir, manifests, "k3_h5_resume_ok", tmp_path / "run")
    path = run / "ep03.h5"
    data = bytearray(path.read_bytes())
    heap = _global_heap(data)
    pos = heap + 16
    while struct.unpack_from("<H", data, pos)[0] != 0:  # walk to the free-space entry
        pos += 16 + (struct.unpack_from("<Q", data, pos + 8)[0] + 7) // 8 * 8
    struct.pack_into("<Q", data, pos + 8, 0)
    path.write_bytes(bytes(data))
    code, report, _ = verify_subprocess(run, timeout=60)
    assert code == 1
    assert "global heap at byte" in lrv008(report)["ep03.h5"]
    assert rows(report)["ep04.h5"]["status"] == "ok"


def test_hdf5_errors_past_the_superblock_are_lrv008_not_reader_bugs(runs_dir, manifests, tmp_path):
    """Found by fuzzing: HDF5 reports a damaged symbol table or heap only when a group is
    touched (`name in group`), as RuntimeError or KeyError, which surfaced as "unexpected
    RuntimeError while reading"."""
    run = copy_run(runs_dir, manifests, "k3_weights_resume_ok", tmp_path / "run")
    path = run / "ep03.weights.h5"
    data = bytearray(path.read_bytes())
    for signature in (b"SNOD", b"HEAP"):  # every symbol table node and local heap
        pos = data.find(signature)
        while pos >= 0:
            data[pos:pos + 4] = b"XXXX"
            pos = data.find(signature, pos + 4)
    path.write_bytes(bytes(data))
    code, report = verify_json(run)
    message = lrv008(report)["ep03.weights.h5"]
    assert "unexpected" not in message and ("HDF5" in message or "signature" in message)


# --------------------------------------------------------------------------- TF index damage


def test_index_entry_whose_message_field_is_a_number(runs_dir, manifests, tmp_path):
    """Found by fuzzing: a BundleEntryProto whose `shape` (a nested message) arrives as a
    varint made the reader call len() on an int ("unexpected TypeError while reading")."""
    from lraudit.verify.formats.protobuf import ProtoError, first_bytes, first_int, parse_message

    with pytest.raises(ProtoError):
        parse_message(7)  # type: ignore[arg-type]
    fields = parse_message(b"\x10\x05" + b"\x1a\x01x")  # field 2 = varint 5, field 3 = b"x"
    with pytest.raises(ProtoError):
        first_bytes(fields, 2)
    with pytest.raises(ProtoError):
        first_int(fields, 3)
    run = copy_run(runs_dir, manifests, "k3_tfckpt_resume_ok", tmp_path / "run")
    index = run / "ckpt-2.index"
    data = bytearray(index.read_bytes())
    key = b"_iterations/.ATTRIBUTES/VARIABLE_VALUE"
    pos = data.find(key)
    assert pos > 0
    value = pos + len(key)  # the entry's value follows its key: field 1 (dtype), field 2 (shape)
    assert data[value] == 0x08 and data[value + 2] == 0x12
    data[value + 2] = 0x10  # shape: length-delimited -> varint
    index.write_bytes(bytes(data))
    code, report = verify_json(run)
    message = lrv008(report)["ckpt-2"]
    assert "unexpected" not in message and "corrupt" in message
    assert rows(report)["ckpt-3"]["status"] == "ok"


# --------------------------------------------------------------------------- being written


@pytest.mark.parametrize("run_name, victim, row", [
    ("k3_keras_resume_ok", "ep04.keras", "ep04.keras"),
    ("k3_h5_resume_ok", "ep04.h5", "ep04.h5"),
    ("k3_weights_resume_ok", "ep04.weights.h5", "ep04.weights.h5"),
    ("k3_tfckpt_resume_ok", "ckpt-3.index", "ckpt-3"),
    ("k3_tfckpt_resume_ok", "ckpt-3.data-00000-of-00001", "ckpt-3"),
])
def test_checkpoint_caught_half_written(runs_dir, manifests, tmp_path, run_name, victim, row):
    """Every prefix a writer could leave (a save in progress, or killed): LRV008 or, once the
    bytes that matter are there, a normal read; never anything else."""
    run = copy_run(runs_dir, manifests, run_name, tmp_path / "run")
    full = (run / victim).read_bytes()
    for cut in sorted({0, 1, 8, 64, 512, 2048, len(full) // 3, len(full) // 2, len(full) - 1}):
        (run / victim).write_bytes(full[:cut])
        result = verify(str(run))
        status = {r.to_json()["path"]: r.to_json()["status"] for r in result.rows}
        messages = [f.message for f in result.findings if f.code == "LRV008"]
        assert status[row] in ("ok", "unreadable", "finding"), (cut, status)
        assert all("unexpected" not in m for m in messages), messages
        assert sum(s == "unreadable" for s in status.values()) <= 1, (cut, status)


def test_checkpoint_growing_while_verify_reads_it(runs_dir, manifests, tmp_path):
    """A writer appends to a .keras in small chunks while verify runs again and again: every
    result is complete (no exception), the growing file is LRV008 or read, and once the
    write has finished it reads normally."""
    run = copy_run(runs_dir, manifests, "k3_keras_resume_ok", tmp_path / "run")
    full = (run / "ep04.keras").read_bytes()
    (run / "ep04.keras").write_bytes(b"")
    done = threading.Event()

    def writer() -> None:
        with open(run / "ep04.keras", "ab") as fh:
            for start in range(0, len(full), 509):
                fh.write(full[start:start + 509])
                fh.flush()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    while not done.is_set():
        result = verify(str(run))
        statuses = {r.to_json()["path"]: r.to_json()["status"] for r in result.rows}
        seen.add(statuses["ep04.keras"])
        assert statuses["ep03.keras"] == "ok"
        assert all("unexpected" not in f.message for f in result.findings)
    thread.join()
    final = {r.to_json()["path"]: r.to_json() for r in verify(str(run)).rows}
    assert final["ep04.keras"]["status"] == "ok" and final["ep04.keras"]["step"] == 16
    assert seen <= {"ok", "unreadable"}


def test_checkpoint_name_that_is_not_utf8_in_every_output(runs_dir, manifests, tmp_path):
    """Linux file names are bytes: a Latin-1 name reached `--output-file` as lone surrogates
    that UTF-8 cannot encode (a traceback after the whole run was checked)."""
    run = copy_run(runs_dir, manifests, "k3_keras_resume_ok", tmp_path / "run")
    odd = Path(os.fsdecode(os.fsencode(str(run)) + b"/ep05_caf\xe9.keras"))
    try:
        odd.write_bytes(b"")  # an empty save: LRV008 names it in every format
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses file names that are not UTF-8")
    for fmt in ("text", "json", "sarif", "github"):
        report = tmp_path / f"report.{fmt}"
        result = run_verify(run, "--format", fmt, "--output-file", str(report))
        assert result.exit_code in (0, 1), (fmt, result.stderr)
        assert b"ep05_caf" in report.read_bytes()
