"""Renderers shared by scan and verify.  Each takes findings and returns the text to print.

`render()` is the one entry point both commands call, so `--format` means the same thing for
`lraudit scan` and `lraudit verify`; the exit code is `lraudit.findings.exit_code()`, which does
not depend on the format.
"""

from __future__ import annotations

from typing import Iterable

from lraudit.findings import Finding

FORMATS = ("text", "json", "sarif", "github")
FAIL_ON = ("error", "warning", "info")
KINDS = ("scan", "verify")


def render(findings: list[Finding], fmt: str, *, kind: str = "scan", rules=None, root: str | None = None,
           errors: Iterable[tuple[str, str]] = (), files_checked: int | None = None, colour: bool = False,
           quiet: bool = False, baselined: int = 0) -> str:
    """The report in `fmt` for findings of engine `kind` ("scan" or "verify").

    rules: `lraudit.report.rules.RuleMeta` list for SARIF (default: the engine's catalog).
    root: the directory verify checkpoint paths are relative to (the verify target).
    errors: (path, reason) input errors, recorded in SARIF as tool notifications.
    files_checked, colour, quiet, baselined: text only.
    `json` is scan's array; verify's JSON object also holds checkpoints and replays, so the
    verify command builds it itself.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown engine {kind!r} (expected one of {', '.join(KINDS)})")
    if fmt == "text":
        from lraudit.report import text

        noun = "file" if kind == "scan" else "checkpoint"
        return text.render(findings, files_checked, colour=colour, quiet=quiet, noun=noun,
                           baselined=baselined, unchecked=len(list(errors)))
    if fmt == "json":
        if kind != "scan":
            raise ValueError("verify's JSON document is built by the verify command")
        from lraudit.report import json_report

        return json_report.render_scan(findings)
    if fmt == "sarif":
        from lraudit.report import sarif
        from lraudit.report.rules import catalog

        return sarif.render(findings, catalog(kind) if rules is None else rules, root=root, errors=errors)
    if fmt == "github":
        from lraudit.report import github

        return github.render(findings, root)
    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


def render_statistics(findings: list[Finding], fmt: str) -> str:
    """Counts per rule (`--statistics`), in text or json."""
    if fmt == "json":
        from lraudit.report import json_report

        return json_report.render_statistics(findings)
    from lraudit.report import text

    return text.render_statistics(findings)
