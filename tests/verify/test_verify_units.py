"""Unit tests that need no TensorFlow: --schedule parsing, trace reading and reasoning, file-name
positions and ordering, the cross-checkpoint analysis on synthetic records, the CLI options."""

from __future__ import annotations

import json

import pytest

from lraudit.verify import schedules
from lraudit.verify.analyze import Options, analyze_run, infer_steps_per_epoch
from lraudit.verify.discover import name_position, order_run
from lraudit.verify.model import Candidate, CheckpointInfo, Position
from lraudit.verify.spec import SpecError, parse_schedule
from lraudit.verify.trace import read_trace, steps_per_epoch, trace_findings
from verify_helpers import run_verify

EXP = {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
       "config": {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5,
                  "staircase": False, "name": "ExponentialDecay"}, "registered_name": None}


# ------------------------------------------------------------------------------ --schedule


def test_spec_keyword_positional_and_dotted():
    a = parse_schedule("ExponentialDecay(initial_learning_rate=0.1, decay_steps=1000, decay_rate=0.96)")
    b = parse_schedule("keras.optimizers.schedules.ExponentialDecay(0.1, 1000, 0.96)")
    assert a["config"]["staircase"] is False
    assert schedules.same_schedule(a, b)
    assert schedules.evaluate(a, 1000) == schedules.f32(0.1 * 0.96)


def test_spec_constant_and_negative_literals():
    assert schedules.evaluate(parse_schedule("0.001"), 123) == schedules.f32(0.001)
    cosine = parse_schedule("CosineDecay(0.1, 100, alpha=0.0, warmup_target=None)")
    assert cosine["config"]["warmup_target"] is None


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('echo pwned')", "unknown schedule 'system'"),
    ("[1, 2]", "must look like"),
    ("ExponentialDecay(initial_learning_rate=__import__('os'), decay_steps=1, decay_rate=0.5)", "literal"),
    ("ExponentialDecay(0.1, 10, 0.5, **kw)", "kwargs"),
    ("MyDecay(0.1)", "unknown schedule"),
    ("ExponentialDecay(0.1, decay_steps=10)", "needs decay_rate"),
    ("ExponentialDecay(0.1, 10, 0.5, bogus=1)", "no argument 'bogus'"),
    ("ExponentialDecay(0.1,", "not a Keras-style call"),
    ("'fast'", "must be a number"),
])
def test_spec_rejects_code_and_nonsense(text, message):
    with pytest.raises(SpecError, match=message):
        parse_schedule(text)


def test_spec_json_file_forms(tmp_path):
    k3 = tmp_path / "k3.json"
    k3.write_text(json.dumps(EXP))
    k2 = tmp_path / "k2.json"
    k2.write_text(json.dumps({"class_name": "ExponentialDecay", "config": EXP["config"]}))
    opt = tmp_path / "optimizer.json"
    opt.write_text(json.dumps({"class_name": "SGD", "config": {"learning_rate": EXP}}))
    for path in (k3, k2, opt):
        assert schedules.same_schedule(parse_schedule(str(path)), EXP)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_schedule(str(bad))


# ------------------------------------------------------------------------------ trace


def _write_trace(path, records, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return read_trace(str(path), path.name)


def _rec(epoch, step, lr):
    return {"epoch": epoch, "step": step, "lr": lr, "time": 1.0}


def test_trace_torn_last_line_and_garbage(tmp_path):
    trace = _write_trace(tmp_path / "t.jsonl", [_rec(1, 4, 0.1), _rec(2, 8, 0.1)],
                         tail='not json\n{"epoch": 3, "st')
    assert [r.step for r in trace.records] == [4, 8]
    assert trace.partial_last_line and trace.skipped == 1


def test_trace_restart_at_exact_epoch(tmp_path):
    recs = [_rec(1, 4, schedules.evaluate(EXP, 4)), _rec(2, 8, schedules.evaluate(EXP, 8)),
            _rec(3, 4, schedules.evaluate(EXP, 4)), _rec(4, 8, schedules.evaluate(EXP, 8))]
    trace = _write_trace(tmp_path / "t.jsonl", recs)
    assert steps_per_epoch(trace) == 4
    found = trace_findings(trace, EXP, False, 4, 1e-6)
    assert [(f.code, f.expected, f.actual) for f in found] == [("LRV002", 12, 4)]
    assert "at epoch 3" in found[0].message


def test_trace_jump_warmup_and_epoch_restart(tmp_path):
    jump = _write_trace(tmp_path / "a.jsonl", [_rec(1, 4, 0.01), _rec(2, 8, 0.01), _rec(3, 12, 0.05)])
    assert [f.code for f in trace_findings(jump, None, True, None, 1e-6)] == ["LRV005"]
    warmup = _write_trace(tmp_path / "b.jsonl", [_rec(1, 4, 0.01), _rec(2, 8, 0.02), _rec(3, 12, 0.03)])
    assert trace_findings(warmup, None, True, None, 1e-6) == []
    restart = _write_trace(tmp_path / "c.jsonl", [_rec(1, 4, 0.1), _rec(2, 8, 0.05), _rec(1, 12, 0.1)])
    assert [f.code for f in trace_findings(restart, None, True, None, 1e-6)] == ["LRV010", "LRV005"]


def test_trace_rate_off_schedule(tmp_path):
    recs = [_rec(1, 4, schedules.evaluate(EXP, 4)), _rec(2, 8, 0.5), _rec(3, 12, 0.5)]
    trace = _write_trace(tmp_path / "t.jsonl", recs)
    found = trace_findings(trace, EXP, False, 4, 1e-6)
    assert [f.code for f in found] == ["LRV003"]  # one finding for the whole streak


# ------------------------------------------------------------------------------ discovery


@pytest.mark.parametrize("name, expected", [
    ("ep03.keras", (3, 0)),
    ("model.epoch_12.weights.h5", (12, 0)),
    ("weights.03-0.45.hdf5", (3, 0)),
    ("b_ep02_b003.keras", (1, 3)),
    ("ckpt-7", None),
    ("model_1000.keras", None),
    ("lr1e-3_final.keras", None),
    ("step_000500.keras", None),
    ("ep01.ckpt", (1, 0)),
])
def test_name_position(name, expected):
    position = name_position("/runs/x/" + name)
    assert (None if position is None else (position.epochs, position.batches)) == expected


def _info(name, step=None, epoch=None, batches=0, state=None, mtime=0.0, **kw):
    cand = Candidate(path="/r/" + name, display=name, kind="keras", run_dir="/r", mtime=mtime,
                     state_index=state)
    info = CheckpointInfo(candidate=cand, format="keras", step=step,
                          has_optimizer=step is not None, **kw)
    if epoch is not None:
        info.position = Position(epochs=epoch, batches=batches, source="file name")
    return info


def test_order_by_epoch_then_state_then_template_then_mtime():
    by_epoch = order_run([_info("ep10.keras", epoch=10), _info("ep02.keras", epoch=2)])
    assert [i.display for i in by_epoch] == ["ep02.keras", "ep10.keras"]
    by_state = order_run([_info("ckpt-b", state=1), _info("ckpt-a", state=0)])
    assert [i.display for i in by_state] == ["ckpt-a", "ckpt-b"]
    natural = order_run([_info("ckpt-10"), _info("ckpt-9")])
    assert [i.display for i in natural] == ["ckpt-9", "ckpt-10"]
    by_time = order_run([_info("final.keras", mtime=9), _info("start.keras", mtime=1)])
    assert [i.display for i in by_time] == ["start.keras", "final.keras"]


# ------------------------------------------------------------------------------ analysis


def _analyze(infos, **opts):
    return analyze_run("/r", ".", infos, Options(**opts))


def test_steps_per_epoch_inference_survives_a_restart():
    infos = [_info("ep1", 4, 1), _info("ep2", 8, 2), _info("ep3", 4, 3), _info("ep4", 8, 4)]
    assert infer_steps_per_epoch(infos) == 4
    assert infer_steps_per_epoch([_info("ep1", 4, 1), _info("ep3", 20, 3), _info("ep4", 21, 4)]) is None


def test_restart_reported_once_at_first_checkpoint():
    infos = [_info(f"ep{e}", s, e, schedule=EXP, lr_kind="schedule")
             for e, s in [(1, 4), (2, 8), (3, 4), (4, 8), (5, 12)]]
    result = _analyze(infos)
    assert [(f.code, f.checkpoint, f.expected, f.actual) for f in result.findings] == \
        [("LRV002", "ep3", 12, 4)]
    assert [r.status for r in result.rows] == ["ok", "ok", "finding", "finding", "finding"]


def test_restart_without_positions_uses_previous_counter():
    infos = [_info("ckpt-1", 4), _info("ckpt-2", 8), _info("ckpt-3", 2)]
    (finding,) = _analyze(infos).findings
    assert (finding.code, finding.checkpoint, finding.expected) == ("LRV002", "ckpt-3", 8)
    assert "at least 8" in finding.message


def test_mixed_precision_tolerates_skipped_steps_only():
    def backup(name, step, epoch, **kw):
        info = _info(name, step, **kw)
        info.position = Position(epochs=epoch, batches=0, source="backup metadata")
        return info

    skipped = [backup("a", 4, 1, mixed_precision=True), backup("b", 8, 2, mixed_precision=True),
               backup("c", 10, 3, mixed_precision=True)]
    assert _analyze(skipped, steps_per_epoch=4).findings == []
    plain = [backup("a", 4, 1), backup("b", 8, 2), backup("c", 10, 3)]
    assert [f.code for f in _analyze(plain, steps_per_epoch=4).findings] == ["LRV002"]


def test_lr_jump_but_not_a_warmup_or_a_decrease():
    flat_then_up = [_info(f"ep{e}", 4 * e, e, lr=r, lr_kind="float") for e, r in [(1, .01), (2, .01), (3, .05)]]
    assert [(f.code, f.checkpoint) for f in _analyze(flat_then_up).findings] == [("LRV005", "ep3")]
    ramp = [_info(f"ep{e}", 4 * e, e, lr=r, lr_kind="float") for e, r in [(1, .01), (2, .02), (3, .03)]]
    assert _analyze(ramp).findings == []
    plateau = [_info(f"ep{e}", 4 * e, e, lr=r, lr_kind="float") for e, r in [(1, .1), (2, .05), (3, .025)]]
    assert _analyze(plateau).findings == []


def test_schedule_change_and_mismatch():
    other = json.loads(json.dumps(EXP))
    other["config"]["decay_steps"] = 8
    infos = [_info("ep1", 4, 1, schedule=EXP, lr_kind="schedule"),
             _info("ep2", 8, 2, schedule=other, lr_kind="schedule"),
             _info("ep3", 12, 3, schedule=other, lr_kind="schedule")]
    codes = [(f.code, f.checkpoint) for f in _analyze(infos).findings]
    assert codes == [("LRV003", "ep2"), ("LRV004", "ep2")]


def test_user_schedule_overrides_and_checks_float_rate():
    infos = [_info("ep1", 4, 1, lr=0.1, lr_kind="float"), _info("ep2", 8, 2, lr=0.1, lr_kind="float")]
    result = _analyze(infos, schedule=EXP)
    assert [(f.code, f.checkpoint) for f in result.findings] == [("LRV003", "ep1")]
    assert result.rows[1].expected_lr == schedules.evaluate(EXP, 8)


def test_no_optimizer_streak_and_custom_schedule_info():
    custom = {"module": "lab", "class_name": "Halving", "config": {"x": 1}, "registered_name": "lab>Halving"}
    infos = [_info("ep1", schedule=custom, lr_kind="schedule"), _info("ep2"), _info("ep3", 12, 3)]
    infos[0].has_optimizer = False
    infos[1].has_optimizer = False
    codes = [(f.code, f.checkpoint) for f in _analyze(infos).findings]
    assert codes == [("LRV001", "ep1"), ("LRV009", "ep1")]


# ------------------------------------------------------------------------------ CLI


def _tiny_run(tmp_path):
    """A TF checkpoint state file that names two missing checkpoints: readable target,
    two LRV008 findings, no h5py needed."""
    tmp_path.mkdir()
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n'
                                         'all_model_checkpoint_paths: "ckpt-1"\n'
                                         'all_model_checkpoint_paths: "ckpt-2"\n')
    return tmp_path


def test_cli_fail_on_output_file_and_nothing_to_replay(tmp_path):
    run = _tiny_run(tmp_path / "run")
    out = tmp_path / "report.json"
    result = run_verify(run, "--format", "json", "--output-file", out, "--replay", "3")
    assert result.exit_code == 1
    assert result.stdout == ""
    report = json.loads(out.read_text())
    # unreadable checkpoints are never handed to Keras: no worker starts, the list stays empty
    assert [f["code"] for f in report["findings"]] == ["LRV008", "LRV008"]
    assert report["replay"] == []


def test_cli_usage_errors(tmp_path):
    run = _tiny_run(tmp_path / "run")
    bad_schedule = run_verify(run, "--schedule", "os.system('x')")
    assert bad_schedule.exit_code == 2 and "--schedule" in bad_schedule.stderr
    missing_module = run_verify(run, "--custom-objects", "missing_module_file.py")
    assert missing_module.exit_code == 2 and "no such file" in missing_module.stderr
    assert run_verify(run, "--steps-per-epoch", "0").exit_code == 2
    assert run_verify(run, "--custom-objects", "mylab.schedules").exit_code == 1


# ------------------------------------------------------------------------------ rule pages


@pytest.mark.parametrize("code", sorted(__import__("lraudit.verify.codes", fromlist=["CODES"]).CODES))
def test_every_code_has_a_rule_page(code):
    from lraudit.verify.codes import CODES, rule_page

    page = rule_page(code)
    name, severity = CODES[code]
    assert page is not None, f"lraudit/verify/rules/{code}.md is missing"
    assert page.startswith(f"# {code} {name}\n")
    assert f"**Severity:** {severity}" in page
    for heading in ("## What it finds", "## Why it matters", "## What to do"):
        assert heading in page


def test_batch_size_change_is_not_a_restart():
    # resumed with half the batch size: 8 steps per epoch from epoch 3 on; the counter never fell
    halved = [_info("ep1", 4, 1), _info("ep2", 8, 2), _info("ep3", 16, 3), _info("ep4", 24, 4)]
    assert infer_steps_per_epoch(halved) is None
    assert _analyze(halved).findings == []
    doubled = [_info("ep1", 8, 1), _info("ep2", 16, 2), _info("ep3", 20, 3), _info("ep4", 24, 4)]
    assert _analyze(doubled).findings == []
    # two checkpoints only: one pair cannot tell a batch-size change from a reset
    assert infer_steps_per_epoch([_info("ep1", 4, 1), _info("ep2", 12, 2)]) is None


def test_restart_found_when_early_checkpoints_were_rotated_away():
    # CheckpointManager kept only the last three, all written after a reset at epoch 2
    kept = [_info("ep3", 4, 3), _info("ep4", 8, 4), _info("ep5", 12, 5)]
    assert infer_steps_per_epoch(kept) == 4
    assert [(f.code, f.checkpoint, f.expected) for f in _analyze(kept).findings] == [("LRV002", "ep3", 12)]


def test_restart_with_catch_up_is_found_by_position():
    # reset at the resume after epoch 2, next checkpoint only at epoch 6: the counter (16) never
    # falls below an earlier one, but it is 8 steps behind 6 x 4
    infos = [_info("ep1", 4, 1), _info("ep2", 8, 2), _info("ep6", 16, 6), _info("ep7", 20, 7)]
    assert [(f.code, f.checkpoint, f.expected) for f in _analyze(infos).findings] == [("LRV002", "ep6", 24)]


def test_mid_epoch_saves_named_by_epoch_only_are_not_restarts():
    # ModelCheckpoint("ep{epoch:02d}.keras", save_freq=3) with 4 steps per epoch: the file of
    # epoch 2 was last written at step 6, two steps short of 2 x 4
    infos = [_info("ep1", 4, 1), _info("ep2", 6, 2), _info("ep3", 12, 3)]
    assert _analyze(infos, steps_per_epoch=4).findings == []
    reset = [_info("ep1", 4, 1), _info("ep2", 8, 2), _info("ep3", 4, 3)]
    assert [f.code for f in _analyze(reset, steps_per_epoch=4).findings] == ["LRV002"]
