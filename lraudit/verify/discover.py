"""Find the checkpoints under a target, name their format, group them into runs, order them.

Discovery looks only at names and directory structure (a file's content is the readers' job),
so it is cheap even for a directory of many large checkpoints.  A run is the set of checkpoints
written into one directory: a ModelCheckpoint template, a CheckpointManager, or one
BackupAndRestore directory.  Order within a run is the training order: by the epoch (and batch)
a checkpoint records when every checkpoint records one, else by the TF state file's save order,
else by the numbers in a shared file-name template, else by modification time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from lraudit.verify import model as m
from lraudit.verify.formats.tensorbundle import parse_state_file
from lraudit.verify.model import Candidate, CheckpointInfo, Position
from lraudit.verify.storage import LOCAL, TargetError, open_target

TRACE_NAME = "lraudit-trace.jsonl"
_DATA = re.compile(r"^(?P<prefix>.+)\.data-\d{5}-of-\d{5}$")
_SHARD = re.compile(r"^(?P<stem>.+)_\d+\.weights\.h5$")
_SKIP_DIRS = {"__pycache__", "node_modules"}
_BACKUP_FILES = ("latest.weights.h5", "training_metadata.json",
                 "latest.weights.h5.bkp", "training_metadata.json.bkp")


@dataclass
class Discovery:
    target: str                      # absolute path of the target (storage path when remote)
    base: str                        # directory that reported paths are relative to
    candidates: list[Candidate] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)   # run_dir -> lraudit-trace.jsonl
    name_positions: dict[str, Position] = field(default_factory=dict)  # candidate path -> position
    storage: Any = LOCAL             # where the paths above live (lraudit.verify.storage)


def discover(target: str, storage: Any = None) -> Discovery:
    """All checkpoints under `target` (a directory or one checkpoint file, a path or a URL).

    Paths in the result are the storage's own (absolute local paths, or `bucket/key` paths
    for a URL); `display` paths are relative to the target in both cases, so a run reports the
    same whether it is read from disk or from object storage.
    """
    fs = storage if storage is not None else open_target(target)
    path = fs.resolve(target)
    if not fs.exists(path):
        if fs.exists(path + ".index"):
            return _single_prefix(path, fs)
        raise TargetError("no such file or directory")
    if fs.isdir(path):
        if not fs.access(path, os.R_OK | os.X_OK):
            raise TargetError("directory is not readable (permission denied)")
        found = Discovery(target=path, base=path, storage=fs)
        _walk(path, found)
        return found
    if not fs.access(path, os.R_OK):
        raise TargetError("file is not readable (permission denied)")
    return _single_file(path, fs)


# ----------------------------------------------------------------------------- walking


def _walk(root: str, found: Discovery) -> None:
    fs = found.storage
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in fs.walk(root, onerror=errors.append):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        files = set(filenames)
        if _is_dir_checkpoint(dirpath, files):
            kind = m.SAVED_MODEL if "saved_model.pb" in files else m.KERAS_DIR
            run_dir = fs.path.dirname(dirpath) if dirpath != root else dirpath
            _add(found, Candidate(path=dirpath, display=_rel(found, dirpath), kind=kind,
                                  run_dir=run_dir, mtime=_mtime(fs, dirpath)))
            dirnames[:] = []
            continue
        _scan_files(dirpath, files, found)
    for err in errors:
        where = getattr(err, "filename", None) or root
        if fs.path.abspath(where) == root:
            raise TargetError(f"cannot list directory ({err.strerror or err})")
        _add(found, Candidate(path=where, display=_rel(found, where), kind=m.UNKNOWN,
                              run_dir=fs.path.dirname(where),
                              problem=f"directory not readable ({err.strerror or err})"))


def _is_dir_checkpoint(dirpath: str, files: set[str]) -> bool:
    if "saved_model.pb" in files:
        return True
    return "config.json" in files and "model.weights.h5" in files


def _scan_files(dirpath: str, files: set[str], found: Discovery) -> None:
    fs = found.storage
    p = fs.path
    consumed: set[str] = set()
    if any(name in files for name in _BACKUP_FILES[:2]):
        _add_backup(dirpath, files, found)
        consumed.update(_BACKUP_FILES)
    if TRACE_NAME in files:
        found.traces[dirpath] = p.join(dirpath, TRACE_NAME)
    for name in sorted(files):
        if name.endswith(".weights.json"):
            stem = name[: -len(".weights.json")]
            consumed.update(f for f in files if (mm := _SHARD.match(f)) and mm.group("stem") == stem)
    state_order: dict[str, int] = {}
    listed: list[str] = []
    if "checkpoint" in files:
        try:
            _latest, listed = parse_state_file(p.join(dirpath, "checkpoint"), fs)
        except OSError:
            listed = []
        for i, prefix in enumerate(listed):
            full = prefix if p.isabs(prefix) else p.join(dirpath, prefix)
            state_order[p.normpath(full)] = i
    prefixes_with_index = {name[: -len(".index")] for name in files if name.endswith(".index")}
    data_only: set[str] = set()
    for name in sorted(files - consumed):
        full = p.join(dirpath, name)
        kind = _file_kind(name)
        if kind is None:
            match = _DATA.match(name)
            if match and match.group("prefix") not in prefixes_with_index:
                data_only.add(match.group("prefix"))
            continue
        path = full
        if kind == m.TF_CHECKPOINT:
            path = full[: -len(".index")]
            if p.basename(dirpath) == "chief":
                kind = m.BACKUP_K2
        _add(found, Candidate(path=path, display=_rel(found, path), kind=kind, run_dir=dirpath,
                              mtime=_mtime(fs, full), state_index=state_order.get(p.normpath(path))))
    for prefix in sorted(data_only):
        path = p.join(dirpath, prefix)
        _add(found, Candidate(path=path, display=_rel(found, path), kind=m.TF_CHECKPOINT,
                              run_dir=dirpath, mtime=_mtime(fs, path + ".data-00000-of-00001"),
                              state_index=state_order.get(p.normpath(path)),
                              problem="data file without its .index (an interrupted or partial save)"))
    for prefix, index in state_order.items():
        if p.dirname(prefix) == p.normpath(dirpath) and not fs.exists(prefix + ".index") \
                and p.basename(prefix) not in data_only:
            _add(found, Candidate(path=prefix, display=_rel(found, prefix), kind=m.TF_CHECKPOINT,
                                  run_dir=dirpath, state_index=index,
                                  problem="named in the 'checkpoint' state file, but its files are missing"))


def _file_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".keras"):
        return m.KERAS
    if lower.endswith(".weights.json"):
        return m.WEIGHTS_SHARDED
    if lower.endswith(".weights.h5"):
        return m.WEIGHTS_H5
    if lower.endswith((".h5", ".hdf5")):
        return m.LEGACY_H5
    if lower.endswith(".index"):
        return m.TF_CHECKPOINT
    return None


def _add_backup(dirpath: str, files: set[str], found: Discovery) -> None:
    """Keras 3 BackupAndRestore: the latest backup, and the previous one when kept (.bkp)."""
    pairs = [("latest.weights.h5.bkp", "training_metadata.json.bkp", 0),
             ("latest.weights.h5", "training_metadata.json", 1)]
    for weights, metadata, order in pairs:
        if weights not in files and metadata not in files:
            continue
        if order == 0 and weights not in files:
            continue
        p = found.storage.path
        path = p.join(dirpath, weights)
        _add(found, Candidate(
            path=path, display=_rel(found, path), kind=m.BACKUP_K3, run_dir=dirpath,
            mtime=_mtime(found.storage, path), state_index=order,
            metadata_path=p.join(dirpath, metadata) if metadata in files else None))


# ----------------------------------------------------------------------------- single targets


def _single_file(path: str, fs: Any = LOCAL) -> Discovery:
    p = fs.path
    directory = p.dirname(path)
    name = p.basename(path)
    found = Discovery(target=path, base=directory, storage=fs)
    if name in ("saved_model.pb", "config.json", "metadata.json", "model.weights.h5") and \
            _is_dir_checkpoint(directory, set(fs.listdir(directory))):
        found.base = p.dirname(directory)
        kind = m.SAVED_MODEL if name == "saved_model.pb" or fs.exists(
            p.join(directory, "saved_model.pb")) else m.KERAS_DIR
        _add(found, Candidate(path=directory, display=_rel(found, directory), kind=kind,
                              run_dir=directory, mtime=_mtime(fs, directory)))
        return found
    if name in _BACKUP_FILES:
        _add_backup(directory, set(fs.listdir(directory)), found)
        found.candidates = [c for c in found.candidates if p.basename(c.path) in
                            (name, name.replace("training_metadata.json", "latest.weights.h5"))]
        return found
    if name == "checkpoint":
        _scan_files(directory, set(fs.listdir(directory)), found)
        found.candidates = [c for c in found.candidates if c.kind in (m.TF_CHECKPOINT, m.BACKUP_K2)]
        found.traces = {}
        if not found.candidates:
            raise TargetError("the checkpoint state file names no checkpoint")
        return found
    match = _DATA.match(name)
    if match:
        return _single_prefix(p.join(directory, match.group("prefix")), fs)
    kind = _file_kind(name)
    if kind is None:
        raise TargetError("not a checkpoint (expected .keras, .h5, .hdf5, .weights.h5, "
                          ".weights.json, a TF checkpoint .index, or a directory)")
    if kind == m.TF_CHECKPOINT:
        return _single_prefix(path[: -len(".index")], fs)
    _add(found, Candidate(path=path, display=name, kind=kind, run_dir=directory, mtime=_mtime(fs, path)))
    return found


def _single_prefix(prefix: str, fs: Any = LOCAL) -> Discovery:
    p = fs.path
    directory = p.dirname(prefix)
    found = Discovery(target=prefix, base=directory, storage=fs)
    problem = None if fs.exists(prefix + ".index") else \
        "data file without its .index (an interrupted or partial save)"
    kind = m.BACKUP_K2 if p.basename(directory) == "chief" else m.TF_CHECKPOINT
    _add(found, Candidate(path=prefix, display=p.basename(prefix), kind=kind,
                          run_dir=directory, mtime=_mtime(fs, prefix + ".index"), problem=problem))
    return found


# ----------------------------------------------------------------------------- helpers


def _add(found: Discovery, candidate: Candidate) -> None:
    found.candidates.append(candidate)
    if candidate.kind != m.BACKUP_K3:
        position = name_position(candidate.path)
        if position is not None:
            found.name_positions[candidate.path] = position


def _rel(found: Discovery, path: str) -> str:
    rel = found.storage.path.relpath(path, found.base)
    return rel.replace(os.sep, "/")


def _mtime(fs: Any, path: str) -> float:
    try:
        return fs.mtime(path)
    except OSError:
        return 0.0



_SUFFIXES = (".weights.h5", ".weights.json", ".keras", ".hdf5", ".h5", ".index", ".ckpt")
_EPOCH = re.compile(r"(?<![a-z])(?:epochs?|ep)[_\-=.]?(\d+)|(?<![a-z0-9])e[_\-=]?(\d+)", re.I)
_BATCH = re.compile(r"(?<![a-z])(?:batch|b)[_\-=.]?(\d+)", re.I)
_STEP = re.compile(r"(?<![a-z])(?:step|steps|iter|iteration|it)[_\-=.]?\d+", re.I)
_DECIMAL = re.compile(r"\d+\.\d+")
_PADDED = re.compile(r"(?<!\d)0\d+(?!\d)")


def _stem(path: str) -> str:
    name = os.path.basename(path.rstrip("/"))
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            name = name[: -len(suffix)]
            lower = name.lower()
    return name


def name_position(path: str) -> Position | None:
    """The epoch (and batch) a ModelCheckpoint-style file name records.

    `{epoch}` is 1-based, so `ep03` is the checkpoint after 3 completed epochs; with `{batch}`
    (integer save_freq) `ep03_b002` is 2 batches into the 3rd epoch.  An unmarked number counts
    as the epoch only when zero-padded (`weights.03-0.45.h5`, the `{epoch:02d}` idiom); a bare
    `ckpt-7` is a save counter and only orders the run.
    """
    stem = _stem(path)
    epoch_match = _EPOCH.search(stem)
    epoch = None
    if epoch_match:
        epoch = int(epoch_match.group(1) or epoch_match.group(2))
    else:
        cleaned = _STEP.sub(" ", _DECIMAL.sub(" ", stem))
        cleaned = _BATCH.sub(" ", cleaned)
        padded = _PADDED.findall(cleaned)
        if len(padded) == 1:
            epoch = int(padded[0])
    if epoch is None:
        return None
    batch_match = _BATCH.search(stem[epoch_match.end():] if epoch_match else stem)
    if batch_match:
        batch = int(batch_match.group(1))
        if epoch >= 1:
            return Position(epochs=epoch - 1, batches=batch, source="file name")
        return None
    return Position(epochs=epoch, source="file name")


def natural_key(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def run_template(info: CheckpointInfo) -> str:
    """The file-name template of a checkpoint: its name with every number replaced by '#'.

    Checkpoints of one run share a template (one ModelCheckpoint pattern, one CheckpointManager
    prefix); files with other names in the same directory (a `final.keras`, a second callback
    writing `.weights.h5` next to `.keras`) are other runs, so they are not compared with it.
    """
    if info.candidate.kind == m.BACKUP_K3:
        return "BackupAndRestore"
    name = os.path.basename(info.candidate.path.rstrip("/"))
    stem = _stem(name)
    return re.sub(r"\d+", "#", stem) + name[len(stem):]


def group_runs(infos: list[CheckpointInfo]) -> list[tuple[str, str, list[CheckpointInfo]]]:
    """Split into runs (directory + file-name template), each in training order."""
    runs: dict[tuple[str, str], list[CheckpointInfo]] = {}
    for info in infos:
        runs.setdefault((info.candidate.run_dir, run_template(info)), []).append(info)
    keys = sorted(runs, key=lambda k: (natural_key(k[0]), natural_key(k[1])))
    return [(run_dir, template, order_run(runs[(run_dir, template)])) for run_dir, template in keys]


def order_run(infos: list[CheckpointInfo]) -> list[CheckpointInfo]:
    if all(i.position is not None for i in infos):
        return sorted(infos, key=lambda i: (i.position.epochs, i.position.batches,
                                            natural_key(i.display)))
    if all(i.candidate.state_index is not None for i in infos):
        return sorted(infos, key=lambda i: i.candidate.state_index)
    templates = {re.sub(r"\d+", "#", i.display) for i in infos}
    if len(templates) == 1:
        return sorted(infos, key=lambda i: natural_key(i.display))
    return sorted(infos, key=lambda i: (i.candidate.mtime, natural_key(i.display)))
