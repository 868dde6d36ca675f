"""Every generated checkpoint run gets the verdict its manifest states, through the real CLI."""

from __future__ import annotations

import json
import os

import pytest

from verify_helpers import have, make_checkpoints, run_verify, verify_json

RUN_NAMES = sorted(make_checkpoints.RUNS)
TOP_KEYS = {"target", "checkpoints", "findings", "replay"}
CHECKPOINT_KEYS = {"path", "format", "epoch", "step", "lr", "expected_step", "expected_lr", "status"}
FINDING_KEYS = {"code", "name", "severity", "message", "checkpoint", "expected", "actual"}


def _manifest(manifests, name):
    if name not in manifests:
        if make_checkpoints.RUNS[name].keras == 2 and not have("tf_keras"):
            pytest.skip("tf_keras not installed: Keras 2 runs are not generated")
        pytest.fail(f"run {name} was not generated")
    return manifests[name]


@pytest.mark.parametrize("name", RUN_NAMES)
def test_verdict(runs_dir, manifests, name):
    manifest = _manifest(manifests, name)
    code, report = verify_json(runs_dir / manifest["target"], *manifest["args"])
    first: dict[str, str] = {}
    for finding in report["findings"]:
        first.setdefault(finding["code"], finding["checkpoint"])
    assert set(first) == set(manifest["codes"]), report["findings"]
    for code_name, checkpoint in manifest["codes"].items():
        if checkpoint is not None:
            assert first[code_name] == checkpoint, f"{code_name} reported first at {first[code_name]}"
    assert code == manifest["exit_code"]


@pytest.mark.parametrize("name", [n for n in RUN_NAMES if not make_checkpoints.RUNS[n].codes])
def test_correct_resume_is_clean(runs_dir, manifests, name):
    manifest = _manifest(manifests, name)
    code, report = verify_json(runs_dir / manifest["target"], *manifest["args"])
    assert code == 0
    assert [f for f in report["findings"] if f["severity"] in ("error", "warning")] == []
    assert report["checkpoints"], "a clean verdict must come from checkpoints actually read"
    for row in report["checkpoints"]:
        assert row["status"] == "ok"
        assert isinstance(row["step"], int) and row["step"] > 0


@pytest.mark.parametrize("name", RUN_NAMES)
def test_json_contract(runs_dir, manifests, name):
    manifest = _manifest(manifests, name)
    target = runs_dir / manifest["target"]
    _, report = verify_json(target, *manifest["args"])
    assert set(report) == TOP_KEYS
    assert report["target"] == str(target)
    assert report["replay"] == []
    for row in report["checkpoints"]:
        assert set(row) == CHECKPOINT_KEYS
        assert row["status"] in ("ok", "finding", "unreadable")
        assert not os.path.isabs(row["path"])
        assert os.path.exists(target / row["path"]) or os.path.exists(f"{target / row['path']}.index") \
            or row["status"] == "unreadable"
        for key in ("epoch", "step", "expected_step"):
            assert row[key] is None or isinstance(row[key], int)
        for key in ("lr", "expected_lr"):
            assert row[key] is None or isinstance(row[key], float)
    for finding in report["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["severity"] in ("error", "warning", "info")
        assert finding["code"].startswith("LRV")
        assert finding["checkpoint"] and not os.path.isabs(finding["checkpoint"])
        json.dumps(finding)  # evidence values stay JSON-serializable


def test_restart_names_expected_and_found_step(runs_dir, manifests):
    _manifest(manifests, "k3_keras_recompile")
    code, report = verify_json(runs_dir / "k3_keras_recompile")
    (finding,) = [f for f in report["findings"] if f["code"] == "LRV002"]
    assert finding["expected"] == 12 and finding["actual"] == 4
    assert "ep03.keras" == finding["checkpoint"]
    rows = {r["path"]: r for r in report["checkpoints"]}
    assert rows["ep03.keras"]["status"] == rows["ep04.keras"]["status"] == "finding"
    assert rows["ep02.keras"]["status"] == "ok"
    # the rate it resumed with is the schedule's at the reset counter, not at step 12
    assert rows["ep03.keras"]["lr"] == pytest.approx(0.1 * 0.5 ** (4 / 4), rel=1e-6)
    assert rows["ep03.keras"]["expected_lr"] == pytest.approx(0.1 * 0.5 ** (12 / 4), rel=1e-6)


def test_mixed_precision_reads_inner_counter(runs_dir, manifests):
    _manifest(manifests, "k3_mixed_precision_ok")
    _, report = verify_json(runs_dir / "k3_mixed_precision_ok")
    steps = {r["path"]: r["step"] for r in report["checkpoints"]}
    assert steps["ep01.keras"] == 4 and steps["w04.weights.h5"] == 16


def test_trace_reports_exact_epoch(runs_dir, manifests):
    _manifest(manifests, "k3_trace_restart")
    _, report = verify_json(runs_dir / "k3_trace_restart")
    traced = [f for f in report["findings"] if f["checkpoint"] == "lraudit-trace.jsonl"]
    assert [f["code"] for f in traced] == ["LRV002"]
    assert "at epoch 3" in traced[0]["message"] and traced[0]["actual"] == 4


def test_half_written_trace_line_is_tolerated(runs_dir, manifests):
    _manifest(manifests, "k3_missing_initial_epoch")
    trace = (runs_dir / "k3_missing_initial_epoch" / "lraudit-trace.jsonl").read_text()
    assert not trace.endswith("\n")  # the generator leaves a torn last line
    result = run_verify(runs_dir / "k3_missing_initial_epoch")
    assert result.exit_code == 1
    assert "trace lraudit-trace.jsonl (5 epochs)" in result.stdout


def test_text_report_has_table_and_advice(runs_dir, manifests):
    _manifest(manifests, "k3_keras_recompile")
    result = run_verify(runs_dir / "k3_keras_recompile")
    out = result.stdout
    for header in ("checkpoint", "epoch", "step", "rate", "expected rate", "status"):
        assert header in out
    assert "ep03.keras: LRV002 [error]" in out
    assert "initial_epoch" in out  # says what to do instead
    assert out.rstrip().endswith("in 4 checkpoints checked.")


def test_single_checkpoint_file_target(runs_dir, manifests):
    _manifest(manifests, "k3_keras_resume_ok")
    code, report = verify_json(runs_dir / "k3_keras_resume_ok" / "ep03.keras")
    assert code == 0
    assert [r["path"] for r in report["checkpoints"]] == ["ep03.keras"]
    assert report["checkpoints"][0]["step"] == 12


@pytest.mark.parametrize("name, fail_on, expected", [
    ("k3_lr_jump", "error", 0),          # LRV005 is a warning
    ("k3_lr_jump", "warning", 1),
    ("k3_custom_schedule", "warning", 0),  # LRV009 is info
    ("k3_custom_schedule", "info", 1),
    ("k3_keras_resume_ok", "info", 0),
])
def test_fail_on(runs_dir, manifests, name, fail_on, expected):
    manifest = _manifest(manifests, name)
    result = run_verify(runs_dir / manifest["target"], "--fail-on", fail_on, *manifest["args"])
    assert result.exit_code == expected
