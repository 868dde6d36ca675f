"""One reader per checkpoint format, none of which imports TensorFlow.

`read(candidate)` returns a CheckpointInfo; a checkpoint that cannot be read comes back with
`error` set to a one-line reason instead of raising, so one bad file never stops a run's check.
"""

from __future__ import annotations

from lraudit.verify import model as m
from lraudit.verify.formats.errors import MissingDependency, ReaderError
from lraudit.verify.model import Candidate, CheckpointInfo

# formats whose reader needs h5py
H5_KINDS = {m.KERAS, m.KERAS_DIR, m.WEIGHTS_H5, m.WEIGHTS_SHARDED, m.LEGACY_H5, m.H5_WEIGHTS_K2,
            m.BACKUP_K3}


def read(candidate: Candidate) -> CheckpointInfo:
    info = CheckpointInfo(candidate=candidate, format=candidate.kind)
    if candidate.problem:
        info.error = candidate.problem
        return info
    try:
        _dispatch(candidate, info)
    except MissingDependency:
        raise
    except ReaderError as exc:
        info.error = str(exc)
    except RecursionError:
        info.error = "structure nested too deeply to be a Keras checkpoint"
    except MemoryError:
        info.error = "reading it would need more memory than is available"
    except Exception as exc:  # noqa: BLE001 - a reader bug must not hide the other checkpoints
        info.error = f"unexpected {type(exc).__name__} while reading: {exc}"
    if info.error:
        info.step = None
        info.has_optimizer = None
    return info


def _dispatch(candidate: Candidate, info: CheckpointInfo) -> None:
    from lraudit.verify.formats import backup, h5files, keras_zip, tfbundle  # noqa: PLC0415

    kind = candidate.kind
    if kind == m.KERAS:
        keras_zip.read_keras_zip(candidate.path, info)
    elif kind == m.KERAS_DIR:
        keras_zip.read_keras_dir(candidate.path, info)
    elif kind in (m.WEIGHTS_H5, m.LEGACY_H5, m.H5_WEIGHTS_K2):
        h5files.read_h5(candidate.path, info)
    elif kind == m.WEIGHTS_SHARDED:
        h5files.read_sharded(candidate.path, info)
    elif kind in (m.TF_CHECKPOINT, m.BACKUP_K2):
        tfbundle.read_prefix(candidate.path, info)
    elif kind == m.SAVED_MODEL:
        tfbundle.read_saved_model(candidate.path, info)
    elif kind == m.BACKUP_K3:
        backup.read_backup(candidate.path, candidate.metadata_path, info)
    else:
        raise ReaderError(f"unsupported checkpoint kind {kind!r}")


__all__ = ["read", "H5_KINDS", "MissingDependency", "ReaderError"]
