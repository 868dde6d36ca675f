"""Per-step cost of ResumeGuard: the same fit() with and without the guard.

    python benchmarks/guard_overhead.py [--steps-per-epoch 256] [--epochs 2] [--rounds 15]

One small model (Dense 16 -> 32 -> 1, batch 8) is trained in rounds of three fits on the same
model, in a rotating order: bare, guarded without a trace, guarded with a trace (one line,
fsync included, per epoch).  Every fit continues the run with a correct initial_epoch, so the
guard's check passes as in a real resume.  A warm-up fit pays the graph tracing first.

Shared machines make single timings noisy, so the estimate is the median over rounds of the
*paired* difference (guarded minus bare fit of the same round), per step, on the wall clock
and on the process CPU clock (the CPU clock ignores time spent waiting for other jobs).
The fixed costs (the check, one trace append) and the per-batch callback dispatch, the only
per-step contact a callback has with fit(), are also timed on their own, where noise is small.
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

KINDS = ("bare", "guard", "guard+trace")


def quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-per-epoch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed fit()")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of one fit of each kind")
    args = parser.parse_args()

    import tensorflow as tf

    # One thread each: the tiny model gains nothing from more, and a single-threaded fit is
    # less disturbed by other processes on a shared machine.
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
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")

    trace_dir = tempfile.mkdtemp(prefix="lraudit-bench-")
    steps = args.epochs * args.steps_per_epoch
    done = 0

    def callbacks_for(kind: str) -> list:
        if kind == "bare":
            return []
        guard = ResumeGuard(
            expected_schedule=schedule, trace_dir=trace_dir if kind == "guard+trace" else None
        )
        return [guard]

    def timed_fit(kind: str) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) per step."""
        nonlocal done
        callbacks = callbacks_for(kind)
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(
            x,
            y,
            batch_size=batch,
            epochs=done + args.epochs,
            initial_epoch=done,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        done += args.epochs
        if callbacks:
            assert callbacks[0].findings == [], callbacks[0].findings
        return wall / steps, cpu / steps

    for kind in KINDS:  # warm-up: tracing, and a first check that every kind passes
        timed_fit(kind)
    runs: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    for r in range(args.rounds):
        for kind in KINDS[r % 3 :] + KINDS[: r % 3]:  # rotate so drift hits every kind alike
            runs[kind].append(timed_fit(kind))

    def fixed_cost(fn, n: int = 50) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n

    def dispatch_per_batch(with_guard: bool, n: int = 20000) -> float:
        """The only per-step contact a callback has with fit(): the CallbackList's batch
        hooks, built as fit(verbose=0) builds it, timed alone (best of 5)."""
        best = float("inf")
        for _ in range(5):
            callbacks = keras.callbacks.CallbackList(
                callbacks_for("guard") if with_guard else [],
                add_history=True,
                add_progbar=False,
                model=model,
            )
            callbacks.on_train_begin()
            logs = {"loss": 0.0}
            start = time.perf_counter()
            for i in range(n):
                callbacks.on_train_batch_begin(i)
                callbacks.on_train_batch_end(i, logs)
            best = min(best, (time.perf_counter() - start) / n)
            callbacks.on_train_end()
        return best

    dispatch_bare, dispatch_guard = dispatch_per_batch(False), dispatch_per_batch(True)
    check_s = fixed_cost(lambda: snapshot(model.optimizer))
    append_s = fixed_cost(
        lambda: append_record(
            os.path.join(trace_dir, "append.jsonl"), TraceRecord(1, 1, 0.1, time.time())
        )
    )

    print("## ResumeGuard overhead\n")
    print(
        f"Command: `python benchmarks/guard_overhead.py --steps-per-epoch {args.steps_per_epoch}"
        f" --epochs {args.epochs} --rounds {args.rounds}`\n"
    )
    print(
        f"Keras {keras.__version__} ({keras.backend.backend()} backend), TensorFlow {tf.__version__},"
        f" {os.cpu_count()} CPU cores, one TF thread; Dense 16->32->1, batch 8; {steps} steps per"
        f" timed fit(), {args.rounds} rounds of one fit of each kind in rotating order.\n"
    )
    print(
        "| fit() | wall per step, median | CPU per step, median | paired difference vs bare, wall: median [IQR] | paired difference, CPU: median [IQR] |"
    )
    print("|---|---|---|---|---|")
    for kind in KINDS:
        wall = statistics.median(w for w, _ in runs[kind])
        cpu = statistics.median(c for _, c in runs[kind])
        cells = [f"{wall * 1e6:.1f} us", f"{cpu * 1e6:.1f} us"]
        if kind == "bare":
            cells += ["", ""]
        else:
            for index in (0, 1):
                diffs = [g[index] - b[index] for g, b in zip(runs[kind], runs["bare"])]
                med, (q1, q3) = statistics.median(diffs), quartiles(diffs)
                base = statistics.median(b[index] for b in runs["bare"])
                cells.append(
                    f"{med * 1e6:+.2f} us ({med / base:+.2%}) [{q1 * 1e6:+.1f}, {q3 * 1e6:+.1f}]"
                )
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print(
        f"\nPer-batch callback dispatch timed alone (best of 5 x 20000 batches): {dispatch_bare * 1e6:.2f} us"
        f" without the guard, {dispatch_guard * 1e6:.2f} us with it: {(dispatch_guard - dispatch_bare) * 1e6:+.2f} us per step."
    )
    walls = [w for w, _ in runs["bare"]]
    print(
        f"\nRun-to-run spread of the bare fits (wall, max-min over median): {(max(walls) - min(walls)) / statistics.median(walls):.1%}."
    )
    print(
        f"Fixed costs, timed alone: the resume check {check_s * 1e3:.2f} ms once per fit(); one trace line"
        f" (append + fsync) {append_s * 1e3:.2f} ms once per epoch, which is {append_s / args.steps_per_epoch * 1e6:.2f} us"
        f" per step at {args.steps_per_epoch} steps per epoch. The guard installs no per-batch hook."
    )


if __name__ == "__main__":
    main()
