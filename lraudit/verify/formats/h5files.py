"""Plain HDF5 checkpoints: Keras 3 `*.weights.h5` (and its sharded form), legacy full-model
`.h5`/`.hdf5` (Keras 2 and Keras 3 writers), and Keras 2 weights-only `.h5`.

Which one a file is depends on its content, not its suffix: root attributes `model_config` mean
a legacy full model, `layer_names` a Keras 2 weights-only file, top groups `layers`/`optimizer`
the Keras 3 weights layout.
"""

from __future__ import annotations

import os
import re
from typing import Any

from lraudit.verify.formats import optconfig
from lraudit.verify.formats.errors import ReaderError
from lraudit.verify.formats.h5guard import check_keras_h5
from lraudit.verify.formats.hdf5 import (
    child,
    h5py_module,
    is_float_scalar,
    is_int_scalar,
    json_attr,
    load_json,
    open_h5,
    read_keras3_optimizer,
    scalar,
    text_attr,
)
from lraudit.verify.model import H5_WEIGHTS_K2, LEGACY_H5, WEIGHTS_H5, CheckpointInfo
from lraudit.verify.storage import LOCAL

_MAX_MANIFEST = 64 * 1024 * 1024


def read_h5(path: str, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    """Read any HDF5 Keras checkpoint, deciding the layout from its content."""
    _reject_empty(path, storage)
    with open_h5(storage.h5_source(path)) as f:
        # before any string attribute is decoded: a corrupt length must not make HDF5 allocate GBs
        check_keras_h5(f, lambda: storage.open(path), storage.getsize(path))
        attrs = f.attrs
        if "model_config" in attrs or "training_config" in attrs:
            info.format = LEGACY_H5
            _read_legacy(f, info)
        elif "layer_names" in attrs:
            info.format = H5_WEIGHTS_K2
            info.keras_version = text_attr(attrs, "keras_version")
            info.has_optimizer = False
            info.notes.append("Keras 2 HDF5 weights-only file: layer weights, no optimizer")
        elif "layers" in f or "optimizer" in f or "vars" in f:
            if info.format not in (WEIGHTS_H5,):
                info.format = WEIGHTS_H5
            read_keras3_optimizer(f, info, None)
        else:
            raise ReaderError("HDF5 file has neither a Keras model nor a Keras weights layout")


def read_sharded(manifest_path: str, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    """`*.weights.json` + shards: the manifest names the shard that holds `/optimizer/vars`."""
    try:
        with storage.open(manifest_path) as fh:
            data = fh.read(_MAX_MANIFEST + 1)
    except OSError as exc:
        raise ReaderError(f"cannot read the shard manifest ({exc.strerror or exc})") from None
    manifest = load_json(data, "shard manifest")
    weight_map = manifest.get("weight_map") if isinstance(manifest, dict) else None
    if not isinstance(weight_map, dict):
        raise ReaderError("shard manifest has no weight_map")
    shard = None
    for key in ("/optimizer/inner_optimizer/vars", "/optimizer/vars"):
        files = weight_map.get(key)
        if isinstance(files, list) and files:
            shard = str(files[0])
            break
        if isinstance(files, str):
            shard = files
            break
    if shard is None:
        info.has_optimizer = False
        info.notes.append("the shard manifest lists no optimizer variables")
        return
    p = storage.path
    shard_path = p.join(p.dirname(manifest_path), os.path.basename(shard))
    if not storage.isfile(shard_path):
        raise ReaderError(f"shard {os.path.basename(shard)} named in the manifest is missing")
    _reject_empty(shard_path, storage)
    with open_h5(storage.h5_source(shard_path)) as f:
        read_keras3_optimizer(f, info, None)


def _reject_empty(path: str, storage: Any = LOCAL) -> None:
    try:
        if storage.getsize(path) == 0:
            raise ReaderError("empty file (0 bytes): a save that failed part-way")
    except OSError as exc:
        raise ReaderError(f"cannot stat file ({exc.strerror or exc})") from None


_LEAF = re.compile(r"([^/]+?)(?::\d+)?$")


def _leaf(name: str) -> str:
    match = _LEAF.search(name)
    return match.group(1) if match else name


def _is_loss_scale(name: str) -> bool:
    return name.split("/", 1)[0].lower().startswith(("loss_scale_optimizer", "lossscaleoptimizer"))


def _read_legacy(f: Any, info: CheckpointInfo) -> None:
    """Legacy full model: config in root attrs, optimizer variables listed by `weight_names`."""
    h5py = h5py_module()
    info.keras_version = text_attr(f.attrs, "keras_version")
    training = json_attr(f.attrs, "training_config")
    optimizer = optconfig.find_training_optimizer(training)
    if optimizer:
        optconfig.apply_optimizer_config(info, optimizer)
    group = child(f, "optimizer_weights")
    if not isinstance(group, h5py.Group):
        info.has_optimizer = False
        if training is None:
            info.notes.append("saved with include_optimizer=False (no training_config)")
        return
    raw_names = group.attrs.get("weight_names")
    names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)
             for n in (raw_names if raw_names is not None else [])]
    counters = [n for n in names if _leaf(n) in ("iteration", "iter")]
    if not counters:
        info.has_optimizer = False
        info.notes.append("optimizer_weights lists no step counter")
        return
    # A Keras 3 LossScaleOptimizer lists its own counter (always 0) before the inner one.
    inner = [n for n in counters if not _is_loss_scale(n)]
    if len(inner) != len(counters):
        info.mixed_precision = True
    chosen = (inner or counters)[0]
    dataset = child(group, chosen, "optimizer_weights/")
    if dataset is None or not isinstance(dataset, h5py.Dataset) or not is_int_scalar(dataset):
        raise ReaderError(f"optimizer_weights/{chosen} is missing or not an integer scalar")
    info.step = int(scalar(dataset, f"optimizer_weights/{chosen}"))
    info.has_optimizer = True
    prefix = chosen.rsplit("/", 1)[0] if "/" in chosen else ""
    for name in names:
        if _leaf(name) == "learning_rate" and (name.rsplit("/", 1)[0] if "/" in name else "") == prefix:
            lr_set = child(group, name, "optimizer_weights/")
            if isinstance(lr_set, h5py.Dataset) and is_float_scalar(lr_set) and info.lr_kind != "schedule":
                info.lr = float(scalar(lr_set, f"optimizer_weights/{name}"))
                info.lr_source = f"optimizer_weights/{name}"
            break
