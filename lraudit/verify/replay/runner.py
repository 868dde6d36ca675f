"""Start the replay workers (one per Keras flavour) and collect their measurements.

The worker is a separate Python process because TensorFlow fixes its device list and its Keras
flavour at import (TF_USE_LEGACY_KERAS, CUDA_VISIBLE_DEVICES, logical CPU devices for
MirroredStrategy), and because the lraudit process itself stays free of TensorFlow.  It runs in
a private temporary working directory, so nothing Keras might write lands next to the user's
checkpoints; the directory is removed afterwards.

The worker is an isolated interpreter (`python -I`): neither the working directory, nor the
checkpoint directory, nor PYTHONPATH is on its `sys.path`, so a file named like a module that
TensorFlow imports (`enum.py`, `copy.py`, ...) in either place is never executed.  Its path is the
interpreter's own (standard library and site-packages), the user's site-packages when the parent
uses them, and exactly the directories the user named: those of the `--custom-objects` and
`--model-factory` files and every `--package-root`.  The worker also carries WORKER_MARKER in
its environment, and the lraudit command refuses to start under it, so a worker can never start
lraudit (and its workers) again.
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

from lraudit import WORKER_MARKER

# A worker that sees no output for this long is stuck (a user factory waiting on input, a
# device that never answers): it is killed and its jobs are reported as failed.
DEFAULT_TIMEOUT_S = 900.0

# The worker's first lines, run by `python -I -c`: build sys.path from what the parent allowed,
# then hand over to the worker module.  lraudit's own root is appended only when the isolated
# interpreter cannot find lraudit (a source checkout run without installing it).
_BOOTSTRAP = """\
import importlib.util, json, site, sys
paths = json.loads(sys.argv[1])
for directory in paths["user_site"]:
    site.addsitedir(directory)
sys.path[:0] = paths["named"]
if importlib.util.find_spec("lraudit") is None:
    sys.path.append(paths["lraudit_root"])
from lraudit.verify.replay.worker import main
sys.exit(main())
"""


@dataclass
class Settings:
    device: str = "auto"                  # auto | cpu | gpu
    strategy: str | None = None           # None | "mirrored"
    unsafe: bool = False
    custom_objects: list[str] = field(default_factory=list)
    model_factory: str | None = None
    package_roots: list[str] = field(default_factory=list)
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


def worker_paths(settings: Settings) -> dict[str, Any]:
    """What the isolated worker may import from beyond its interpreter's own path.

    `named`: the directories of the user's module files and the package roots they named, in
    that order; `user_site`: the user's site-packages when this process imports from it;
    `lraudit_root`: where this lraudit lives, used only if the worker cannot find it otherwise.
    """
    import site  # noqa: PLC0415

    import lraudit  # noqa: PLC0415

    named: list[str] = []
    files = [*settings.custom_objects,
             *([settings.model_factory.rpartition(":")[0]] if settings.model_factory else [])]
    for spec in files:
        if spec.endswith(".py") or "/" in spec or os.sep in spec:
            named.append(os.path.dirname(os.path.abspath(spec)))
    named.extend(os.path.abspath(root) for root in settings.package_roots)
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    return {"named": list(dict.fromkeys(named)),
            "user_site": [user_site] if user_site and user_site in sys.path else [],
            "lraudit_root": os.path.dirname(os.path.dirname(os.path.abspath(lraudit.__file__)))}


class WorkerFailed(Exception):
    """The worker could not start TensorFlow or the user's modules: every job fails alike."""


def run_worker(keras: int, jobs: list[dict[str, Any]], settings: Settings,
               progress: Callable[[str], None]) -> dict[int, dict[str, Any]]:
    """Run one worker over `jobs`; returns its results by job id.  Raises WorkerFailed."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env[WORKER_MARKER] = "1"
    if keras == 2:
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    if settings.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    request = json.dumps({"settings": settings.for_worker(keras), "jobs": jobs})
    workdir = tempfile.mkdtemp(prefix="lraudit-replay-")
    results: dict[int, dict[str, Any]] = {}
    try:
        with open(os.path.join(workdir, "stderr.log"), "w+b") as err:
            command = [sys.executable, "-I", "-u", "-c", _BOOTSTRAP,
                       json.dumps(worker_paths(settings))]
            proc = subprocess.Popen(command,
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
