"""Import aliases -> canonical names, and the Keras flavour a module targets.

`tf.keras.models.load_model`, `keras.saving.load_model` and
`from tensorflow.keras.models import load_model as lm` all become `keras.models.load_model`,
so a rule names one function once.  The table is built from the module's own import
statements (no scope provider: that would cost 8x the parse time, see DESIGN.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import libcst as cst

# Spellings of the Keras namespace, longest first, mapped to the canonical `keras.` root.
_KERAS_ROOTS = (
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tensorflow.compat.v2.keras.", "keras."),
    ("tensorflow.compat.v1.keras.", "keras."),
    ("tf_keras.src.", "keras.src."),
    ("tf_keras.", "keras."),
    ("keras.api._v2.keras.", "keras."),
    ("keras._tf_keras.keras.", "keras."),
    ("keras.api.", "keras."),
    ("tensorflow.optimizers.", "keras.optimizers."),
    ("tensorflow.compat.v2.train.", "tensorflow.train."),
    ("tensorflow.compat.v1.train.Checkpoint", "tensorflow.train.Checkpoint"),
    ("tensorflow.compat.v1.train.CheckpointManager", "tensorflow.train.CheckpointManager"),
)

# Public synonyms: one canonical spelling per function or class.
_SYNONYMS = {
    "keras.saving.load_model": "keras.models.load_model",
    "keras.saving.save_model": "keras.models.save_model",
    "keras.saving.load_weights": "keras.saving.load_weights",
    "keras.utils.register_keras_serializable": "keras.saving.register_keras_serializable",
    "keras.callbacks.experimental.BackupAndRestore": "keras.callbacks.BackupAndRestore",
    "keras.mixed_precision.experimental.LossScaleOptimizer": "keras.mixed_precision.LossScaleOptimizer",
    "keras.experimental.CosineDecay": "keras.optimizers.schedules.CosineDecay",
    "keras.experimental.CosineDecayRestarts": "keras.optimizers.schedules.CosineDecayRestarts",
    "keras.experimental.LinearCosineDecay": "keras.optimizers.schedules.LinearCosineDecay",
    "keras.experimental.NoisyLinearCosineDecay": "keras.optimizers.schedules.NoisyLinearCosineDecay",
    "keras.optimizers.schedules.learning_rate_schedule.LearningRateSchedule":
        "keras.optimizers.schedules.LearningRateSchedule",
}

# Leaves of private `keras.src....` paths that users import directly.
_PRIVATE_LEAVES = {
    "load_model": "keras.models.load_model",
    "save_model": "keras.models.save_model",
    "ModelCheckpoint": "keras.callbacks.ModelCheckpoint",
    "BackupAndRestore": "keras.callbacks.BackupAndRestore",
    "LearningRateScheduler": "keras.callbacks.LearningRateScheduler",
    "ReduceLROnPlateau": "keras.callbacks.ReduceLROnPlateau",
    "LearningRateSchedule": "keras.optimizers.schedules.LearningRateSchedule",
    "Callback": "keras.callbacks.Callback",
    "Model": "keras.Model",
    "Sequential": "keras.Sequential",
}

# Canonical aliases of whole-model classes: `keras.models.Model` is `keras.Model`.
_MODEL_CLASS_SYNONYMS = {
    "keras.models.Model": "keras.Model",
    "keras.models.Sequential": "keras.Sequential",
    "keras.engine.training.Model": "keras.Model",
}


def canonical(dotted: str) -> str:
    """Map any spelling of a TF/Keras name to its canonical form."""
    if dotted.startswith("tf."):  # only reached for unresolved heads written as `tf.`
        dotted = "tensorflow." + dotted[3:]
    for prefix, root in _KERAS_ROOTS:
        if dotted.startswith(prefix) or dotted + "." == prefix:
            dotted = root + dotted[len(prefix):]
            break
    if dotted.startswith("keras.src."):
        leaf = dotted.rsplit(".", 1)[-1]
        if leaf in _PRIVATE_LEAVES:
            return _PRIVATE_LEAVES[leaf]
        if ".optimizers.schedules." in dotted:
            return "keras.optimizers.schedules." + leaf
        if ".optimizers." in dotted and leaf[:1].isupper():
            return "keras.optimizers." + leaf
    dotted = _SYNONYMS.get(dotted, dotted)
    return _MODEL_CLASS_SYNONYMS.get(dotted, dotted)


class Flavour(enum.Enum):
    """Which Keras the module runs under; rules whose truth depends on it lower their
    severity when it is UNKNOWN rather than guess."""

    KERAS2 = "2"
    KERAS3 = "3"
    UNKNOWN = "unknown"


def dotted_name(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def _module_dotted(node: cst.BaseExpression | None) -> str:
    return dotted_name(node) or "" if node is not None else ""


# What `from <keras module> import *` brings in, of the names the rules read.  A star import
# gives no list of names, and lraudit imports no Keras to ask, so an unbound name resolves to a
# star-imported Keras module only when that module is known to define it.
_STAR_NAMES: dict[str, frozenset[str]] = {
    "keras.callbacks": frozenset({
        "Callback", "ModelCheckpoint", "BackupAndRestore", "LearningRateScheduler", "ReduceLROnPlateau",
        "EarlyStopping", "TensorBoard", "CSVLogger", "LambdaCallback", "TerminateOnNaN", "History"}),
    "keras.optimizers": frozenset({
        "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion",
        "Optimizer", "schedules", "legacy"}),
    "keras.optimizers.schedules": frozenset({
        "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
        "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts"}),
    "keras.models": frozenset({"load_model", "save_model", "Model", "Sequential", "model_from_json",
                               "clone_model"}),
}


@dataclass
class ImportTable:
    """Local name -> fully qualified dotted name, from every import in the module."""

    aliases: dict[str, str] = field(default_factory=dict)
    roots: set[str] = field(default_factory=set)  # canonical top packages seen: tf_keras, keras, ...
    env_legacy_keras: bool = False  # TF_USE_LEGACY_KERAS=1 in the source, or an argument only Keras 2 takes
    stars: list[str] = field(default_factory=list)  # modules imported with `*`, in order

    def add_import(self, node: cst.Import) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            full = _module_dotted(alias.name)
            self.roots.add(full)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.aliases[alias.asname.name.value] = full
            else:
                head = full.split(".", 1)[0]
                self.aliases[head] = head

    def add_import_from(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None:
            return
        module = _module_dotted(node.module)
        self.roots.add(module)
        if isinstance(node.names, cst.ImportStar):
            self.stars.append(module)
            return
        for alias in node.names:
            name = _module_dotted(alias.name)
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.aliases[local] = f"{module}.{name}"

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """Canonical dotted name of an expression whose head is an imported name."""
        full = self.expand(node)
        return canonical(full) if full is not None else None

    def expand(self, node: cst.BaseExpression) -> str | None:
        """The dotted name an expression stands for, as imported (`tf.keras` ->
        `tensorflow.keras`), before canonicalisation; None when its head is not imported."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        full = self.aliases.get(head) or self.from_star(head)
        if full is None:
            return None
        return f"{full}.{rest}" if rest else full

    def from_star(self, name: str) -> str | None:
        """`module.name` when the last star-imported Keras module defining `name` is `module`
        (a later star import shadows an earlier one, as in Python)."""
        for module in reversed(self.stars):
            if name in _STAR_NAMES.get(canonical(module), ()):
                return f"{module}.{name}"
        return None

    def imported(self, name: str) -> bool:
        return name in self.aliases or self.from_star(name) is not None

    @property
    def uses_tensorflow_or_keras(self) -> bool:
        return any(r.split(".")[0] in {"tensorflow", "keras", "tf_keras"} for r in self.roots)

    def flavour(self) -> Flavour:
        """From imports and `TF_USE_LEGACY_KERAS` writes; project pins refine this elsewhere."""
        tops = {r.split(".")[0] for r in self.roots}
        if "tf_keras" in tops or self.env_legacy_keras:
            return Flavour.KERAS2
        # `optimizers.legacy` is Keras 2's; `optimizers.experimental` existed only up to TF 2.15.
        if any(r.startswith(("tensorflow.keras.optimizers.legacy", "keras.optimizers.legacy",
                             "tensorflow.keras.optimizers.experimental", "keras.optimizers.experimental"))
               for r in self.roots | set(self.aliases.values())):
            return Flavour.KERAS2
        # Standalone `keras` was Keras 2 until 2.15, so `import keras` alone proves nothing;
        # APIs that exist only in Keras 3 do.
        seen = self.roots | set(self.aliases.values())
        if any(r.startswith(("keras.ops", "keras.saving", "keras.src", "keras_core")) for r in seen):
            return Flavour.KERAS3
        return Flavour.UNKNOWN
