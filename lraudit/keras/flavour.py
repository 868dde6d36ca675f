"""Which Keras a callback must subclass: Keras 3 (`keras`) or Keras 2 (`tf_keras`).

Keras's callback lists call private hooks of their own base class (tf_keras asks every
callback `_implements_train_batch_hooks()`), so a guard has to be a real subclass of the
Callback of the Keras that trains the model.  The choice is made when the guard is built,
with the rule TensorFlow itself uses for `tf.keras`: TF_USE_LEGACY_KERAS=1 means tf_keras.
"""

from __future__ import annotations

import os
from typing import Any

KERAS3 = "keras"
TF_KERAS = "tf_keras"


def requested_flavour() -> str:
    # Same values TensorFlow accepts when it decides what `tf.keras` is.
    return TF_KERAS if os.environ.get("TF_USE_LEGACY_KERAS") in ("true", "True", "1") else KERAS3


def callback_base(flavour: str) -> type:
    """Import the chosen Keras now (not at `import lraudit.keras`) and return its Callback."""
    if flavour == TF_KERAS:
        import tf_keras

        return tf_keras.callbacks.Callback
    import keras

    return keras.callbacks.Callback


def model_flavour(model: Any) -> str | None:
    """The Keras a model object comes from, by the package of its classes."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in (KERAS3, TF_KERAS):
            return root
    return None
