"""The resume model tracks objects through the ways real scripts move them around."""

from __future__ import annotations

from lraudit.scan.runner import facts_for


def restored_trains(src: str) -> list[bool]:
    facts = facts_for(src)
    return [bool([r for m in e.states() for r in facts.resumed(m)]) for e in facts.of_kind("train")]


def test_through_assignment_and_attribute() -> None:
    src = """
import keras
class Holder: pass
h = Holder()
h.net = keras.models.load_model("m.keras")
net2 = h.net
net2.fit(x)
"""
    assert restored_trains(src) == [True]


def test_through_parameters_and_return_values() -> None:
    src = """
import keras
def load(path):
    m = keras.models.load_model(path)
    return m
def train(model, data):
    model.fit(data)
train(load("a.keras"), None)
"""
    assert restored_trains(src) == [True]


def test_if_else_join_makes_a_conditional_restore() -> None:
    src = """
import os, keras
if os.path.exists("m.keras"):
    model = keras.models.load_model("m.keras")
else:
    model = keras.Sequential([])
model.fit(x)
"""
    facts = facts_for(src)
    (restore,) = [e for e in facts.of_kind("restore")]
    assert restore.conditional
    assert restored_trains(src) == [True]


def test_try_except_join() -> None:
    src = """
import keras
try:
    model = keras.models.load_model("m.keras")
except OSError:
    model = keras.Sequential([])
model.fit(x)
"""
    assert restored_trains(src) == [True]


def test_fresh_model_is_not_restored() -> None:
    src = """
import keras
other = keras.models.load_model("teacher.keras")
model = keras.Sequential([])
model.fit(x)
"""
    assert restored_trains(src) == [False]


def test_checkpoint_restore_reaches_members_and_model_optimizer() -> None:
    src = """
import tensorflow as tf
opt = tf.keras.optimizers.Adam(1e-3)
model.compile(optimizer=opt)
ckpt = tf.train.Checkpoint(model=model)
ckpt.restore("x")
model.fit(x)
"""
    facts = facts_for(src)
    (train,) = list(facts.of_kind("train"))
    (model,) = list(train.states())
    assert facts.resumed(model)
    (opt_id,) = model.optimizers
    assert train.objs[opt_id].restores


def test_callbacks_list_built_with_append() -> None:
    src = """
import keras
cbs = []
cbs.append(keras.callbacks.BackupAndRestore("b"))
model.fit(x, callbacks=cbs)
"""
    facts = facts_for(src)
    (train,) = [e for e in facts.of_kind("train")]
    apis = {train.objs[i].api for i in train.detail["callbacks"]}
    assert "keras.callbacks.BackupAndRestore" in apis


def test_nested_function_sees_enclosing_locals() -> None:
    src = """
import tensorflow as tf
def train():
    opt = tf.keras.optimizers.Adam(1e-3)
    def step():
        opt.apply_gradients([])
    step()
"""
    facts = facts_for(src)
    (step,) = list(facts.of_kind("step"))
    assert [o.api for o in step.states()] == ["keras.optimizers.Adam"]


def test_recursion_terminates() -> None:
    facts_for("def f(x):\n    return f(x)\nf(1)\n")
