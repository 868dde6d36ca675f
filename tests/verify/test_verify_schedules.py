"""The pure-Python schedules agree with Keras itself.

Tolerance, honestly: Keras computes a schedule in float32 (the dtype of a Python-float
`initial_learning_rate`), rounding after every operation, and lraudit.verify.schedules emulates
exactly that rounding.  The comparison is relative 1e-6 with an absolute floor of two float32
ulps of the schedule's largest rate, because where the result is a cancellation residue (a
cosine at its very end, `init * (1 + cos(pi))`) relative error is meaningless for any float32
implementation.  In practice the two agree bit for bit.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lraudit.verify import schedules

RTOL = 1e-6
STEPS = st.lists(st.one_of(st.integers(0, 200), st.integers(0, 2_000_000), st.integers(0, 10**8)),
                 min_size=1, max_size=6)
lr = st.floats(1e-5, 2.0, allow_nan=False)
decay_steps = st.integers(1, 100_000)

CONFIGS = {
    "ExponentialDecay": st.fixed_dictionaries({
        "initial_learning_rate": lr, "decay_steps": decay_steps,
        "decay_rate": st.floats(0.05, 0.9999), "staircase": st.booleans()}),
    "InverseTimeDecay": st.fixed_dictionaries({
        "initial_learning_rate": lr, "decay_steps": decay_steps,
        "decay_rate": st.floats(0.0, 5.0), "staircase": st.booleans()}),
    "PolynomialDecay": st.fixed_dictionaries({
        "initial_learning_rate": lr, "decay_steps": decay_steps,
        "end_learning_rate": st.floats(0.0, 1e-3), "power": st.floats(0.25, 4.0),
        "cycle": st.booleans()}),
    "CosineDecay": st.fixed_dictionaries({
        "initial_learning_rate": lr, "decay_steps": decay_steps, "alpha": st.floats(0.0, 0.9),
        "warmup_target": st.one_of(st.none(), st.floats(1e-4, 3.0)),
        "warmup_steps": st.integers(0, 20_000)}),
    "CosineDecayRestarts": st.fixed_dictionaries({
        "initial_learning_rate": lr, "first_decay_steps": decay_steps,
        "t_mul": st.one_of(st.just(1.0), st.just(2.0), st.floats(1.05, 4.0)),
        "m_mul": st.floats(0.1, 1.0), "alpha": st.floats(0.0, 0.5)}),
    "PiecewiseConstantDecay": st.integers(1, 6).flatmap(lambda n: st.fixed_dictionaries({
        "boundaries": st.lists(st.one_of(st.integers(0, 10**6), st.floats(0.5, 1e6)),
                               min_size=n, max_size=n).map(sorted),
        "values": st.lists(st.floats(1e-5, 1.0), min_size=n + 1, max_size=n + 1)})),
}


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def _keras_value(keras, schedule, step: int) -> float:
    import numpy as np

    value = schedule(keras.ops.convert_to_tensor(step, dtype="int64"))
    return float(np.asarray(value, dtype=np.float32))


@pytest.mark.parametrize("class_name", sorted(CONFIGS))
def test_matches_keras(keras, class_name):
    cls = getattr(keras.optimizers.schedules, class_name)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(config=CONFIGS[class_name], steps=STEPS)
    def check(config, steps):
        schedule = cls(**config)
        serialized = keras.optimizers.schedules.serialize(schedule)
        scale = schedules.scale_of(serialized)
        for step in steps:
            expected = _keras_value(keras, schedule, step)
            mine = schedules.evaluate(serialized, step)
            if not math.isfinite(expected):
                assert not math.isfinite(mine) or math.isnan(expected)
                continue
            assert schedules.close(mine, expected, RTOL, scale), (config, step, mine, expected)

    check()


def test_keras2_serialized_form_is_accepted(keras):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 1000, 0.96, staircase=True)
    keras2_form = {"class_name": "ExponentialDecay", "config": schedule.get_config()}
    for step in (0, 999, 1000, 123456):
        assert schedules.evaluate(keras2_form, step) == _keras_value(keras, schedule, step)


# ---------------------------------------------------------------- no TensorFlow needed below


def _sched(class_name, **config):
    return {"module": "keras.optimizers.schedules", "class_name": class_name, "config": config,
            "registered_name": None}


def test_cosine_warmup_worked_example():
    cfg = _sched("CosineDecay", initial_learning_rate=0.01, decay_steps=10, alpha=0.1,
                 warmup_target=0.1, warmup_steps=4)
    assert schedules.evaluate(cfg, 8) == pytest.approx(0.0689058, rel=1e-6)
    assert schedules.evaluate(cfg, 2) == pytest.approx(0.055, rel=1e-6)  # linear warmup


def test_cosine_without_warmup_target_ignores_warmup_steps():
    with_steps = _sched("CosineDecay", initial_learning_rate=0.1, decay_steps=10, warmup_steps=5)
    without = _sched("CosineDecay", initial_learning_rate=0.1, decay_steps=10)
    assert [schedules.evaluate(with_steps, s) for s in range(15)] == \
        [schedules.evaluate(without, s) for s in range(15)]


def test_staircase_and_piecewise_boundaries():
    stair = _sched("ExponentialDecay", initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5,
                   staircase=True)
    assert [schedules.evaluate(stair, s) for s in (0, 2, 3, 5, 6)] == \
        [schedules.f32(v) for v in (0.1, 0.1, 0.05, 0.05, 0.025)]
    piece = _sched("PiecewiseConstantDecay", boundaries=[10, 20.9], values=[1.0, 0.5, 0.1])
    # float boundaries are truncated to the int64 step dtype: 20.9 -> 20
    assert [schedules.evaluate(piece, s) for s in (10, 11, 20, 21)] == [1.0, 0.5, 0.5, schedules.f32(0.1)]


def test_polynomial_cycle_at_step_zero():
    cfg = _sched("PolynomialDecay", initial_learning_rate=1.0, decay_steps=10, end_learning_rate=0.0,
                 cycle=True)
    assert schedules.evaluate(cfg, 0) == 1.0
    assert schedules.evaluate(cfg, 10) == 0.0
    assert schedules.evaluate(cfg, 15) == pytest.approx(0.25)


def test_custom_schedule_is_not_builtin():
    custom = {"module": "mylab.schedules", "class_name": "ExponentialDecay", "config": {},
              "registered_name": "mylab>ExponentialDecay"}
    assert not schedules.is_builtin(custom)
    with pytest.raises(schedules.ScheduleError):
        schedules.evaluate(custom, 1)


def test_same_schedule_ignores_name_and_float32_noise():
    a = _sched("ExponentialDecay", initial_learning_rate=0.01, decay_steps=100, decay_rate=0.9,
               name="ExponentialDecay")
    b = {"class_name": "ExponentialDecay",
         "config": {"initial_learning_rate": 0.009999999776482582, "decay_steps": 100.0,
                    "decay_rate": 0.9, "staircase": False, "name": None}}
    assert schedules.same_schedule(a, b)
    c = _sched("ExponentialDecay", initial_learning_rate=0.01, decay_steps=200, decay_rate=0.9)
    assert not schedules.same_schedule(a, c)


def test_bad_config_is_a_schedule_error():
    with pytest.raises(schedules.ScheduleError):
        schedules.evaluate(_sched("ExponentialDecay", initial_learning_rate=0.1), 3)
    with pytest.raises(schedules.ScheduleError):
        schedules.evaluate(_sched("PiecewiseConstantDecay", boundaries=[1, 2], values=[1.0]), 3)
