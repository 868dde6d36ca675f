"""The records that flow through verify: what discovery found, and what a reader saw in it.

Kept free of any reader or analysis logic so that every stage (discovery, the format readers,
analysis, rendering) can import it without pulling in h5py or numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Stable format names; they appear in the JSON `format` field.
KERAS = "keras"                    # Keras 3 / tf-keras `.keras` zip
KERAS_DIR = "keras-dir"            # `.keras` saved with zipped=False
WEIGHTS_H5 = "weights-h5"          # `*.weights.h5` (save_weights / weights-only ModelCheckpoint)
WEIGHTS_SHARDED = "weights-sharded"  # `*.weights.json` + `*_NNNNN.weights.h5`
LEGACY_H5 = "legacy-h5"            # full-model `.h5` / `.hdf5` (model_config + training_config)
H5_WEIGHTS_K2 = "legacy-h5-weights"  # Keras 2 HDF5 `save_weights("w.h5")`: layer weights only
TF_CHECKPOINT = "tf-checkpoint"    # TensorBundle prefix (`ckpt-N.index` + `.data-*`)
SAVED_MODEL = "saved-model"        # directory with saved_model.pb + variables/
BACKUP_K3 = "backup"               # Keras 3 BackupAndRestore (latest.weights.h5 + training_metadata.json)
BACKUP_K2 = "backup-tf-keras"      # tf-keras BackupAndRestore (chief/ckpt-N)
UNKNOWN = "unknown"


@dataclass
class Candidate:
    """A checkpoint that discovery found, before anything inside it is read."""

    path: str                 # absolute path: the file, the TF prefix, or the checkpoint directory
    display: str              # path relative to the verify target, for reports
    kind: str                 # one of the format names above (best guess from names)
    run_dir: str              # checkpoints with the same run_dir form one run
    mtime: float = 0.0
    state_index: int | None = None   # position in a TF `checkpoint` state file (save order)
    metadata_path: str | None = None  # BackupAndRestore training_metadata.json(.bkp)
    problem: str | None = None        # discovery already knows it is unreadable, and why


@dataclass
class Position:
    """Where a checkpoint stands in the run, in epochs and batches, independent of its counter.

    `expected_step(spe) = epochs * spe + batches`; `alt_batches` covers BackupAndRestore's
    ambiguous `batch: 0`, which means either an epoch boundary or one batch into the epoch.
    """

    epochs: int
    batches: int = 0
    alt_batches: int | None = None
    source: str = ""          # "file name", "backup metadata", "ckpt_saved_epoch"

    def expected_steps(self, spe: int) -> list[int]:
        base = [self.epochs * spe + self.batches]
        if self.alt_batches is not None:
            base.append(self.epochs * spe + self.alt_batches)
        return base


@dataclass
class CheckpointInfo:
    """What one reader saw in one checkpoint.  Unknown values stay None, never guessed."""

    candidate: Candidate
    format: str
    step: int | None = None
    has_optimizer: bool | None = None
    lr: float | None = None              # float LR variable: the rate the next step applies
    lr_source: str | None = None         # where `lr` was read, for messages
    lr_heuristic: bool = False           # `lr` inferred from layout without a config
    last_step_lr: float | None = None    # tf-keras `_current_learning_rate`: rate of the last step
    schedule: dict[str, Any] | None = None  # serialized LearningRateSchedule (normalized)
    config_lr: float | None = None       # float learning_rate from the optimizer config
    lr_kind: str = "unknown"             # "float" | "schedule" | "unknown"
    optimizer_class: str | None = None
    keras_version: str | None = None
    mixed_precision: bool = False
    grad_accum_steps: int | None = None
    position: Position | None = None
    train_counter: int | None = None     # tf-keras BackupAndRestore: batches fit() has run
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def display(self) -> str:
        return self.candidate.display

    @property
    def readable(self) -> bool:
        return self.error is None

    @property
    def epoch(self) -> int | None:
        return self.position.epochs if self.position else None
