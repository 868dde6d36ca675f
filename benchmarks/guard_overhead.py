"""Per-step cost of ResumeGuard: the same fit() with and without the guard.

    python benchmarks/guard_overhead.py [--steps-per-epoch 256] [--epochs 5] [--repeats 9]

One small model (Dense 16 -> 32 -> 1, batch 8) is trained in alternating fits, guarded and
bare, on the same model so both pay the same graph tracing (a warm-up fit pays it first).
Each fit continues the run with a correct initial_epoch, so the guard's check passes and
its trace line is written, fsync included, at every epoch end: the guard's whole cost.
Reports the median time per step of each, their difference, and the guard's fixed costs
(the resume check and one trace append) timed on their own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-per-epoch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timed fit()")
    parser.add_argument("--repeats", type=int, default=9, help="timed fits of each kind")
    args = parser.parse_args()

    import tensorflow as tf

    # One thread each: the tiny model gains nothing from more, and a single-threaded fit is
    # far less disturbed by other processes on a shared machine.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    import keras
    import numpy as np

    from lraudit.keras import ResumeGuard
    from lraudit.keras.optimizer_state import snapshot
    from lraudit.keras.trace import TraceRecord, append_record

    batch = 8
    rng = np.random.default_rng(0)
    x = rng.random((args.steps_per_epoch * batch, 16), dtype=np.float32)
    y = rng.random((args.steps_per_epoch * batch, 1), dtype=np.float32)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1000, decay_rate=0.9)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")

    trace_dir = tempfile.mkdtemp(prefix="lraudit-bench-")
    done = 0

    def timed_fit(guarded: bool) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) per step."""
        nonlocal done
        callbacks = [ResumeGuard(expected_schedule=schedule, trace_dir=trace_dir)] if guarded else []
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=batch, epochs=done + args.epochs, initial_epoch=done, shuffle=False, verbose=0, callbacks=callbacks)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        done += args.epochs
        steps = args.epochs * args.steps_per_epoch
        return wall / steps, cpu / steps

    timed_fit(True)  # warm-up: tracing, and one guarded fit to prove the check passes
    timed_fit(False)
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for i in range(args.repeats):
        # Alternate which kind goes first so drift on a shared machine hits both alike.
        for kind in ((False, True) if i % 2 == 0 else (True, False)):
            runs[kind].append(timed_fit(kind))

    def fixed_cost(fn, n=50) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n

    check_s = fixed_cost(lambda: snapshot(model.optimizer))
    append_s = fixed_cost(lambda: append_record(os.path.join(trace_dir, "append.jsonl"), TraceRecord(1, 1, 0.1, time.time())))

    steps = args.epochs * args.steps_per_epoch
    print("## ResumeGuard overhead\n")
    print(
        f"Command: `python benchmarks/guard_overhead.py --steps-per-epoch {args.steps_per_epoch}"
        f" --epochs {args.epochs} --repeats {args.repeats}`\n"
    )
    print(
        f"Keras {keras.__version__} ({keras.backend.backend()} backend), TensorFlow {tf.__version__},"
        f" {os.cpu_count()} CPU cores, one TF thread; {steps} steps per timed fit(), {args.repeats}"
        " fits of each kind, alternating.\n"
    )
    print("| clock, statistic | bare fit(), per step | with ResumeGuard | difference |")
    print("|---|---|---|---|")
    for index, clock in ((0, "wall"), (1, "process CPU")):
        for name, stat in (("median", statistics.median), ("min", min)):
            bare = stat(r[index] for r in runs[False])
            guard = stat(r[index] for r in runs[True])
            diff = guard - bare
            print(f"| {clock}, {name} | {bare * 1e6:.1f} us | {guard * 1e6:.1f} us | {diff * 1e6:+.2f} us ({diff / bare:+.2%}) |")
    walls = [r[0] for r in runs[False]]
    print(f"\nRun-to-run spread of the bare fits (wall, max-min over median): {(max(walls) - min(walls)) / statistics.median(walls):.1%}.")
    print(
        f"Fixed costs, timed alone: the resume check {check_s * 1e3:.2f} ms once per fit(); one trace line"
        f" (append + fsync) {append_s * 1e3:.2f} ms per epoch, i.e. {append_s / args.steps_per_epoch * 1e6:.2f} us"
        f" per step at {args.steps_per_epoch} steps per epoch. No per-batch hook is installed."
    )


if __name__ == "__main__":
    main()
