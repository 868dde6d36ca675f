"""SARIF 2.1.0: the format code-scanning services (GitHub, GitLab, Azure DevOps) ingest.

One run per invocation.  The rules carry their Markdown page as help, so a code-scanning alert
explains itself; results carry a `partialFingerprints` entry (the baseline fingerprint) so the
service tracks an alert across commits that move lines; fixes are included where the engine
has one (Ruff omits them, astral-sh/ruff#19962).  Input errors become tool execution
notifications, so a partial scan is visible in the SARIF and not only on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from lraudit import __version__
from lraudit.findings import Finding, Fix, Severity
from lraudit.report.locations import finding_path, to_uri
from lraudit.report.rules import RuleMeta, complete

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
FINGERPRINT_KEY = "lraudit/v1"


def _rule(meta: RuleMeta) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": meta.code,
        "name": meta.name,
        "shortDescription": {"text": meta.summary or meta.name},
        "fullDescription": {"text": meta.description, "markdown": meta.description},
        "defaultConfiguration": {"level": LEVELS[meta.severity]},
        "properties": {"severity": str(meta.severity)},
    }
    if meta.page:
        rule["help"] = {"text": meta.page, "markdown": meta.page}
    return rule


def _location(uri: str, f: Finding) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": SRCROOT}}
    if f.line:
        region: dict[str, Any] = {"startLine": f.line}
        if f.column:
            region["startColumn"] = f.column
        if f.end_line:
            region["endLine"] = f.end_line
        if f.end_column:
            region["endColumn"] = f.end_column
        physical["region"] = region
    return {"physicalLocation": physical}


def _fix(uri: str, fix: Fix) -> dict[str, Any]:
    replacements = [{
        "deletedRegion": {"startLine": e.line, "startColumn": e.column,
                          "endLine": e.end_line, "endColumn": e.end_column},
        "insertedContent": {"text": e.content},
    } for e in fix.edits]
    text = fix.description or "Apply lraudit's fix"
    return {
        "description": {"text": f"{text} ({fix.applicability} fix)"},
        "artifactChanges": [{"artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
                             "replacements": replacements}],
        "properties": {"applicability": fix.applicability},
    }


def _fingerprints(findings: list[Finding]) -> list[str | None]:
    if not any(f.fingerprint_source for f in findings):
        return [None] * len(findings)
    from lraudit.scan.baseline import fingerprints

    return [fp for _, fp in fingerprints(findings, Path.cwd())]


def _result(f: Finding, index: int, root: str | None, fingerprint: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": index,
        "level": LEVELS[f.severity],
        "message": {"text": f.message},
    }
    path = finding_path(f, root)
    if path is not None:
        uri = to_uri(path)
        result["locations"] = [_location(uri, f)]
        if f.fix is not None and f.fix.edits:
            result["fixes"] = [_fix(uri, f.fix)]
    if fingerprint:
        result["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint}
    evidence = {k: v for k, v in (("expected", f.expected), ("actual", f.actual)) if v is not None}
    if evidence:
        result["properties"] = evidence
    return result


def to_sarif(findings: Iterable[Finding], rules: Iterable[RuleMeta], *, root: str | None = None,
             errors: Iterable[tuple[str, str]] = (), tool_version: str = __version__) -> dict[str, Any]:
    """The SARIF log as a dict.  `root`: the directory verify checkpoint paths are relative to."""
    findings = list(findings)
    metas = complete(rules, findings)
    index = {m.code: i for i, m in enumerate(metas)}
    prints = _fingerprints(findings)
    errors = list(errors)
    invocation: dict[str, Any] = {"executionSuccessful": not errors}
    if errors:
        invocation["toolExecutionNotifications"] = [{
            "level": "error",
            "message": {"text": f"{path}: {reason}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": to_uri(path)}}}],
        } for path, reason in errors]
    run = {
        "tool": {"driver": {
            "name": "lraudit",
            "version": tool_version,
            "semanticVersion": tool_version,
            "rules": [_rule(m) for m in metas],
        }},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[f.code], root, fp) for f, fp in zip(findings, prints)],
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(findings: Iterable[Finding], rules: Iterable[RuleMeta], *, root: str | None = None,
           errors: Iterable[tuple[str, str]] = ()) -> str:
    return json.dumps(to_sarif(findings, rules, root=root, errors=errors), indent=2) + "\n"
