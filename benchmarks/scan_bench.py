"""Scan performance, side by side with ruff and fixit, on real TF/Keras source.

    python benchmarks/scan_bench.py [--repeat 5] [--fixit-repeat 1] [--workdir DIR] [--json FILE]

Builds a corpus from the `keras` and `tf_keras` wheels on PyPI (their Python sources), installs
ruff and fixit into a throwaway virtual environment under the work directory, then times,
`--repeat` times each (fixit `--fixit-repeat` times: it is slow), and reports medians:

* lraudit cold: `lraudit scan --no-cache .` (no result cache; the page cache is warm),
* lraudit warm: `lraudit scan .` with the result cache filled and nothing changed,
* lraudit on one file in a fresh process: a file the prefilter parses (the median-sized file
  with a finding) and a file it skips,
* `ruff check --no-cache` and `fixit lint` on the same corpus, and `python -c pass`.

Every run is a fresh process tree; its wall time, CPU time (user + sys of the process and all
its workers, from wait4) and peak resident set of its largest process (so, per worker) are
recorded, with the load average around it.  lraudit runs with bytecode caching on (as an
installed package has), after one untimed warm-up.  Nothing here is a pass/fail test: the
numbers go into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGES = ("keras", "tf_keras")
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Runs:
    """Measurements of one command, several times."""

    command: list[str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load average before each run

    def median(self, what: str) -> float:
        return statistics.median(getattr(self, what))


def build_corpus(work: Path) -> Path:
    corpus = work / "corpus"
    if corpus.is_dir():
        return corpus
    wheels = work / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                           "-d", str(wheels), *PACKAGES], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"cannot download {PACKAGES}: {proc.stderr.strip()[-400:]}")
    staging = work / "corpus.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.endswith(".py"):
                    zf.extract(name, staging / wheel.name.split("-")[0])
    staging.rename(corpus)
    return corpus


def tools_env(work: Path) -> Path:
    venv = work / "tools-venv"
    if not (venv / "bin" / "fixit").exists() or not (venv / "bin" / "ruff").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        proc = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "ruff", "fixit"],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"cannot install ruff/fixit: {proc.stderr.strip()[-400:]}")
    return venv


def run_once(command: list[str], cwd: Path, env: dict[str, str], runs: Runs, ok=(0, 1)) -> str:
    """One run in a fresh process; its stdout is returned, its costs are appended to `runs`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        runs.load.append(os.getloadavg()[0])
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # usage covers the process and its reaped workers
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in ok:
            sys.exit(f"{' '.join(command)} failed ({proc.returncode}): {err.read().decode(errors='replace')[-600:]}")
        runs.wall.append(wall)
        runs.cpu.append(usage.ru_utime + usage.ru_stime)
        runs.peak_mb.append(usage.ru_maxrss / 1024)
        return out.read().decode(errors="replace")


def timed(command: list[str], cwd: Path, env: dict[str, str], repeat: int, before=None) -> Runs:
    runs = Runs(command)
    for _ in range(repeat):
        if before is not None:
            before()
        run_once(command, cwd, env, runs)
    return runs


def corpus_stats(corpus: Path) -> dict:
    """Files and lines in the corpus, and how many the prefilter lets through to the parser."""
    sys.path.insert(0, str(ROOT))
    from lraudit.scan.catalog import all_codes
    from lraudit.scan.needs import needed

    files = lines = parsed_files = parsed_lines = 0
    for path in sorted(corpus.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        files += 1
        n = text.count("\n")
        lines += n
        if needed(text, all_codes()):
            parsed_files += 1
            parsed_lines += n
    return {"files": files, "lines": lines, "parsed_files": parsed_files, "parsed_lines": parsed_lines}


def pick_files(corpus: Path, findings: list[dict]) -> tuple[Path, Path]:
    """A file with a finding of median size (parsed) and a file of similar size the prefilter
    skips, so that the one-file numbers describe a typical pre-commit invocation."""
    with_findings = sorted({f["path"] for f in findings}, key=lambda p: ((corpus / p).stat().st_size, p))
    parsed = corpus / with_findings[len(with_findings) // 2]
    size = parsed.stat().st_size
    sys.path.insert(0, str(ROOT))
    from lraudit.scan.catalog import all_codes
    from lraudit.scan.needs import needed

    candidates = sorted((abs(p.stat().st_size - size), str(p)) for p in corpus.rglob("*.py"))
    skipped = next(Path(p) for _, p in candidates
                   if not needed(Path(p).read_text(encoding="utf-8", errors="replace"), all_codes()))
    return parsed, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fixit-repeat", type=int, default=1,
                        help="fixit is slow (minutes): 1 run by default, 0 to leave it out")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lraudit-scan-bench")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(args.workdir)
    venv = tools_env(args.workdir)
    stats = corpus_stats(corpus)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    lraudit = [sys.executable, "-m", "lraudit.cli", "scan"]
    cache = corpus / ".lraudit_cache"

    warmup = Runs([])
    report = run_once([*lraudit, "--no-cache", "--format", "json", "."], corpus, env, warmup)  # writes bytecode
    findings = json.loads(report)
    parsed_file, skipped_file = pick_files(corpus, findings)

    results: dict[str, Runs] = {}
    results["lraudit cold"] = timed([*lraudit, "--no-cache", "."], corpus, env, args.repeat)
    shutil.rmtree(cache, ignore_errors=True)
    run_once([*lraudit, "."], corpus, env, Runs([]))  # fill the cache
    results["lraudit warm"] = timed([*lraudit, "."], corpus, env, args.repeat)
    results["lraudit one file (parsed)"] = timed([*lraudit, "--no-cache", str(parsed_file.relative_to(corpus))],
                                                 corpus, env, args.repeat)
    results["lraudit one file (skipped)"] = timed([*lraudit, "--no-cache", str(skipped_file.relative_to(corpus))],
                                                  corpus, env, args.repeat)
    results["python -c pass"] = timed([sys.executable, "-c", "pass"], corpus, env, args.repeat)
    results["ruff check"] = timed([str(venv / "bin" / "ruff"), "check", "--no-cache", "--exit-zero", "."],
                                  corpus, env, args.repeat)
    if args.fixit_repeat > 0:
        results["fixit lint"] = timed([str(venv / "bin" / "fixit"), "lint", "."], corpus, env, args.fixit_repeat)
    shutil.rmtree(cache, ignore_errors=True)

    def version(*command: str) -> str:
        out = subprocess.run(command, capture_output=True, text=True).stdout.split()
        return out[-1] if out else "?"

    versions = {
        "ruff": version(str(venv / "bin" / "ruff"), "--version"),
        "fixit": version(str(venv / "bin" / "fixit"), "--version"),
        "python": sys.version.split()[0],
        "libcst (lraudit)": version(sys.executable, "-c", "import importlib.metadata as m; print(m.version('libcst'))"),
        "libcst (fixit)": version(str(venv / "bin" / "python"), "-c",
                                  "import importlib.metadata as m; print(m.version('libcst'))"),
    }
    print(f"corpus: {stats['files']} files, {stats['lines']:,} lines ({', '.join(PACKAGES)} wheels); "
          f"prefilter parses {stats['parsed_files']} files, {stats['parsed_lines']:,} lines; "
          f"{len(findings)} findings; cores: {os.cpu_count()}")
    print(f"one file (parsed): {parsed_file.relative_to(corpus)}; one file (skipped): "
          f"{skipped_file.relative_to(corpus)}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"{'run':<28}{'n':>3}{'wall s':>9}{'cpu s':>8}{'peak MB':>9}{'load':>6}{'lines/s (wall)':>16}")
    for name, runs in results.items():
        rate = f"{stats['lines'] / runs.median('wall'):,.0f}" if name in ("lraudit cold", "lraudit warm", "ruff check",
                                                                          "fixit lint") else ""
        print(f"{name:<28}{len(runs.wall):>3}{runs.median('wall'):>9.3f}{runs.median('cpu'):>8.2f}"
              f"{max(runs.peak_mb):>9.0f}{runs.median('load'):>6.1f}{rate:>16}")
    cold, warm = results["lraudit cold"], results["lraudit warm"]
    ruff, fixit = results["ruff check"], results.get("fixit lint")
    one = results["lraudit one file (parsed)"]
    if fixit is not None:
        print(f"cold vs fixit throughput: {fixit.median('wall') / cold.median('wall'):.1f}x wall, "
              f"{fixit.median('cpu') / cold.median('cpu'):.1f}x CPU (target >= 20x)")
    print(f"cold vs ruff:             {cold.median('wall') / ruff.median('wall'):.1f}x ruff's wall, "
          f"{cold.median('cpu') / ruff.median('cpu'):.1f}x its CPU (target <= 10x wall)")
    print(f"warm vs ruff:             {warm.median('wall') / ruff.median('wall'):.2f}x ruff's wall, "
          f"{warm.median('cpu') / ruff.median('cpu'):.2f}x its CPU (target <= 2x wall)")
    print(f"one file, fresh process:  {one.median('wall'):.3f} s wall (target < 0.3 s), {one.median('cpu'):.3f} s CPU; "
          f"bare interpreter {results['python -c pass'].median('wall'):.3f} s")
    print(f"peak RSS of any lraudit process: {max(max(r.peak_mb) for k, r in results.items() if k.startswith('lraudit')):.0f} MB "
          f"(target < 300 MB per worker)")
    if args.json:
        args.json.write_text(json.dumps({"corpus": stats, "versions": versions, "findings": len(findings),
                                         "parsed_file": str(parsed_file.relative_to(corpus)),
                                         "skipped_file": str(skipped_file.relative_to(corpus)),
                                         "runs": {k: asdict(v) for k, v in results.items()}}, indent=1))


if __name__ == "__main__":
    main()
