"""One scan run: discovery, per-file rule selection, execution (serial, pooled or cached) and
fixes.  The CLI only parses options and renders; everything else happens here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lraudit.config import Config
from lraudit.findings import Finding
from lraudit.scan.files import discover
from lraudit.scan.project import project_pins
from lraudit.scan.cache import ResultCache, config_key
from lraudit.scan.rules import BY_CODE, Rule, select_rules
from lraudit.scan.runner import FileResult, scan_file


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


@dataclass
class ScanRun:
    findings: list[Finding] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    files_checked: int = 0
    diffs: list[str] = field(default_factory=list)
    fixed: int = 0


def rules_for(rules: list[Rule], cfg: Config, path: str) -> list[Rule]:
    ignored = cfg.ignored_for(path)
    if not ignored:
        return rules
    return [r for r in rules if not any(p == "ALL" or r.code.startswith(p) for p in ignored)]


# Below this many files to parse, a process pool costs more than it saves (pre-commit
# passes a handful of files; starting workers alone takes longer than scanning them).
POOL_THRESHOLD = 24


def _scan_job(job: tuple[str, str, tuple[str, ...], bool, str | None]) -> FileResult:
    """Runs in a worker process: rules travel as codes, not objects."""
    path, display, codes, use_prefilter, target = job
    return scan_file(Path(path), display, [BY_CODE[c] for c in codes], use_prefilter=use_prefilter,
                     target_keras=target)


def _execute(jobs: list[tuple], workers: int) -> list[FileResult]:
    if workers <= 1 or len(jobs) < POOL_THRESHOLD:
        return [_scan_job(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, min(64, len(jobs) // (workers * 4)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_scan_job, jobs, chunksize=chunk))


def run_scan(options: ScanOptions, cfg: Config) -> ScanRun:
    rules = select_rules(options.select or cfg.select, options.ignore or cfg.ignore)
    found = discover(options.paths, cfg.exclude)
    run = ScanRun(errors=list(found.errors), files_checked=len(found.files))
    target = options.target_keras or cfg.target_keras
    if options.fix or options.diff:
        from lraudit.scan.fix import fix_files

        return fix_files(run, found.files, lambda display: rules_for(rules, cfg, display),
                         unsafe=options.unsafe_fixes, write=not options.diff, target_keras=target,
                         use_prefilter=options.use_prefilter)
    cache = None
    if options.use_cache:
        # Dependency pins decide a file's Keras flavour: a changed pin must invalidate results.
        pins = sorted({str(project_pins(f)) for f in found.files}) if not target else []
        key = config_key(sorted(r.code for r in rules), cfg.per_file_ignores, target, options.use_prefilter, pins)
        cache = ResultCache.open(cfg.root or Path.cwd(), key)
    results: dict[str, list[Finding]] = {}
    jobs = []
    stats = {}
    for file in sorted(found.files, key=lambda p: p.as_posix()):
        display = file.as_posix()
        if cache is not None:
            try:
                stats[display] = file.stat()
            except OSError:
                stats[display] = None
            hit = cache.lookup(file, stats[display]) if stats[display] is not None else None
            if hit is not None:
                results[display] = hit
                continue
        codes = tuple(r.code for r in rules_for(rules, cfg, display))
        jobs.append((str(file), display, codes, options.use_prefilter, target))
    workers = options.jobs if options.jobs is not None else (os.cpu_count() or 1)
    for result in _execute(jobs, workers):
        if result.error:
            run.errors.append((result.path, result.error))
            continue
        results[result.path] = result.findings
        if cache is not None and stats.get(result.path) is not None and result.digest:
            cache.store(Path(result.path), stats[result.path], result.digest, result.findings)
    if cache is not None:
        cache.save()
    run.errors.sort()
    for display in sorted(results):
        run.findings.extend(results[display])
    return run
