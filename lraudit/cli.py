"""The `lraudit` command line: options -> engine call -> reporter.  Thin on purpose.

Importing this module must stay cheap: no TensorFlow, Keras, h5py or numpy (a test checks).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from lraudit import WORKER_MARKER, __version__
from lraudit.config import ConfigError, load_config
from lraudit.findings import Severity, exit_code
from lraudit.report import FAIL_ON, FORMATS
from lraudit.verify.command import verify_command



def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def error_line(path: str, reason: str) -> None:
    """The one-line form every input error takes on stderr."""
    click.echo(f"lraudit: error: {path}: {reason}", err=True)


class _Lraudit(click.Group):
    """The command group; refuses to start inside a replay worker, so a checkpoint folder can
    never make replay start lraudit (and its workers) again, however it got code to run."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        if os.environ.get(WORKER_MARKER):
            click.echo(f"lraudit: error: refusing to start inside a replay worker "
                       f"({WORKER_MARKER} is set)", err=True)
            sys.exit(2)
        return super().main(*args, **kwargs)


@click.group(cls=_Lraudit, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lraudit")
def main() -> None:
    """Find the ways a resumed TensorFlow/Keras training run gets the wrong learning rate."""


@main.command("scan")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (e.g. LR1,LR201).")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text for people, json for tools, sarif for code scanning, github for annotations.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False), help="Write the report here.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default=None,
              help="Lowest severity that fails the run [default: warning].")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary.")
@click.option("--statistics", is_flag=True,
              help="Print the number of findings per rule instead of the findings (text or json).")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
              help="Report (and fail on) only findings not recorded in this baseline file.")
@click.option("--write-baseline", "write_baseline_path", type=click.Path(dir_okay=False),
              help="Record the current findings in this baseline file and exit 0.")
@click.option("--fix", is_flag=True, help="Apply safe fixes to the files.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply unsafe fixes (with --fix or --diff).")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them.")
@click.option("--no-default-path", is_flag=True,
              help="With no PATHS, check nothing instead of '.' (for hooks that pass file names).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True),
              help="Use this pyproject.toml instead of the nearest one.")
@click.option("--target-keras", type=click.Choice(["2", "3"]), default=None,
              help="Assume this Keras major version instead of inferring it per file.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: number of cores; a few files always run serially].")
@click.option("--no-cache", is_flag=True, help="Do not read or write .lraudit_cache/.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Give up on a file after this long, with a one-line error "
                                      "[default: 5, or [tool.lraudit] time-budget].")
@click.option("--no-prefilter", is_flag=True, hidden=True, help="Parse every file (for testing).")
def scan_command(paths: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...], fmt: str,
                 output_file: str | None, exit_zero: bool, fail_on: str | None, quiet: bool,
                 statistics: bool, baseline_path: str | None, write_baseline_path: str | None,
                 fix: bool, unsafe_fixes: bool, diff: bool, no_default_path: bool,
                 config_path: str | None, target_keras: str | None, jobs: int | None, no_cache: bool,
                 time_budget: float | None, no_prefilter: bool) -> None:
    """Scan Python training scripts under PATHS (default: .) for resumption hazards."""
    from lraudit.report import render, render_statistics
    from lraudit.report.text import use_colour
    from lraudit.scan import baseline
    from lraudit.scan.api import ScanOptions, run_scan

    if statistics and fmt not in ("text", "json"):
        _usage(f"--statistics prints text or json, not {fmt}")
    if baseline_path and write_baseline_path:
        _usage("--baseline and --write-baseline cannot be combined")
    if not paths and not no_default_path:
        paths = (".",)
    try:
        cfg = load_config(Path(paths[0] if paths else "."), Path(config_path) if config_path else None)
        known = baseline.load(Path(baseline_path)) if baseline_path else None
    except (ConfigError, baseline.BaselineError) as exc:
        _usage(str(exc))
    try:
        threshold = Severity.parse(fail_on or cfg.fail_on or "warning")
    except ValueError as exc:
        _usage(f"{cfg.source}: [tool.lraudit] fail-on: {exc}")
    from lraudit.scan.catalog import unknown_selectors

    for option, values in (("--select", _split(select)), ("--ignore", _split(ignore)),
                           (f"{cfg.source}: [tool.lraudit] select", cfg.select or []),
                           (f"{cfg.source}: [tool.lraudit] ignore", cfg.ignore)):
        unknown = unknown_selectors(values)
        if unknown:
            _usage(f"{option}: {', '.join(unknown)} matches no rule (see `lraudit rule --all`)")
    options = ScanOptions(paths=paths, select=_split(select) or None, ignore=_split(ignore) or None,
                          target_keras=target_keras, use_prefilter=not no_prefilter,
                          fix=fix, unsafe_fixes=unsafe_fixes, diff=diff, jobs=jobs,
                          use_cache=not no_cache, time_budget=time_budget)
    run = run_scan(options, cfg)
    for path, reason in run.errors:
        error_line(path, reason)
    if write_baseline_path:
        try:
            count = baseline.write(Path(write_baseline_path), run.findings)
        except baseline.BaselineError as exc:
            _usage(str(exc))
        click.echo(f"lraudit: recorded {count} finding{'s' if count != 1 else ''} in {write_baseline_path}",
                   err=True)
        sys.exit(2 if run.errors else 0)
    findings, hidden = baseline.new_findings(run.findings, known) if known else (run.findings, 0)
    if run.diffs:  # --diff: on stdout only where it cannot corrupt a machine-readable report
        click.echo("".join(run.diffs), nl=False, err=fmt != "text" or bool(output_file))
    if run.fixed:
        click.echo(f"lraudit: fixed {run.fixed} finding{'s' if run.fixed != 1 else ''}", err=True)
    if statistics:
        report = render_statistics(findings, fmt)
    else:
        report = render(findings, fmt, kind="scan", errors=run.errors,
                        files_checked=run.files_checked - run.files_failed,
                        colour=not output_file and use_colour(sys.stdout), quiet=quiet, baselined=hidden)
    _emit(report, output_file)
    code = exit_code(findings, threshold, errors=bool(run.errors))
    sys.exit(0 if exit_zero and code == 1 else code)


def _usage(message: str) -> NoReturn:
    """Usage errors and unusable settings files: one line, exit 2 (DESIGN.md)."""
    click.echo(f"lraudit: error: {message}", err=True)
    sys.exit(2)


def _emit(report: str, output_file: str | None) -> None:
    if output_file:
        try:
            # surrogateescape: file names that are not valid UTF-8 are written back as their bytes
            Path(output_file).write_text(report, encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            error_line(output_file, f"cannot write report: {exc.strerror or exc}")
            sys.exit(2)
    else:
        click.echo(report, nl=False)


@main.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
def rule_command(code: str | None, show_all: bool, fmt: str) -> None:
    """Show the documentation page of rule CODE, or list all rules with --all."""
    import json

    from lraudit.scan.rules import ALL_RULES, BY_CODE, markdown_table

    def meta(r):
        return {"code": r.code, "name": r.name, "severity": str(r.severity), "fixable": r.fixable,
                "summary": r.summary}

    if show_all or code is None:
        if fmt == "markdown":
            click.echo(markdown_table(), nl=False)
        elif fmt == "json":
            click.echo(json.dumps([meta(r) for r in ALL_RULES], indent=2))
        else:
            for r in ALL_RULES:
                fix = "fixable" if r.fixable else ""
                click.echo(f"{r.code:<7}{r.name:<40}{str(r.severity):<9}{fix}")
        return
    rule = BY_CODE.get(code.upper())
    if rule is None:
        from lraudit.verify.codes import CODES, rule_page  # noqa: PLC0415

        page = rule_page(code.upper()) if code.upper() in CODES else None
        if page is None:
            click.echo(f"lraudit: error: unknown rule {code!r} (see `lraudit rule --all`)", err=True)
            sys.exit(2)
        name, severity = CODES[code.upper()]
        info = {"code": code.upper(), "name": name, "severity": str(severity), "fixable": False}
    else:
        page = rule.doc_path.read_text(encoding="utf-8")
        info = meta(rule)
    if fmt == "json":
        click.echo(json.dumps({**info, "doc": page}, indent=2))
    else:
        click.echo(page, nl=False)


main.add_command(verify_command, "verify")


if __name__ == "__main__":  # pragma: no cover
    main()
