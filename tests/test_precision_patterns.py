"""Patterns from real training code and library test suites (issue 15), each reduced to the
few lines that decide it: what lraudit must report there, and what it must not.

Each case names the pattern of the issue it comes from; a case fails without its fix."""

from __future__ import annotations

import textwrap

import pytest

from lraudit.findings import Severity
from lraudit.scan.rules import ALL_RULES
from lraudit.scan.runner import scan_text

CASES = {
    # 16. The test asserts the very failure the rule describes.
    "assert-raises-keras3-schedule-plus-callback": ("""
        import keras
        import pytest
        from keras import callbacks, optimizers

        def test_throws_when_optimizer_has_schedule(model, x, y):
            lr_scheduler = callbacks.LearningRateScheduler(lambda step, lr: lr / 2)
            model.compile(loss="mse", optimizer=optimizers.Adam(
                learning_rate=optimizers.schedules.PolynomialDecay(0.1, 10)))
            with pytest.raises(TypeError, match="not settable"):
                model.fit(x, y, callbacks=[lr_scheduler], epochs=2)
        """, set()),
    "assert-raises-unittest-style": ("""
        import tensorflow as tf

        class T(tf.test.TestCase):
            def test_plateau_with_schedule(self):
                model = build()
                sched = tf.keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
                model.compile("mse", optimizer=tf.keras.optimizers.SGD(sched))
                with self.assertRaisesRegex(TypeError, "not settable"):
                    model.fit(x, y, callbacks=[tf.keras.callbacks.ReduceLROnPlateau()])
        """, set()),
    # ... and the same call outside the assertion is reported.
    "schedule-plus-callback-outside-a-test": ("""
        import keras
        from keras import callbacks, optimizers

        model = build()
        model.compile(loss="mse", optimizer=optimizers.Adam(
            learning_rate=optimizers.schedules.PolynomialDecay(0.1, 10)))
        model.fit(x, y, callbacks=[callbacks.ReduceLROnPlateau()], epochs=2)
        """, {"LR202"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pattern(name: str) -> None:
    source, expected = CASES[name]
    found = {f.code for f in scan_text(textwrap.dedent(source), f"{name}.py", ALL_RULES)
             if f.severity > Severity.INFO}
    assert found == expected


@pytest.mark.parametrize("write, says", [
    ("opt.learning_rate = 0.01", "Keras 3 and Keras 2.11-2.15 raise TypeError"),
    ("tf.keras.backend.set_value(opt.learning_rate, 0.01)", "silently has no effect"),
])
def test_lr201_says_what_each_keras_does_with_each_kind_of_write(write: str, says: str) -> None:
    """17. tf_keras refuses an assignment with TypeError; only set_value is silently undone."""
    source = ("import tensorflow as tf\n"
              "opt = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9))\n"
              f"{write}\n")
    (finding,) = [f for f in scan_text(source, "w.py", ALL_RULES) if f.code == "LR201"]
    assert says in finding.message


def test_an_imported_schedule_function_is_no_evidence_of_an_epoch_index() -> None:
    """6. `LearningRateScheduler(cfg.lr_fn)` with `cfg` imported: LR004 says info, not warning."""
    body = ("for stage in range(3):\n"
            "    model.fit(x, y, epochs=5, callbacks=[keras.callbacks.LearningRateScheduler({fn})])\n")
    head = "import keras\nfrom config import cfg, step_decay\nmodel = build()\n"
    for fn in ("cfg.lr_fn", "step_decay"):
        (finding,) = scan_text(head + body.format(fn=fn), "loop.py", ALL_RULES)
        assert (finding.code, str(finding.severity)) == ("LR004", "info")
        assert "defined outside this file" in finding.message
    local = "def decay(epoch, lr):\n    return 0.1 * 0.5 ** epoch\n"
    (finding,) = scan_text(head + local + body.format(fn="decay"), "loop.py", ALL_RULES)
    assert (finding.code, str(finding.severity)) == ("LR004", "warning")


DEAD_BRANCH = """
import keras
AUGMENT = {flag}
model = keras.models.load_model("checkpoints/last.keras")
if not AUGMENT:
    model.fit(x, y, epochs=10)
else:
    model.fit(datagen.flow(x, y), epochs=10, initial_epoch=initial)
"""


def test_a_flag_set_once_at_the_top_decides_its_branches() -> None:
    """8. `AUGMENT = True` once at module level: `if not AUGMENT: fit(...)` never runs."""
    codes = lambda flag: {f.code for f in scan_text(DEAD_BRANCH.format(flag=flag), "t.py", ALL_RULES)}  # noqa: E731
    assert "LR001" not in codes("True")
    assert "LR001" in codes("False")
    # a flag the script can change is not a constant: both branches count
    changed = DEAD_BRANCH.format(flag="True") + "AUGMENT = args.augment\n"
    assert "LR001" in {f.code for f in scan_text(changed, "t.py", ALL_RULES)}
    as_param = DEAD_BRANCH.format(flag="True") + "def run(AUGMENT=False):\n    pass\n"
    assert "LR001" in {f.code for f in scan_text(as_param, "t.py", ALL_RULES)}


@pytest.mark.parametrize("test, truth", [
    ("FLAG", True), ("not FLAG", False), ("FLAG and OTHER", None), ("FLAG or OTHER", True),
    ("MODE == 'train'", True), ("MODE != 'train'", False), ("MODE == other", None),
    ("not (FLAG and OFF)", True), ("OFF or OFF", False),
])
def test_static_truth_of_a_test(test: str, truth: bool | None) -> None:
    import libcst as cst

    from lraudit.scan.constants import static_truth

    constants = {"FLAG": True, "OFF": False, "MODE": "train"}
    assert static_truth(cst.parse_expression(test), constants) is truth


def test_a_checkpoint_of_the_model_alone_restores_into_the_first_compile() -> None:
    """2. `tf.train.Checkpoint(model=model)` restored before `compile(optimizer=opt)`: deferred
    restoration fills `opt` when it is built, so nothing was discarded."""
    deferred = """
import tensorflow as tf
model = build_model()
ckpt = tf.train.Checkpoint(model=model)
ckpt.restore(tf.train.latest_checkpoint("ckpts")).expect_partial()
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
model.fit(ds, epochs=10, initial_epoch=start)
"""
    assert "LR101" not in {f.code for f in scan_text(deferred, "t.py", ALL_RULES)}
    # the checkpoint tracked an optimizer, and compile() builds another one: that one is fresh
    tracked = deferred.replace("Checkpoint(model=model)", "Checkpoint(model=model, optimizer=opt)")
    tracked = tracked.replace("model = build_model()", "model = build_model()\nopt = tf.keras.optimizers.Adam(1e-3)")
    assert "LR101" in {f.code for f in scan_text(tracked, "t.py", ALL_RULES)}


def test_an_optimizer_attached_to_a_checkpoint_as_an_attribute_is_tracked() -> None:
    """14. `ckpt = tf.train.Checkpoint(); ckpt.opt = opt` saves the optimizer too."""
    source = """
import tensorflow as tf
model = build_model()
opt = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.9))
ckpt = tf.train.Checkpoint(model=model)
{attach}
manager = tf.train.CheckpointManager(ckpt, "ckpts", max_to_keep=3)
ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
for x, y in ds:
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x))
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    manager.save()
"""
    codes = lambda attach: {f.code for f in scan_text(source.format(attach=attach), "t.py", ALL_RULES)}  # noqa: E731
    assert "LR102" not in codes("ckpt.opt = opt")
    assert "LR102" in codes("pass")


def test_third_party_optimizers_are_optimizers() -> None:
    """7. A TensorFlow Addons optimizer is an optimizer: its rate written after a restore is an
    override, and built after a restore it replaces the restored one."""
    source = """
import tensorflow as tf
import tensorflow_addons as tfa
model = tf.keras.models.load_model("checkpoints/last.h5")
opt = {optimizer}
opt.learning_rate = 0.01
model.compile(optimizer=opt, loss="mse")
model.fit(x, y, epochs=10, initial_epoch=5)
"""
    for optimizer in ("tfa.optimizers.LazyAdam(1e-3)",
                      "tfa.optimizers.Lookahead(tf.keras.optimizers.Adam(1e-3))"):
        found = {f.code for f in scan_text(source.format(optimizer=optimizer), "t.py", ALL_RULES)}
        assert found == {"LR101", "LR201"}, optimizer


LOAD_AFTER_COMPILE = """
import tensorflow as tf
{extra}
model = build_model()
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
model.load_weights({path})
model.{fit}(x, y, epochs=20, initial_epoch=10)
"""


@pytest.mark.parametrize("extra, path, fit, expected", [
    ("", '"ckpt/last.weights.h5"', "fit", {"LR103"}),
    # 3. code that cannot run on Keras 3 is Keras 2 code: no Keras 3 mechanism applies
    ("", '"ckpt/last.weights.h5"', "fit_generator", set()),
    ("cb = tf.keras.callbacks.ModelCheckpoint('w.h5', period=5)", '"ckpt/last.weights.h5"', "fit", set()),
    # a TF-format prefix, and paths lraudit cannot resolve, are no evidence of a Keras 3 file
    ("", '"ckpt/model.ckpt"', "fit", set()),
    ("import sys", "sys.argv[1]", "fit", set()),
    ("import os", "os.path.join(args.out, name)", "fit", set()),
])
def test_lr103_needs_evidence_of_keras3(extra: str, path: str, fit: str, expected: set) -> None:
    source = LOAD_AFTER_COMPILE.format(extra=extra, path=path, fit=fit)
    assert {f.code for f in scan_text(source, "t.py", ALL_RULES)} & {"LR103"} == expected


ROUND_TRIP = """
import keras
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y)
model.save("model.keras")
model = keras.models.load_model("model.keras")
model.fit(x, y)
"""


@pytest.mark.parametrize("path, severity", [
    ("train.py", "error"), ("src/pkg/train.py", "error"),
    ("tests/test_saving.py", "info"), ("keras/src/saving/saving_lib_test.py", "info"),
    ("pkg/tests/helpers.py", "info"), ("conftest.py", "info"),
])
def test_findings_in_test_code_are_info(path: str, severity: str) -> None:
    """16. Library test suites save, load and fit on purpose: info there, never failing a run."""
    (finding,) = scan_text(ROUND_TRIP, path, ALL_RULES)
    assert (finding.code, str(finding.severity)) == ("LR001", severity)
    assert finding.message.endswith("(In test code: reported as info.)") == (severity == "info")


EXPORT = """
import keras
model = keras.models.load_model("checkpoints/last.keras")
model.fit(x, y, epochs=10, initial_epoch=5)
model.save("export/model.keras", include_optimizer=False)
{more}
"""


def test_include_optimizer_false_is_a_hazard_only_for_a_file_a_resume_reads() -> None:
    """5. An export after training (nothing resumes from it): info; the same save in a
    script that resumes, or made each epoch, keeps its severity."""
    findings = scan_text(EXPORT.format(more=""), "train.py", ALL_RULES)
    lr102 = [f for f in findings if f.code == "LR102"]
    assert [str(f.severity) for f in lr102] == ["warning"]  # this script resumes (and trains after)
    export_only = EXPORT.replace('model = keras.models.load_model("checkpoints/last.keras")',
                                 "model = build()").replace(", initial_epoch=5", "")
    (finding,) = [f for f in scan_text(export_only.format(more=""), "train.py", ALL_RULES) if f.code == "LR102"]
    assert str(finding.severity) == "info" and "export" in finding.message


WARM_START = """
import argparse
import tensorflow as tf
parser = argparse.ArgumentParser()
parser.add_argument("--weights", default=None, help={help!r})
parser.add_argument("--pretrained", action="store_true")
args = parser.parse_args()
model = build_model()
{load}
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
model.fit(x, y, epochs=10, callbacks=[tf.keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 * 0.9 ** e)])
"""


@pytest.mark.parametrize("load, help, resume", [
    ("if args.pretrained:\n    model.load_weights(args.weights)", "weights file", False),
    ("model.load_weights(args.weights)", "pretrained weights for fine tuning", False),
    ("model.load_weights(args.weights, skip_mismatch=True)", "weights file", False),
    # a resume stays a resume: by_name=True alone, or an option that says nothing of pre-training
    ("model.load_weights(args.weights, by_name=True)", "weights file", True),
    ("model.load_weights(args.weights)", "checkpoint to resume from", True),
])
def test_a_warm_start_is_not_a_resume(load: str, help: str, resume: bool) -> None:
    """1. and missed 3.: loads gated by a pretrained flag, or whose option is documented as
    pretrained weights, are warm starts; `by_name=True` alone is no evidence of one."""
    source = WARM_START.format(load=load, help=help)
    codes = {f.code for f in scan_text(source, "train.py", ALL_RULES) if f.severity > Severity.INFO}
    assert ("LR001" in codes) is resume, codes


def _fixture_and_page_sources():
    from lraudit.scan.rules import ALL_RULES as rules
    from pathlib import Path
    import re

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "fixtures" / "scripts").glob("*.py")):
        yield path.name, path.read_text(encoding="utf-8")
    for rule in rules:
        page = rule.doc_path.read_text(encoding="utf-8")
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", page, re.DOTALL)):
            yield f"{rule.code}-{i}", block


def test_every_restore_finding_says_why_the_load_is_a_resume() -> None:
    """Done-means of issue 15: each error or warning about a restored model names its evidence."""
    checked = 0
    for name, source in _fixture_and_page_sources():
        for finding in scan_text(source, f"{name}.py", ALL_RULES):
            if finding.code in ("LR001", "LR101", "LR103") and finding.severity > Severity.INFO:
                assert "lraudit reads" in finding.message and "as a resume" in finding.message, \
                    (name, finding.message)
                checked += 1
    assert checked >= 15


TRAINER = """
import tensorflow as tf

class Trainer:
    def __init__(self, args):
        self.args = args
        self.ckpt_path = "checkpoints/last.keras"
        if args.resume:
            self.model = tf.keras.models.load_model(self.ckpt_path)
        else:
            self.model = build_model()
        self.callbacks = [tf.keras.callbacks.ModelCheckpoint(self.ckpt_path)]

    def train(self):
        self.model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
        self.model.fit(self.args.data, epochs=self.args.epochs, callbacks=self.callbacks)
"""


def test_a_trainer_class_restores_in_init_and_trains_in_a_method() -> None:
    """Missed 1. The model restored in `__init__` and trained in another method."""
    findings = {f.code: f for f in scan_text(TRAINER, "trainer.py", ALL_RULES)}
    assert {"LR001", "LR101"} <= set(findings)
    assert str(findings["LR001"].severity) == "error"   # proven: the ModelCheckpoint's own file
    assert "reads back what this script's `ModelCheckpoint` writes" in findings["LR001"].message


@pytest.mark.parametrize("write, reported", [
    ("model.optimizer.learning_rate.assign(args.lr)", True),
    ("model.optimizer.learning_rate = FLAGS.learning_rate", True),
    ("model.optimizer.learning_rate.assign(new_rate)", False),   # computed: not a run constant
])
def test_the_runs_initial_rate_written_over_a_restored_optimizer(write: str, reported: bool) -> None:
    """Missed 8. `lr.assign(args.lr)` after a restore: the run's initial rate replaces the
    restored one, as a literal would."""
    source = ("import tensorflow as tf\nmodel = tf.keras.models.load_model('checkpoints/last.keras')\n"
              f"{write}\nmodel.fit(ds, epochs=10, initial_epoch=args.start)\n")
    assert ("LR201" in {f.code for f in scan_text(source, "t.py", ALL_RULES)}) is reported


def test_a_restore_in_one_test_does_not_make_another_a_resume() -> None:
    """13. Function-wide, not module-wide: the restore in one function, the rate write in
    another that never resumes."""
    source = """
import tensorflow as tf

def evaluate():
    model = tf.keras.models.load_model("checkpoints/last.keras")
    return model.evaluate(x_test, y_test)

def train():
    model = build_model()
    opt = tf.keras.optimizers.Adam(1e-3)
    model.compile(optimizer=opt, loss="mse")
    opt.learning_rate = 1e-4
    model.fit(x, y, epochs=10)
"""
    assert "LR201" not in {f.code for f in scan_text(source, "jobs.py", ALL_RULES)}
    same_function = source.replace("    model = build_model()\n",
                                   "    model = tf.keras.models.load_model('checkpoints/last.keras')\n")
    assert "LR201" in {f.code for f in scan_text(same_function, "jobs.py", ALL_RULES)}


CUSTOM_LOOP = """
import tensorflow as tf
model = build_model()
opt = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.9))
ckpt = tf.train.Checkpoint(model=model, optimizer=opt)
manager = tf.train.CheckpointManager(ckpt, "ckpts", max_to_keep=3)
{restore}
for x, y in ds:
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x))
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
"""


@pytest.mark.parametrize("restore, severity", [
    ("ckpt.restore(manager.latest_checkpoint)", "warning"),
    # 12. checked another way, or the no-checkpoint case handled
    ("status = ckpt.restore(manager.latest_checkpoint)\nstatus.initialize_or_restore()", None),
    ("ckpt.restore(manager.latest_checkpoint)\nassert opt.iterations.numpy() > 0", None),
    ("if manager.latest_checkpoint:\n    ckpt.restore(manager.latest_checkpoint)\nelse:\n    print('from scratch')",
     "info"),
])
def test_lr104_when_the_restore_is_checked_another_way(restore: str, severity: str | None) -> None:
    found = [f for f in scan_text(CUSTOM_LOOP.format(restore=restore), "loop.py", ALL_RULES) if f.code == "LR104"]
    assert [str(f.severity) for f in found] == ([severity] if severity else [])


PLATEAU = """
import tensorflow as tf
{cls}
model = tf.keras.models.load_model("checkpoints/last.keras")
model.fit(x, y, epochs=50, initial_epoch=start, callbacks=[{cb}])
"""

KEEPS_STATE = '''
class ResumablePlateau(tf.keras.callbacks.ReduceLROnPlateau):
    def __init__(self, state, **kw):
        super().__init__(**kw)
        self.state = state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.best, self.wait = self.state["best"], self.state["wait"]
'''


def test_a_plateau_subclass_that_restores_its_own_state() -> None:
    """10. LR401 not on a ReduceLROnPlateau subclass that saves and puts back its state."""
    plain = PLATEAU.format(cls="", cb="tf.keras.callbacks.ReduceLROnPlateau(patience=3)")
    assert "LR401" in {f.code for f in scan_text(plain, "t.py", ALL_RULES)}
    own = PLATEAU.format(cls=KEEPS_STATE, cb="ResumablePlateau(state, patience=3)")
    assert "LR401" not in {f.code for f in scan_text(own, "t.py", ALL_RULES)}


@pytest.mark.parametrize("path, callbacks, severity", [
    ("model.keras", "[]", "info"),                 # a save/load round trip, nothing reads the epoch
    ("model.keras", "[keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 * 0.9 ** e)]", "warning"),
    ("model.keras", "[keras.callbacks.ModelCheckpoint('w/ep{epoch:02d}.keras')]", "warning"),
    ("checkpoints/last.keras", "[]", "error"),     # a proven resume: the run trains all epochs again
    ("checkpoints/last.keras", "[keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 * 0.9 ** e)]",
     "error"),
])
def test_lr001_needs_an_epoch_consumer_or_a_proven_resume(path: str, callbacks: str, severity: str) -> None:
    """11. LR001 on a load nothing explains is reported only when something reads the epoch."""
    source = f"import keras\nmodel = keras.models.load_model({path!r})\nmodel.fit(x, y, epochs=10, callbacks={callbacks})\n"
    (finding,) = [f for f in scan_text(source, "t.py", ALL_RULES) if f.code == "LR001"]
    assert str(finding.severity) == severity


def test_lr_keyword_in_the_branch_for_old_tensorflow() -> None:
    """15. `lr=` in the `else:` of `if hasattr(tf.keras.optimizers, "legacy")` runs only where
    the `legacy` module does not exist (TF <= 2.10), and there `lr=` is the real argument."""
    source = """
import tensorflow as tf
if hasattr(tf.keras.optimizers, "legacy"):
    opt = tf.keras.optimizers.legacy.Adam(lr=1e-3)
else:
    opt = tf.keras.optimizers.Adam(lr=1e-3)
"""
    assert "LR503" not in {f.code for f in scan_text(source, "t.py", ALL_RULES)}
    ungated = "import tensorflow as tf\nopt = tf.keras.optimizers.Adam(lr=1e-2)\n"
    assert "LR503" in {f.code for f in scan_text(ungated, "t.py", ALL_RULES)}


def test_callback_lists_grown_with_plus_equals_in_branches() -> None:
    """Missed 6. `callbacks += [...]` (here in a branch) keeps the list and what it adds."""
    source = """
import tensorflow as tf
model = tf.keras.models.load_model("model.keras")
callbacks = [tf.keras.callbacks.TensorBoard("logs")]
if use_schedule:
    callbacks += [tf.keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 * 0.9 ** e)]
callbacks.append(tf.keras.callbacks.CSVLogger("log.csv"))
model.fit(x, y, epochs=10, callbacks=callbacks)
"""
    (finding,) = [f for f in scan_text(source, "t.py", ALL_RULES) if f.code == "LR001"]
    assert str(finding.severity) == "warning" and "LearningRateScheduler" in finding.message


def test_the_same_path_expression_at_the_save_and_the_load_is_a_resume() -> None:
    """Missed 7. `ModelCheckpoint(args.ckpt)` and `load_model(args.ckpt)`: the same file."""
    source = """
import tensorflow as tf
model = tf.keras.models.load_model(args.ckpt)
model.fit(x, y, epochs=10, callbacks=[tf.keras.callbacks.ModelCheckpoint(args.ckpt)])
"""
    (finding,) = [f for f in scan_text(source, "t.py", ALL_RULES) if f.code == "LR001"]
    assert str(finding.severity) == "error"
    assert "reads back what this script's `ModelCheckpoint` writes" in finding.message


def test_an_odd_suffix_is_a_file_not_a_savedmodel_directory() -> None:
    """4. `load_model(name + ".mod")`: a file with an odd suffix (HDF5 in old Keras), not a
    SavedModel directory."""
    source = """
import os
from keras.models import load_model
model = load_model(os.path.join("model", name + "{suffix}"))
model.fit(x, y, epochs=10, initial_epoch=start)
"""
    assert "LR102" not in {f.code for f in scan_text(source.format(suffix=".mod"), "t.py", ALL_RULES)}
    assert "LR102" in {f.code for f in scan_text(source.format(suffix="_saved"), "t.py", ALL_RULES)}


def test_a_freeze_under_its_own_flag_does_not_make_a_resume_a_warm_start() -> None:
    """Missed 3. `if args.freeze_backbone:` after the load; the option says "Resume"."""
    source = """
import argparse
import keras
parser = argparse.ArgumentParser()
parser.add_argument("--snapshot", help="Resume training from a snapshot.")
parser.add_argument("--freeze-backbone", action="store_true")
args = parser.parse_args()
model = build()
model.load_weights(args.snapshot, by_name=True)
if args.freeze_backbone:
    for layer in model.layers[:200]:
        layer.trainable = False
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
model.fit(gen, steps_per_epoch=100, initial_epoch=0, epochs=args.epochs)
"""
    (finding,) = [f for f in scan_text(source, "train.py", ALL_RULES) if f.code == "LR001"]
    assert str(finding.severity) == "error" and "Resume training from a snapshot" in finding.message
    unconditional = source.replace("if args.freeze_backbone:\n    for", "for").replace(
        "        layer.trainable", "    layer.trainable")
    assert "LR001" not in {f.code for f in scan_text(unconditional, "train.py", ALL_RULES)}


def test_a_value_from_another_module_is_unknown_not_an_alias() -> None:
    """`initial_epoch = FLAGS.initial_epoch` (FLAGS imported) on the resume path: not 0 on
    every path (seen in a public script that resumes correctly)."""
    source = """
import keras
from common_flags import FLAGS

initial_epoch = 0
if FLAGS.restore_model:
    initial_epoch = FLAGS.initial_epoch
model = keras.models.load_model("checkpoints/last.keras")
model.fit(x, epochs=50, initial_epoch=initial_epoch)
"""
    assert "LR001" not in {f.code for f in scan_text(source, "cnn.py", ALL_RULES)}


def test_a_flag_set_once_inside_a_function_decides_its_branch() -> None:
    """8. `restore = 0` hard-disables the resume path (seen in a public cross-validation script)."""
    source = """
import os
import keras

def run_fold(num_fold):
    restore = 0
    model = build()
    if os.path.isfile("cache/fold_%d.h5" % num_fold) and restore:
        model.load_weights("cache/fold_%d.h5" % num_fold)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, y, epochs=100, callbacks=[keras.callbacks.LearningRateScheduler(lambda e: 0.1 * 0.9 ** e)])

run_fold(1)
"""
    assert "LR001" not in {f.code for f in scan_text(source, "cv.py", ALL_RULES)}
    assert "LR001" in {f.code for f in scan_text(source.replace("restore = 0", "restore = 1"), "cv.py", ALL_RULES)}


def test_an_imported_freeze_helper_under_a_fine_tune_test_is_a_warm_start() -> None:
    """1. `freeze_all(darknet)` under `if FLAGS.transfer == "fine_tune":` after the load."""
    source = """
import tensorflow as tf
from utils import freeze_all
model = build()
model.load_weights(FLAGS.weights)
if FLAGS.transfer == "fine_tune":
    freeze_all(model.get_layer("darknet"))
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
model.fit(ds, epochs=10, callbacks=[tf.keras.callbacks.ModelCheckpoint("ckpt/yolo_{epoch}.tf")])
"""
    assert "LR001" not in {f.code for f in scan_text(source, "train.py", ALL_RULES)}


def test_weights_only_checkpoints_no_resume_reads_are_info() -> None:
    """5. Per-epoch weights-only `.h5` checkpoints in a script that never resumes from them."""
    source = """
import tensorflow as tf
model = build()
model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
model.fit(x, y, epochs=10, callbacks=[tf.keras.callbacks.ModelCheckpoint("w/ep{{epoch:02d}}.h5", save_weights_only=True)])
{more}
"""
    (finding,) = [f for f in scan_text(source.format(more=""), "t.py", ALL_RULES) if f.code == "LR102"]
    assert str(finding.severity) == "info"
    resumes = "model.load_weights('w/ep10.h5')\nmodel.fit(x, y, epochs=20, initial_epoch=10)"
    (finding,) = [f for f in scan_text(source.format(more=resumes), "t.py", ALL_RULES)
                  if f.code == "LR102" and "ModelCheckpoint" in f.message]
    assert str(finding.severity) in ("warning", "error")


def test_an_option_documented_as_a_checkpoint_read_through_a_dict() -> None:
    """Missed 2. `ap.add_argument("-m", "--model", help="path to model checkpoint to load")` read as
    `args["model"]` (the common `vars(ap.parse_args())` style): a proven resume."""
    source = """
import argparse
from keras.models import load_model
ap = argparse.ArgumentParser()
ap.add_argument("-m", "--model", type=str, help="path to specific model checkpoint to load")
args = vars(ap.parse_args())
model = load_model(args["model"])
model.fit_generator(gen, steps_per_epoch=100, epochs=100)
"""
    (finding,) = [f for f in scan_text(source, "train.py", ALL_RULES) if f.code == "LR001"]
    assert str(finding.severity) == "error" and "model checkpoint to load" in finding.message


def test_base_net_weights_in_a_try_are_a_warm_start() -> None:
    """1. `load_weights(C.base_net_weights)` in a try block: pre-trained base network weights."""
    source = """
import keras
model = build()
try:
    model.load_weights(C.base_net_weights, by_name=True)
except Exception:
    print("could not load pretrained model weights")
model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
model.fit(gen, epochs=10, callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: lr * 0.9)])
"""
    assert "LR001" not in {f.code for f in scan_text(source, "train_rpn.py", ALL_RULES)}


def test_lr_read_through_a_call() -> None:
    """`optimizer.lr(steps)` (a schedule read through the `.lr` alias) is a `.lr` read (LR501)."""
    source = ("import tensorflow as tf\nimport keras\n"
              "optimizer = tf.keras.optimizers.SGD(learning_rate=schedule)\n"
              "print('lr={:.1e}'.format(optimizer.lr(steps).numpy()))\n")
    (finding,) = [f for f in scan_text(source, "t.py", ALL_RULES) if f.code == "LR501"]
    assert (finding.line, finding.fix is not None) == (4, True)


def test_mixed_tab_and_space_indentation_that_python_accepts_is_analysed() -> None:
    """CPython resolves tabs at 8 columns; libcst's tokenizer rejected such a file outright (a
    labelled public script: tab-indented blocks with 4-space inner blocks and space-only lines)."""
    source = ("import keras\n"
              "def train(a, b):\n"
              "\tif a:\n"
              "\t    if b:\n"
              "                model = keras.models.load_model('checkpoints/last.keras')\n"
              "\t    else:\n"
              "                model = build()\n"
              "\t    model.fit(x, epochs=10)\n"
              "\telse:\n"
              "\t    pass\n")
    compile(source, "t.py", "exec")   # Python itself accepts it
    (finding,) = [f for f in scan_text(source, "t.py", ALL_RULES) if f.code == "LR001"]
    assert finding.line == 8 and finding.fix is None
