"""One scan run: discovery, per-file rule selection, execution (serial, pooled or cached) and
fixes.  The CLI only parses options and renders; everything else happens here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lraudit.config import Config
from lraudit.findings import Finding
from lraudit.scan.files import discover
from lraudit.scan.rules import Rule, select_rules
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


def run_scan(options: ScanOptions, cfg: Config) -> ScanRun:
    rules = select_rules(options.select or cfg.select, options.ignore or cfg.ignore)
    found = discover(options.paths, cfg.exclude)
    run = ScanRun(errors=list(found.errors), files_checked=len(found.files))
    target = options.target_keras or cfg.target_keras
    for file in sorted(found.files, key=lambda p: p.as_posix()):
        display = file.as_posix()
        result: FileResult = scan_file(file, display, rules_for(rules, cfg, display),
                                       use_prefilter=options.use_prefilter, target_keras=target)
        if result.error:
            run.errors.append((display, result.error))
        run.findings.extend(result.findings)
    return run
