"""What replay costs on top of what any resume pays anyway: TensorFlow's import and one load.

Times, each a whole fresh process, median of --repeat runs:
  import     python -c "import tensorflow, keras"
  load       the same + keras.saving.load_model(<latest checkpoint>)
  replay     lraudit verify RUN --replay K           (loads only the latest checkpoint)
  replay-all lraudit verify RUN --replay K --replay-all  (every checkpoint; for contrast)
  fast       lraudit verify RUN --replay 0           (no TensorFlow at all)

The run is generated once (fixtures/make_checkpoints.py, k3_keras_resume_ok: 4 `.keras`
checkpoints).  Usage:  python benchmarks/verify_replay.py [--repeat 5] [--steps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    with tempfile.TemporaryDirectory(prefix="lraudit-replay-bench-") as out:
        subprocess.run([sys.executable, os.path.join(ROOT, "fixtures", "make_checkpoints.py"), out,
                        "--only", "k3_keras_resume_ok", "--no-keras2"], check=True,
                       capture_output=True, env=env)
        run = os.path.join(out, "k3_keras_resume_ok")
        latest = os.path.join(run, "ep04.keras")
        py = sys.executable
        cases = {
            "import": [py, "-c", "import tensorflow, keras"],
            "load": [py, "-c", f"import tensorflow, keras; keras.saving.load_model({latest!r})"],
            "replay": [py, "-m", "lraudit.cli", "verify", run, "--replay", str(args.steps)],
            "replay-all": [py, "-m", "lraudit.cli", "verify", run, "--replay", str(args.steps),
                           "--replay-all"],
            "fast": [py, "-m", "lraudit.cli", "verify", run, "--replay", "0"],
        }
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):       # interleaved, so load on the machine hits all alike
            for name, cmd in cases.items():
                results[name].append(timed(cmd, env))
    med = {name: statistics.median(values) for name, values in results.items()}
    print(f"| case | median wall (s) of {args.repeat} | runs (s) |")
    print("|---|---:|---|")
    for name, values in results.items():
        print(f"| {name} | {med[name]:.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    overhead = med["replay"] - med["load"]
    print(f"\nreplay beyond import + one load: {overhead:+.2f} s "
          f"({overhead / med['load'] * 100:+.0f}% of the bare load); "
          f"replay-all (4 loads) beyond replay: {med['replay-all'] - med['replay']:+.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
