"""One scan run: discovery, per-file rule selection, execution (serial, pooled or cached) and
fixes.  The CLI only parses options and renders; everything else happens here.

Nothing heavy is imported up front: rules travel as codes, the cache and the prefilter work
on text, and libcst is imported (by the worker, lazily) only for a file that must be parsed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lraudit.config import Config
from lraudit.findings import Finding
from lraudit.scan.budget import DEFAULT_BUDGET_S
from lraudit.scan.cache import ResultCache, config_key
from lraudit.scan.catalog import codes_for, select_codes
from lraudit.scan.files import discover
from lraudit.scan.source import FileResult
from lraudit.scan.worker import Job, scan_batch, scan_job


@dataclass
class ScanOptions:
    paths: tuple[str, ...] = (".",)
    select: list[str] | None = None
    ignore: list[str] | None = None
    target_keras: str | None = None
    use_prefilter: bool = True
    jobs: int | None = None
    use_cache: bool = True
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    time_budget: float | None = None   # seconds per file; None: the config's, else the default


@dataclass
class ScanRun:
    findings: list[Finding] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    files_checked: int = 0   # files found, including those that failed
    files_failed: int = 0    # files found that could not be analysed (also in errors)
    diffs: list[str] = field(default_factory=list)
    fixed: int = 0


def rules_for(rules: list, cfg: Config, path: str) -> list:
    """The Rule objects that apply to one file after `per-file-ignores`."""
    keep = set(codes_for([r.code for r in rules], cfg.ignored_for(path)))
    return [r for r in rules if r.code in keep]


# Below this many files to scan, a process pool costs more than it saves (pre-commit
# passes a handful of files; starting workers alone takes longer than scanning them).
POOL_THRESHOLD = 24
# Work units per worker: enough for the pool to even out files of very different cost.
BATCHES_PER_WORKER = 8


def default_jobs() -> int:
    """The cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def batches(jobs: list[tuple[Job, int]], workers: int) -> list[list[Job]]:
    """Group (job, size) pairs into work units of similar byte size, biggest first.

    The largest files go out first so that no worker is left with a big file at the end; small
    files travel many to a unit, since most of them are rejected by the prefilter in well under
    a millisecond and a round trip to a worker costs more than that.
    """
    ordered = sorted(jobs, key=lambda js: -js[1])
    total = sum(size for _, size in ordered)
    target = max(1, total // max(1, workers * BATCHES_PER_WORKER))
    out: list[list[Job]] = []
    current: list[Job] = []
    size = 0
    for job, n in ordered:
        current.append(job)
        size += n
        if size >= target:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


def execute(jobs: list[tuple[Job, int]], workers: int) -> list[FileResult]:
    """Results in no particular order (the caller sorts)."""
    if workers <= 1 or len(jobs) < POOL_THRESHOLD:
        return [scan_job(job) for job, _ in jobs]
    from concurrent.futures import ProcessPoolExecutor

    units = batches(jobs, workers)
    out: list[FileResult] = []
    with ProcessPoolExecutor(max_workers=min(workers, len(units))) as pool:
        for done in [pool.submit(scan_batch, unit) for unit in units]:
            out.extend(done.result())
    return out


def run_scan(options: ScanOptions, cfg: Config) -> ScanRun:
    codes = select_codes(options.select or cfg.select, options.ignore or cfg.ignore)
    found = discover(options.paths, cfg.exclude)
    run = ScanRun(errors=list(found.errors), files_checked=len(found.files))
    target = options.target_keras or cfg.target_keras
    budget_s = options.time_budget or cfg.time_budget or DEFAULT_BUDGET_S
    if options.fix or options.diff:
        from lraudit.scan.fix import fix_files
        from lraudit.scan.rules import BY_CODE

        rules = [BY_CODE[c] for c in codes]
        return fix_files(run, found.files, lambda display: rules_for(rules, cfg, display),
                         unsafe=options.unsafe_fixes, write=not options.diff, target_keras=target,
                         use_prefilter=options.use_prefilter)
    cache = _open_cache(options, cfg, codes, found.files, target) if options.use_cache else None
    results: dict[str, list[Finding]] = {}
    jobs: list[tuple[Job, int]] = []
    stats: dict[str, os.stat_result | None] = {}
    for file in found.files:
        display = file.as_posix()
        try:
            st: os.stat_result | None = file.stat()
        except OSError:
            st = None
        if cache is not None and st is not None:
            stats[display] = st
            hit = cache.lookup(file, st)
            if hit is not None:
                results[display] = hit
                continue
        job: Job = (str(file), display, tuple(codes_for(codes, cfg.ignored_for(display))),
                    options.use_prefilter, target, budget_s)
        jobs.append((job, st.st_size if st is not None else 0))
    workers = options.jobs if options.jobs is not None else default_jobs()
    for result in execute(jobs, workers):
        if result.error:
            run.errors.append((result.path, result.error))
            run.files_failed += 1
            continue
        results[result.path] = result.findings
        st = stats.get(result.path)
        if cache is not None and st is not None and result.digest:
            cache.store(Path(result.path), st, result.digest, result.findings)
    if cache is not None:
        cache.save()
    run.errors.sort()
    for display in sorted(results):
        run.findings.extend(results[display])
    return run


def _open_cache(options: ScanOptions, cfg: Config, codes: list[str], files: list[Path],
                target: str | None) -> ResultCache:
    """The index for this configuration.  Dependency pins decide a file's Keras flavour, so a
    changed pin must invalidate results: they are part of the key (unless --target-keras)."""
    pins = sorted(_all_pins(files)) if not target else []
    key = config_key(codes, cfg.per_file_ignores, target, options.use_prefilter, pins)
    return ResultCache.open(cfg.root or Path.cwd(), key)


def _all_pins(files: list[Path]) -> set[str]:
    """The distinct dependency pins the files see.  Pins depend on a file's directory only, so
    each directory is resolved once (a symlinked file is looked up on its own)."""
    from lraudit.scan.project import project_pins

    by_dir: dict[Path, str] = {}
    out: set[str] = set()
    for file in files:
        if file.is_symlink():
            out.add(str(project_pins(file)))
            continue
        pins = by_dir.get(file.parent)
        if pins is None:
            pins = by_dir[file.parent] = str(project_pins(file))
        out.add(pins)
    return out
