"""The guard's decisions, introspection and trace format, without TensorFlow.

Fake optimizers mimic the attributes Keras 3 and tf_keras expose, so every branch of the
decision table runs in milliseconds on any machine; the real-training tests next to this
file prove the fakes match Keras.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lraudit.keras import ResumeMismatch, TraceRecord, check_resume, read_trace
from lraudit.keras.check import Position, assess
from lraudit.keras.optimizer_state import expected_rate_fn, overflow_slack, raw_step, snapshot
from lraudit.keras.trace import TRACE_FILENAME, append_record, parse_line

ROOT = Path(__file__).resolve().parents[2]


class Value:
    """A scalar variable: has .numpy() like a Keras/TF variable."""

    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self.value


class LearningRateSchedule:  # recognised by class name, like the real ones
    def __call__(self, step):
        raise NotImplementedError


class Halving(LearningRateSchedule):
    def __init__(self, initial=0.1, every=4):
        self.initial, self.every = initial, every

    def __call__(self, step):
        return self.initial * 0.5 ** (step / self.every)


class FakeOptimizer:
    def __init__(self, step, lr, name="adam"):
        self._iterations = Value(step)
        self._learning_rate = lr if isinstance(lr, LearningRateSchedule) else Value(lr)
        self.name = name


class FakeK3LossScale:
    def __init__(self, inner, scale, initial=2.0**15, growth=2000):
        self.inner_optimizer = inner
        self._iterations = Value(0)  # the wrapper's own counter stays 0 in Keras 3
        self.dynamic_scale = Value(scale)
        self.step_counter = Value(0)
        self.initial_scale = initial
        self.dynamic_growth_steps = growth


def findings(step, lr, *, initial_epoch, spe=4, schedule=None, slack_wrapper=None):
    opt = FakeOptimizer(step, lr)
    if slack_wrapper is not None:
        opt = slack_wrapper(opt)
    snap = snapshot(opt)
    expected = initial_epoch * spe if spe else None
    pos = Position(expected_step=expected, initial_epoch=initial_epoch, steps_per_epoch=spe)
    return assess(snap, pos, expected_rate_fn(schedule, snap), user_schedule=schedule is not None)


def codes(found):
    return [f.code for f in found]


# -- decision table ---------------------------------------------------------------------


def test_correct_resume_is_silent():
    assert findings(8, Halving(), initial_epoch=2) == []
    assert findings(8, Halving(), initial_epoch=2, schedule=Halving()) == []
    assert findings(8, 0.01, initial_epoch=2, schedule=0.01) == []


def test_fresh_run_is_silent():
    assert findings(0, Halving(), initial_epoch=0) == []


def test_reset_optimizer_is_lrv002_with_rates_and_causes():
    (f,) = findings(0, Halving(), initial_epoch=2)
    assert f.code == "LRV002" and f.name == "schedule-restarted"
    assert (f.expected, f.actual) == (8, 0)
    assert "rate 0.1 instead of 0.025" in f.message
    assert "compiled again" in f.message and "load_weights()" in f.message
    assert "optimizer.build(model.trainable_variables)" in f.message


def test_reset_float_rate_optimizer_is_still_lrv002():
    # The slots restart even when the rate is constant.
    assert codes(findings(0, 0.01, initial_epoch=3)) == ["LRV002"]


def test_counter_behind_names_the_epoch_it_matches():
    (f,) = findings(4, Halving(), initial_epoch=3)
    assert f.code == "LRV002" and "8 steps behind" in f.message
    assert "initial_epoch=1" in f.message and "steps_per_epoch" in f.message


def test_missing_initial_epoch_is_lr001():
    (f,) = findings(8, Halving(), initial_epoch=0)
    assert f.code == "LR001" and f.name == "fit-without-initial-epoch"
    assert "initial_epoch=2" in f.message


def test_unknown_steps_per_epoch_still_catches_a_reset_and_lr001():
    assert codes(findings(0, Halving(), initial_epoch=2, spe=None)) == ["LRV002"]
    assert codes(findings(8, Halving(), initial_epoch=0, spe=None)) == ["LR001"]
    assert findings(5, Halving(), initial_epoch=2, spe=None) == []


def test_counter_ahead_is_lrv003_only_when_the_rate_differs():
    (f,) = findings(10, Halving(), initial_epoch=2)
    assert f.code == "LRV003" and "2 steps ahead" in f.message
    assert math.isclose(f.expected, 0.025) and math.isclose(f.actual, 0.1 * 0.5**2.5)
    # A constant rate is not changed by a counter that runs ahead: precision first.
    assert findings(10, 0.01, initial_epoch=2) == []


def test_other_schedule_than_expected_is_lrv003():
    (f,) = findings(8, Halving(initial=0.2), initial_epoch=2, schedule=Halving())
    assert f.code == "LRV003" and "differs from expected_schedule" in f.message


def test_float_expectation_tolerates_float32_rounding_only():
    f32 = 0.0010000000474974513  # float32(0.001) read back as a double
    assert findings(8, f32, initial_epoch=2, schedule=0.001) == []
    assert codes(findings(8, 0.0011, initial_epoch=2, schedule=0.001)) == ["LRV003"]


# -- mixed precision --------------------------------------------------------------------


def test_k3_loss_scale_reads_the_inner_counter_and_allows_skipped_steps():
    one_skip = lambda opt: FakeK3LossScale(opt, scale=2.0**14)  # noqa: E731
    assert raw_step(one_skip(FakeOptimizer(7, 0.1))) == 7
    assert overflow_slack(one_skip(FakeOptimizer(7, 0.1)), 7) == 1
    assert findings(7, Halving(), initial_epoch=2, slack_wrapper=one_skip) == []
    # Two missing steps cannot come from one halving.
    assert codes(findings(6, Halving(), initial_epoch=2, slack_wrapper=one_skip)) == ["LRV002"]
    # A reset counter is never explained by skipped steps.
    assert codes(findings(0, Halving(), initial_epoch=2, slack_wrapper=one_skip)) == ["LRV002"]


def test_loss_scale_growth_adds_to_the_slack():
    grown = FakeK3LossScale(FakeOptimizer(5000, 0.1), scale=2.0**15, growth=2000)
    assert overflow_slack(grown, 5000) == 2  # up to 2 doublings, each undoing one halving


# -- check_resume ---------------------------------------------------------------------


def test_check_resume_returns_the_state_or_raises():
    state = check_resume(FakeOptimizer(12, Halving()), expected_step=12)
    assert state.step == 12 and math.isclose(state.lr, 0.1 * 0.5**3)
    with pytest.raises(ResumeMismatch) as err:
        check_resume(FakeOptimizer(0, Halving()), expected_step=12)
    assert err.value.code == "LRV002" and isinstance(err.value, RuntimeError)
    assert str(err.value).startswith("LRV002 schedule-restarted: ")
    assert "the caller expects step 12" in str(err.value) and "tf.train.Checkpoint" in str(
        err.value
    )
    with pytest.raises(ResumeMismatch) as err:
        check_resume(FakeOptimizer(5, Halving()), expected_step=0)  # an unintended restore
    assert err.value.code == "LRV003" and "another run" in str(err.value)
    with pytest.raises(ResumeMismatch) as err:
        check_resume(FakeOptimizer(12, 0.01), expected_step=12, schedule=0.02)
    assert err.value.code == "LRV003"
    with pytest.raises(ValueError):
        check_resume(FakeOptimizer(0, 0.01), expected_step=-1)


def test_unusable_expected_schedule_is_a_type_error():
    with pytest.raises(TypeError):
        check_resume(FakeOptimizer(0, 0.01), expected_step=0, schedule="0.1")


# -- trace format -----------------------------------------------------------------------


def test_trace_lines_are_appended_whole_and_read_back(tmp_path):
    path = str(tmp_path / "run" / TRACE_FILENAME)
    append_record(path, TraceRecord(1, 4, 0.05, 1000.0))
    append_record(path, TraceRecord(2, 8, 0.025, 1001.0))
    lines = Path(path).read_text().splitlines()
    assert json.loads(lines[0]) == {"epoch": 1, "step": 4, "lr": 0.05, "time": 1000.0}
    assert list(json.loads(lines[1])) == ["epoch", "step", "lr", "time"]
    assert [r.step for r in read_trace(path)] == [4, 8]


def test_half_written_last_line_is_skipped_and_the_next_append_stays_whole(tmp_path):
    path = str(tmp_path / TRACE_FILENAME)
    append_record(path, TraceRecord(1, 4, 0.05, 1000.0))
    with open(path, "a") as fh:
        fh.write('{"epoch": 2, "step": 8, "l')  # the process died here
    assert [r.epoch for r in read_trace(path)] == [1]
    append_record(path, TraceRecord(2, 8, 0.025, 1002.0))  # the resumed run
    assert [r.epoch for r in read_trace(path)] == [1, 2]


def test_trace_writes_strict_json_for_unknown_and_non_finite_rates():
    assert json.loads(TraceRecord(1, 4, None, 0.0).to_line())["lr"] is None
    assert json.loads(TraceRecord(1, 4, float("nan"), 0.0).to_line())["lr"] is None
    assert parse_line("not json") is None and parse_line('{"epoch": 1}') is None


# -- import cost ------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["lraudit.keras", "lraudit.cli"])
def test_importing_loads_no_tensorflow_or_keras(module):
    if (
        not (ROOT / (module.replace(".", "/") + ".py")).exists()
        and not (ROOT / module.replace(".", "/")).is_dir()
    ):
        pytest.skip(f"{module} does not exist yet")
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
