"""Remote failures end `lraudit verify` with one clear line on stderr and exit code 2, never a
traceback and never a hang, and never show the credentials: no credentials, no such bucket,
access denied, an unreachable or stalled endpoint, the network failing mid-read, and the remote
extra not installed.  The command runs as a real process against a real S3 server (moto's
standalone server on loopback) or a misbehaving peer on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from verify_helpers import ROOT

pytest.importorskip("fsspec")
pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from remote_support import (  # noqa: E402
    BUCKET,
    SECRET,
    ListingOnlyProxy,
    SilentServer,
    client,
    refusing_endpoint,
    s3_env,
    set_moto_auth,
    start_moto,
    upload_tree,
)

RUN = "k3_keras_recompile"


@pytest.fixture(scope="module")
def moto_endpoint():
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def run_in_s3(runs_dir, moto_endpoint):
    if not (runs_dir / RUN).is_dir():
        pytest.skip(f"run {RUN} was not generated here")
    upload_tree(moto_endpoint, runs_dir / RUN, f"errors/{RUN}")
    return f"s3://{BUCKET}/errors/{RUN}"


def _cli(target: str, env: dict[str, str], *args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """`lraudit verify TARGET` in a fresh process with exactly the given S3 environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CI"}
    clean.update(env)
    code = f"{prelude}\nfrom lraudit.cli import main\nmain(prog_name='lraudit')"
    return subprocess.run([sys.executable, "-c", code, "verify", target, "--replay", "0", *args],
                          capture_output=True, text=True, env=clean, cwd=ROOT, timeout=180)


def _one_line(proc: subprocess.CompletedProcess, target: str, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith(f"lraudit verify: {target}: "), line
    for word in words:
        assert word in line, line
    assert "Traceback" not in proc.stderr and SECRET not in proc.stderr
    return line


def test_no_credentials(run_in_s3, moto_endpoint):
    proc = _cli(run_in_s3, s3_env(moto_endpoint, key=None, secret=None))
    _one_line(proc, run_in_s3, "no credentials for s3://", "AWS_ACCESS_KEY_ID")


def test_no_such_bucket(run_in_s3, moto_endpoint):
    target = "s3://lraudit-no-such-bucket/run"
    _one_line(_cli(target, s3_env(moto_endpoint)), target, "no such bucket")


def test_no_such_prefix(run_in_s3, moto_endpoint):
    target = f"s3://{BUCKET}/errors/no-such-run"
    _one_line(_cli(target, s3_env(moto_endpoint)), target, "no such file or directory")


@pytest.fixture(scope="module")
def iam_setup(moto_endpoint, runs_dir):
    """Two IAM users on the server: `nobody` may do nothing, `partial` may list the bucket and
    read every checkpoint but ep02.keras.

    The run sits at the root of its own bucket: moto's server checks the signature of a
    listing with a `prefix` query differently from botocore, so a prefixed listing would fail
    as a bad signature rather than on the policy this test is about."""
    if not (runs_dir / RUN).is_dir():
        pytest.skip(f"run {RUN} was not generated here")
    bucket = "lraudit-iam"
    client(moto_endpoint).create_bucket(Bucket=bucket)
    upload_tree(moto_endpoint, runs_dir / RUN, "run", bucket=bucket)
    iam = client(moto_endpoint, "iam")
    keys = {}
    for user in ("nobody", "partial"):
        iam.create_user(UserName=user)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
    # AWS authorises ListObjectsV2/HeadBucket as s3:ListBucket and HeadObject as s3:GetObject;
    # moto 5.2.6 checks the operation's own name instead (s3:ListObjectsV2, s3:HeadObject).
    # The policy names both, so it means the same on AWS and on every moto 5.
    listing = ["s3:ListBucket", "s3:ListObjectsV2", "s3:HeadBucket", "s3:GetBucketLocation"]
    reading = ["s3:GetObject", "s3:HeadObject"]
    iam.put_user_policy(UserName="partial", PolicyName="read-some", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": listing, "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": reading, "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Deny", "Action": reading,
             "Resource": f"arn:aws:s3:::{bucket}/run/ep02.keras"},
        ]}))
    return bucket, {user: s3_env(moto_endpoint, key["AccessKeyId"], key["SecretAccessKey"])
                    for user, key in keys.items()}


@pytest.fixture()
def iam_users(iam_setup, moto_endpoint):
    """IAM enforcement on for one test (moto's switch is process-wide), off again after."""
    set_moto_auth(moto_endpoint, "0")
    try:
        yield iam_setup
    finally:
        set_moto_auth(moto_endpoint, "inf")


def test_access_denied_on_the_target(iam_users):
    bucket, envs = iam_users
    target = f"s3://{bucket}"
    proc = _cli(target, envs["nobody"])
    _one_line(proc, target, "access denied")
    assert envs["nobody"]["AWS_SECRET_ACCESS_KEY"] not in proc.stderr


def test_access_denied_on_one_checkpoint_marks_only_it_unreadable(iam_users):
    bucket, envs = iam_users
    proc = _cli(f"s3://{bucket}", envs["partial"], "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    status = {row["path"]: row["status"] for row in report["checkpoints"]}
    assert status["run/ep02.keras"] == "unreadable"
    assert status["run/ep01.keras"] == "ok"
    (finding,) = [f for f in report["findings"] if f["code"] == "LRV008"]
    assert finding["checkpoint"] == "run/ep02.keras"
    assert finding["actual"] == "cannot read ep02.keras (access denied)"


def test_network_failure_mid_read(run_in_s3, moto_endpoint):
    proxy = ListingOnlyProxy(moto_endpoint)
    try:
        proc = _cli(run_in_s3, s3_env(proxy.endpoint), "--jobs", "4")
    finally:
        proxy.stop()
    assert proxy.forwarded and proxy.down, "the listing went through, then the reads failed"
    assert all("list-type=2" in line for line in proxy.forwarded), proxy.forwarded
    _one_line(proc, run_in_s3, "network failure", ".keras")


def test_unreachable_endpoint(run_in_s3):
    proc = _cli(run_in_s3, s3_env(refusing_endpoint()))
    _one_line(proc, run_in_s3, "network failure")


def test_a_stalled_endpoint_times_out(run_in_s3):
    silent = SilentServer()
    try:
        env = dict(s3_env(silent.endpoint), LRAUDIT_REMOTE_TIMEOUT="0.5")
        proc = _cli(run_in_s3, env)
    finally:
        silent.stop()
    _one_line(proc, run_in_s3, "timed out", "LRAUDIT_REMOTE_TIMEOUT=0.5s")


@pytest.mark.parametrize("blocked, needs", [("fsspec", "needs fsspec and s3fs"),
                                            ("s3fs", "needs s3fs")])
def test_without_the_remote_extra(blocked, needs):
    target = "s3://some-bucket/run"
    proc = _cli(target, {}, prelude=f"import sys; sys.modules[{blocked!r}] = None")
    _one_line(proc, target, needs, "pip install 'lraudit[remote]'")


def test_an_unknown_protocol():
    target = "nosuchfs://bucket/run"
    _one_line(_cli(target, {}), target, "unknown storage protocol nosuchfs://")


def test_storage_libraries_log_nothing_around_the_one_line():
    # gcsfs logs every retry and logger.exception()s the last one; with no logging configured,
    # Python's last-resort handler would print those tracebacks around lraudit's message.
    code = ("import logging; from lraudit.verify.storage import open_target\n"
            "open_target('memory://anything')\n"
            "for name in ('gcsfs', 'google.auth', 'adlfs', 'azure.core', 's3fs', 'botocore'):\n"
            "    try:\n"
            "        raise OSError('out of retries')\n"
            "    except OSError:\n"
            "        logging.getLogger(name).exception('_request out of retries')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
