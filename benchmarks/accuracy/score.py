"""Score ``lraudit scan`` against the hand-labelled real-world scripts.

The unit tests say lraudit does what its authors meant; this says whether that
matches what careful readers find in code people actually wrote.  Every
script listed in the manifests (``manifest*.jsonl`` next to this file) is
scanned from ``files/`` (rebuild it with fetch.py) in a few batched lraudit
processes, and each finding is matched against the labels:

* a finding is *correct* when an ``expected`` or ``optional`` item of its file
  lists its code and its line is within +-2 of the item's line;
* precision counts error and warning findings only (info findings are advice
  and are reported apart);
* an ``expected`` item is *found* when a finding of one of its codes, of any
  severity, lies within +-2 lines; recall is found / expected.

    python benchmarks/accuracy/score.py
    python benchmarks/accuracy/score.py --manifest 'benchmarks/accuracy/manifest-a.jsonl' --json out.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fetch import read_rows  # the same manifest reader (this folder is on sys.path when run)

HERE = Path(__file__).resolve().parent
LINE_SLACK = 2
COUNTED = ("error", "warning")
BATCH = 200  # files per lraudit process: keeps the command line short without one process per file


@dataclass(frozen=True)
class Item:
    """A labelled hazard: any of ``codes`` near ``line`` is an acceptable report."""

    codes: tuple[str, ...]
    line: int
    severity: str
    why: str

    def accepts(self, code: str, line: int) -> bool:
        return code in self.codes and abs(line - self.line) <= LINE_SLACK


@dataclass
class Script:
    """One manifest row, with the local file it is scored on."""

    repo: str
    path: str
    kind: str
    expected: list[Item]
    optional: list[Item]
    file: Path

    @property
    def name(self) -> str:
        return f"{self.repo}/{self.path}"


@dataclass
class Finding:
    """One lraudit finding and how it matched the labels."""

    code: str
    line: int
    severity: str
    message: str
    verdict: str = ""  # "expected", "optional", "false-positive" or "info"


@dataclass
class FileResult:
    """Everything about one script, for the per-file report and --json."""

    script: str
    kind: str
    findings: list[Finding] = field(default_factory=list)
    found: list[dict] = field(default_factory=list)
    missed: list[dict] = field(default_factory=list)
    error: str = ""


def load_scripts(pattern: str, files_root: Path) -> list[Script]:
    """Manifest rows matching ``pattern``; the first row for a repo/path wins."""
    return read_rows(pattern, lambda row: Script(
        repo=row["repo"],
        path=row["path"],
        kind=row.get("kind", "?"),
        expected=[to_item(i) for i in row.get("expected", [])],
        optional=[to_item(i) for i in row.get("optional", [])],
        file=files_root / row["repo"].replace("/", "+") / row["path"],
    ))


def to_item(raw: dict) -> Item:
    return Item(
        tuple(raw["codes"]),
        int(raw["line"]),
        raw.get("severity", "warning"),
        raw.get("why", ""),
    )


def lraudit_command(explicit: str | None) -> list[str]:
    """How to call lraudit: --lraudit, else the one beside this Python, else PATH."""
    if explicit:
        return explicit.split()
    beside = Path(sys.executable).with_name("lraudit")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("lraudit")
    if found:
        return [found]
    return [
        sys.executable,
        "-c",
        "import sys; from lraudit.cli import main; sys.exit(main())",
    ]


def run_lraudit(
    command: list[str], files: list[Path], jobs: int | None
) -> tuple[dict[Path, list[Finding]], str]:
    """Scan ``files`` in batches; findings keyed by resolved path, plus lraudit's stderr.

    Batching matters: lraudit's start-up (imports, rule set) dominates on small
    scripts, so one process per file would make the benchmark slow to rerun.
    """
    by_file: dict[Path, list[Finding]] = {f.resolve(): [] for f in files}
    errors: list[str] = []
    for start in range(0, len(files), BATCH):
        batch = [str(f.resolve()) for f in files[start : start + BATCH]]
        argv = [
            *command,
            "scan",
            *batch,
            "--format",
            "json",
            "--no-cache",
            "--exit-zero",
        ]
        if jobs:
            argv += ["--jobs", str(jobs)]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.stderr.strip():
            errors.append(result.stderr.strip())
        try:
            rows = json.loads(result.stdout or "[]")
        except ValueError:
            errors.append(f"lraudit exited {result.returncode} without JSON output")
            continue
        for row in rows:
            key = Path(row["path"]).resolve()
            by_file.setdefault(key, []).append(
                Finding(
                    row["code"],
                    int(row["line"]),
                    row["severity"],
                    row.get("message", ""),
                )
            )
    return by_file, "\n".join(errors)


def score_file(script: Script, findings: list[Finding], error: str) -> FileResult:
    """Match one file's findings to its labels (see the module docstring)."""
    result = FileResult(
        script.name,
        script.kind,
        findings=sorted(findings, key=lambda f: (f.line, f.code)),
        error=error,
    )
    for finding in result.findings:
        if any(i.accepts(finding.code, finding.line) for i in script.expected):
            finding.verdict = "expected"
        elif any(i.accepts(finding.code, finding.line) for i in script.optional):
            finding.verdict = "optional"
        elif finding.severity in COUNTED:
            finding.verdict = "false-positive"
        else:
            finding.verdict = "info"
    for item in script.expected:
        hit = any(item.accepts(f.code, f.line) for f in findings)
        (result.found if hit else result.missed).append(asdict(item))
    return result


def file_errors(stderr: str, scripts: list[Script]) -> dict[str, str]:
    """lraudit's one-line per-file errors (parse failures, time budget), by script name."""
    errors: dict[str, str] = {}
    for line in stderr.splitlines():
        for script in scripts:
            if str(script.file.resolve()) in line:
                errors[script.name] = line.strip()
    return errors


def totals(
    results: list[FileResult], scripts: list[Script], missing: list[str]
) -> dict:
    """Headline numbers plus per-code counts, so a fix can be aimed at one rule."""
    counted = [f for r in results for f in r.findings if f.severity in COUNTED]
    correct = [f for f in counted if f.verdict in ("expected", "optional")]
    on_expected = [f for f in counted if f.verdict == "expected"]
    expected = sum(len(r.found) + len(r.missed) for r in results)
    found = sum(len(r.found) for r in results)
    per_code: dict[str, Counter] = {}
    for f in counted:
        per_code.setdefault(f.code, Counter())[
            "tp" if f.verdict in ("expected", "optional") else "fp"
        ] += 1
    for r in results:
        for item in r.found:
            for code in item["codes"]:
                per_code.setdefault(code, Counter())["found"] += 1
        for item in r.missed:
            for code in item["codes"]:
                per_code.setdefault(code, Counter())["missed"] += 1
    scored = [s for s in scripts if s.name not in missing]
    return {
        "scripts": len(scored),
        "repositories": len({s.repo for s in scored}),
        "clean_scripts": sum(1 for s in scored if not s.expected),
        "missing_files": len(missing),
        "findings_error_warning": len(counted),
        "correct": len(correct),
        "false_positives": len(counted) - len(correct),
        "precision": round(len(correct) / len(counted), 3) if counted else None,
        # stricter view: findings that only hit debatable (optional) items count as wrong here
        "precision_expected_only": round(len(on_expected) / len(counted), 3)
        if counted
        else None,
        "expected_items": expected,
        "found": found,
        "recall": round(found / expected, 3) if expected else None,
        "info_findings": sum(
            1 for r in results for f in r.findings if f.severity not in COUNTED
        ),
        "clean_scripts_with_false_positives": sum(
            1
            for r, s in zip(results, scored)
            if not s.expected and any(f.verdict == "false-positive" for f in r.findings)
        ),
        "per_code": {code: dict(c) for code, c in sorted(per_code.items())},
    }


def short(message: str, width: int = 90) -> str:
    text = " ".join(message.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def print_report(
    results: list[FileResult], summary: dict, missing: list[str], verbose: bool
) -> None:
    """Human report: per file (all with -v, else only files with problems), then lists and totals."""
    print("== per file")
    for r in results:
        problems = (
            r.missed
            or r.error
            or any(f.verdict == "false-positive" for f in r.findings)
        )
        if not (verbose or problems):
            continue
        print(f"{r.script} [{r.kind}]")
        if r.error:
            print(f"    lraudit error: {r.error}")
        for f in r.findings:
            print(
                f"    {f.line:5d} {f.code} {f.severity:7s} {f.verdict:14s} {short(f.message, 70)}"
            )
        for item in r.missed:
            print(
                f"    {item['line']:5d} {'/'.join(item['codes'])} MISSED  {item['why']}"
            )
    print("\n== false positives (file:line code message-start)")
    for r in results:
        for f in r.findings:
            if f.verdict == "false-positive":
                print(f"{r.script}:{f.line} {f.code} {short(f.message)}")
    print("\n== misses (file:line codes why)")
    for r in results:
        for item in r.missed:
            print(f"{r.script}:{item['line']} {'/'.join(item['codes'])} {item['why']}")
    if missing:
        print("\n== not scored: file missing (run fetch.py)")
        for name in missing:
            print(f"  {name}")
    print("\n== per code (error/warning findings: tp fp; expected items: found missed)")
    for code, c in summary["per_code"].items():
        print(
            f"  {code}: tp {c.get('tp', 0):3d}  fp {c.get('fp', 0):3d}   found {c.get('found', 0):3d}  missed {c.get('missed', 0):3d}"
        )
    print("\n== totals")
    for key in (
        "scripts",
        "repositories",
        "clean_scripts",
        "missing_files",
        "findings_error_warning",
        "correct",
        "false_positives",
        "precision",
        "precision_expected_only",
        "expected_items",
        "found",
        "recall",
        "info_findings",
        "clean_scripts_with_false_positives",
    ):
        print(f"  {key}: {summary[key]}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--manifest",
        default=str(HERE / "manifest*.jsonl"),
        help="glob of manifest files (default: manifest*.jsonl next to this script)",
    )
    parser.add_argument(
        "--files",
        type=Path,
        default=HERE / "files",
        help="folder fetch.py fills (default: files/)",
    )
    parser.add_argument(
        "--json",
        dest="json_out",
        type=Path,
        help="write per-file results and totals here",
    )
    parser.add_argument(
        "--lraudit",
        help="command that runs lraudit (default: the one beside this Python)",
    )
    parser.add_argument("--jobs", type=int, help="passed to lraudit --jobs")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="list every file, not only those with problems",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scripts = load_scripts(args.manifest, args.files)
    if not scripts:
        print(f"no manifest entries match {args.manifest}", file=sys.stderr)
        return 1
    missing = [s.name for s in scripts if not s.file.exists()]
    present = [s for s in scripts if s.file.exists()]
    by_file, stderr = run_lraudit(
        lraudit_command(args.lraudit), [s.file for s in present], args.jobs
    )
    errors = file_errors(stderr, present)
    if stderr and not errors:
        print(f"lraudit said: {stderr}", file=sys.stderr)
    results = [
        score_file(s, by_file.get(s.file.resolve(), []), errors.get(s.name, ""))
        for s in present
    ]
    summary = totals(results, scripts, missing)
    print_report(results, summary, missing, args.verbose)
    if args.json_out:
        payload = {
            "totals": summary,
            "missing": missing,
            "files": [asdict(r) for r in results],
        }
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
