"""One file as a scan job sees it: read, hash, decode and prefilter without libcst; only a
file that some selected rule needs is parsed, and only then is the analysis imported.

Jobs and results cross process boundaries, so a job is a plain tuple (rules travel as codes)
and nothing here keeps per-file state: once a result is returned, the file's tree, facts and
text are garbage.
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import Iterator

from lraudit.scan.budget import time_budget
from lraudit.scan.cache import content_hash
from lraudit.scan.needs import needed
from lraudit.scan.source import FileResult, InputError, decode, read_source

# (path, display path, rule codes, use the prefilter, --target-keras, time budget in seconds)
Job = tuple[str, str, tuple[str, ...], bool, "str | None", float]


def scan_job(job: Job) -> FileResult:
    path, display, codes, use_prefilter, target, budget_s = job
    result = FileResult(display)
    try:
        data = read_source(Path(path))
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        return result
    except InputError as exc:
        result.error = str(exc)
        return result
    result.digest = content_hash(data)
    try:
        text = decode(data)
        wanted = needed(text, codes) if use_prefilter else list(codes)
        if wanted:
            _import_analysis()  # outside the budget: a timer must never fire inside an import
            with time_budget(budget_s), _collector_paused():
                result.findings = _analyse(Path(path), text, display, wanted, target, budget_s)
    except InputError as exc:
        result.error = str(exc)
    except RecursionError:
        result.error = "too deeply nested to analyse"
    except MemoryError:
        result.error = "too large to analyse in the memory available"
    except Exception as exc:  # noqa: BLE001 - DESIGN.md: an internal error is one line and exit 2,
        # and one file that trips a bug must not stop the others from being checked
        result.findings = []
        result.error = f"internal error ({type(exc).__name__}: {exc}); please report it with this file"
    return result


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while one file is analysed.

    libcst's tree and the analysis allocate millions of objects that all live until the file
    is done; each full collection walks all of them, so with the collector on, the time per
    file grew with the square of its size (a 400 kB file: 7.8 s instead of 1.8 s).  The cycles
    a file leaves are collected once, after it (`_tidy`, or the collector itself later)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def scan_batch(jobs: list[Job]) -> list[FileResult]:
    """A pool worker's unit of work: several small files per round trip.  After each file that
    was parsed, the cycles it left (visitor classes and closures holding its nodes) are
    collected, so nothing of one file outlives its result in a long-lived worker."""
    out = []
    for job in jobs:
        before = _analysed
        out.append(scan_job(job))
        if _analysed != before:
            _tidy()
    return out


_analysed = 0  # files parsed by this process
_frozen = False


def _tidy() -> None:
    """Collect garbage cycles.  The first time, whatever survives (the modules and classes
    imported for the analysis) is frozen out of the collector, so later collections only look
    at objects created since: a millisecond instead of tens."""
    global _frozen
    gc.collect()
    if not _frozen:
        gc.freeze()
        _frozen = True


def _import_analysis() -> None:
    import lraudit.scan.project  # noqa: F401, PLC0415
    import lraudit.scan.rules  # noqa: F401, PLC0415
    import lraudit.scan.runner  # noqa: F401, PLC0415


def _analyse(path: Path, text: str, display: str, codes: list[str], target: str | None,
             budget_s: float):
    global _analysed
    _analysed += 1
    from lraudit.scan.project import project_pins
    from lraudit.scan.rules import BY_CODE
    from lraudit.scan.runner import scan_text

    return scan_text(text, display, [BY_CODE[c] for c in codes], use_prefilter=False, target_keras=target,
                     pins=None if target else project_pins(path), budget_s=budget_s)
