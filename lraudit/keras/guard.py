"""ResumeGuard: stop a wrongly resumed `fit()` before its first step, and trace the rate.

When the check runs.  Keras 3's `fit()` does not tell callbacks its `initial_epoch`:
`params` holds only `verbose`, `epochs` and `steps`, and `model._initial_epoch` is set only
by BackupAndRestore (which `fit()` then prefers: `self._initial_epoch or initial_epoch`).  The
one place where the effective starting epoch reaches a callback is the argument of the first
`on_epoch_begin`, which comes after every callback's `on_train_begin` (BackupAndRestore has
restored by then, whatever the callback order) and before the first batch.  tf_keras is the
same, and also resumes mid-epoch after a batch-level backup (the step is read from its
training state).  So `on_train_begin` only prepares, and the check runs at the first
`on_epoch_begin`: still before a single step changes the weights.

Cost.  No batch hook is overridden, so neither Keras adds per-batch work for the guard
(tf_keras skips batch hooks nobody implements; Keras 3 can keep async batch dispatch).
Everything happens once per `fit()` and once per epoch.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from typing import Any

from lraudit.findings import Finding
from lraudit.keras import flavour as flavours
from lraudit.keras.check import Position, assess, lr_callback_with_schedule
from lraudit.keras.errors import ResumeMismatch, ResumeMismatchWarning
from lraudit.keras.optimizer_state import (
    current_rate,
    expected_rate_fn,
    raw_step,
    schedule_name,
    snapshot,
)
from lraudit.keras.trace import TRACE_FILENAME, TraceRecord, append_record

ON_MISMATCH = ("raise", "warn")
LR_CALLBACKS = ("LearningRateScheduler", "ReduceLROnPlateau")
_CONCRETE: dict[str, type] = {}


def report(findings: list[Finding], on_mismatch: str, stacklevel: int = 3) -> None:
    if not findings:
        return
    if on_mismatch == "raise":
        raise ResumeMismatch(findings)
    for finding in findings:
        warnings.warn(ResumeMismatchWarning(finding), stacklevel=stacklevel)


def _class_names(obj: Any) -> set[str]:
    return {cls.__name__ for cls in type(obj).__mro__}


def lr_callbacks(callbacks: list[Any]) -> list[str]:
    """Names of the callbacks in the list that write the optimizer's rate."""
    return [name for cb in callbacks for name in LR_CALLBACKS if name in _class_names(cb)]


def default_trace_dir(callbacks: list[Any]) -> str | None:
    """Next to the run's checkpoints: a ModelCheckpoint's directory, else BackupAndRestore's.

    ModelCheckpoint first because BackupAndRestore deletes its directory after a successful
    fit().  Templated parts (`ckpt/{epoch:02d}/...`) and remote URLs (`gs://...`, which
    plain file appends cannot reach) are not guessed at: no trace then.
    """
    for wanted, attr in (("ModelCheckpoint", "filepath"), ("BackupAndRestore", "backup_dir")):
        for cb in callbacks:
            if wanted not in _class_names(cb):
                continue
            path = os.fspath(getattr(cb, attr, "") or "")
            if not path or "://" in path:
                continue
            if attr == "filepath":
                path = os.path.dirname(path.split("{", 1)[0]) or "."
            return path
    return None


def sibling_callbacks(guard: Any, frame: Any) -> list[Any]:
    """The callback list this guard is being called from.

    Keras gives a callback no handle on its siblings; the CallbackList that calls
    `on_train_begin` is the caller's `self`.  Looked up once per fit(), a few frames deep.
    """
    for _ in range(6):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        callbacks = getattr(owner, "callbacks", None)
        if isinstance(callbacks, list) and any(cb is guard for cb in callbacks):
            return callbacks
        frame = frame.f_back
    return []


def _is_chief(model: Any) -> bool:
    strategy = getattr(model, "distribute_strategy", None)
    return bool(getattr(getattr(strategy, "extended", None), "should_checkpoint", True))


def _concrete_class(flavour: str) -> type:
    if flavour not in _CONCRETE:
        base = flavours.callback_base(flavour)
        _CONCRETE[flavour] = type(
            "ResumeGuard",
            (ResumeGuard, base),
            {"__module__": __name__, "__qualname__": "ResumeGuard", "__doc__": ResumeGuard.__doc__},
        )
    return _CONCRETE[flavour]


class ResumeGuard:
    """A Keras callback that checks a resumed run before it trains, and traces the rate.

    At the start of `fit()` (the first `on_epoch_begin`, before any step) it checks that the
    optimizer's raw step counter equals `initial_epoch x steps_per_epoch` and that the rate
    the next step will apply equals `expected_schedule` at that step; on a mismatch it
    raises `ResumeMismatch` (or warns with `ResumeMismatchWarning`).  At every epoch end it
    appends `{"epoch","step","lr","time"}` to `lraudit-trace.jsonl` in `trace_dir`.

    Args:
        expected_schedule: a LearningRateSchedule (or any callable of the step), a float, or
            None to check against the optimizer's own schedule.
        steps_per_epoch: optimizer steps per epoch of the original run; default: this fit()'s
            batches per epoch.
        trace_dir: where the trace goes; default: the directory of a ModelCheckpoint, else of
            a BackupAndRestore, in the same callback list; else no trace.
        on_mismatch: "raise" or "warn".
        rtol: relative tolerance of the rate comparison.

    Building one imports Keras (tf_keras when TF_USE_LEGACY_KERAS=1); importing
    `lraudit.keras` does not.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "ResumeGuard":
        if cls is ResumeGuard:
            cls = _concrete_class(flavours.requested_flavour())
        return super().__new__(cls)

    def __init__(
        self,
        expected_schedule: Any = None,
        steps_per_epoch: int | None = None,
        trace_dir: str | os.PathLike[str] | None = None,
        on_mismatch: str = "raise",
        *,
        rtol: float = 1e-6,
    ) -> None:
        super().__init__()
        if on_mismatch not in ON_MISMATCH:
            raise ValueError(f"on_mismatch must be 'raise' or 'warn', not {on_mismatch!r}")
        if steps_per_epoch is not None and (
            isinstance(steps_per_epoch, bool)
            or int(steps_per_epoch) != steps_per_epoch
            or steps_per_epoch <= 0
        ):
            raise ValueError(f"steps_per_epoch must be a positive integer, not {steps_per_epoch!r}")
        if not rtol >= 0:
            raise ValueError(f"rtol must be >= 0, not {rtol!r}")
        self.expected_schedule = expected_schedule
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self.trace_dir = None if trace_dir is None else os.fspath(trace_dir)
        self.on_mismatch = on_mismatch
        self.rtol = float(rtol)
        self.trace_path: str | None = None
        self.findings: list[Finding] = []
        self._pending = False
        self._lr_callbacks: list[str] = []

    # -- Keras hooks --------------------------------------------------------------------

    def set_model(self, model: Any) -> None:
        mine = flavours.model_flavour(self)
        theirs = flavours.model_flavour(model)
        if mine and theirs and mine != theirs:
            hint = (
                "set TF_USE_LEGACY_KERAS=1 before importing TensorFlow"
                if theirs == flavours.TF_KERAS
                else "unset TF_USE_LEGACY_KERAS"
            )
            raise TypeError(
                f"this ResumeGuard was built for {mine} but the model is a {theirs} model: {hint}"
            )
        super().set_model(model)

    def on_train_begin(self, logs: Any = None) -> None:
        self._pending = True
        self.findings = []
        siblings = sibling_callbacks(self, sys._getframe(1))
        self._lr_callbacks = lr_callbacks(siblings)
        self.trace_path = self._resolve_trace_path(siblings)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if not self._pending:
            return
        self._pending = False
        try:
            self.findings = self._check(int(epoch))
        except Exception as exc:  # an optimizer we cannot read: say so, never break training
            warnings.warn(
                f"lraudit: ResumeGuard could not read the optimizer ({exc!r});"
                " this resume was not checked",
                stacklevel=2,
            )
            return
        report(self.findings, self.on_mismatch, stacklevel=4)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.trace_path is None:
            return
        try:
            optimizer = self.model.optimizer
            step = raw_step(optimizer)
            record = TraceRecord(
                epoch=int(epoch) + 1, step=step, lr=current_rate(optimizer, step), time=time.time()
            )
            append_record(self.trace_path, record)
        except Exception as exc:  # the trace is evidence, never a reason to stop training
            warnings.warn(
                f"lraudit: cannot write the learning-rate trace {self.trace_path} ({exc!r});"
                " tracing stops",
                stacklevel=2,
            )
            self.trace_path = None

    # -- internals ----------------------------------------------------------------------

    def _resolve_trace_path(self, siblings: list[Any]) -> str | None:
        if not _is_chief(self.model):
            return None  # multi-worker: only the chief writes, like ModelCheckpoint
        directory = self.trace_dir or default_trace_dir(siblings)
        return None if directory is None else os.path.join(directory, TRACE_FILENAME)

    def _steps_per_epoch(self) -> int | None:
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        steps = (self.params or {}).get("steps")
        return int(steps) if steps else None

    def _initial_step(self, epoch: int, steps_per_epoch: int | None) -> int:
        """tf_keras resumes inside an epoch after a batch-level backup; Keras 3 never does."""
        state = getattr(self.model, "_training_state", None)
        reader = getattr(state, "maybe_load_initial_counters_from_ckpt", None)
        if reader is None or not steps_per_epoch:
            return 0
        try:
            resumed_epoch, step = reader(steps_per_epoch, epoch, "train")
        except Exception:
            return 0
        return int(step) if int(resumed_epoch) == epoch else 0

    def _check(self, initial_epoch: int) -> list[Finding]:
        optimizer = self.model.optimizer
        snap = snapshot(optimizer)
        spe = self._steps_per_epoch()
        initial_step = self._initial_step(initial_epoch, spe)
        expected_step = initial_epoch * spe + initial_step if spe else None
        position = Position(
            expected_step=expected_step,
            initial_epoch=initial_epoch,
            steps_per_epoch=spe,
            initial_step=initial_step,
        )
        findings = assess(
            snap,
            position,
            expected_rate_fn(self.expected_schedule, snap),
            user_schedule=self.expected_schedule is not None,
            rtol=self.rtol,
        )
        schedule = schedule_name(optimizer) if self._lr_callbacks else None
        if schedule is not None:
            findings.append(lr_callback_with_schedule(self._lr_callbacks, schedule))
        return findings
