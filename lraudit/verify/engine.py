"""The fast path end to end: discover -> read -> order -> analyze.  No TensorFlow anywhere.

Kept separate from the click command so tests, the benchmark and the later replay engine call
the same function the CLI does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from lraudit.findings import Finding
from lraudit.verify import formats
from lraudit.verify.analyze import Options, RunResult, analyze_run
from lraudit.verify.discover import Discovery, discover, group_runs
from lraudit.verify.model import CheckpointInfo
from lraudit.verify.storage import default_jobs
from lraudit.verify.trace import read_trace


@dataclass
class VerifyResult:
    target: str
    runs: list[RunResult] = field(default_factory=list)
    replay: list[dict] = field(default_factory=list)
    # where the checkpoints live (lraudit.verify.storage); replay copies a remote checkpoint
    # with storage.fetch_local(result.storage, candidate)
    storage: Any = None

    @property
    def findings(self) -> list[Finding]:
        return [f for run in self.runs for f in run.findings]

    @property
    def rows(self):
        return [row for run in self.runs for row in run.rows]

    def to_json(self) -> dict:
        """DESIGN.md's verify object, exactly these keys."""
        return {
            "target": self.target,
            "checkpoints": [row.to_json() for row in self.rows],
            "findings": [f.verify_json() for f in self.findings],
            "replay": list(self.replay),
        }


def read_all(found: Discovery, jobs: int | None = None, progress=None) -> list[CheckpointInfo]:
    """Read every candidate, `jobs` at a time (default: storage.default_jobs), in order."""
    jobs = jobs or default_jobs(found.storage)
    infos = formats.read_many(found.candidates, found.storage, jobs, progress)
    for candidate, info in zip(found.candidates, infos):
        if info.position is None:
            info.position = found.name_positions.get(candidate.path)
    return infos


def verify(target: str, options: Options | None = None, jobs: int | None = None,
           progress=None) -> VerifyResult:
    """Raises discover.TargetError (bad target, or storage.StorageError: the storage cannot be
    reached) and formats.MissingDependency (no h5py)."""
    options = options or Options()
    found = discover(target)
    infos = read_all(found, jobs, progress)
    result = VerifyResult(target=target, storage=found.storage)
    runs = group_runs(infos)
    # The trace of a directory goes with its largest run (the training that wrote it).
    trace_owner: dict[str, int] = {}
    for index, (run_dir, _template, run) in enumerate(runs):
        best = trace_owner.get(run_dir)
        if best is None or len(run) > len(runs[best][2]):
            trace_owner[run_dir] = index
    for index, (run_dir, template, run) in enumerate(runs):
        trace = None
        if run_dir in found.traces and trace_owner.get(run_dir) == index:
            trace_path = found.traces[run_dir]
            trace = read_trace(trace_path, _rel(found, trace_path), found.storage)
        display = _rel(found, run_dir)
        several = sum(1 for other in runs if other[0] == run_dir) > 1
        if several:
            display = f"{display}/{template}" if display != "." else template
        result.runs.append(analyze_run(run_dir, display, run, options, trace))
    # A trace in a directory whose checkpoints were all deleted still tells the run's history.
    for run_dir, trace_path in sorted(found.traces.items()):
        if run_dir not in trace_owner:
            trace = read_trace(trace_path, _rel(found, trace_path), found.storage)
            result.runs.append(analyze_run(run_dir, _rel(found, run_dir), [], options, trace))
    return result


def _rel(found: Discovery, path: str) -> str:
    rel = found.storage.path.relpath(path, found.base).replace(os.sep, "/")
    return rel
