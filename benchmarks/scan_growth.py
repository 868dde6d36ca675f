"""Does `lraudit scan` take time linear in a file's size, whatever the file is made of?

Generates files of growing size in five shapes that once made the analysis super-linear (one
long list literal, one long dict literal, many deep expressions, long string concatenations,
many training statements), each ending in a resume hazard so the analysis cannot skip them.
Each file is scanned in a fresh `lraudit scan --no-cache` process; the table gives the median
wall time, its growth against the previous size, and the peak memory of the process.

    python benchmarks/scan_growth.py                 # sizes 100, 200, 400, 800 kB
    python benchmarks/scan_growth.py --sizes 50,100 --repeat 1

Linear means each doubling of the size at most about doubles the time above the start-up
cost (the time of a one-line file, measured first and printed).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TAIL = ("\nimport keras\nmodel = keras.models.load_model('ckpt.keras')\n"
        "model.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')\nmodel.fit(x, y)\n")


def long_list(size: int) -> str:
    rng = random.Random(0)
    items, total = [], 0
    while total < size:
        items.append(f"{rng.random():.4f}")
        total += 8
    return "DATA = [" + ", ".join(items) + "]\n" + TAIL


def long_dict(size: int) -> str:
    items, total, i = [], 0, 0
    while total < size:
        items.append(f"'key{i}': {i * 0.5}")
        total += len(items[-1]) + 2
        i += 1
    return "TABLE = {" + ",\n    ".join(items) + "}\n" + TAIL


def deep_expressions(size: int) -> str:
    """Keras functional-API style nesting, 6 calls deep, plus a bracketed arithmetic chain."""
    line = "v = " + "f(" * 6 + "x" + ")" * 6 + " + ((((a + b) * c) - d) / e) ** 2\n"
    return "".join(line for _ in range(size // len(line))) + TAIL


def hostile_nesting(size: int) -> str:
    """40 nested calls per line: libcst's cost is quadratic in that depth, so lraudit refuses
    the file up front ("too complex to analyse") instead of using gigabytes."""
    line = "v = " + "f(" * 40 + "x" + ")" * 40 + "\n"
    return "".join(line for _ in range(size // len(line))) + TAIL


def string_concatenations(size: int) -> str:
    implicit = "MSG = (" + "\n    ".join('"part of a long message "' for _ in range(size // 60)) + ")\n"
    explicit = "".join(f"s{i} = 'a' + 'b' + name + 'c' + str({i}) + '/ckpt.keras'\n"
                       for i in range(size // 120))
    return implicit + explicit + TAIL


def many_statements(size: int) -> str:
    block = ("opt = keras.optimizers.Adam(learning_rate=1e-3)\n"
             "model.compile(optimizer=opt, loss='mse')\n"
             "history = model.fit(x, y, epochs=10, callbacks=[cb])\n"
             "model.save('out.keras')\n")
    return "import keras\nmodel = build()\n" + block * (size // len(block)) + TAIL


# Generous, so that the table shows how time grows; with the default budget (5 s) the largest
# files of dense code are refused as "too complex to analyse in 5 s" instead.
BUDGET_S = 60

SHAPES = {"long list": long_list, "long dict": long_dict, "deep expressions": deep_expressions,
          "string concatenations": string_concatenations, "many statements": many_statements, "hostile nesting (refused)": hostile_nesting}


# The scan in a fresh process that reports its own peak memory on its last stderr line.
_WRAPPER = """
import resource, sys
from lraudit.cli import main
try:
    main(["scan", "--no-cache", "--time-budget", sys.argv[2], sys.argv[1]], prog_name="lraudit")
except SystemExit as exit:
    code = exit.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def scan_once(path: Path) -> tuple[float, int, bool]:
    """Wall seconds, peak RSS (kB) of one `lraudit scan --no-cache PATH` process, and whether
    it refused the file as too complex (then the time is the time the refusal took)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, str(path), str(BUDGET_S)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    *errors, peak = proc.stderr.strip().splitlines()
    if proc.returncode == 2 and "too complex to analyse" in " ".join(errors):
        return wall, int(peak), True
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{path}: exit {proc.returncode}: {' '.join(errors)}")
    if "LR101" not in proc.stdout and "LR001" not in proc.stdout:
        raise SystemExit(f"{path}: the hazard at the end was not found:\n{proc.stdout}")
    return wall, int(peak), False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,200,400,800", help="kB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) * 1000 for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp, "one_line.py")
        base.write_text(TAIL)
        startup = statistics.median(scan_once(base)[0] for _ in range(args.repeat))
        print(f"start-up (a one-line file): {startup:.3f} s\n")
        print("| shape | size | median wall (s) | above start-up (s) | growth vs half the size | "
              "peak memory of the process | outcome |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for shape, make in SHAPES.items():
            previous = None
            for size in sizes:
                path = Path(tmp, f"{shape.replace(' ', '_')}_{size}.py")
                path.write_text(make(size))
                runs = [scan_once(path) for _ in range(args.repeat)]
                wall = statistics.median(r[0] for r in runs)
                above = max(wall - startup, 0.001)
                growth = f"{above / previous:.2f}x" if previous else "-"
                kb = os.path.getsize(path) / 1000
                outcome = "refused: too complex" if runs[0][2] else "analysed"
                print(f"| {shape} | {kb:.0f} kB | {wall:.3f} | {above:.3f} | {growth} | "
                      f"{max(r[1] for r in runs) / 1024:.0f} MB | {outcome} |", flush=True)
                previous = above


if __name__ == "__main__":
    main()
