"""TensorFlow object checkpoints, SavedModel directories and tf-keras BackupAndRestore, read
through the TF-free TensorBundle reader.

Variable keys are object-graph paths that depend on what the user attached (`optimizer/`,
`model/optimizer/`, `opt/`), so the step counter is found by its leaf name: `_iterations`
(Keras 3 and tf-keras optimizers) or `iter` (tf-keras legacy OptimizerV2).  No schedule is ever
stored in a TF checkpoint; tf-keras SavedModels keep it in keras_metadata.pb, parsed here too.
"""

from __future__ import annotations

import re
from typing import Any

from lraudit.verify.formats import optconfig
from lraudit.verify.formats.errors import ReaderError
from lraudit.verify.formats.hdf5 import load_json
from lraudit.verify.formats.protobuf import ProtoError, first, first_bytes, parse_message
from lraudit.verify.formats.tensorbundle import Bundle, BundleError, read_bundle
from lraudit.verify.model import BACKUP_K2, CheckpointInfo, Position
from lraudit.verify.storage import LOCAL

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_ITER = re.compile(r"(?:^|/)_iterations/\.ATTRIBUTES/VARIABLE_VALUE$")
_LEGACY_ITER = re.compile(r"(?:^|/)iter/\.ATTRIBUTES/VARIABLE_VALUE$")
_MAX_METADATA = 256 * 1024 * 1024


def read_prefix(prefix: str, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    try:
        bundle = read_bundle(prefix, storage)
        _interpret(bundle, info)
    except BundleError as exc:
        raise ReaderError(str(exc)) from None


def read_saved_model(path: str, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    p = storage.path
    prefix = p.join(path, "variables", "variables")
    if not storage.exists(prefix + ".index"):
        raise ReaderError("SavedModel has no variables/variables.index")
    metadata = p.join(path, "keras_metadata.pb")
    if storage.isfile(metadata):
        _read_keras_metadata(metadata, info, storage)
    read_prefix(prefix, info, storage)


def _interpret(bundle: Bundle, info: CheckpointInfo) -> None:
    keys = [k for k in bundle.entries if ".OPTIMIZER_SLOT" not in k]
    counters = [k for k in keys if _ITER.search(k)]
    legacy = False
    if not counters:
        counters = [k for k in keys if _LEGACY_ITER.search(k)]
        legacy = bool(counters)
    _read_backup_keys(bundle, info)
    if not counters:
        info.has_optimizer = False
        if not any(k.endswith(_SUFFIX) for k in keys):
            info.notes.append("the checkpoint holds no variables at all")
        return
    # A Keras 3 LossScaleOptimizer tracks the real optimizer as `inner_optimizer`; its own
    # counter stays 0.  Otherwise the shortest path is the optimizer the model trains with.
    inner = [k for k in counters if "/inner_optimizer/" in k or k.startswith("inner_optimizer/")]
    if inner:
        info.mixed_precision = True
        counters = inner
    if any("/loss_scale/" in k for k in keys):
        info.mixed_precision = True
    chosen = min(counters, key=lambda k: (len(k), k))
    if len({k.split("/")[0] for k in counters}) > 1:
        info.notes.append(f"several optimizers in the checkpoint; used {chosen.split('/.ATTR')[0]}")
    info.step = int(_scalar(bundle, chosen))
    info.has_optimizer = True
    base = chosen[: -len(("iter" if legacy else "_iterations") + _SUFFIX)]
    lr_key = base + ("learning_rate" if legacy else "_learning_rate") + _SUFFIX
    current_key = base + "_current_learning_rate" + _SUFFIX
    if lr_key in bundle.entries:
        info.lr = float(_scalar(bundle, lr_key))
        info.lr_source = lr_key[: -len(_SUFFIX)]
        if info.lr_kind == "unknown":
            info.lr_kind = "float"
    elif current_key in bundle.entries:
        # tf-keras: the rate the *last* step used, i.e. schedule(step - 1) for a schedule.
        info.last_step_lr = float(_scalar(bundle, current_key))
    decay_key = base + "decay" + _SUFFIX
    if legacy and decay_key in bundle.entries and info.lr is not None and info.schedule is None:
        decay = float(_scalar(bundle, decay_key))
        if decay > 0:
            info.schedule = {
                "module": "keras.optimizers.schedules", "class_name": "InverseTimeDecay",
                "config": {"initial_learning_rate": info.lr, "decay_steps": 1,
                           "decay_rate": decay, "staircase": False},
                "registered_name": None,
            }
            info.lr_kind = "schedule"
            info.lr = None
            info.notes.append(f"legacy optimizer decay={decay:g} acts as InverseTimeDecay")


def _read_backup_keys(bundle: Bundle, info: CheckpointInfo) -> None:
    """tf-keras BackupAndRestore attaches its epoch/batch bookkeeping to the checkpoint."""
    epoch_key = "ckpt_saved_epoch" + _SUFFIX
    if epoch_key not in bundle.entries:
        return
    info.format = BACKUP_K2
    epoch = int(_scalar(bundle, epoch_key))
    batch_key = "ckpt_saved_batch" + _SUFFIX
    batch = int(_scalar(bundle, batch_key)) if batch_key in bundle.entries else -1
    counter_key = "train_counter" + _SUFFIX
    if counter_key in bundle.entries:
        info.train_counter = int(_scalar(bundle, counter_key))
    if epoch < 0:
        return
    if batch < 0:
        # epoch-level save: ckpt_saved_epoch is the 0-based index of the last completed epoch
        info.position = Position(epochs=epoch + 1, source="ckpt_saved_epoch")
    elif epoch > 0 and info.train_counter == (epoch + 1) * (batch + 1):
        # Newer tf-keras records the last batch index even at an epoch end; train_counter
        # (= epoch * steps_per_epoch + batch + 1) then shows the batch was the epoch's last.
        info.position = Position(epochs=epoch + 1, source="ckpt_saved_epoch")
    else:
        info.position = Position(epochs=epoch, batches=batch + 1, source="ckpt_saved_epoch/batch")


def _scalar(bundle: Bundle, key: str):
    try:
        return bundle.read_scalar(key)
    except KeyError:
        raise ReaderError(f"variable {key} is missing") from None
    except BundleError as exc:
        raise ReaderError(str(exc)) from None


def _read_keras_metadata(path: str, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    """tf-keras SavedModel: the root node's JSON metadata holds training_config."""
    try:
        if storage.getsize(path) > _MAX_METADATA:
            info.notes.append("keras_metadata.pb too large; schedule not read")
            return
        with storage.open(path) as fh:
            data = fh.read()
        for node in parse_message(data).get(1, []):
            fields = parse_message(node)
            node_path = first(fields, 3, b"")
            if node_path != b"root":
                continue
            metadata = load_json(first_bytes(fields, 5, b"{}"), "keras_metadata.pb root metadata")
            if isinstance(metadata, dict):
                info.keras_version = "2"
                optimizer = optconfig.find_training_optimizer(metadata.get("training_config"))
                if optimizer:
                    optconfig.apply_optimizer_config(info, optimizer)
            return
    except (OSError, ProtoError) as exc:
        info.notes.append(f"keras_metadata.pb not readable ({exc}); schedule unknown")
