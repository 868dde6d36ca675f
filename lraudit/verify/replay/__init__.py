"""Replay: reload checkpoints with Keras and run a few real training steps on them.

The fast path reads what the optimizer *should* do; replay shows what it *does* once Keras has
loaded the file.  Layout:

    plan.py    which checkpoints, and the rate each replayed step should apply (no TensorFlow)
    runner.py  one worker process per Keras flavour; progress; timeouts
    worker.py  inside the worker: load, synthetic batch, real steps, measurements
    judge.py   measurements -> the JSON `replay` entries and LRV006/LRV007

`run_replay` is what the CLI (and the tests) call; it updates a VerifyResult in place.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

from lraudit.verify.replay.judge import judge
from lraudit.verify.replay.plan import Job, plan
from lraudit.verify.replay.runner import Settings, WorkerFailed, run_worker

DEFAULT_STEPS = 3


def keras_available() -> bool:
    """Whether a replay can run here at all (TensorFlow and a Keras are importable)."""
    def found(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):   # a broken or blocked install counts as absent
            return False

    return found("tensorflow") and (found("keras") or found("tf_keras"))


@dataclass
class ReplayReport:
    notices: list[str] = field(default_factory=list)     # one line each, for stderr
    failed: int = 0                                       # jobs that could not be replayed
    replayed: int = 0
    jobs: list[Job] = field(default_factory=list)


def run_replay(result: Any, steps: int, settings: Settings, replay_all: bool = False,
               rtol: float = 1e-6, schedule_override: dict | None = None,
               progress: Callable[[str], None] = lambda _m: None) -> ReplayReport:
    """Replay the latest checkpoint of every run (all with replay_all); update `result`."""
    report = ReplayReport()
    jobs, skips = plan(result.runs, steps, replay_all, settings.model_factory, schedule_override)
    report.jobs = jobs
    for skip in skips:
        report.notices.append(f"{skip.row.info.display}: not replayed: {skip.reason}")
        report.failed += skip.missing_dependency
    outcomes: dict[int, dict[str, Any]] = {}
    for flavour in (3, 2):
        batch = [job for job in jobs if job.keras == flavour]
        if not batch:
            continue
        try:
            with contextlib.ExitStack() as stack:
                requests = []
                for job in batch:
                    request = job.request()
                    storage = getattr(result, "storage", None)
                    if storage is not None:
                        # a remote checkpoint is copied alone into a private temp dir, removed after
                        from lraudit.verify.storage import fetch_local  # noqa: PLC0415

                        request["path"] = stack.enter_context(fetch_local(storage, job.row.info.candidate))
                    requests.append(request)
                outcomes.update(run_worker(flavour, requests, settings, progress))
        except WorkerFailed as exc:
            for job in batch:
                outcomes[job.id] = {"id": job.id, "error": str(exc)}
    checked_runs: set[int] = set()
    for job in jobs:
        verdict = judge(job, outcomes.get(job.id), rtol)
        result.replay.append(verdict.entry)
        report.notices.extend(verdict.notes)
        if verdict.entry["status"] == "error":
            report.failed += 1
        else:
            report.replayed += 1
        if verdict.findings:
            job.run.findings.extend(verdict.findings)
            code_list = job.row.codes
            for finding in verdict.findings:
                if finding.code not in code_list:
                    code_list.append(finding.code)
            job.row.status = "finding"
        if verdict.custom_checked:
            checked_runs.add(id(job.run))
    # A custom schedule that replay evaluated is no longer "unverifiable".
    for run in result.runs:
        if id(run) in checked_runs:
            run.findings[:] = [f for f in run.findings if f.code != "LRV009"]
            for row in run.rows:
                if "LRV009" in row.codes:
                    row.codes.remove("LRV009")
    return report


__all__ = ["DEFAULT_STEPS", "ReplayReport", "Settings", "keras_available", "run_replay"]
