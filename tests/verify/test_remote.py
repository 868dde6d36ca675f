"""Remote targets: the generated runs read through s3:// (a real S3-compatible server, moto's
standalone server on loopback), memory:// and file:// give the JSON of a local read, byte for
byte except the `target` string; a checkpoint costs a few ranged requests whatever its size;
replay gets a private local copy of exactly one checkpoint.

Errors against the same server are in test_remote_errors.py.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from verify_helpers import ROOT, make_checkpoints, run_verify

pytest.importorskip("fsspec")
pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from remote_support import BUCKET, SECRET, s3_env, start_moto, upload_tree  # noqa: E402

RUN_NAMES = sorted(make_checkpoints.RUNS)


@pytest.fixture(scope="module")
def moto_endpoint():
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture()
def aws(monkeypatch, moto_endpoint):
    for key, value in s3_env(moto_endpoint).items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE", "CI"):
        monkeypatch.delenv(key, raising=False)
    return moto_endpoint


@pytest.fixture(scope="module")
def uploaded(runs_dir, moto_endpoint):
    """Every generated run, uploaded once to the S3 server and to fsspec's memory filesystem."""
    import fsspec

    upload_tree(moto_endpoint, runs_dir, "runs")
    memory = fsspec.filesystem("memory")
    memory.put(str(runs_dir), "/lraudit-runs", recursive=True)
    yield runs_dir
    memory.rm("/lraudit-runs", recursive=True)


def _manifest(runs_dir: Path, name: str) -> dict:
    path = runs_dir / f"{name}.manifest.json"
    if not path.exists():
        pytest.skip(f"run {name} was not generated here")
    return json.loads(path.read_text())


def _same_report(local_target: str, remote_target: str, *args: str) -> None:
    local = run_verify(local_target, "--format", "json", *args)
    remote = run_verify(remote_target, "--format", "json", *args)
    assert remote.stderr == "", remote.stderr   # no progress, no warnings off a terminal
    expected = local.stdout.replace(json.dumps(local_target), json.dumps(remote_target), 1)
    assert remote.stdout == expected
    assert remote.exit_code == local.exit_code
    assert json.loads(remote.stdout)["target"] == remote_target


# ----------------------------------------------------------------------------- same verdicts


@pytest.mark.parametrize("name", RUN_NAMES)
def test_same_json_locally_and_through_s3_memory_and_file(aws, uploaded, name):
    manifest = _manifest(uploaded, name)
    target = manifest["target"]
    local = str(uploaded / target)
    args = manifest["args"]
    _same_report(local, f"s3://{BUCKET}/runs/{target}", "--jobs", "8", *args)
    _same_report(local, f"memory://lraudit-runs/{target}", *args)
    _same_report(local, f"file://{local}", "--jobs", "3", *args)


@pytest.mark.parametrize("name, relative", [
    ("k3_keras_recompile", "ep03.keras"),          # one .keras file
    ("k3_tfckpt_resume_ok", "ckpt-3"),             # a TF prefix (no file of that name)
    ("k3_tfckpt_resume_ok", "ckpt-3.index"),       # the prefix's index file
    ("k3_tfckpt_resume_ok", "checkpoint"),         # the TF state file: every listed prefix
    ("k3_backup_epoch_ok", "training_metadata.json"),
    ("k3_sharded_and_unzipped_ok", "w02.weights.json"),
    ("k3_savedmodel_ok", "ep02/saved_model.pb"),   # a file inside a SavedModel directory
])
def test_single_file_targets_read_the_same(aws, uploaded, name, relative):
    _manifest(uploaded, name)
    local = uploaded / name / relative
    if not local.exists() and not Path(f"{local}.index").exists():
        pytest.skip(f"{name} has no {relative} here")
    _same_report(str(local), f"s3://{BUCKET}/runs/{name}/{relative}")
    _same_report(str(local), f"memory://lraudit-runs/{name}/{relative}")


def test_sarif_locations_of_a_remote_target_stay_relative(aws, uploaded):
    _manifest(uploaded, "k3_keras_recompile")
    result = run_verify(f"s3://{BUCKET}/runs/k3_keras_recompile", "--format", "sarif")
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for res in json.loads(result.stdout)["runs"][0]["results"] for loc in res["locations"]}
    assert uris == {"ep03.keras"}


def test_a_local_target_never_imports_fsspec(uploaded):
    _manifest(uploaded, "k3_keras_recompile")
    code = ("import sys; from lraudit.cli import main\n"
            "try: main(['verify', sys.argv[1], '--replay', '0'], standalone_mode=False)\n"
            "except SystemExit: pass\n"
            "print('FSSPEC', [m for m in sys.modules if m.split('.')[0] in ('fsspec', 's3fs', 'botocore')])")
    proc = subprocess.run([sys.executable, "-c", code, str(uploaded / "k3_keras_recompile")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.stdout.strip().splitlines()[-1] == "FSSPEC []", proc.stderr


# ----------------------------------------------------------------------------- bytes per checkpoint


def _weights_h5(n: int, step: int, lr: float) -> bytes:
    """A Keras 3 `.weights.h5` laid out as Keras writes it (layer weights first, then the
    optimizer's counter, rate and two Adam slots), with `n` parameters: 12 * n bytes."""
    import h5py
    import numpy as np

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("layers/dense/vars").create_dataset("0", data=np.ones(n, "float32"))
        opt = f.create_group("optimizer/vars")
        opt["0"] = np.int64(step)
        opt["1"] = np.float32(lr)
        opt.create_dataset("2", data=np.ones(n, "float32"))
        opt.create_dataset("3", data=np.ones(n, "float32"))
    return buffer.getvalue()


def _keras_zip(weights: bytes, lr: float) -> bytes:
    config = {"class_name": "Sequential", "config": {},
              "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                                               "config": {"name": "adam", "learning_rate": lr}}}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def small_and_big(moto_endpoint):
    """A 1 MB and a 64 MB checkpoint of the same layout, as .weights.h5 and .keras, in S3."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=moto_endpoint, key="test", secret=SECRET,
                           skip_instance_cache=True)
    sizes = {"small": 1 << 20, "big": 64 << 20}
    for label, size in sizes.items():
        weights = _weights_h5(size // 12, 4000, 0.0025)
        fs.pipe(f"{BUCKET}/sizes/{label}/model.weights.h5", weights)
        fs.pipe(f"{BUCKET}/sizes/{label}/model.keras", _keras_zip(weights, 0.0025))
    return sizes


@pytest.mark.parametrize("name", ["model.weights.h5", "model.keras"])
def test_bytes_per_checkpoint_do_not_grow_with_its_size(aws, small_and_big, name):
    from lraudit.verify.discover import discover
    from lraudit.verify.formats import read_many

    cost = {}
    for label in small_and_big:
        found = discover(f"s3://{BUCKET}/sizes/{label}/{name}")
        (info,) = read_many(found.candidates, found.storage, jobs=1)
        assert (info.error, info.step, info.lr) == (None, 4000, pytest.approx(0.0025))
        cost[label] = found.storage.checkpoint_stats[found.candidates[0].path]
        assert found.storage.stats.bytes == cost[label].bytes   # nothing read besides
    small, big = cost["small"], cost["big"]
    assert big.bytes < 256 * 1024, big                        # 0.4% of 64 MB
    assert big.bytes <= 2 * small.bytes, (small, big)         # not 64 times the small one
    assert big.requests <= small.requests + 2 and big.requests <= 8, (small, big)


def test_a_directory_is_listed_once_and_each_checkpoint_costs_a_few_requests(aws, uploaded):
    from lraudit.verify.discover import discover
    from lraudit.verify.engine import read_all

    _manifest(uploaded, "k3_h5_resume_ok")
    found = discover(f"s3://{BUCKET}/runs/k3_h5_resume_ok")
    infos = read_all(found, jobs=4)
    assert infos and all(info.error is None for info in infos)
    assert found.storage.listings == 1
    for candidate in found.candidates:
        cost = found.storage.checkpoint_stats[candidate.path]
        assert 1 <= cost.requests <= 4, (candidate.display, cost)


def test_parallel_reads_keep_the_order_of_discovery(aws, uploaded):
    from lraudit.verify.discover import discover
    from lraudit.verify.formats import read_many

    _manifest(uploaded, "k3_keras_resume_ok")
    found = discover("memory://lraudit-runs")
    total = len(found.candidates)
    calls: dict[int, list[tuple[int, int]]] = {1: [], 16: []}
    serial = read_many(found.candidates, found.storage, 1, lambda *a: calls[1].append(a))
    parallel = read_many(found.candidates, found.storage, 16, lambda *a: calls[16].append(a))
    assert [i.candidate.path for i in parallel] == [c.path for c in found.candidates]
    assert [(i.step, i.lr, i.error) for i in parallel] == [(i.step, i.lr, i.error) for i in serial]
    assert calls[1] == [(n, total) for n in range(1, total + 1)]
    done = [n for n, _ in calls[16]]
    assert done == sorted(set(done)) and done[-1] == total


def test_an_object_deleted_after_the_listing_is_one_unreadable_checkpoint(uploaded):
    import fsspec

    from lraudit.verify.discover import discover
    from lraudit.verify.formats import read_many

    _manifest(uploaded, "k3_keras_recompile")
    memory = fsspec.filesystem("memory")
    memory.put(str(uploaded / "k3_keras_recompile"), "/vanishing", recursive=True)
    try:
        found = discover("memory://vanishing")
        memory.rm("/vanishing/ep02.keras")
        infos = {i.display: i for i in read_many(found.candidates, found.storage, jobs=4)}
    finally:
        memory.rm("/vanishing", recursive=True)
    assert infos["ep02.keras"].error == "cannot read ep02.keras (no such object)"
    assert all(i.error is None for name, i in infos.items() if name != "ep02.keras")


# ----------------------------------------------------------------------------- replay's local copy


@pytest.mark.parametrize("name, display, expected", [
    ("k3_keras_recompile", "ep03.keras", ["ep03.keras"]),
    ("k3_tfckpt_resume_ok", "ckpt-2", ["ckpt-2.data-00000-of-00001", "ckpt-2.index"]),
    ("k3_savedmodel_ok", "ep02", None),   # the whole directory, as in the run
    ("k3_backup_epoch_ok", "latest.weights.h5", ["latest.weights.h5", "training_metadata.json"]),
    ("k3_sharded_and_unzipped_ok", "w02.weights.json", ["w02.weights.json", "w02_00000.weights.h5"]),
    ("k3_sharded_and_unzipped_ok", "ep02", None),
])
def test_fetch_local_copies_exactly_one_checkpoint_into_a_private_directory(uploaded, name, display,
                                                                             expected):
    from lraudit.verify import formats
    from lraudit.verify.discover import discover
    from lraudit.verify.storage import fetch_local

    _manifest(uploaded, name)
    found = discover(f"memory://lraudit-runs/{name}")
    candidate = next((c for c in found.candidates if c.display == display), None)
    if candidate is None:
        pytest.skip(f"{name} has no {display} here")
    original = uploaded / name / display
    with fetch_local(found.storage, candidate) as local:
        workdir = Path(local).parent
        assert stat.S_IMODE(os.stat(workdir).st_mode) == 0o700
        copied = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file())
        if expected is None:
            expected = sorted(str(p.relative_to(original.parent)) for p in original.rglob("*")
                              if p.is_file())
        assert copied == sorted(expected)
        for rel in copied:
            assert (workdir / rel).read_bytes() == (original.parent / rel).read_bytes()
        # the copy is a checkpoint the local readers accept, with the same content
        again = formats.read(discover(local).candidates[0])
        first = formats.read(candidate, found.storage)
        assert (again.step, again.lr, again.error) == (first.step, first.lr, first.error)
    assert not workdir.exists()


def test_fetch_local_downloads_from_s3_only_that_checkpoint(aws, uploaded):
    from lraudit.verify.discover import discover
    from lraudit.verify.storage import fetch_local

    _manifest(uploaded, "k3_tfckpt_resume_ok")
    found = discover(f"s3://{BUCKET}/runs/k3_tfckpt_resume_ok")
    candidate = next(c for c in found.candidates if c.display == "ckpt-4")
    before = found.storage.stats.bytes
    with fetch_local(found.storage, candidate) as local:
        names = sorted(os.listdir(os.path.dirname(local)))
        assert names == ["ckpt-4.data-00000-of-00001", "ckpt-4.index"]
        size = sum(os.path.getsize(os.path.join(os.path.dirname(local), n)) for n in names)
    assert found.storage.stats.bytes - before == size     # those two objects, nothing else


def test_fetch_local_removes_the_copy_when_the_caller_fails(uploaded):
    from lraudit.verify.discover import discover
    from lraudit.verify.storage import fetch_local

    _manifest(uploaded, "k3_keras_recompile")
    found = discover("memory://lraudit-runs/k3_keras_recompile")
    with pytest.raises(RuntimeError):
        with fetch_local(found.storage, found.candidates[0]) as local:
            workdir = Path(local).parent
            raise RuntimeError("replay failed")
    assert not workdir.exists()


def test_fetch_local_of_a_local_checkpoint_is_the_checkpoint_itself(uploaded, tmp_path):
    from lraudit.verify.discover import discover
    from lraudit.verify.storage import fetch_local

    _manifest(uploaded, "k3_keras_recompile")
    found = discover(str(uploaded / "k3_keras_recompile"))
    before = sorted(os.listdir(uploaded / "k3_keras_recompile"))
    with fetch_local(found.storage, found.candidates[0]) as local:
        assert local == found.candidates[0].path
    assert sorted(os.listdir(uploaded / "k3_keras_recompile")) == before


# ----------------------------------------------------------------------------- progress


def test_progress_goes_to_a_terminal_only(uploaded):
    pty = pytest.importorskip("pty", reason="needs a POSIX pseudo-terminal")

    _manifest(uploaded, "k3_keras_recompile")
    target = f"file://{uploaded / 'k3_keras_recompile'}"
    argv = [sys.executable, "-m", "lraudit.cli", "verify", target, "--replay", "0", "--format", "json"]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert "reading checkpoints" not in piped.stderr
    main, replica = pty.openpty()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=replica, timeout=120, cwd=ROOT,
                              env=env)
        os.close(replica)
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
    assert b"reading checkpoints 4/4" in seen
    assert json.loads(proc.stdout) == json.loads(piped.stdout)   # stdout untouched by progress


@pytest.mark.parametrize("name", ["k3_keras_resume_ok", "k3_weights_unbuilt"])
def test_replay_of_a_remote_run_matches_the_local_one(aws, uploaded, name):
    # replay copies the one checkpoint it loads into a private temp dir (storage.fetch_local);
    # measured rates, LRV007 and all, come out byte for byte as for the local files
    sys.path.insert(0, str(ROOT / "fixtures"))
    from make_checkpoints import REPLAY_ARGS

    manifest = _manifest(uploaded, name)
    local = str(uploaded / manifest["target"])
    args = ("--replay", "1", *REPLAY_ARGS)
    _same_report(local, f"memory://lraudit-runs/{name}", *args)
    _same_report(local, f"s3://{BUCKET}/runs/{name}", *args)
    report = json.loads(run_verify(local, "--format", "json", *args).stdout)
    assert report["replay"] and report["replay"][0]["steps"]
