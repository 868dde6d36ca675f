"""The `lraudit` command line: options -> engine call -> reporter.  Thin on purpose.

Importing this module must stay cheap: no TensorFlow, Keras, h5py or numpy (a test checks).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lraudit import __version__
from lraudit.config import ConfigError, load_config
from lraudit.findings import Severity, exit_code
from lraudit.verify.command import verify_command

FORMATS = ("text", "json")


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def error_line(path: str, reason: str) -> None:
    """The one-line form every input error takes on stderr."""
    click.echo(f"lraudit: error: {path}: {reason}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lraudit")
def main() -> None:
    """Find the ways a resumed TensorFlow/Keras training run gets the wrong learning rate."""


@main.command("scan")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (e.g. LR1,LR201).")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output-file", "-o", type=click.Path(dir_okay=False), help="Write the report here.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default=None,
              help="Lowest severity that fails the run [default: warning].")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True),
              help="Use this pyproject.toml instead of the nearest one.")
@click.option("--target-keras", type=click.Choice(["2", "3"]), default=None,
              help="Assume this Keras major version instead of inferring it per file.")
@click.option("--no-prefilter", is_flag=True, hidden=True, help="Parse every file (for testing).")
def scan_command(paths: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...], fmt: str,
                 output_file: str | None, exit_zero: bool, fail_on: str | None, quiet: bool,
                 config_path: str | None, target_keras: str | None, no_prefilter: bool) -> None:
    """Scan Python training scripts under PATHS (default: .) for resumption hazards."""
    from lraudit.report import json_report, text
    from lraudit.scan.api import ScanOptions, run_scan

    paths = paths or (".",)
    try:
        cfg = load_config(Path(paths[0]), Path(config_path) if config_path else None)
    except ConfigError as exc:
        click.echo(f"lraudit: error: {exc}", err=True)
        sys.exit(2)
    options = ScanOptions(paths=paths, select=_split(select) or None, ignore=_split(ignore) or None,
                          target_keras=target_keras, use_prefilter=not no_prefilter)
    run = run_scan(options, cfg)
    for path, reason in run.errors:
        error_line(path, reason)
    threshold = Severity.parse(fail_on or cfg.fail_on or "warning")
    if fmt == "json":
        report = json_report.render_scan(run.findings)
    else:
        colour = not output_file and text.use_colour(sys.stdout)
        report = text.render(run.findings, run.files_checked, colour=colour, quiet=quiet)
    _emit(report, output_file)
    code = exit_code(run.findings, threshold, errors=bool(run.errors))
    sys.exit(0 if exit_zero and code == 1 else code)


def _emit(report: str, output_file: str | None) -> None:
    if output_file:
        try:
            Path(output_file).write_text(report, encoding="utf-8")
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
        click.echo(f"lraudit: error: unknown rule {code!r} (see `lraudit rule --all`)", err=True)
        sys.exit(2)
    page = rule.doc_path.read_text(encoding="utf-8")
    if fmt == "json":
        click.echo(json.dumps({**meta(rule), "doc": page}, indent=2))
    else:
        click.echo(page, nl=False)


main.add_command(verify_command, "verify")


if __name__ == "__main__":  # pragma: no cover
    main()
