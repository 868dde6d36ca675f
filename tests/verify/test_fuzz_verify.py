"""Property-based fuzzing of `lraudit verify` on mutated real checkpoints of every format.

Each seed is one file of a real generated run (a `.keras`, a Keras 3 `.weights.h5`, legacy and
tf-keras `.h5`, a TF checkpoint's `.index` and data shard, its `checkpoint` state file, a
tf-keras SavedModel's `keras_metadata.pb`, BackupAndRestore metadata, a sharded-weights
manifest, an unzipped model's `config.json`, an lraudit trace).  Mutations: bit flips, bytes
overwritten with boundary integers, truncation, splices from other files of the run, inserted
and deleted bytes; and, one level up, nasty values written into a `.keras` optimizer config
(rebuilt with valid zip checksums so that they reach the analysis).

The property: `verify()` returns (never raises), the damaged checkpoint is either read or
reported as LRV008 with a reason that is not a reader bug ("unexpected ..."), and every other
checkpoint of the run is still read.  Fast by default (derandomized); a longer random run:
`LRAUDIT_FUZZ_EXAMPLES=5000 python -m pytest tests/verify/test_fuzz_verify.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lraudit.verify import render, schedules
from lraudit.verify.analyze import Options
from lraudit.verify.engine import verify
from lraudit.verify.spec import SpecError, parse_schedule
from mutations import byte_mutation
from verify_helpers import ROOT

LONG_RUN = "LRAUDIT_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("LRAUDIT_FUZZ_EXAMPLES", "12"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG_RUN, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True)

# (run, file inside it, the checkpoint row that file belongs to)
SEEDS = [
    ("k3_keras_resume_ok", "ep02.keras", "ep02.keras"),
    ("k3_weights_resume_ok", "ep02.weights.h5", "ep02.weights.h5"),
    ("k3_h5_resume_ok", "ep02.h5", "ep02.h5"),
    ("k2_h5_legacy_optimizer_ok", "ep02.h5", "ep02.h5"),
    ("k2_h5_weights_only", "w01.h5", "w01.h5"),
    ("k3_mixed_precision_ok", "ep02.keras", "ep02.keras"),
    ("k3_tfckpt_resume_ok", "ckpt-2.index", "ckpt-2"),
    ("k3_tfckpt_resume_ok", "ckpt-2.data-00000-of-00001", "ckpt-2"),
    ("k3_tfckpt_resume_ok", "checkpoint", None),
    ("k2_savedmodel_load_model", "ep03/keras_metadata.pb", "ep03"),
    ("k2_backup_ok", "chief/ckpt-3.index", None),
    ("k3_backup_epoch_ok", "training_metadata.json", "latest.weights.h5"),
    ("k3_sharded_and_unzipped_ok", "w01.weights.json", "w01.weights.json"),
    ("k3_sharded_and_unzipped_ok", "ep02/config.json", "ep02"),
    ("k3_keras_resume_ok", "lraudit-trace.jsonl", None),
]
BOUNDARY_INTS = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1]


@pytest.fixture(scope="module")
def arenas(runs_dir, manifests, tmp_path_factory) -> dict[str, Path]:
    """A private copy of each seed run: examples overwrite one file in it, never the originals."""
    root = tmp_path_factory.mktemp("fuzz_arenas")
    out = {}
    for run, _, _ in SEEDS:
        if run in manifests and run not in out:
            out[run] = root / run
            shutil.copytree(runs_dir / run, out[run])
    return out


def mutate(draw, data: bytes, others: list[bytes]) -> bytes:
    """One to four byte-level mutations of `data` (drawn with hypothesis's `draw`)."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "flip", "integer", "truncate", "splice", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(buf) - 1)))
        if byte_mutation(draw, buf, op, pos, others, splice=(64, 256), insert_max=16):
            continue
        if op == "integer":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.sampled_from(BOUNDARY_INTS)) & (2 ** (8 * width) - 1)
            buf[pos:pos + width] = value.to_bytes(width, "little")
        else:
            del buf[pos:pos + draw(st.integers(1, 64))]
    return bytes(buf)


def check(target: Path, victim_row: str | None, options: Options | None = None) -> None:
    """The property every mutated run must satisfy."""
    result = verify(str(target), options)
    render.render_json(result)           # both renderers accept whatever was read
    render.render_text(result, colour=False)
    rows = {row.to_json()["path"]: row.to_json() for row in result.rows}
    for finding in result.findings:
        message = finding.message
        assert "unexpected" not in message and "internal error" not in message, message
        assert "\n" not in message
    for path, row in rows.items():
        if victim_row is not None and path != victim_row and row["status"] == "unreadable":
            pytest.fail(f"damage to {victim_row} made {path} unreadable too")


@pytest.mark.parametrize("run, victim, row", SEEDS, ids=[f"{r}/{v}" for r, v, _ in SEEDS])
def test_mutated_checkpoint_is_read_or_lrv008(arenas, runs_dir, run: str, victim: str, row: str | None) -> None:
    if run not in arenas:
        pytest.skip(f"fixture run {run} missing")
    target = arenas[run]
    original = (runs_dir / run / victim).read_bytes()
    others = [p.read_bytes() for p in sorted((runs_dir / run).rglob("*")) if p.is_file()]

    @FUZZ
    @given(st.data())
    def damaged(data) -> None:
        (target / victim).write_bytes(mutate(data.draw, original, others))
        check(target, row)

    try:
        damaged()
    finally:
        (target / victim).write_bytes(original)


# --------------------------------------------------------------------------- structured values

NASTY_NUMBERS = st.one_of(
    st.integers(-2**70, 2**70), st.integers(-10**400, 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 1e-45, 1e308, -0.0]))
LEAVES = st.one_of(NASTY_NUMBERS, st.booleans(), st.none(), st.text(max_size=6))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=10)
SCHEDULE_KEYS = ["initial_learning_rate", "decay_steps", "decay_rate", "staircase", "boundaries", "values",
                 "end_learning_rate", "power", "cycle", "alpha", "warmup_target", "warmup_steps",
                 "first_decay_steps", "t_mul", "m_mul", "value", "name"]
SCHEDULES = st.fixed_dictionaries({
    "module": st.one_of(st.just("keras.optimizers.schedules"), st.none(), VALUES),
    "class_name": st.one_of(st.sampled_from([*schedules.PARAMETERS, "Constant", "MySchedule"]), VALUES),
    "config": st.one_of(st.dictionaries(st.sampled_from(SCHEDULE_KEYS),
                                        st.one_of(VALUES, st.lists(NASTY_NUMBERS, max_size=5)), max_size=8), VALUES),
    "registered_name": st.one_of(st.none(), VALUES)})
OPTIMIZERS = st.one_of(
    st.fixed_dictionaries({
        "module": st.just("keras.optimizers"),
        "class_name": st.one_of(st.sampled_from(["SGD", "Adam", "LossScaleOptimizer"]), VALUES),
        "config": st.one_of(st.fixed_dictionaries(
            {"learning_rate": st.one_of(NASTY_NUMBERS, SCHEDULES, VALUES)},
            optional={"decay": NASTY_NUMBERS, "lr": NASTY_NUMBERS, "gradient_accumulation_steps": NASTY_NUMBERS,
                      "inner_optimizer": VALUES}), VALUES)}),
    VALUES)


@pytest.fixture(scope="module")
def keras_members(runs_dir, manifests) -> dict[str, dict[str, bytes]]:
    if "k3_keras_resume_ok" not in manifests:
        pytest.skip("fixture run k3_keras_resume_ok missing")
    out = {}
    for path in sorted((runs_dir / "k3_keras_resume_ok").glob("*.keras")):
        with zipfile.ZipFile(path) as archive:
            out[path.name] = {name: archive.read(name) for name in archive.namelist()}
    return out


@FUZZ
@given(st.lists(st.tuples(OPTIMIZERS, st.one_of(st.none(), VALUES)), min_size=4, max_size=4),
       st.one_of(st.none(), SCHEDULES), st.one_of(st.none(), st.integers(-5, 2**40)))
def test_nasty_optimizer_configs_reach_the_analysis_safely(tmp_path_factory, keras_members, configs,
                                                          expected, steps_per_epoch) -> None:
    """Valid archives with absurd optimizer configs and metadata: the readers and the analysis
    (schedule evaluation, comparison, messages) take them without raising."""
    target = tmp_path_factory.mktemp("configs")
    for (name, members), (optimizer, metadata) in zip(sorted(keras_members.items()), configs):
        config = json.loads(members["config.json"])
        config["compile_config"]["optimizer"] = optimizer
        files = dict(members, **{"config.json": json.dumps(config).encode()})
        if metadata is not None:
            files["metadata.json"] = json.dumps(metadata).encode()
        with zipfile.ZipFile(target / name, "w") as archive:
            for member, data in files.items():
                archive.writestr(member, data)
    try:
        schedule = schedules.normalize(expected) if expected is not None else None
    except schedules.ScheduleError:
        schedule = None
    options = Options(schedule=schedule, steps_per_epoch=steps_per_epoch if steps_per_epoch and steps_per_epoch > 0 else None)
    check(target, None, options)


TRACE_RECORDS = st.dictionaries(st.sampled_from(["step", "epoch", "lr", "time", "event", "batch"]),
                                st.one_of(NASTY_NUMBERS, VALUES), max_size=6)


@FUZZ
@given(st.lists(st.one_of(TRACE_RECORDS, VALUES), max_size=12), st.one_of(st.none(), VALUES))
def test_nasty_trace_and_backup_metadata(tmp_path_factory, runs_dir, manifests, records, metadata) -> None:
    """The trace is lraudit's own file and the backup metadata Keras's, but both are plain
    JSON that a crash, a disk or a person can damage."""
    if "k3_backup_epoch_ok" not in manifests:
        pytest.skip("fixture run k3_backup_epoch_ok missing")
    target = tmp_path_factory.mktemp("trace")
    shutil.copytree(runs_dir / "k3_backup_epoch_ok", target, dirs_exist_ok=True)
    (target / "lraudit-trace.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if metadata is not None:
        (target / "training_metadata.json").write_text(json.dumps(metadata))
    check(target, None)


@FUZZ
@given(st.one_of(
    st.text(max_size=80),
    st.builds(lambda name, args: f"{name}({', '.join(args)})",
              st.sampled_from([*schedules.PARAMETERS, "Foo", "keras.optimizers.schedules.CosineDecay",
                               "__import__('os').system", "(lambda: 1)"]),
              st.lists(st.one_of(st.from_regex(r"[a-z_]{1,20}=[-+0-9e.]{1,12}", fullmatch=True),
                                 st.from_regex(r"[a-z_]{1,20}=\[[0-9, .]{0,20}\]", fullmatch=True),
                                 st.sampled_from(["x=__import__('os')", "**{}", "*[]", "decay_steps=1e999",
                                                  "initial_learning_rate=-0.0", "values=[[[[1]]]]"])),
                       max_size=6))))
def test_schedule_specs_parse_or_fail_with_spec_error(text: str) -> None:
    """--schedule text from a command line: a schedule or SpecError, nothing else."""
    try:
        serialized = parse_schedule(text)
    except SpecError as exc:
        assert str(exc)
        return
    assert schedules.is_builtin(serialized)


def test_cli_on_damaged_runs_of_every_format(arenas, runs_dir, tmp_path) -> None:
    """A few whole-command runs, as CI sees them: exit 0, 1 or 2, no traceback, valid JSON."""
    import random

    rng = random.Random(8)
    for run, victim, _ in SEEDS:
        if run not in arenas:
            continue
        target = tmp_path / run
        if not target.exists():
            shutil.copytree(runs_dir / run, target)
        data = bytearray((runs_dir / run / victim).read_bytes())
        for _ in range(3):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        del data[rng.randrange(len(data) + 1):]
        (target / victim).write_bytes(bytes(data))
    proc = subprocess.run([sys.executable, "-m", "lraudit.cli", "verify", "--replay", "0", "--format", "json",
                           str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    assert report["checkpoints"] and all("unexpected" not in f["message"] for f in report["findings"])
