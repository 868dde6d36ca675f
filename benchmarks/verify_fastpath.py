"""Benchmark: the verify fast path reads a ~1 GB checkpoint as fast as a tiny one.

Writes real checkpoints with Keras (in a subprocess, so this process never imports TensorFlow)
for a tiny model (Dense 3->4->1) and a large one (Dense layers with ~85M parameters trained one
step with Adam, so weights + two Adam slots make ~1 GB per checkpoint), in four formats:
`.keras`, `.weights.h5`, legacy `.h5` and a `tf.train.Checkpoint`.  Then it times

* `read`: discovery + the format reader for one checkpoint, in process (median of --repeat runs
  after one warm-up), which is what verify pays per checkpoint;
* `process`: a whole `python -m lraudit.cli verify FILE --format json` (median of 5), which
  adds interpreter start-up and the h5py import.

The page cache is warm (the files were just written); the reader touches a few kB per file
whatever the size, so a cold cache adds a few disk seeks, not a read of the file.

Usage: python benchmarks/verify_fastpath.py [--size-gb 1.0] [--repeat 20] [--workdir DIR]
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMATS = [("keras", "model.keras"), ("weights-h5", "model.weights.h5"),
           ("legacy-h5", "model.h5"), ("tf-checkpoint", "tfckpt/ckpt-1")]

GENERATE = r"""
import os, sys, math
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, keras, tensorflow as tf
out, params = sys.argv[1], int(sys.argv[2])
width = max(4, int(math.sqrt(params / 2)))
if params < 1000:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    x = np.random.rand(8, 3).astype("float32")
else:
    model = keras.Sequential([keras.Input((width,)), keras.layers.Dense(width), keras.layers.Dense(width),
                              keras.layers.Dense(1)])
    x = np.random.rand(1, width).astype("float32")
y = np.ones((x.shape[0], 1), "float32")
model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.9)),
              loss="mean_squared_error")
model.train_on_batch(x, y)
model.save(os.path.join(out, "model.keras"))
model.save_weights(os.path.join(out, "model.weights.h5"))
model.save(os.path.join(out, "model.h5"))
tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=model.optimizer),
                           os.path.join(out, "tfckpt"), max_to_keep=1).save()
print(model.count_params())
"""


def generate(directory: str, params: int) -> int:
    os.makedirs(directory, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", GENERATE, directory, str(params)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"generation failed:\n{proc.stderr[-3000:]}")
    return int(proc.stdout.strip().splitlines()[-1])


def size_of(path: str) -> int:
    if os.path.exists(path + ".index"):
        return sum(os.path.getsize(os.path.join(os.path.dirname(path), f))
                   for f in os.listdir(os.path.dirname(path))
                   if f.startswith(os.path.basename(path) + "."))
    return os.path.getsize(path)


def time_read(path: str, repeat: int) -> tuple[float, int | None]:
    sys.path.insert(0, ROOT)
    from lraudit.verify import formats
    from lraudit.verify.discover import discover

    def once():
        found = discover(path)
        return formats.read(found.candidates[0])

    info = once()  # warm-up: imports h5py, fills the page cache
    if info.error:
        raise SystemExit(f"{path}: {info.error}")
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        once()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), info.step


def time_process(path: str, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lraudit.cli", "verify", path, "--format", "json"],
                       capture_output=True, cwd=ROOT, timeout=120)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="target size of the big checkpoint")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--workdir", help="keep the checkpoints here instead of a temp dir")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="lraudit-bench-")
    try:
        # Adam: weights + 2 slots, float32: 12 bytes per parameter in each checkpoint
        big_params = int(args.size_gb * 1e9 / 12)
        sizes = {"tiny": generate(os.path.join(workdir, "tiny"), 1),
                 "big": generate(os.path.join(workdir, "big"), big_params)}
        rows = []
        for fmt, rel in FORMATS:
            for label in ("tiny", "big"):
                path = os.path.join(workdir, label, rel)
                read_ms, step = time_read(path, args.repeat)
                rows.append({"format": fmt, "model": label, "params": sizes[label],
                             "bytes": size_of(path), "step": step, "read_ms": round(read_ms, 2),
                             "process_ms": round(time_process(path), 1)})
        print("| format | model | checkpoint size | read (median ms) | whole `lraudit verify` process (median ms) |")
        print("|---|---|---:|---:|---:|")
        for row in rows:
            size = row["bytes"]
            human = f"{size / 1e9:.2f} GB" if size > 1e8 else f"{size / 1e3:.0f} kB"
            print(f"| {row['format']} | {row['model']} ({row['params']:,} params) | {human} | "
                  f"{row['read_ms']:.2f} | {row['process_ms']:.0f} |")
        print(json.dumps(rows), file=sys.stderr)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
