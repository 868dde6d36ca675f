"""Scan performance, side by side with ruff and fixit, on real TF/Keras source.

    python benchmarks/scan_bench.py [--repeat 5] [--workdir DIR]

Builds a corpus from the `keras` and `tf_keras` wheels on PyPI (their Python sources), installs
ruff and fixit into a throwaway virtual environment, then times, several times each and reports
medians: lraudit cold (no cache), lraudit warm (cache, nothing changed), lraudit on one file in a
fresh process, `ruff check` and `fixit lint` on the same corpus.  Peak memory is the largest
resident set of any process of the run (so, per worker).  Nothing here is a pass/fail test: the
numbers go into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

PACKAGES = ("keras", "tf_keras")


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build_corpus(work: Path) -> Path:
    corpus = work / "corpus"
    if corpus.is_dir():
        return corpus
    wheels = work / "wheels"
    proc = sh([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels),
               *PACKAGES])
    if proc.returncode:
        sys.exit(f"cannot download {PACKAGES}: {proc.stderr.strip()[-400:]}")
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.endswith(".py"):
                    zf.extract(name, corpus / wheel.name.split("-")[0])
    return corpus


def tools_env(work: Path) -> Path:
    venv = work / "tools-venv"
    if not (venv / "bin" / "fixit").exists():
        sh([sys.executable, "-m", "venv", str(venv)], check=True)
        proc = sh([str(venv / "bin" / "pip"), "install", "--quiet", "ruff", "fixit"])
        if proc.returncode:
            sys.exit(f"cannot install ruff/fixit: {proc.stderr.strip()[-400:]}")
    return venv


def timed(cmd: list[str], cwd: Path, repeat: int, before=None) -> tuple[float, float]:
    """Median wall seconds over `repeat` runs and the peak RSS (MB) of any child process."""
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return statistics.median(times), peak


def count_lines(corpus: Path) -> tuple[int, int]:
    files = list(corpus.rglob("*.py"))
    return len(files), sum(p.read_bytes().count(b"\n") for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fixit-repeat", type=int, default=1, help="fixit is slow; 1 run by default")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lraudit-scan-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(args.workdir)
    venv = tools_env(args.workdir)
    n_files, n_lines = count_lines(corpus)
    lraudit = [sys.executable, "-m", "lraudit.cli", "scan"]
    cache = corpus / ".lraudit_cache"
    one = next(p for p in sorted(corpus.rglob("*.py")) if "callbacks" in p.name or "training" in p.name)

    results: dict[str, tuple[float, float]] = {}
    results["lraudit cold"] = timed([*lraudit, "--no-cache", "."], corpus, args.repeat)
    shutil.rmtree(cache, ignore_errors=True)
    timed([*lraudit, "."], corpus, 1)  # fill the cache
    results["lraudit warm"] = timed([*lraudit, "."], corpus, args.repeat)
    results["lraudit one file"] = timed([*lraudit, "--no-cache", str(one)], corpus, args.repeat)
    results["python -c pass"] = timed([sys.executable, "-c", "pass"], corpus, args.repeat)
    results["ruff check"] = timed([str(venv / "bin" / "ruff"), "check", "--no-cache", "--exit-zero", "."],
                                  corpus, args.repeat)
    results["fixit lint"] = timed([str(venv / "bin" / "fixit"), "lint", "."], corpus, args.fixit_repeat)

    print(f"corpus: {n_files} files, {n_lines} lines ({', '.join(PACKAGES)} wheels); cores: {os.cpu_count()}")
    print(f"{'run':<20}{'median s':>10}{'lines/s':>12}")
    for name, (seconds, _peak) in results.items():
        rate = f"{n_lines / seconds:,.0f}" if "one file" not in name and "pass" not in name else ""
        print(f"{name:<20}{seconds:>10.3f}{rate:>12}")
    cold, warm = results["lraudit cold"][0], results["lraudit warm"][0]
    ruff, fixit = results["ruff check"][0], results["fixit lint"][0]
    print(f"cold vs fixit throughput: {fixit / cold:.1f}x faster (target >= 20x)")
    print(f"cold vs ruff wall time:   {cold / ruff:.1f}x ruff (target <= 10x)")
    print(f"warm vs ruff wall time:   {warm / ruff:.1f}x ruff (target <= 2x)")
    print(f"one file, fresh process:  {results['lraudit one file'][0]:.3f} s (target < 0.3 s; "
          f"bare interpreter start {results['python -c pass'][0]:.3f} s)")
    print(f"peak RSS of any lraudit process: {results['lraudit cold'][1]:.0f} MB (target < 300 MB per worker)")


if __name__ == "__main__":
    main()
