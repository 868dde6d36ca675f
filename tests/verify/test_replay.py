"""Replay on the generated runs: real Keras loads and real training steps, checked against the
manifests (fixtures/make_checkpoints.py: `replay`, `replay_codes`).

One `lraudit verify RUNS_DIR --replay 2` over every run serves most tests (one TensorFlow import
per Keras flavour for the whole session); the options that change how replay runs
(--strategy, --replay-all, --device, --plot) get their own invocation on one small run.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verify_helpers import ROOT, needs_tensorflow, run_verify

sys.path.insert(0, str(ROOT / "fixtures"))
from make_checkpoints import REPLAY_ARGS  # noqa: E402

REPLAY_CODES = ("LRV006", "LRV007")


@pytest.fixture(scope="session")
def replay_report(runs_dir, manifests):
    needs_tensorflow()
    result = run_verify(runs_dir, "--format", "json", "--replay", "2", *REPLAY_ARGS)
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout), result.stderr


def _run_of(path: str) -> str:
    return path.split("/", 1)[0]


def test_every_run_replays_as_its_manifest_says(replay_report, manifests):
    report, stderr = replay_report
    by_run: dict[str, dict[str, str]] = {}
    for entry in report["replay"]:
        name = _run_of(entry["checkpoint"])
        by_run.setdefault(name, {})[entry["checkpoint"].split("/", 1)[1]] = entry["status"]
    problems = []
    for name, manifest in manifests.items():
        got = by_run.get(name, {})
        expected = manifest.get("replay")
        if expected is None:
            if not got or set(got.values()) != {"ok"}:
                problems.append(f"{name}: expected the latest checkpoint to replay ok, got {got}")
        elif got != expected:
            problems.append(f"{name}: expected {expected}, got {got}")
    assert not problems, "\n".join(problems) + "\n" + stderr


def test_replay_codes_match_manifests(replay_report, manifests):
    report, _ = replay_report
    found: dict[str, dict[str, str]] = {}
    for finding in report["findings"]:
        if finding["code"] in REPLAY_CODES:
            run = _run_of(finding["checkpoint"])
            found.setdefault(run, {}).setdefault(finding["code"], finding["checkpoint"].split("/", 1)[1])
    expected = {name: m["replay_codes"] for name, m in manifests.items() if m.get("replay_codes")}
    assert found == expected


def test_broken_resumes_are_caught_for_the_right_reason(replay_report, manifests):
    report, _ = replay_report
    messages = {(f["code"], _run_of(f["checkpoint"])): f["message"] for f in report["findings"]}
    if "k3_weights_unbuilt" in manifests:
        msg = messages[("LRV007", "k3_weights_unbuilt")]
        assert "Skipping variable loading for optimizer" in msg        # Keras's own warning
        assert "optimizer.build" in msg and "load_weights" in msg     # the fix
    if "k3_custom_schedule_lossy" in manifests:
        msg = messages[("LRV006", "k3_custom_schedule_lossy")]
        assert "get_config" in msg and "trace" in msg


def test_replay_json_contract_and_measured_rates(replay_report, manifests):
    report, _ = replay_report
    assert report["replay"]
    for entry in report["replay"]:
        assert set(entry) == {"checkpoint", "device", "steps", "status"}
        assert entry["status"] in {"ok", "mismatch", "restore-skipped", "error"}
        for step in entry["steps"]:
            assert set(step) == {"step", "lr_applied", "lr_expected"}
    ok = next(e for e in report["replay"] if e["checkpoint"] == "k3_keras_resume_ok/ep04.keras")
    assert ok["device"].startswith(("CPU", "GPU"))
    # ExponentialDecay(0.1, 4, 0.5) from step 16, measured from the SGD weight update
    assert [s["step"] for s in ok["steps"]] == [16, 17]
    for step, k in zip(ok["steps"], (16, 17)):
        assert step["lr_applied"] == pytest.approx(0.1 * 0.5 ** (k / 4), rel=1e-4)
        assert step["lr_expected"] == pytest.approx(0.1 * 0.5 ** (k / 4), rel=1e-6)


def test_custom_schedule_checked_by_replay_is_no_longer_unverifiable(replay_report, manifests):
    if "k3_custom_schedule" not in manifests:
        pytest.skip("fixture run missing")
    report, _ = replay_report
    codes = {f["code"] for f in report["findings"] if _run_of(f["checkpoint"]) == "k3_custom_schedule"}
    assert "LRV009" in manifests["k3_custom_schedule"]["codes"]     # the fast path alone
    assert "LRV009" not in codes                                   # replay evaluated it
    entry = next(e for e in report["replay"] if e["checkpoint"].startswith("k3_custom_schedule/"))
    # HalvingSchedule(0.1, every=4) at steps 8, 9
    assert [s["lr_expected"] for s in entry["steps"]] == pytest.approx([0.025, 0.025])


def test_mixed_precision_overflow_steps_are_not_counted(replay_report, manifests):
    if "k3_mixed_precision_ok" not in manifests:
        pytest.skip("fixture run missing")
    report, _ = replay_report
    entry = next(e for e in report["replay"] if e["checkpoint"] == "k3_mixed_precision_ok/ep04.keras")
    assert entry["status"] == "ok"
    applied = [s for s in entry["steps"] if s["lr_applied"] is not None]
    assert applied, entry
    # a skipped (overflow) step leaves the counter where it was: the next step is still 16
    assert applied[0]["step"] == 16


def test_mirrored_strategy_replay(runs_dir, manifests):
    if "k3_mirrored_ok" not in manifests:
        pytest.skip("fixture run missing")
    result = run_verify(runs_dir / "k3_mirrored_ok", "--format", "json", "--replay", "2",
                        "--strategy", "mirrored")
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)["replay"]
    assert entry["status"] == "ok"
    assert "MirroredStrategy over 2 replicas" in entry["device"]
    assert [s["lr_applied"] for s in entry["steps"]] == pytest.approx(
        [0.1 * 0.5 ** 4, 0.1 * 0.5 ** (17 / 4)], rel=1e-4)


def test_replay_all_on_cpu_and_the_plot(runs_dir, manifests, tmp_path):
    if "k3_keras_recompile" not in manifests:
        pytest.skip("fixture run missing")
    png = tmp_path / "rate.png"
    result = run_verify(runs_dir / "k3_keras_recompile", "--format", "json", "--replay", "1",
                        "--replay-all", "--device", "cpu", "--plot", png)
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert [e["checkpoint"] for e in report["replay"]] == [f"ep0{i}.keras" for i in range(1, 5)]
    assert {e["device"] for e in report["replay"]} == {"CPU:0"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


def test_plot_marks_the_restart(runs_dir, manifests, tmp_path):
    if "k3_keras_recompile" not in manifests:
        pytest.skip("fixture run missing")
    from lraudit.verify.engine import verify
    from lraudit.verify.plot import write_plot

    result = verify(str(runs_dir / "k3_keras_recompile"))
    labels = write_plot(result, str(tmp_path / "p.png"))
    assert labels == ["LRV002 restart at ep03.keras"]


def test_device_gpu_is_never_assumed(runs_dir, manifests):
    if "k3_keras_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    result = run_verify(runs_dir / "k3_keras_resume_ok", "--format", "json", "--replay", "1",
                        "--device", "gpu")
    report = json.loads(result.stdout)
    (entry,) = report["replay"]
    if entry["status"] == "error":   # a machine without a GPU: one clear line, exit 2
        assert result.exit_code == 2
        assert "TensorFlow sees no GPU" in result.stderr
    else:                            # a GPU machine: the replay ran there
        assert entry["device"].startswith("GPU") and entry["status"] == "ok"


def test_replay_keeps_the_lraudit_process_free_of_tensorflow(runs_dir, manifests):
    if "k3_keras_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    # in a fresh process: other tests of this session import TensorFlow themselves
    probe = (
        "import json, sys\n"
        "from lraudit.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:], prog_name='lraudit', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]\n"
        "print(json.dumps(heavy))\n")
    proc = subprocess.run([sys.executable, "-c", probe, "verify", str(runs_dir / "k3_keras_resume_ok"),
                           "--format", "json", "--replay", "1"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    report_text, heavy_line = proc.stdout.rsplit("\n", 2)[0], proc.stdout.strip().splitlines()[-1]
    assert json.loads(heavy_line) == [], proc.stderr
    assert '"status": "ok"' in report_text


def test_weights_without_factory_are_reported_not_replayed(runs_dir, manifests):
    if "k3_weights_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    result = run_verify(runs_dir / "k3_weights_resume_ok", "--format", "json", "--replay", "1")
    assert json.loads(result.stdout)["replay"] == []
    assert "--model-factory" in result.stderr


# A fresh lraudit process whose `tf_keras` cannot be imported: Python's own way of marking a
# module absent (`sys.modules[name] = None`) is what `importlib.util.find_spec` then reports.
_WITHOUT_TF_KERAS = (
    "import sys\n"
    "sys.modules['tf_keras'] = None\n"
    "from lraudit.cli import main\n"
    "main(sys.argv[1:], prog_name='lraudit')\n")


def test_a_keras2_checkpoint_without_tf_keras_says_what_to_install(runs_dir, manifests):
    if "k2_h5_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_TF_KERAS, "verify", str(runs_dir / "k2_h5_resume_ok"),
                           "--format", "json", "--replay", "1"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert json.loads(proc.stdout)["replay"] == []
    (line,) = [line for line in proc.stderr.splitlines() if "tf_keras" in line]
    assert line.startswith("lraudit verify: ") and "pip install tf_keras" in line
    assert proc.returncode == 2  # an explicit --replay that could not replay, and nothing else wrong
    implicit = subprocess.run([sys.executable, "-c", _WITHOUT_TF_KERAS, "verify",
                               str(runs_dir / "k2_h5_resume_ok"), "--format", "json"],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert implicit.returncode == 0 and "pip install tf_keras" in implicit.stderr


def _stderr_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run lraudit with stderr on a pseudo-terminal (stdout captured): what a user sees."""
    import os
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "lraudit.cli", *args], stdout=subprocess.PIPE,
                                stderr=slave, cwd=ROOT, env=env, text=True)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        out = proc.stdout.read()
        proc.wait(timeout=300)
    finally:
        os.close(master)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace")


def test_progress_goes_to_a_terminal_and_never_to_ci_logs(runs_dir, manifests):
    if "k3_keras_resume_ok" not in manifests:
        pytest.skip("fixture run missing")
    import os

    env = {k: v for k, v in os.environ.items() if k != "CI"}
    args = ["verify", str(runs_dir / "k3_keras_resume_ok"), "--replay", "1"]
    code, out, err = _stderr_on_a_terminal(args, env)
    assert code == 0, err
    assert "reading checkpoints" in err
    replay_lines = [line for line in err.splitlines() if line.startswith("lraudit verify: replay: ")]
    assert replay_lines, err
    assert "reading checkpoints" not in out and "replay: " not in out.split("\n", 1)[0]
    code, out, err = _stderr_on_a_terminal(args, {**env, "CI": "true"})
    assert code == 0 and err.strip() == "", err
    piped = subprocess.run([sys.executable, "-m", "lraudit.cli", *args], capture_output=True, text=True,
                           cwd=ROOT, env=env, timeout=300)
    assert piped.returncode == 0 and piped.stderr.strip() == "", piped.stderr
