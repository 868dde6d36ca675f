"""Keras 3 BackupAndRestore directories: `latest.weights.h5` + `training_metadata.json`
(and the `.bkp` pair kept by `double_checkpoint=True`).

The metadata is the only place a Keras 3 weights file gets an epoch: `{"epoch": E, "batch": B}`
where E counts completed epochs and B is the 0-based index of the last batch seen in the
current epoch (0 after an epoch-level save, so `batch: 0` is ambiguous between "at the epoch
boundary" and "one batch in").
"""

from __future__ import annotations

import os
from typing import Any

from lraudit.verify.formats.errors import ReaderError
from lraudit.verify.formats.h5files import read_h5
from lraudit.verify.formats.hdf5 import load_json
from lraudit.verify.model import BACKUP_K3, CheckpointInfo, Position
from lraudit.verify.storage import LOCAL


def read_backup(weights_path: str, metadata_path: str | None, info: CheckpointInfo,
                storage: Any = LOCAL) -> None:
    if not storage.isfile(weights_path):
        raise ReaderError(f"{os.path.basename(weights_path)} is missing from the backup directory")
    read_h5(weights_path, info, storage)
    info.format = BACKUP_K3
    if metadata_path is None or not storage.isfile(metadata_path):
        info.notes.append("no training_metadata.json: the backup's epoch is unknown")
        return
    try:
        with storage.open(metadata_path) as fh:
            data = fh.read(1024 * 1024)
    except OSError as exc:
        raise ReaderError(f"cannot read {os.path.basename(metadata_path)} ({exc.strerror or exc})") from None
    metadata = load_json(data, os.path.basename(metadata_path))
    if not isinstance(metadata, dict):
        raise ReaderError(f"{os.path.basename(metadata_path)} is not a JSON object")
    epoch, batch = metadata.get("epoch"), metadata.get("batch", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ReaderError(f"{os.path.basename(metadata_path)} has no valid epoch")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 0:
        batch = 0
    if batch == 0:
        info.position = Position(epochs=epoch, batches=0, alt_batches=1, source="backup metadata")
    else:
        info.position = Position(epochs=epoch, batches=batch + 1, source="backup metadata")
