"""Keras `.keras` archives (zip of metadata.json, config.json, model.weights.h5) and their
unzipped directory form (`model.save(dir, zipped=False)`).

The schedule lives in config.json (`compile_config.optimizer.config.learning_rate`), the step
counter and a float LR in model.weights.h5.  Keras stores the weights member uncompressed, so it
is opened in place through a file window: a 1 GB archive costs the same few reads as a 1 kB one.
"""

from __future__ import annotations

import os
import struct
import zipfile
from typing import Any

from lraudit.verify.formats import optconfig
from lraudit.verify.formats.errors import ReaderError
from lraudit.verify.formats.hdf5 import SubFile, load_json, open_h5, read_keras3_optimizer
from lraudit.verify.model import CheckpointInfo
from lraudit.verify.storage import LOCAL

_MAX_CONFIG = 64 * 1024 * 1024
_MAX_RATIO = 100  # float weights deflate by a few percent; 100:1 is zeros, i.e. a zip bomb
_WEIGHTS = "model.weights.h5"


def _lr_in_vars(info: CheckpointInfo) -> bool | None:
    """Keras 3 keeps a float LR as optimizer/vars/1; tf-keras never writes an LR variable."""
    if info.keras_version and info.keras_version.startswith("2."):
        return False
    if info.lr_kind == "float":
        return True
    if info.lr_kind == "schedule":
        return False
    return None


def _apply_metadata_and_config(info: CheckpointInfo, metadata: object, config: object) -> None:
    if isinstance(metadata, dict) and metadata.get("keras_version"):
        info.keras_version = str(metadata["keras_version"])
    optimizer = optconfig.find_compile_optimizer(config)
    if optimizer:
        optconfig.apply_optimizer_config(info, optimizer)
    elif isinstance(config, dict):
        info.notes.append("the model was saved uncompiled (compile_config is empty)")


def read_keras_zip(path: str, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    try:
        size = storage.getsize(path)
    except OSError as exc:
        raise ReaderError(f"cannot stat file ({exc.strerror or exc})") from None
    if size == 0:
        raise ReaderError("empty file (0 bytes): a save that failed part-way, e.g. a schedule "
                          "without get_config()")
    try:
        with storage.open(path) as raw:
            try:
                archive = zipfile.ZipFile(raw)
            except zipfile.BadZipFile:
                raise ReaderError("not a complete zip archive (truncated, still being written, "
                                  "or not a .keras file)") from None
            with archive:
                names = set(archive.namelist())
                if _WEIGHTS not in names:
                    raise ReaderError(f"zip archive has no {_WEIGHTS}: not a Keras 3 .keras file")
                metadata = _read_json_member(archive, "metadata.json") if "metadata.json" in names else None
                config = _read_json_member(archive, "config.json") if "config.json" in names else None
                _apply_metadata_and_config(info, metadata, config)
                member = archive.getinfo(_WEIGHTS)
                if member.compress_type == zipfile.ZIP_STORED:
                    start = _member_data_offset(raw, member, size)
                    with open_h5(SubFile(raw, start, member.file_size)) as f:
                        read_keras3_optimizer(f, info, _lr_in_vars(info))
                else:
                    # Not written by Keras (which stores the member); fall back to zipfile's
                    # decompressing reader, correct but slower on large files.  HDF5 seeks
                    # around (its signature search reaches the end), and every seek re-inflates
                    # from the start: a tiny member claiming gigabytes must not be inflated.
                    if member.file_size > _MAX_RATIO * member.compress_size + _MAX_CONFIG:
                        raise ReaderError(f"{_WEIGHTS} is compressed {member.file_size // max(1, member.compress_size)}"
                                          f" to 1 (declares {member.file_size} bytes): not written by Keras, "
                                          "and not inflated")
                    with archive.open(member) as fh, open_h5(fh) as f:
                        read_keras3_optimizer(f, info, _lr_in_vars(info))
    except OSError as exc:
        raise ReaderError(f"cannot read file ({exc.strerror or exc})") from None
    except zipfile.BadZipFile as exc:
        raise ReaderError(f"corrupt zip archive ({exc})") from None


def read_keras_dir(path: str, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    p = storage.path
    metadata = _read_json_file(p.join(path, "metadata.json"), storage)
    config = _read_json_file(p.join(path, "config.json"), storage)
    _apply_metadata_and_config(info, metadata, config)
    weights = p.join(path, _WEIGHTS)
    if not storage.isfile(weights):
        raise ReaderError(f"{_WEIGHTS} is missing from the model directory")
    with open_h5(storage.h5_source(weights)) as f:
        read_keras3_optimizer(f, info, _lr_in_vars(info))


def _read_json_member(archive: zipfile.ZipFile, name: str) -> object:
    member = archive.getinfo(name)
    if member.file_size > _MAX_CONFIG:
        raise ReaderError(f"{name} declares {member.file_size} bytes, too large for a Keras config")
    try:
        with archive.open(member) as fh:
            data = fh.read(_MAX_CONFIG + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ReaderError(f"cannot read {name} from the archive ({exc})") from None
    return load_json(data, name)


def _read_json_file(path: str, storage: Any = LOCAL) -> object:
    if not storage.exists(path):
        return None
    try:
        with storage.open(path) as fh:
            data = fh.read(_MAX_CONFIG + 1)
    except OSError as exc:
        raise ReaderError(f"cannot read {os.path.basename(path)} ({exc.strerror or exc})") from None
    if len(data) > _MAX_CONFIG:
        raise ReaderError(f"{os.path.basename(path)} is too large for a Keras config")
    return load_json(data, os.path.basename(path))


def _member_data_offset(raw, member: zipfile.ZipInfo, file_size: int) -> int:
    """Offset of a stored member's bytes: after its local header (30 bytes + name + extra)."""
    raw.seek(member.header_offset)
    header = raw.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise ReaderError("zip local header is corrupt")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = member.header_offset + 30 + name_len + extra_len
    if start + member.file_size > file_size:
        raise ReaderError(f"{member.filename} is truncated inside the archive")
    return start
