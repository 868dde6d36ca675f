"""Interpret a serialized optimizer config: class, learning rate (float or schedule), wrappers.

The same optimizer dict shows up in `.keras` config.json (`compile_config.optimizer`), in a
legacy `.h5` `training_config.optimizer_config` and in tf-keras `keras_metadata.pb`; Keras 2 and
Keras 3 spell it slightly differently and a LossScaleOptimizer nests the real optimizer one level
down.  This module hides those differences from the format readers.
"""

from __future__ import annotations

from typing import Any

from lraudit.verify import schedules
from lraudit.verify.model import CheckpointInfo

_LSO_NAMES = ("LossScaleOptimizer", "LossScaleOptimizerV3", "LossScaleOptimizerV2")


def _strip(name: Any) -> str:
    text = str(name or "")
    return text.split(">")[-1]  # tf-keras writes "Custom>Adam"


def apply_optimizer_config(info: CheckpointInfo, optimizer: Any) -> None:
    """Copy what the optimizer config says about the learning rate onto `info`."""
    if not isinstance(optimizer, dict) or not optimizer:
        return
    class_name = _strip(optimizer.get("class_name"))
    config = optimizer.get("config") if isinstance(optimizer.get("config"), dict) else {}
    if class_name in _LSO_NAMES:
        info.mixed_precision = True
        inner = config.get("inner_optimizer") or config.get("optimizer")
        if isinstance(inner, dict):
            class_name = _strip(inner.get("class_name"))
            config = inner.get("config") if isinstance(inner.get("config"), dict) else {}
    info.optimizer_class = class_name or None
    accum = config.get("gradient_accumulation_steps")
    if isinstance(accum, int) and accum > 1:
        info.grad_accum_steps = accum
    lr = config.get("learning_rate", config.get("lr"))
    if isinstance(lr, bool):
        return
    if isinstance(lr, int) and not -2**1023 < lr < 2**1023:
        # float() of a JSON integer with hundreds of digits raises OverflowError
        info.notes.append("learning_rate in the config is not a usable number")
        return
    if isinstance(lr, (int, float)):
        info.config_lr = float(lr)
        info.lr_kind = "float"
        decay = config.get("decay")
        # OptimizerV2 (Keras 2 legacy optimizers) applies lr / (1 + decay * iterations); that is
        # an InverseTimeDecay with decay_steps=1, so it can be checked like a schedule.
        if isinstance(decay, (int, float)) and not isinstance(decay, bool) and 0 < decay < 2**1023:
            info.schedule = {
                "module": "keras.optimizers.schedules", "class_name": "InverseTimeDecay",
                "config": {"initial_learning_rate": float(lr), "decay_steps": 1,
                           "decay_rate": float(decay), "staircase": False},
                "registered_name": None,
            }
            info.lr_kind = "schedule"
            info.notes.append(f"legacy optimizer decay={decay} acts as InverseTimeDecay")
    elif isinstance(lr, dict):
        try:
            info.schedule = schedules.normalize(lr)
            info.lr_kind = "schedule"
        except schedules.ScheduleError as exc:
            info.notes.append(f"learning_rate config not understood: {exc}")


def find_compile_optimizer(config: Any) -> Any:
    """`.keras` config.json -> compile_config.optimizer (None when not compiled)."""
    if not isinstance(config, dict):
        return None
    compile_config = config.get("compile_config")
    if not isinstance(compile_config, dict):
        return None
    return compile_config.get("optimizer")


def find_training_optimizer(training_config: Any) -> Any:
    """Legacy h5 / tf-keras metadata training_config -> optimizer_config."""
    if not isinstance(training_config, dict):
        return None
    return training_config.get("optimizer_config")
