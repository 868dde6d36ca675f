"""Which checkpoints to replay, and what each replayed step is expected to apply.

Pure Python (no TensorFlow): the worker only measures; the expectations and the verdicts are
computed here, from what the fast path already read, so the two engines share one notion of
"the rate this checkpoint should resume with".

What replay checks, and what it leaves to the fast path: the fast path compares each checkpoint
with the run (was the counter behind the epoch, did the schedule change, did the rate jump).
Replay compares a checkpoint with itself *after Keras loads it*: does the loaded optimizer hold
the step counter the file stores (LRV007), and does it apply, step by step, the rate that the
file's own schedule or rate gives at that counter (LRV006).  A checkpoint the fast path already
flagged is still replayed; replay does not repeat the fast path's finding.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from lraudit.verify import model as m
from lraudit.verify import schedules
from lraudit.verify.analyze import Row, RunResult

# formats a Keras `load_model` can open by itself; the others need --model-factory
SELF_CONTAINED = {m.KERAS, m.KERAS_DIR, m.LEGACY_H5, m.SAVED_MODEL}
NEEDS_FACTORY = {m.WEIGHTS_H5, m.WEIGHTS_SHARDED, m.BACKUP_K3, m.TF_CHECKPOINT, m.BACKUP_K2}


@dataclass
class Job:
    """One checkpoint to replay, and what its steps should apply."""

    id: int
    run: RunResult
    row: Row
    keras: int                       # 2 (tf_keras) or 3
    steps: int
    expectation: str                 # "schedule" | "constant" | "restored" (custom/unknown)
    schedule: dict[str, Any] | None = None
    constant: float | None = None
    probe_steps: list[int] = field(default_factory=list)

    @property
    def stored_step(self) -> int | None:
        return self.row.info.step

    def request(self) -> dict[str, Any]:
        info = self.row.info
        return {"id": self.id, "path": info.candidate.path, "source": info.candidate.path,
                "display": info.display,
                "format": info.format, "keras": self.keras, "steps": self.steps,
                "mixed_precision": info.mixed_precision, "probe_steps": self.probe_steps}

    def expected(self, step: int, restored_values: dict[str, float]) -> float | None:
        """The rate a correct resume applies at optimizer step `step`."""
        if self.expectation == "schedule" and self.schedule is not None:
            try:
                return schedules.evaluate(self.schedule, step)
            except schedules.ScheduleError:
                return None
        if self.expectation == "constant":
            return self.constant
        value = restored_values.get(str(step))
        return value


@dataclass
class Skip:
    """A checkpoint that was not replayed, and why (reported, never silent)."""

    run: RunResult
    row: Row
    reason: str
    # What the environment lacks (not the checkpoint): like TensorFlow itself missing, an
    # explicit --replay then fails rather than passing without having replayed.
    missing_dependency: bool = False


def keras_flavour(row: Row) -> int:
    info = row.info
    if info.format in (m.BACKUP_K2, m.H5_WEIGHTS_K2):
        return 2
    if info.keras_version:
        return 2 if info.keras_version.startswith("2") else 3
    if info.format == m.TF_CHECKPOINT:
        # tf_keras optimizers store `_current_learning_rate`, OptimizerV2 a plain `learning_rate`;
        # Keras 3 optimizers neither.
        legacy_rate = info.lr_source is not None and not info.lr_source.endswith("_learning_rate")
        return 2 if info.last_step_lr is not None or legacy_rate else 3
    return 3


def tf_keras_installed() -> bool:
    return importlib.util.find_spec("tf_keras") is not None


def plan(runs: list[RunResult], steps: int, replay_all: bool, model_factory: str | None,
         schedule_override: dict[str, Any] | None) -> tuple[list[Job], list[Skip]]:
    jobs: list[Job] = []
    skips: list[Skip] = []
    for run in runs:
        candidates = [r for r in run.rows if r.info.readable and r.info.has_optimizer
                      and r.info.step is not None]
        chosen = candidates if replay_all else candidates[-1:]
        for row in chosen:
            reason = _unreplayable(row, model_factory)
            if reason:
                skips.append(Skip(run, row, reason))
                continue
            if keras_flavour(row) == 2 and not tf_keras_installed():
                skips.append(Skip(run, row, "a Keras 2 checkpoint replays with tf_keras: pip install tf_keras",
                                  missing_dependency=True))
                continue
            jobs.append(_job(len(jobs), run, row, steps, schedule_override))
    return jobs, skips


def _unreplayable(row: Row, model_factory: str | None) -> str | None:
    info = row.info
    flavour = keras_flavour(row)
    if info.format in NEEDS_FACTORY and not model_factory:
        return (f"a {info.format} checkpoint holds no model architecture; pass --model-factory "
                "MODULE:FUNCTION returning the compiled model your resume builds")
    if info.format not in SELF_CONTAINED | NEEDS_FACTORY:
        return f"replay does not load {info.format} checkpoints"
    if info.format == m.SAVED_MODEL and flavour == 3:
        return ("Keras 3 cannot load a SavedModel for training (keras.saving.load_model takes "
                ".keras and .h5 only); resume from a .keras checkpoint")
    return None


def _job(index: int, run: RunResult, row: Row, steps: int,
         schedule_override: dict[str, Any] | None) -> Job:
    info = row.info
    job = Job(id=index, run=run, row=row, keras=keras_flavour(row), steps=steps,
              expectation="restored")
    own = info.schedule
    if own is not None and schedules.is_builtin(own):
        job.expectation, job.schedule = "schedule", own
    elif own is None and info.lr_kind != "schedule" and row.lr is not None:
        job.expectation, job.constant = "constant", row.lr
    elif own is None and schedule_override is not None and schedules.is_builtin(schedule_override):
        job.expectation, job.schedule = "schedule", schedule_override
    elif own is None and run.schedule is not None and schedules.is_builtin(run.schedule):
        job.expectation, job.schedule = "schedule", run.schedule
    s0 = info.step or 0
    probes = set(range(s0, s0 + steps + 1))
    if s0 > 0:
        probes.add(s0 - 1)
    if run.trace is not None:
        probes.update(r.step for r in run.trace.records if r.lr is not None and r.step <= s0)
    job.probe_steps = sorted(probes)
    return job
