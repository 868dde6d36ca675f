"""Benchmark: scan and verify stay within bounded memory as the input grows (issue 8, "under load").

What it shows: peak memory does not grow in proportion to the number of files (or to their
size), because no per-file state survives the file's result: scan keeps one parsed module at a
time per process and only the findings afterwards; verify keeps one row of a few numbers per
checkpoint and never holds a checkpoint's data.

Inputs are generated in a temporary directory:

* scan: a tree of N training scripts copied round-robin into nested package directories, each
  made distinct by a header comment: "clean" from the fixture scripts that follow the
  recommended patterns (parsed and analysed, no finding: memory must stay flat), "mixed" from
  all fixture scripts and fix examples (findings in most files: memory grows only with the
  findings that make up the report);
* verify: one run of N Keras 3 `.weights.h5` checkpoints written with h5py in Keras's layout
  (`layers/<name>/vars/<i>`, `optimizer/vars/0` the step counter, the Adam-like slots), the
  step counter consistent with the epoch in the file name, each padded with weights to
  `--ckpt-kb`; and one run of N `.keras` archives copied from a real generated run (needs
  TensorFlow to generate that run, else it is skipped).

Each measurement runs the real command (`python -m lraudit.cli ...`) in a fresh wrapper
process and reads the peak resident set of its largest process from
`getrusage(RUSAGE_CHILDREN).ru_maxrss` (scan's worker processes included), plus wall time.

Usage: python benchmarks/load_bench.py [--scan-files 1000 5000] [--checkpoints 100 500]
                                       [--ckpt-kb 256] [--jobs 1 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "fixtures" / "scripts").glob("*.py"), *(ROOT / "fixtures" / "fixes").glob("*.py")])
# The fixture scripts that follow the recommended patterns: parsed and analysed, no finding.
CLEAN = sorted((ROOT / "fixtures" / "scripts").glob("ok_*.py"))

# Runs a command and reports the peak RSS of its largest (waited-for) descendant, so the
# numbers of one measurement never mix with another's.
WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "wall_s": wall, "peak_mb": peak_kb / 1024,
                  "stdout_bytes": len(proc.stdout), "stderr_tail": proc.stderr.decode(errors="replace")[-300:]}))
"""


def measure(cmd: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return json.loads(out.stdout)


def make_scan_tree(root: Path, count: int, sources: list[Path]) -> int:
    """`count` distinct training scripts, 50 to a directory; returns the total bytes."""
    texts = [p.read_text(encoding="utf-8") for p in sources]
    total = 0
    for index in range(count):
        directory = root / f"pkg_{index // 500:02d}" / f"sub_{index // 50 % 10:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        text = f"# generated copy {index} of {sources[index % len(sources)].name}\n" + texts[index % len(texts)]
        (directory / f"train_{index:05d}.py").write_text(text, encoding="utf-8")
        total += len(text)
    return total


def make_weights_run(root: Path, count: int, kb: int, steps_per_epoch: int = 4) -> int:
    """`count` Keras 3 weights files ep0001.weights.h5 ...; returns the total bytes."""
    import h5py  # noqa: PLC0415 - the verify extra
    import numpy as np  # noqa: PLC0415

    root.mkdir(parents=True, exist_ok=True)
    width = max(4, int((kb * 1024 / 4 / 3) ** 0.5))  # kernel + two slots of width x width float32
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((width, width)).astype("float32")
    for epoch in range(1, count + 1):
        with h5py.File(root / f"ep{epoch:04d}.weights.h5", "w") as f:
            layer = f.create_group("layers/dense/vars")
            layer.attrs["name"] = "dense"
            layer["0"] = kernel
            layer["1"] = np.zeros(width, "float32")
            f.create_group("vars").attrs["name"] = "sequential"
            opt = f.create_group("optimizer/vars")
            opt.attrs["name"] = "adam"
            opt["0"] = np.int64(epoch * steps_per_epoch)      # the step counter
            opt["1"] = kernel * 0.1                            # first moment of the kernel
            opt["2"] = np.zeros(width, "float32")
            opt["3"] = kernel * 0.01                           # second moment
            opt["4"] = np.zeros(width, "float32")
    return sum(p.stat().st_size for p in root.iterdir())


def make_keras_run(root: Path, count: int, workdir: Path) -> int | None:
    """`count` .keras archives copied from one real run (ep01..ep04 cycled, renamed ep0001...)."""
    source = workdir / "generated"
    if not (source / "k3_keras_resume_ok").is_dir():
        proc = subprocess.run([sys.executable, str(ROOT / "fixtures" / "make_checkpoints.py"), str(source),
                               "--only", "k3_keras_resume_ok"], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print("  (.keras run skipped: generating a real run needs TensorFlow)", file=sys.stderr)
            return None
    files = sorted((source / "k3_keras_resume_ok").glob("ep*.keras"))
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        shutil.copyfile(files[index % len(files)], root / f"ep{index + 1:04d}.keras")
    return sum(p.stat().st_size for p in root.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scan-files", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--ckpt-kb", type=int, default=256)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="scan worker processes")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lraudit-load-"))
    rows = []
    try:
        for kind, sources in (("clean", CLEAN), ("mixed", SOURCES)):
            for count in args.scan_files:
                tree = workdir / f"scan_{kind}_{count}"
                size = make_scan_tree(tree, count, sources)
                for jobs in args.jobs:
                    result = measure([sys.executable, "-m", "lraudit.cli", "scan", "--no-cache", "--jobs", str(jobs),
                                      "--format", "json", "--exit-zero", str(tree)])
                    findings = "no findings" if result["stdout_bytes"] <= 3 else f"{result['stdout_bytes'] / 1e6:.1f} MB of findings"
                    rows.append(("scan", f"{count} {kind} scripts ({size / 1e6:.1f} MB; {findings}), --jobs {jobs}",
                                 result))
                    print(rows[-1], flush=True)
                shutil.rmtree(tree)
        for count in args.checkpoints:
            run = workdir / f"weights_{count}"
            size = make_weights_run(run, count, args.ckpt_kb)
            result = measure([sys.executable, "-m", "lraudit.cli", "verify", "--replay", "0", "--format", "json",
                              str(run)])
            rows.append(("verify", f"{count} .weights.h5 ({size / 1e6:.0f} MB)", result))
            print(rows[-1], flush=True)
            shutil.rmtree(run)
            run = workdir / f"keras_{count}"
            size = make_keras_run(run, count, workdir)
            if size is not None:
                result = measure([sys.executable, "-m", "lraudit.cli", "verify", "--replay", "0", "--format",
                                  "json", str(run)])
                rows.append(("verify", f"{count} .keras ({size / 1e6:.1f} MB)", result))
                print(rows[-1], flush=True)
                shutil.rmtree(run)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n| command | input | exit | wall (s) | peak RSS of the largest process (MB) |")
    print("|---|---|---:|---:|---:|")
    for command, what, r in rows:
        print(f"| {command} | {what} | {r['rc']} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
