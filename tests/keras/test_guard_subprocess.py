"""ResumeGuard under MirroredStrategy (two logical CPUs) and under tf_keras (Keras 2).

Both need a fresh process (see resume_scenarios.py); each process runs all its scenarios
once and the tests below read its verdicts.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCRIPT = HERE / "resume_scenarios.py"


def start(flavour: str, workdir: Path) -> subprocess.Popen:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if flavour == "tf_keras":
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), flavour, str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def verdicts(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both processes at once: most of their time is TensorFlow's import, one core each."""
    procs = {}
    if importlib.util.find_spec("keras") is not None:
        procs["keras3-mirrored"] = start("keras3-mirrored", tmp_path_factory.mktemp("k3-mirrored"))
    if importlib.util.find_spec("tf_keras") is not None:
        procs["tf_keras"] = start("tf_keras", tmp_path_factory.mktemp("tf-keras"))
    try:
        return {name: verdicts(proc) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def keras3_mirrored(runs):
    if "keras3-mirrored" not in runs:
        pytest.skip("Keras 3 is not installed")
    return runs["keras3-mirrored"]


@pytest.fixture(scope="module")
def tf_keras(runs):
    if "tf_keras" not in runs:
        pytest.skip("tf_keras is not installed (pip install tf_keras)")
    return runs["tf_keras"]


def passed(outcome: dict) -> bool:
    return outcome["code"] is None and outcome["step"] == 12 and not outcome["unchanged"]


def stopped(outcome: dict, code: str) -> bool:
    return outcome["code"] == code and outcome["unchanged"]


def schedule_at(step: int) -> float:
    return 0.1 * 0.5 ** (step / 4)


def assert_trace(trace: list, expected_steps: list[int]) -> None:
    assert [step for _, step, _ in trace] == expected_steps
    assert [epoch for epoch, _, _ in trace] == [s // 4 for s in expected_steps]
    assert all(math.isclose(lr, schedule_at(step), rel_tol=1e-6) for _, step, lr in trace)


# -- Keras 3 under MirroredStrategy ----------------------------------------------------------


def test_keras3_mirrored_resume_passes_and_traces(keras3_mirrored):
    assert keras3_mirrored["flavour"] == "keras"
    outcome = keras3_mirrored["mirrored_correct"]
    assert passed(outcome), outcome
    assert_trace(outcome["trace"], [4, 8, 12])


def test_keras3_mirrored_recompile_is_stopped(keras3_mirrored):
    outcome = keras3_mirrored["mirrored_recompiled"]
    assert stopped(outcome, "LRV002"), outcome


# -- tf_keras (Keras 2) -------------------------------------------------------------------


def test_tf_keras_guard_subclasses_the_tf_keras_callback(tf_keras):
    assert tf_keras["flavour"] == "tf_keras"


def test_tf_keras_correct_resume_passes(tf_keras):
    assert passed(tf_keras["correct"]), tf_keras["correct"]


def test_tf_keras_recompile_is_stopped(tf_keras):
    outcome = tf_keras["recompiled"]
    assert stopped(outcome, "LRV002") and "compiled again" in outcome["message"], outcome


def test_tf_keras_load_weights_into_unbuilt_optimizer_is_stopped(tf_keras):
    outcome = tf_keras["load_weights_unbuilt"]
    assert stopped(outcome, "LRV002") and "unbuilt optimizer" in outcome["message"], outcome


def test_tf_keras_missing_initial_epoch_is_stopped(tf_keras):
    outcome = tf_keras["no_initial_epoch"]
    assert stopped(outcome, "LR001") and "initial_epoch=2" in outcome["message"], outcome


def test_tf_keras_lr_callback_next_to_a_schedule_is_stopped(tf_keras):
    assert stopped(tf_keras["lr_callback_with_schedule"], "LR202"), tf_keras[
        "lr_callback_with_schedule"
    ]


def test_tf_keras_warn_mode_trains_on(tf_keras):
    outcome = tf_keras["warn_mode"]
    assert (
        outcome["code"] == "LRV002" and not outcome["unchanged"] and outcome["step"] == 4
    ), outcome


def test_tf_keras_trace_is_written_and_continued_on_resume(tf_keras):
    assert_trace(tf_keras["trace_fresh"]["trace"], [4, 8])
    resumed = tf_keras["trace_resumed"]
    assert passed(resumed), resumed
    assert_trace(resumed["trace"], [4, 8, 12])


@pytest.mark.parametrize(
    "scenario",
    [
        "float_rate",
        "lr_scheduler",
        "reduce_lr_on_plateau",
        "legacy_optimizer",
        "legacy_decay",
        "mixed_precision",
        "backup_resumed",
        "backup_mid_epoch_resumed",
    ],
)
def test_tf_keras_resume_passes(tf_keras, scenario):
    assert passed(tf_keras[scenario]), tf_keras[scenario]


def test_tf_keras_rates_set_by_callbacks_are_traced(tf_keras):
    epoch, step, lr = tf_keras["lr_scheduler"]["trace"][0]
    assert (epoch, step) == (3, 12) and math.isclose(lr, 0.025, rel_tol=1e-6)
    epoch, step, lr = tf_keras["reduce_lr_on_plateau"]["trace"][0]
    assert (epoch, step) == (3, 12) and math.isclose(lr, 0.005, rel_tol=1e-6)


def test_tf_keras_backup_trace_survives_the_interruption(tf_keras):
    assert_trace(tf_keras["backup_interrupted"]["trace"], [4, 8])


def test_tf_keras_mirrored(tf_keras):
    assert passed(tf_keras["mirrored_correct"]), tf_keras["mirrored_correct"]
    assert_trace(tf_keras["mirrored_correct"]["trace"], [4, 8, 12])
    assert stopped(tf_keras["mirrored_recompiled"], "LRV002"), tf_keras["mirrored_recompiled"]
