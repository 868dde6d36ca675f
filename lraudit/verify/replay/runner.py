"""Start the replay workers (one per Keras flavour) and collect their measurements.

The worker is a separate Python process because TensorFlow fixes its device list and its Keras
flavour at import (TF_USE_LEGACY_KERAS, CUDA_VISIBLE_DEVICES, logical CPU devices for
MirroredStrategy), and because the lraudit process itself stays free of TensorFlow.  It runs in
a private temporary working directory, so nothing Keras might write lands next to the user's
checkpoints; the directory is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

# A worker that sees no output for this long is stuck (a user factory waiting on input, a
# device that never answers): it is killed and its jobs are reported as failed.
DEFAULT_TIMEOUT_S = 900.0


@dataclass
class Settings:
    device: str = "auto"                  # auto | cpu | gpu
    strategy: str | None = None           # None | "mirrored"
    unsafe: bool = False
    custom_objects: list[str] = field(default_factory=list)
    model_factory: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def for_worker(self, keras: int) -> dict[str, Any]:
        return {"keras": keras, "device": self.device, "strategy": self.strategy,
                "unsafe": self.unsafe, "custom_objects": [_absolute(c) for c in self.custom_objects],
                "model_factory": _absolute_factory(self.model_factory)}


def _absolute(spec: str) -> str:
    """File paths become absolute: the worker runs in its own temporary directory."""
    if spec.endswith(".py") or "/" in spec or os.sep in spec:
        return os.path.abspath(spec)
    return spec


def _absolute_factory(spec: str | None) -> str | None:
    if not spec:
        return spec
    module, sep, func = spec.rpartition(":")
    return f"{_absolute(module)}{sep}{func}" if sep else spec


class WorkerFailed(Exception):
    """The worker could not start TensorFlow or the user's modules: every job fails alike."""


def run_worker(keras: int, jobs: list[dict[str, Any]], settings: Settings,
               progress: Callable[[str], None]) -> dict[int, dict[str, Any]]:
    """Run one worker over `jobs`; returns its results by job id.  Raises WorkerFailed."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONUNBUFFERED"] = "1"
    if keras == 2:
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    if settings.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    # the user's package (for --model-factory pkg.mod:fn) stays importable from the temp cwd
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH")) if p)
    request = json.dumps({"settings": settings.for_worker(keras), "jobs": jobs})
    workdir = tempfile.mkdtemp(prefix="lraudit-replay-")
    results: dict[int, dict[str, Any]] = {}
    try:
        with open(os.path.join(workdir, "stderr.log"), "w+b") as err:
            proc = subprocess.Popen([sys.executable, "-m", "lraudit.verify.replay.worker"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                    cwd=workdir, env=env)
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(request.encode("utf-8"))
            proc.stdin.close()
            fatal = _read_events(proc, settings.timeout_s, progress, results)
            code = proc.wait()
            err.seek(0)
            tail = _last_line(err.read().decode("utf-8", "replace"))
        if fatal:
            raise WorkerFailed(fatal)
        if code != 0 and len(results) < len(jobs):
            raise WorkerFailed(f"the replay process exited with status {code}"
                               + (f": {tail}" if tail else ""))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def _read_events(proc: subprocess.Popen, timeout_s: float, progress: Callable[[str], None],
                 results: dict[int, dict[str, Any]]) -> str | None:
    import selectors  # noqa: PLC0415

    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            proc.kill()
            return f"the replay process gave no sign of life for {timeout_s:.0f} s and was stopped"
        if not selector.select(timeout=min(remaining, 1.0)):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return None
        deadline = time.monotonic() + timeout_s
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.pop("event", None)
            if kind == "progress":
                progress(str(event.get("message", "")))
            elif kind == "result":
                results[int(event["id"])] = event
            elif kind == "fatal":
                proc.kill()
                return str(event.get("message", "the replay process failed"))


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[-1][:300] if lines else ""
