"""Each hazard of the reference catalog (../shared/reference/hazards.md), in its smallest form,
is reported with the rule that names it; the way the catalog says to do it instead is not
reported at all.  The snippets are written for this test, not copied from the catalog.

Hazards 8, 9, 15, 16, 18 and 19 have no static rule in this catalog: whether the restored
step counter fast-forwards a new schedule (8) or a schedule's length changed between runs
(9) depends on values only a checkpoint shows, and mixed precision, distribution strategies,
gradient accumulation and TF1 savers (15, 16, 18, 19) are the verifier's business.  Their
right patterns are still checked for silence below.
"""

from __future__ import annotations

import pytest

from lraudit.scan.rules import ALL_RULES
from lraudit.scan.runner import scan_text

# (hazard, what, code, the codes that must be reported - and nothing else)
MINIMAL = [
    ("1a", "weights-only .h5 resume", """
import tensorflow as tf
model = build()
model.compile(optimizer=tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)))
model.load_weights("w.h5")
model.fit(x, y, epochs=20, initial_epoch=10)
""", {"LR102"}),
    ("1b", "Keras 2 SavedModel directory", """
import tensorflow as tf
model = tf.keras.models.load_model("ckpt_dir")
model.fit(x, y, epochs=20, initial_epoch=10)
""", {"LR102"}),
    ("1c", "Keras 3 compile then load_weights", """
import keras
model = build()
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
model.load_weights("ckpt.weights.h5")
model.fit(x, y, epochs=20, initial_epoch=10)
""", {"LR103"}),
    ("1d", "load_model(compile=False) then compile", """
import keras
model = keras.models.load_model("m.keras", compile=False)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
model.fit(x, y, epochs=20, initial_epoch=10)
""", {"LR101"}),
    ("2", "recompile after load", """
import keras
model = keras.models.load_model("ckpt.keras")
model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
model.fit(x, y, epochs=20, initial_epoch=10)
""", {"LR101"}),
    ("3a", "resume without initial_epoch", """
import keras
model = keras.models.load_model("ckpt.keras")
model.fit(x, y, epochs=10)
""", {"LR001"}),
    ("3b", "epochs read as a count", """
import keras
model = keras.models.load_model("ckpt.keras")
model.fit(x, y, initial_epoch=20, epochs=10)
""", {"LR002"}),
    ("3c", "initial_epoch from history.epoch[-1]", """
import keras
model = keras.models.load_model("ckpt.keras")
hist = model.fit(x, y, epochs=10, initial_epoch=5)
model.fit(x, y, epochs=20, initial_epoch=hist.epoch[-1])
""", {"LR003"}),
    ("3d", "1-based {epoch} file name shifted by one", """
import re
import keras
cb = keras.callbacks.ModelCheckpoint("w.{epoch:02d}.keras")
model = keras.models.load_model(fname)
model.fit(x, y, epochs=20, initial_epoch=int(re.search(r"\\.(\\d+)\\.", fname)[1]) - 1, callbacks=[cb])
""", {"LR003"}),
    ("4", "restored step counter, epoch counter back at 0", """
import tensorflow as tf
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
model.load_weights("ckpt/prefix")
model.fit(x, y, initial_epoch=0, epochs=30)
""", {"LR001"}),
    ("5", "LearningRateScheduler in a fit loop", """
import keras
def step_decay(epoch, lr):
    return 0.1 * 0.5 ** (epoch // 10)
for chunk in range(3):
    model.fit(x, y, epochs=2, callbacks=[keras.callbacks.LearningRateScheduler(step_decay)])
""", {"LR004"}),
    ("6", "ReduceLROnPlateau on a resumed run", """
import keras
rl = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=5)
model = keras.models.load_model("ckpt.keras")
model.fit(x, y, epochs=20, initial_epoch=10, callbacks=[rl])
""", {"LR401"}),
    ("7a", "custom loop checkpoint without the optimizer", """
import tensorflow as tf
optimizer = tf.keras.optimizers.Adam(1e-3)
ckpt = tf.train.Checkpoint(model=model)
ckpt.restore("ckpts/ckpt-3").assert_existing_objects_matched()
optimizer.apply_gradients(zip(grads, model.trainable_variables))
""", {"LR102"}),
    ("7b", "restore status ignored", """
import tensorflow as tf
optimizer = tf.keras.optimizers.Adam(1e-3)
ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
ckpt.restore(tf.train.latest_checkpoint("ckpts"))
optimizer.apply_gradients(zip(grads, model.trainable_variables))
""", {"LR104"}),
    ("7c", "rate from a Python step counter", """
import tensorflow as tf
optimizer = tf.keras.optimizers.Adam(1e-3)
ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
ckpt.restore(tf.train.latest_checkpoint("ckpts")).assert_existing_objects_matched()
step = 0
for x, y in ds:
    optimizer.learning_rate.assign(1e-3 * min(1.0, step / 1000))
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    step += 1
""", {"LR203"}),
    ("10", "rate callback on a schedule", """
import keras
opt = keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.9))
model.compile(optimizer=opt, loss="mse")
model.fit(x, y, epochs=10, callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: lr)])
""", {"LR202"}),
    ("11", "Keras 3 batch-level BackupAndRestore", """
import keras
from keras import ops
model.fit(x, y, epochs=10, callbacks=[keras.callbacks.BackupAndRestore("/ckpt/backup", save_freq=500)])
""", {"LR403"}),
    ("12a", "custom schedule without get_config, full-model saves", """
import keras
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak, warm, total):
        self.peak, self.warm, self.total = peak, warm, total
    def __call__(self, step):
        return self.peak
model.compile(optimizer=keras.optimizers.Adam(WarmupCosine(1e-3, 100, 1000)), loss="mse")
model.fit(x, y, epochs=5, callbacks=[keras.callbacks.ModelCheckpoint("m.keras")])
""", {"LR301"}),
    ("12b", "custom schedule neither registered nor in custom_objects", """
import keras
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak):
        self.peak = peak
    def __call__(self, step):
        return self.peak
    def get_config(self):
        return {"peak": self.peak}
opt = keras.optimizers.Adam(WarmupCosine(1e-3))
model = keras.models.load_model("m.keras")
""", {"LR302"}),
    ("13a", "optimizer.lr on Keras 3", """
import keras
from keras import ops
model = keras.models.load_model("m.keras")
print(model.optimizer.lr)
""", {"LR501"}),
    ("13b", "lr= on Keras 3", """
import keras
from keras import ops
opt = keras.optimizers.SGD(lr=0.01)
""", {"LR503"}),
    ("14", "legacy decay=", """
import keras
from keras import ops
opt = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, decay=0.01 / 40)
""", {"LR502"}),
    ("17", "step counter assigned from a Python counter", """
import tensorflow as tf
optimizer = tf.keras.optimizers.Adam(1e-3)
ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
ckpt.restore(tf.train.latest_checkpoint("ckpts")).assert_existing_objects_matched()
for epoch in range(10):
    optimizer.iterations.assign(epoch)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
""", {"LR203"}),
]

# (hazard, what, code) written the way the catalog recommends: nothing to report.
RIGHT = [
    ("1", "full .keras file, resumed with initial_epoch", """
import keras
model = keras.models.load_model("ckpt.keras")
model.fit(x, y, epochs=20, initial_epoch=10)
"""),
    ("1b", "SavedModel reload followed by load_weights of the same directory", """
import tensorflow as tf
model = tf.keras.models.load_model("ckpt_dir")
model.load_weights("ckpt_dir")
model.fit(x, y, epochs=20, initial_epoch=10)
"""),
    ("1c", "Keras 3: build the optimizer before load_weights", """
import keras
model = build()
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
model.optimizer.build(model.trainable_variables)
model.load_weights("ckpt.weights.h5")
model.fit(x, y, epochs=20, initial_epoch=10)
"""),
    ("2", "recompile reusing the restored optimizer", """
import keras
model = keras.models.load_model("ckpt.keras")
model.compile(optimizer=model.optimizer, loss="mse", metrics=["mae"])
model.fit(x, y, epochs=20, initial_epoch=10)
"""),
    ("3", "epochs as the final index, history index + 1", """
import keras
model = keras.models.load_model("ckpt.keras")
hist = model.fit(x, y, epochs=10, initial_epoch=5)
model.fit(x, y, epochs=20, initial_epoch=hist.epoch[-1] + 1)
"""),
    ("5", "chunks carry the epoch", """
import keras
def step_decay(epoch, lr):
    return 0.1 * 0.5 ** (epoch // 10)
for chunk in range(3):
    model.fit(x, y, initial_epoch=2 * chunk, epochs=2 * chunk + 2,
              callbacks=[keras.callbacks.LearningRateScheduler(step_decay)])
"""),
    ("6", "ReduceLROnPlateau on a run that starts from scratch", """
import keras
model = build()
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
model.fit(x, y, epochs=20, callbacks=[keras.callbacks.ReduceLROnPlateau(patience=5)])
"""),
    ("7", "custom loop: optimizer in the checkpoint, restore asserted, rate from iterations", """
import tensorflow as tf
schedule = tf.keras.optimizers.schedules.CosineDecay(1e-3, 10_000)
optimizer = tf.keras.optimizers.Adam(schedule)
ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
manager = tf.train.CheckpointManager(ckpt, "ckpts", max_to_keep=3)
if manager.latest_checkpoint:
    ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
for x, y in ds:
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    tf.summary.scalar("lr", schedule(optimizer.iterations), step=optimizer.iterations)
"""),
    ("8", "fine-tune from a TF checkpoint with the step counter reset on purpose", """
import tensorflow as tf
model = build()
model.load_weights("pretrained/ckpt")
model.compile(optimizer=tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(1e-3, 5000)))
model.optimizer.iterations.assign(0)
model.fit(x, y, epochs=3)
"""),
    ("9", "schedule horizon fixed in the script", """
import keras
TOTAL_STEPS = 100_000
schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=TOTAL_STEPS, warmup_steps=2000)
model = keras.models.load_model("ckpt.keras")
model.fit(ds, epochs=40, initial_epoch=12)
"""),
    ("10", "schedule alone; callbacks only with a float rate", """
import keras
a.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.9)))
a.fit(x, y, epochs=10, callbacks=[keras.callbacks.EarlyStopping(patience=3)])
b.compile(optimizer=keras.optimizers.Adam(1e-3))
b.fit(x, y, epochs=10, callbacks=[keras.callbacks.ReduceLROnPlateau(patience=3)])
"""),
    ("11", "BackupAndRestore at epoch level", """
import keras
from keras import ops
model.fit(x, y, epochs=10, callbacks=[keras.callbacks.BackupAndRestore("/ckpt/backup")])
"""),
    ("12", "registered schedule with a complete get_config", """
import keras
@keras.saving.register_keras_serializable()
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak, warm):
        self.peak, self.warm = peak, warm
    def __call__(self, step):
        return self.peak
    def get_config(self):
        return {"peak": self.peak, "warm": self.warm}
model.compile(optimizer=keras.optimizers.Adam(WarmupCosine(1e-3, 100)), loss="mse")
model.fit(x, y, epochs=5, callbacks=[keras.callbacks.ModelCheckpoint("m.keras")])
model = keras.models.load_model("m.keras")
"""),
    ("13/14", "Keras 3 spellings: learning_rate, a decay schedule", """
import keras
from keras import ops
opt = keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 0.00025))
model = keras.models.load_model("m.keras")
print(float(model.optimizer.learning_rate))
"""),
    ("15", "mixed precision policy set before compile", """
import keras
keras.mixed_precision.set_global_policy("mixed_float16")
model = keras.models.load_model("ckpt.keras")
model.fit(x, y, epochs=20, initial_epoch=10)
"""),
    ("16", "restore inside the strategy scope", """
import tensorflow as tf
strategy = tf.distribute.MirroredStrategy()
with strategy.scope():
    model = tf.keras.models.load_model("ckpt.keras")
model.fit(ds, epochs=20, initial_epoch=10)
"""),
    ("18", "gradient accumulation with a schedule in optimizer steps", """
import keras
schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=40_000)
opt = keras.optimizers.AdamW(schedule, gradient_accumulation_steps=4)
model.compile(optimizer=opt, loss="mse")
model.fit(ds, epochs=10)
"""),
    ("19", "TF1 saver over every variable, global step created first", """
import tensorflow as tf
global_step = tf.compat.v1.train.get_or_create_global_step()
saver = tf.compat.v1.train.Saver()
saver.restore(sess, tf.train.latest_checkpoint("ckpts"))
"""),
]


@pytest.mark.parametrize("hazard,what,code,expected", MINIMAL, ids=[f"H{h}" for h, *_ in MINIMAL])
def test_minimal_pattern_is_reported_with_its_code(hazard: str, what: str, code: str, expected: set[str]) -> None:
    found = {f.code for f in scan_text(code, f"hazard_{hazard}.py", ALL_RULES)}
    assert found == expected, f"hazard {hazard} ({what})"


@pytest.mark.parametrize("hazard,what,code", RIGHT, ids=[f"H{h}" for h, *_ in RIGHT])
def test_right_pattern_is_silent(hazard: str, what: str, code: str) -> None:
    found = scan_text(code, f"right_{hazard}.py", ALL_RULES)
    assert found == [], f"hazard {hazard} ({what}): {[(f.code, f.message) for f in found]}"
