"""Every spelling of a TF/Keras name resolves to one canonical name (hazards appendix A.2)."""

from __future__ import annotations

import libcst as cst
import pytest

from lraudit.scan.names import Flavour, ImportTable
from lraudit.scan.facts import build_facts


def resolve(source: str, expr: str) -> str | None:
    module = cst.parse_module(source)
    table = ImportTable()
    for stmt in module.body:
        for small in getattr(stmt, "body", []):
            if isinstance(small, cst.Import):
                table.add_import(small)
            elif isinstance(small, cst.ImportFrom):
                table.add_import_from(small)
    return table.resolve(cst.parse_expression(expr))


@pytest.mark.parametrize("source,expr", [
    ("import tensorflow as tf", "tf.keras.models.load_model"),
    ("import tensorflow", "tensorflow.keras.models.load_model"),
    ("from tensorflow import keras", "keras.models.load_model"),
    ("from tensorflow import keras", "keras.saving.load_model"),
    ("import tensorflow.keras as K", "K.models.load_model"),
    ("from tensorflow.keras.models import load_model as lm", "lm"),
    ("from tensorflow.keras import models", "models.load_model"),
    ("import keras", "keras.saving.load_model"),
    ("from keras.models import load_model", "load_model"),
    ("import tf_keras as keras", "keras.models.load_model"),
    ("from tf_keras.models import load_model", "load_model"),
    ("from tensorflow.python.keras.models import load_model", "load_model"),
    ("from keras.src.saving.saving_api import load_model", "load_model"),
])
def test_load_model_spellings(source: str, expr: str) -> None:
    assert resolve(source, expr) == "keras.models.load_model"


@pytest.mark.parametrize("source,expr,want", [
    ("import tensorflow as tf", "tf.keras.callbacks.ModelCheckpoint", "keras.callbacks.ModelCheckpoint"),
    ("from tensorflow.keras.callbacks import ModelCheckpoint as MC", "MC", "keras.callbacks.ModelCheckpoint"),
    ("import tensorflow as tf", "tf.keras.callbacks.experimental.BackupAndRestore",
     "keras.callbacks.BackupAndRestore"),
    ("import tensorflow as tf", "tf.optimizers.Adam", "keras.optimizers.Adam"),
    ("import tensorflow as tf", "tf.keras.experimental.CosineDecay", "keras.optimizers.schedules.CosineDecay"),
    ("import tensorflow as tf", "tf.train.Checkpoint", "tensorflow.train.Checkpoint"),
    ("import tensorflow as tf", "tf.compat.v2.train.Checkpoint", "tensorflow.train.Checkpoint"),
    ("from tensorflow.keras import backend as K", "K.set_value", "keras.backend.set_value"),
    ("import tensorflow as tf", "tf.keras.utils.register_keras_serializable",
     "keras.saving.register_keras_serializable"),
    ("import tensorflow as tf", "tf.keras.models.Model", "keras.Model"),
])
def test_other_canonical_names(source: str, expr: str, want: str) -> None:
    assert resolve(source, expr) == want


def test_local_names_do_not_resolve() -> None:
    assert resolve("import numpy as np", "model.fit") is None


@pytest.mark.parametrize("source,flavour", [
    ("import tf_keras as keras", Flavour.KERAS2),
    ("import os\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\nimport tensorflow as tf", Flavour.KERAS2),
    ("from tensorflow.keras.optimizers.legacy import Adam", Flavour.KERAS2),
    ("import keras\nfrom keras import ops", Flavour.KERAS3),
    ("import tensorflow as tf", Flavour.UNKNOWN),
    ("import keras", Flavour.UNKNOWN),
])
def test_flavour(source: str, flavour: Flavour) -> None:
    assert build_facts(cst.parse_module(source), source).flavour is flavour
