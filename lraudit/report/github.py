"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding, which
the runner turns into an annotation on the file and line of the pull request.

Escaping follows the runner (actions/toolkit `command.ts`): in the message `%`, CR and LF are
percent-encoded; in properties `:` and `,` are too, since they delimit the property list.
"""

from __future__ import annotations

from typing import Iterable

from lraudit.findings import Finding, Severity
from lraudit.report.locations import finding_path

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding, root: str | None = None) -> str:
    props: list[tuple[str, object]] = []
    path = finding_path(f, root)
    if path is not None:
        props.append(("file", path))
    for key, value in (("line", f.line), ("col", f.column), ("endLine", f.end_line),
                       ("endColumn", f.end_column)):
        if value:
            props.append((key, value))
    props.append(("title", f"{f.code} {f.name}"))
    head = ",".join(f"{k}={escape_property(str(v))}" for k, v in props)
    return f"::{COMMANDS[f.severity]} {head}::{escape_data(f.message)}"


def render(findings: Iterable[Finding], root: str | None = None) -> str:
    return "".join(annotation(f, root) + "\n" for f in findings)
