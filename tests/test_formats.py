"""Output formats (text, json, sarif, github) and the exit-code policy they all share.

SARIF is validated against the OASIS 2.1.0 schema vendored in tests/data (offline: the schema
only refers to its own definitions).  Exit codes follow DESIGN.md in every format: 0 when no
finding is at or above --fail-on, 1 when one is, 2 for usage errors and unreadable input.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT
from lraudit.findings import Edit, Finding, Fix, Severity
from lraudit.report import FORMATS, render
from lraudit.report import github, sarif
from lraudit.report.rules import RuleMeta, from_page, page_rules, scan_rules
from lraudit.scan.api import ScanRun

DATA = Path(__file__).parent / "data"
SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

ERROR_SCRIPT = """import tensorflow as tf

model = tf.keras.models.load_model("checkpoints/last.keras")
model.fit(x_train, y_train, epochs=50)
"""
WARNING_SCRIPT = """import tensorflow as tf

saver = tf.keras.callbacks.ModelCheckpoint("ckpt/w.{epoch:02d}.h5", save_weights_only=True)
model.load_weights(tf.train.latest_checkpoint("ckpt"))
model.fit(x_train, y_train, epochs=50, initial_epoch=done, callbacks=[saver])
"""
CLEAN_SCRIPT = """import tensorflow as tf

model = tf.keras.models.load_model("checkpoints/last.keras")
model.fit(x_train, y_train, epochs=50, initial_epoch=done)
"""


def finding(severity: Severity = Severity.ERROR, **kw) -> Finding:
    base = dict(code="LR001", name="fit-without-initial-epoch", severity=severity,
                message="the schedule restarts at epoch 0", path="train.py", line=4, column=1,
                end_line=4, end_column=39, fingerprint_source="model.fit(x, epochs=50)")
    base.update(kw)
    return Finding(**base)


def verify_finding(**kw) -> Finding:
    base = dict(code="LRV001", name="step-counter-reset", severity=Severity.ERROR,
                message="the optimizer's step counter is 0, the schedule restarts",
                checkpoint="run1/ckpt-12.weights.h5", expected=1200, actual=0)
    base.update(kw)
    return Finding(**base)


def validate(doc: dict) -> None:
    """Valid under Draft 7 (what CI tooling uses) and under the schema's own draft-04."""
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(doc)
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(doc)


# --- SARIF -------------------------------------------------------------------------------------

def test_vendored_schema_is_self_contained() -> None:
    refs = []

    def walk(node):
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(SCHEMA)
    assert refs and all(r.startswith("#/") for r in refs)
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_schema_check_is_not_vacuous() -> None:
    doc = sarif.to_sarif([finding()], scan_rules())
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_sarif_of_a_real_scan_is_valid(tmp_path: Path, cli, monkeypatch) -> None:
    (tmp_path / "bad.py").write_text(ERROR_SCRIPT)
    (tmp_path / "warn.py").write_text(WARNING_SCRIPT)
    monkeypatch.chdir(tmp_path)
    result = cli("scan", ".", "--format", "sarif")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    validate(doc)
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "lraudit" and driver["version"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert {"LR001", "LR101", "LR102", "LR103", "LR201"} <= set(rules)
    lr001 = rules["LR001"]
    assert lr001["name"] == "fit-without-initial-epoch"
    assert lr001["defaultConfiguration"]["level"] == "error"
    assert rules["LR201"]["defaultConfiguration"]["level"] == "warning"
    assert lr001["shortDescription"]["text"]
    assert lr001["help"]["markdown"].startswith("# LR001 fit-without-initial-epoch")
    assert "## What to do" in lr001["help"]["markdown"]
    assert "`initial_epoch`" in lr001["fullDescription"]["text"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    error, warning = by_rule["LR001"], by_rule["LR102"]
    assert error["level"] == "error" and warning["level"] == "warning"
    assert driver["rules"][error["ruleIndex"]]["id"] == "LR001"
    location = error["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "bad.py"
    assert location["region"] == {"startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 39}
    assert error["message"]["text"].startswith("`fit()` trains a model resumed")
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_fixes_and_fingerprints() -> None:
    fix = Fix("safe", (Edit(4, 1, 4, 39, "model.fit(x, epochs=50, initial_epoch=done)"),), "Pass initial_epoch")
    doc = sarif.to_sarif([finding(fix=fix)], scan_rules())
    validate(doc)
    (result,) = doc["runs"][0]["results"]
    (change,) = result["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "train.py"
    (replacement,) = change["replacements"]
    assert replacement == {"deletedRegion": {"startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 39},
                           "insertedContent": {"text": "model.fit(x, epochs=50, initial_epoch=done)"}}
    assert result["fixes"][0]["properties"]["applicability"] == "safe"
    moved = sarif.to_sarif([finding(line=40, end_line=40)], scan_rules())["runs"][0]["results"][0]
    assert moved["partialFingerprints"] == result["partialFingerprints"]  # lines moved, same alert


def test_sarif_for_verify_points_at_the_checkpoint(tmp_path: Path) -> None:
    page = tmp_path / "LRV001.md"
    page.write_text("# LRV001 step-counter-reset\n\n**Severity:** error\n\n## What it finds\n\n"
                    "A checkpoint whose optimizer step counter is 0. More text.\n\n## Why it matters\n\nX.\n")
    rules = page_rules(tmp_path)
    assert rules == [RuleMeta("LRV001", "step-counter-reset", Severity.ERROR,
                              "A checkpoint whose optimizer step counter is 0.", page.read_text())]
    out = render([verify_finding(), verify_finding(code="LRV999", name="unknown-rule", severity=Severity.INFO)],
                 "sarif", kind="verify", rules=rules, root="runs")
    doc = json.loads(out)
    validate(doc)
    results = doc["runs"][0]["results"]
    location = results[0]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "runs/run1/ckpt-12.weights.h5", "uriBaseId": "%SRCROOT%"}}
    assert results[0]["properties"] == {"expected": 1200, "actual": 0}
    assert results[1]["level"] == "note"
    ids = [r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]]
    assert ids == ["LRV001", "LRV999"]  # a code without a page still gets a rule entry


def test_sarif_records_input_errors_and_odd_paths() -> None:
    odd = finding(path="my dir/tränen #1.py")
    doc = sarif.to_sarif([odd], [], errors=[("broken.py", "syntax error at line 2, column 5")])
    validate(doc)
    run = doc["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    note = run["invocations"][0]["toolExecutionNotifications"][0]
    assert note["message"]["text"] == "broken.py: syntax error at line 2, column 5"
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20dir/tr%C3%A4nen%20%231.py"


def test_sarif_of_nothing_is_valid() -> None:
    doc = json.loads(render([], "sarif"))
    validate(doc)
    assert doc["runs"][0]["results"] == []


def test_rule_page_parsing() -> None:
    meta = from_page("# LRV002 lr-mismatch\n\n**Severity:** warning · **Fixable:** no\n\n"
                     "## What it finds\n\nThe applied rate differs. Second sentence.\n")
    assert meta is not None and (meta.code, meta.name, meta.severity) == ("LRV002", "lr-mismatch", Severity.WARNING)
    assert meta.summary == "The applied rate differs."
    assert from_page("no heading here") is None


# --- GitHub ------------------------------------------------------------------------------------

def test_github_annotation_line() -> None:
    line = github.annotation(finding())
    assert line == ("::error file=train.py,line=4,col=1,endLine=4,endColumn=39,"
                    "title=LR001 fit-without-initial-epoch::the schedule restarts at epoch 0")


@pytest.mark.parametrize("severity,command", [(Severity.ERROR, "error"), (Severity.WARNING, "warning"),
                                              (Severity.INFO, "notice")])
def test_github_severity_mapping(severity: Severity, command: str) -> None:
    assert github.annotation(finding(severity)).startswith(f"::{command} ")


def test_github_escaping() -> None:
    f = finding(message="100% wrong\r\nnext: line, really", path="a,b:c/100%.py")
    line = github.annotation(f)
    assert line.count("\n") == 0 and "\r" not in line
    head, message = line.split("::", 2)[1:]
    assert message == "100%25 wrong%0D%0Anext: line, really"
    assert "file=a%2Cb%3Ac/100%25.py," in head
    assert github.escape_property("LR001 x:y,z") == "LR001 x%3Ay%2Cz"


def test_github_for_verify_has_file_but_no_line() -> None:
    out = render([verify_finding()], "github", kind="verify", root="runs")
    assert out == ("::error file=runs/run1/ckpt-12.weights.h5,title=LRV001 step-counter-reset::"
                   "the optimizer's step counter is 0, the schedule restarts\n")


def test_verify_json_is_left_to_the_verify_command() -> None:
    with pytest.raises(ValueError):
        render([verify_finding()], "json", kind="verify")


# --- exit codes x formats x --fail-on ----------------------------------------------------------

THRESHOLDS = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO, None: Severity.WARNING}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fail_on", ["error", "warning", "info", None])
@pytest.mark.parametrize("severity", [Severity.ERROR, Severity.WARNING, Severity.INFO])
def test_exit_code_matrix(cli, monkeypatch, fmt: str, fail_on: str | None, severity: Severity) -> None:
    """One finding of each severity, every format, every threshold: the format never changes the
    exit code, and a finding below the threshold is still shown."""
    monkeypatch.setattr("lraudit.scan.api.run_scan",
                        lambda options, cfg: ScanRun(findings=[finding(severity)], files_checked=1))
    args = ["scan", "train.py", "--format", fmt] + (["--fail-on", fail_on] if fail_on else [])
    result = cli(*args)
    expected = 1 if severity >= THRESHOLDS[fail_on] else 0
    assert result.exit_code == expected, result.output
    assert "LR001" in result.stdout
    if fmt in ("json", "sarif"):
        json.loads(result.stdout)


@pytest.mark.parametrize("fmt", FORMATS)
def test_real_scan_exit_codes(tmp_path: Path, cli, fmt: str) -> None:
    (tmp_path / "bad.py").write_text(ERROR_SCRIPT)
    (tmp_path / "warn.py").write_text(WARNING_SCRIPT)
    (tmp_path / "clean.py").write_text(CLEAN_SCRIPT)
    scan = lambda *a: cli("scan", "--format", fmt, *a).exit_code  # noqa: E731
    assert scan(str(tmp_path / "clean.py")) == 0
    assert scan(str(tmp_path / "bad.py")) == 1
    assert scan(str(tmp_path / "warn.py")) == 1
    assert scan(str(tmp_path / "warn.py"), "--fail-on", "error") == 0
    assert scan(str(tmp_path / "warn.py"), "--fail-on", "info") == 1
    assert scan(str(tmp_path / "bad.py"), "--fail-on", "error") == 1
    assert scan(str(tmp_path / "bad.py"), "--exit-zero") == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_unreadable_input_is_exit_2_in_every_format(tmp_path: Path, cli, fmt: str) -> None:
    (tmp_path / "bad.py").write_text(ERROR_SCRIPT)
    (tmp_path / "broken.py").write_text("model.fit(x, epochs=\n")
    for args in ([str(tmp_path / "missing.py")], [str(tmp_path / "broken.py")],
                 [str(tmp_path / "bad.py"), str(tmp_path / "missing.py")]):
        result = cli("scan", "--format", fmt, "--fail-on", "error", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1
    # the partial report still comes out, in the requested format
    if fmt in ("json", "sarif"):
        json.loads(result.stdout)
    assert "LR001" in result.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_usage_errors_are_exit_2(cli, fmt: str, tmp_path: Path) -> None:
    assert cli("scan", "--format", fmt, "--fail-on", "fatal", str(tmp_path)).exit_code == 2
    result = cli("scan", "--format", fmt, "--baseline", "a.json", "--write-baseline", "b.json", str(tmp_path))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


def test_unknown_format_is_exit_2(cli, tmp_path: Path) -> None:
    assert cli("scan", "--format", "xml", str(tmp_path)).exit_code == 2


def test_fail_on_from_pyproject(tmp_path: Path, cli) -> None:
    (tmp_path / "warn.py").write_text(WARNING_SCRIPT)
    (tmp_path / "pyproject.toml").write_text('[tool.lraudit]\nfail-on = "error"\n')
    assert cli("scan", str(tmp_path)).exit_code == 0
    assert cli("scan", "--fail-on", "warning", str(tmp_path)).exit_code == 1  # CLI wins
    (tmp_path / "pyproject.toml").write_text('[tool.lraudit]\nfail-on = "sometimes"\n')
    result = cli("scan", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "fail-on" in result.stderr and "pyproject.toml" in result.stderr


# --- --statistics and --no-default-path --------------------------------------------------------

def test_statistics(tmp_path: Path, cli) -> None:
    (tmp_path / "a.py").write_text(ERROR_SCRIPT)
    (tmp_path / "b.py").write_text(ERROR_SCRIPT)
    (tmp_path / "c.py").write_text(WARNING_SCRIPT)
    text = cli("scan", "--statistics", str(tmp_path))
    assert text.exit_code == 1
    assert text.stdout.splitlines() == ["2  LR001  fit-without-initial-epoch",
                                        "1  LR102  checkpoint-without-optimizer"]
    as_json = cli("scan", "--statistics", "--format", "json", str(tmp_path))
    assert json.loads(as_json.stdout) == [
        {"code": "LR001", "name": "fit-without-initial-epoch", "count": 2},
        {"code": "LR102", "name": "checkpoint-without-optimizer", "count": 1}]
    assert cli("scan", "--statistics", "--fail-on", "error", str(tmp_path / "c.py")).exit_code == 0
    refused = cli("scan", "--statistics", "--format", "sarif", str(tmp_path))
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1


def test_no_default_path_checks_nothing(tmp_path: Path, cli, monkeypatch) -> None:
    (tmp_path / "bad.py").write_text(ERROR_SCRIPT)
    monkeypatch.chdir(tmp_path)
    assert cli("scan").exit_code == 1  # plain `scan` falls back to '.'
    result = cli("scan", "--no-default-path")
    assert result.exit_code == 0
    assert "0 files checked" in result.stdout
    assert cli("scan", "--no-default-path", "bad.py").exit_code == 1


# --- lraudit verify: the same formats and --fail-on ---------------------------------------------

def _corrupt_run(tmp_path: Path) -> Path:
    """A run whose only checkpoint is truncated: verify reports LRV008 (error) without needing
    TensorFlow or even h5py."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "model-05.keras").write_bytes(b"PK\x03\x04 truncated")
    return run


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fail_on", ["error", "warning", "info", None])
def test_verify_formats_and_exit_codes(tmp_path: Path, cli, monkeypatch, fmt: str, fail_on: str | None) -> None:
    _corrupt_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = cli("verify", "run", "--format", fmt, *(["--fail-on", fail_on] if fail_on else []))
    assert result.exit_code == 1, result.output
    assert "LRV008" in result.stdout
    if fmt == "sarif":
        doc = json.loads(result.stdout)
        validate(doc)
        (res,) = doc["runs"][0]["results"]
        assert res["ruleId"] == "LRV008" and res["level"] == "error"
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "run/model-05.keras"
        assert "LRV008" in {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    elif fmt == "github":
        assert result.stdout.startswith("::error file=run/model-05.keras,title=LRV008 unreadable-checkpoint::")
        assert result.stdout.count("\n") == 1
    elif fmt == "json":
        doc = json.loads(result.stdout)
        assert list(doc) == ["target", "checkpoints", "findings", "replay"]  # contract untouched


def test_verify_of_a_single_file_points_at_it(tmp_path: Path, cli, monkeypatch) -> None:
    _corrupt_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = cli("verify", "run/model-05.keras", "--format", "github")
    assert result.stdout.startswith("::error file=run/model-05.keras,")


@pytest.mark.parametrize("fmt", FORMATS)
def test_verify_usage_errors_are_exit_2(tmp_path: Path, cli, fmt: str) -> None:
    assert cli("verify", str(tmp_path / "missing"), "--format", fmt).exit_code == 2
    (tmp_path / "empty").mkdir()
    assert cli("verify", str(tmp_path / "empty"), "--format", fmt).exit_code == 2


@pytest.mark.parametrize("fmt", ["sarif", "github"])
@pytest.mark.parametrize("fail_on", ["error", "warning", "info", None])
@pytest.mark.parametrize("severity", [Severity.ERROR, Severity.WARNING, Severity.INFO])
def test_verify_fail_on_matrix(tmp_path: Path, cli, monkeypatch, fmt: str, fail_on: str | None,
                               severity: Severity) -> None:
    """Every severity against every threshold, through the real verify command; the engine is
    stubbed because no fixture checkpoint yields an info or warning without TensorFlow."""
    from lraudit.verify.analyze import RunResult
    from lraudit.verify.engine import VerifyResult

    def fake_verify(target, options=None, **_kwargs):
        run = RunResult(run_dir=target, display=".", rows=[object()],
                        findings=[verify_finding(severity=severity)])
        return VerifyResult(target=target, runs=[run])

    monkeypatch.setattr("lraudit.verify.engine.verify", fake_verify)
    result = cli("verify", str(tmp_path), "--format", fmt, "--replay", "0",  # the engine is stubbed
                 *(["--fail-on", fail_on] if fail_on else []))
    assert result.exit_code == (1 if severity >= THRESHOLDS[fail_on] else 0), result.output
    assert "LRV001" in result.stdout  # shown even when below the threshold


# --- fix options reach the engine; diffs never corrupt a machine-readable report ---------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_fix_options_and_diff_placement(cli, monkeypatch, fmt: str) -> None:
    seen = {}
    diff = "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-old\n+new\n"

    def fake_run_scan(options, cfg):
        seen.update(fix=options.fix, unsafe=options.unsafe_fixes, diff=options.diff)
        return ScanRun(findings=[finding(Severity.INFO)], files_checked=1, diffs=[diff], fixed=2)

    monkeypatch.setattr("lraudit.scan.api.run_scan", fake_run_scan)
    result = cli("scan", "train.py", "--fix", "--unsafe-fixes", "--diff", "--format", fmt)
    assert seen == {"fix": True, "unsafe": True, "diff": True}
    assert result.exit_code == 0  # only an info finding is left
    assert "lraudit: fixed 2 findings" in result.stderr
    if fmt == "text":
        assert result.stdout.startswith(diff)
    else:
        assert diff in result.stderr and diff not in result.stdout


def test_text_summary_tells_safe_fixes_from_unsafe_ones(tmp_path: Path, cli) -> None:
    """`--fix` applies only safe fixes, so the summary's "fixable with --fix" counts only those;
    unsafe ones are counted apart, with the option that applies them, as ruff does."""
    fixes = ROOT / "fixtures" / "fixes"
    for name in ("keras3_migration.py", "unsafe_decay_schedule.py"):
        (tmp_path / name).write_bytes((fixes / name).read_bytes())
    listed = json.loads(cli("scan", "--no-cache", "--format", "json", str(tmp_path)).stdout)
    safe = sum(1 for f in listed if f.get("fix") and f["fix"]["applicability"] == "safe")
    unsafe = sum(1 for f in listed if f.get("fix") and f["fix"]["applicability"] == "unsafe")
    assert safe and unsafe
    text = cli("scan", "--no-cache", str(tmp_path)).stdout
    assert text.rstrip().endswith(f"; {safe} fixable with --fix; {unsafe} more with --fix --unsafe-fixes.")
    assert text.count("(fixable)") == safe and text.count("(unsafe fix)") == unsafe
    cli("scan", "--no-cache", "--fix", str(tmp_path))
    after = cli("scan", "--no-cache", str(tmp_path)).stdout
    assert "fixable with --fix" not in after
    assert after.rstrip().endswith(f"; {unsafe} with --fix --unsafe-fixes.")
