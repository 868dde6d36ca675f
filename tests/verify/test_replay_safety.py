"""Replay never runs code from a checkpoint unless --unsafe says so.

A `.keras` file with a Lambda layer carries Python bytecode; Keras's safe_mode refuses to load
it.  Replay keeps safe_mode on and says how to opt out; with --unsafe the same file replays.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verify_helpers import ROOT, needs_tensorflow, run_verify

MAKE_LAMBDA = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras, numpy as np
out = sys.argv[1]
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                          keras.layers.Lambda(lambda t: t * 2.0), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mean_squared_error")
x = np.random.RandomState(0).rand(16, 3).astype("float32")
model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)
model.save(os.path.join(out, "ep01.keras"))
"""


@pytest.fixture(scope="module")
def lambda_run(tmp_path_factory):
    needs_tensorflow()
    out = tmp_path_factory.mktemp("lambda_run")
    proc = subprocess.run([sys.executable, "-c", MAKE_LAMBDA, str(out)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_lambda_layer_refused_without_unsafe(lambda_run):
    result = run_verify(lambda_run, "--format", "json", "--replay", "1")
    assert result.exit_code == 2                      # asked to replay, could not: not a pass
    (entry,) = json.loads(result.stdout)["replay"]
    assert entry["status"] == "error" and entry["steps"] == []
    lines = [ln for ln in result.stderr.splitlines() if "ep01.keras" in ln]
    assert len(lines) == 1 and "--unsafe" in lines[0] and "safe_mode" in lines[0]
    assert "Traceback" not in result.stderr
    assert "safe_mode" in entry["reason"]
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["code"], finding["severity"], finding["checkpoint"]) == ("LRV011", "info", "ep01.keras")
    assert "not verified" in finding["message"] and "safe_mode" in finding["message"]


def test_a_failed_replay_is_an_info_finding_never_no_findings(lambda_run):
    """Replay by default (not asked for): the run is not failed, but the summary says that the
    only checkpoint was not verified; --fail-on info makes it fail."""
    from click.testing import CliRunner

    from lraudit.verify.command import verify_command

    result = CliRunner().invoke(verify_command, [str(lambda_run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "No findings" not in result.stdout
    assert "LRV011 [info]" in result.stdout
    assert result.stdout.rstrip().endswith("Found 1 finding (1 info) in 1 checkpoint checked.")
    result = CliRunner().invoke(verify_command, [str(lambda_run), "--fail-on", "info"],
                                catch_exceptions=False)
    assert result.exit_code == 1
    # asked for explicitly, a replay that could not run fails the run as before
    assert run_verify(lambda_run, "--replay", "2").exit_code == 2


def test_lambda_layer_replays_with_unsafe(lambda_run):
    result = run_verify(lambda_run, "--format", "json", "--replay", "1", "--unsafe")
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)["replay"]
    assert entry["status"] == "ok"
    assert entry["steps"][0]["lr_applied"] == pytest.approx(0.01, rel=1e-3)


def test_fast_path_alone_never_loads_the_lambda(lambda_run):
    # the fast path reads the step counter from HDF5 and the config as JSON: nothing executes
    result = run_verify(lambda_run, "--format", "json", "--replay", "0")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["replay"] == [] and report["checkpoints"][0]["step"] == 2
