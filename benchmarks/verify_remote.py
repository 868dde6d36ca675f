"""Benchmark: `lraudit verify s3://...` reads a few ranged requests per checkpoint, however large.

Starts moto's standalone S3 server (`python -m moto.server`, from the dev extra) on loopback in
a subprocess, writes real checkpoints with Keras in another subprocess (this process never
imports TensorFlow), uploads them, and measures:

* a 500-checkpoint run (a small Dense model trained 500 epochs with an ExponentialDecay
  schedule, ModelCheckpoint writing `ep{epoch:03d}.keras`): requests and bytes per checkpoint,
  listing requests, and the wall time of a whole `lraudit verify s3://...` process for several
  `--jobs`, directly against the server and through a proxy that adds a round-trip delay
  (`--latency-ms`, as a remote bucket has and loopback does not);
* the same model family tiny and ~`--size-gb` large in four formats (`.keras`, `.weights.h5`,
  legacy `.h5`, a TF checkpoint): requests and bytes for one checkpoint of each;
* why checkpoints are read in rounds: 32 `.weights.h5` of 8 MB (written with h5py in Keras's
  layout) through the delay proxy, `--jobs` 1 and 16, with rounds and with plain reads inside
  h5py (`MAX_ROUNDS = 0`), whose global lock serializes the network waits.

Usage: python benchmarks/verify_remote.py [--size-gb 1.0] [--checkpoints 500]
       [--latency-ms 20] [--jobs 1,4,16] [--repeat 3] [--workdir DIR] [--parts run,sizes,rounds]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
BUCKET = "lraudit-bench"

GENERATE_RUN = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, keras
out, epochs = sys.argv[1], int(sys.argv[2])
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)),
              loss="mean_squared_error")
x = np.random.rand(32, 8).astype("float32"); y = np.random.rand(32, 1).astype("float32")
model.fit(x, y, batch_size=8, epochs=epochs, verbose=0,
          callbacks=[keras.callbacks.ModelCheckpoint(os.path.join(out, "ep{epoch:03d}.keras"))])
print(model.count_params())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).read()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


class DelayProxy:
    """Loopback TCP proxy that holds each chunk the client sends for `delay` seconds: every
    request then costs one round trip of that length, like a bucket in another building."""

    def __init__(self, upstream: str, delay: float) -> None:
        self.upstream = ("127.0.0.1", int(upstream.rsplit(":", 1)[1]))
        self.delay = delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, self.delay), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 0.0), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def env_for(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CI"}
    env.update(AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


def upload(endpoint: str, local: str, prefix: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    for dirpath, _dirs, files in os.walk(local):
        for name in files:
            path = os.path.join(dirpath, name)
            s3.upload_file(path, BUCKET, f"{prefix}/{os.path.relpath(path, local)}")


def cost(url: str, jobs: int = 16) -> tuple[list, object]:
    """Discover and read `url` in this process; per-checkpoint (requests, bytes) and storage."""
    from lraudit.verify.discover import discover
    from lraudit.verify.formats import read_many

    found = discover(url)
    infos = read_many(found.candidates, found.storage, jobs)
    bad = [i.display for i in infos if i.error]
    if bad:
        raise SystemExit(f"{url}: unreadable: {bad[:3]}")
    per = [found.storage.checkpoint_stats[c.path] for c in found.candidates]
    return per, found.storage


def wall(target: str, env: dict[str, str], jobs: int | None, repeat: int) -> tuple[float, int]:
    samples, code = [], None
    for _ in range(repeat):
        argv = [sys.executable, "-m", "lraudit.cli", "verify", target, "--replay", "0", "--format", "json"]
        if jobs:
            argv += ["--jobs", str(jobs)]
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
        samples.append(time.perf_counter() - start)
        code = proc.returncode
        if code not in (0, 1):
            raise SystemExit(f"verify {target} failed: {proc.stderr[-2000:]}")
    return statistics.median(samples), code


def weights_h5(n: int, step: int) -> bytes:
    """A Keras 3 `.weights.h5` in Keras's write order (layer weights, then the optimizer's
    counter, rate and two slots) with `n` parameters, 12 * n bytes."""
    import io

    import h5py
    import numpy as np

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("layers/dense/vars").create_dataset("0", data=np.ones(n, "float32"))
        opt = f.create_group("optimizer/vars")
        opt["0"] = np.int64(step)
        opt["1"] = np.float32(0.01)
        opt.create_dataset("2", data=np.ones(n, "float32"))
        opt.create_dataset("3", data=np.ones(n, "float32"))
    return buffer.getvalue()


def rounds_check(endpoint: str, latency_ms: float) -> list[dict]:
    """In process: 32 x 8 MB .weights.h5 through the delay proxy, rounds on and off."""
    import boto3

    from lraudit.verify import storage
    from lraudit.verify.discover import discover
    from lraudit.verify.formats import read_many

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    data = weights_h5((8 << 20) // 12, 100)
    for i in range(32):
        s3.put_object(Bucket=BUCKET, Key=f"rounds/ep{i:03d}.weights.h5", Body=data)
    proxy = DelayProxy(endpoint, latency_ms / 1000)
    saved_env, saved_rounds = os.environ.get("AWS_ENDPOINT_URL_S3"), storage.MAX_ROUNDS
    os.environ["AWS_ENDPOINT_URL_S3"] = proxy.endpoint
    rows = []
    try:
        for rounds in (saved_rounds, 0):
            storage.MAX_ROUNDS = rounds
            for jobs in (1, 16):
                found = discover(f"s3://{BUCKET}/rounds")
                start = time.perf_counter()
                infos = read_many(found.candidates, found.storage, jobs)
                elapsed = time.perf_counter() - start
                if any(info.step != 100 for info in infos):
                    raise SystemExit(f"rounds check: {[i.error for i in infos][:3]}")
                rows.append({"rounds": bool(rounds), "jobs": jobs, "seconds": round(elapsed, 2),
                             "requests": found.storage.stats.requests})
    finally:
        storage.MAX_ROUNDS = saved_rounds
        os.environ["AWS_ENDPOINT_URL_S3"] = saved_env or endpoint
        proxy.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--checkpoints", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--jobs", default="1,4,16")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", help="keep the generated checkpoints here")
    parser.add_argument("--parts", default="run,sizes,rounds")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    jobs_list = [int(j) for j in args.jobs.split(",")]
    workdir = args.workdir or tempfile.mkdtemp(prefix="lraudit-remote-bench-")
    moto, endpoint = start_moto()
    os.environ.update(env_for(endpoint))
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    out: dict[str, object] = {}
    try:
        if "rounds" in parts:
            out["rounds"] = rounds_check(endpoint, args.latency_ms or 20.0)
        if "run" in parts:
            out.update(many_checkpoints(args, workdir, endpoint, jobs_list))
        if "sizes" in parts:
            out["sizes"] = sizes(args, workdir, endpoint)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report(out, args)
    return 0


def many_checkpoints(args, workdir: str, endpoint: str, jobs_list: list[int]) -> dict:
    """The N-checkpoint run: cost per checkpoint in process, wall time of whole processes."""
    out: dict[str, object] = {}
    run_dir = os.path.join(workdir, "run")
    if not os.path.isdir(run_dir) or len(os.listdir(run_dir)) < args.checkpoints:
        os.makedirs(run_dir, exist_ok=True)
        proc = subprocess.run([sys.executable, "-c", GENERATE_RUN, run_dir, str(args.checkpoints)],
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"generation failed:\n{proc.stderr[-3000:]}")
    upload(endpoint, run_dir, "run")
    url = f"s3://{BUCKET}/run"
    per, storage = cost(url)
    sizes = [os.path.getsize(os.path.join(run_dir, f)) for f in os.listdir(run_dir)]
    out["run"] = {
        "checkpoints": len(per), "checkpoint_bytes": statistics.median(sizes),
        "requests_per_checkpoint": {"median": statistics.median(p.requests for p in per),
                                    "max": max(p.requests for p in per)},
        "bytes_per_checkpoint": {"median": statistics.median(p.bytes for p in per),
                                 "max": max(p.bytes for p in per)},
        "listing_requests": storage.listings,
    }
    timings = {"local": wall(run_dir, env_for(endpoint), None, args.repeat)[0]}
    for jobs in jobs_list:
        timings[f"s3 --jobs {jobs}"] = wall(url, env_for(endpoint), jobs, args.repeat)[0]
    if args.latency_ms > 0:
        proxy = DelayProxy(endpoint, args.latency_ms / 1000)
        try:
            for jobs in jobs_list:
                timings[f"s3 +{args.latency_ms:g} ms --jobs {jobs}"] = \
                    wall(url, env_for(proxy.endpoint), jobs, args.repeat)[0]
        finally:
            proxy.close()
    out["run_wall_s"] = {k: round(v, 2) for k, v in timings.items()}
    return out


def sizes(args, workdir: str, endpoint: str) -> list[dict]:
    """One checkpoint each of a tiny and a big model in four formats: requests and bytes."""
    from verify_fastpath import FORMATS, generate, size_of

    big_params = int(args.size_gb * 1e9 / 12)
    for label, n in (("tiny", 1), ("big", big_params)):
        directory = os.path.join(workdir, label)
        if not os.path.isdir(directory):
            generate(directory, n)
        upload(endpoint, directory, label)
    rows = []
    for fmt, rel in FORMATS:
        for label in ("tiny", "big"):
            per, _ = cost(f"s3://{BUCKET}/{label}/{rel}", jobs=1)
            rows.append({"format": fmt, "model": label,
                         "bytes": size_of(os.path.join(workdir, label, rel)),
                         "requests": per[0].requests, "fetched": per[0].bytes})
    return rows


def report(out: dict, args) -> None:
    if "rounds" in out:
        print(f"| 32 x 8 MB .weights.h5, +{args.latency_ms or 20:g} ms per request | --jobs | "
              "seconds | requests |")
        print("|---|---:|---:|---:|")
        for row in out["rounds"]:
            how = "rounds (default)" if row["rounds"] else "plain reads inside h5py"
            print(f"| {how} | {row['jobs']} | {row['seconds']:.2f} | {row['requests']} |")
        print()
    if "run" in out:
        run_report(out)
    if "sizes" in out:
        sizes_report(out)
    print(json.dumps(out, default=str), file=sys.stderr)


def run_report(out: dict) -> None:
    run = out["run"]
    print(f"{run['checkpoints']} checkpoints of {run['checkpoint_bytes'] / 1e3:.0f} kB: "
          f"{run['requests_per_checkpoint']['median']} requests and "
          f"{run['bytes_per_checkpoint']['median'] / 1e3:.1f} kB per checkpoint (median; max "
          f"{run['requests_per_checkpoint']['max']} and {run['bytes_per_checkpoint']['max'] / 1e3:.1f} kB), "
          f"{run['listing_requests']} listing")
    print()
    print("| target | wall (median s) |")
    print("|---|---:|")
    for key, value in out["run_wall_s"].items():
        print(f"| {key} | {value:.2f} |")
    print()


def sizes_report(out: dict) -> None:
    print("| format | model | checkpoint size | requests | bytes fetched |")
    print("|---|---|---:|---:|---:|")
    for row in out["sizes"]:
        size = row["bytes"]
        human = f"{size / 1e9:.2f} GB" if size > 1e8 else f"{size / 1e3:.0f} kB"
        print(f"| {row['format']} | {row['model']} | {human} | {row['requests']} | "
              f"{row['fetched'] / 1e3:.1f} kB |")


if __name__ == "__main__":
    sys.exit(main())
