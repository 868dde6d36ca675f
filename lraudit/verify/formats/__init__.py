"""One reader per checkpoint format, none of which imports TensorFlow.

`read(candidate)` returns a CheckpointInfo; a checkpoint that cannot be read comes back with
`error` set to a one-line reason instead of raising, so one bad file never stops a run's check.
The storage a checkpoint lives on (lraudit.verify.storage) is the one exception: when it cannot
be reached at all, StorageError ends the whole command, because it says nothing about the
checkpoint.  `read_many` reads a run's checkpoints with a bounded thread pool, in order.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable

from lraudit.verify import model as m
from lraudit.verify.formats.errors import MissingDependency, ReaderError
from lraudit.verify.model import Candidate, CheckpointInfo
from lraudit.verify.storage import LOCAL, StorageError, read_in_rounds

# formats whose reader needs h5py
H5_KINDS = {m.KERAS, m.KERAS_DIR, m.WEIGHTS_H5, m.WEIGHTS_SHARDED, m.LEGACY_H5, m.H5_WEIGHTS_K2,
            m.BACKUP_K3}


def read(candidate: Candidate, storage: Any = None) -> CheckpointInfo:
    """Read one checkpoint from `storage` (default: the local filesystem)."""
    return read_in_rounds(storage if storage is not None else LOCAL,
                          lambda fs: _read_once(candidate, fs), candidate.path)


def read_many(candidates: list[Candidate], storage: Any = None, jobs: int = 1,
              progress: Callable[[int, int], None] | None = None) -> list[CheckpointInfo]:
    """Read every candidate, `jobs` at a time; the result is in the order of `candidates`.

    A StorageError (the storage became unreachable) cancels what has not started and is raised
    for the earliest candidate, in the given order, that hit one, so the message is stable.
    `progress(done, total)` is called from this thread after each checkpoint.
    """
    total = len(candidates)
    if jobs <= 1 or total <= 1:
        infos = []
        for index, candidate in enumerate(candidates):
            infos.append(read(candidate, storage))
            if progress:
                progress(index + 1, total)
        return infos
    results: list[CheckpointInfo | None] = [None] * total
    pool = ThreadPoolExecutor(max_workers=min(jobs, total), thread_name_prefix="lraudit-read")
    try:
        futures = {pool.submit(read, candidate, storage): i for i, candidate in enumerate(candidates)}
        pending = set(futures)
        failed = False
        finished = 0
        while pending and not failed:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is not None:
                    failed = True
                    continue
                results[futures[future]] = future.result()
                finished += 1
            if progress:
                progress(finished, total)
        if failed:
            for future in pending:
                future.cancel()
            wait(pending)
            errors = sorted((i, f.exception()) for f, i in futures.items()
                            if not f.cancelled() and f.exception() is not None)
            raise errors[0][1]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [info for info in results if info is not None]


def _read_once(candidate: Candidate, storage: Any) -> CheckpointInfo:
    info = CheckpointInfo(candidate=candidate, format=candidate.kind)
    if candidate.problem:
        info.error = candidate.problem
        return info
    try:
        _dispatch(candidate, info, storage)
    except (MissingDependency, StorageError):
        raise
    except ReaderError as exc:
        info.error = str(exc)
    except RecursionError:
        info.error = "structure nested too deeply to be a Keras checkpoint"
    except MemoryError:
        info.error = "reading it would need more memory than is available"
    except Exception as exc:  # noqa: BLE001 - a reader bug must not hide the other checkpoints
        info.error = f"unexpected {type(exc).__name__} while reading: {exc}"
    # An object the storage refused (access denied, deleted since the listing) is the reason,
    # whatever the format's parser made of the missing bytes ("not a complete zip archive").
    refused = getattr(getattr(storage, "fetcher", None), "errors", None)
    if refused and info.error:
        path, exc = next(iter(refused.items()))
        info.error = f"cannot read {storage.path.basename(path)} ({exc.strerror or exc})"
    if info.error:
        info.step = None
        info.has_optimizer = None
    return info


def _dispatch(candidate: Candidate, info: CheckpointInfo, storage: Any = LOCAL) -> None:
    from lraudit.verify.formats import backup, h5files, keras_zip, tfbundle  # noqa: PLC0415

    kind = candidate.kind
    if kind == m.KERAS:
        keras_zip.read_keras_zip(candidate.path, info, storage)
    elif kind == m.KERAS_DIR:
        keras_zip.read_keras_dir(candidate.path, info, storage)
    elif kind in (m.WEIGHTS_H5, m.LEGACY_H5, m.H5_WEIGHTS_K2):
        h5files.read_h5(candidate.path, info, storage)
    elif kind == m.WEIGHTS_SHARDED:
        h5files.read_sharded(candidate.path, info, storage)
    elif kind in (m.TF_CHECKPOINT, m.BACKUP_K2):
        tfbundle.read_prefix(candidate.path, info, storage)
    elif kind == m.SAVED_MODEL:
        tfbundle.read_saved_model(candidate.path, info, storage)
    elif kind == m.BACKUP_K3:
        backup.read_backup(candidate.path, candidate.metadata_path, info, storage)
    else:
        raise ReaderError(f"unsupported checkpoint kind {kind!r}")


__all__ = ["read", "read_many", "H5_KINDS", "MissingDependency", "ReaderError", "StorageError"]
