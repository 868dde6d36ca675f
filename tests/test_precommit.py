"""The pre-commit hooks, run by the real `pre-commit` tool against throwaway git repositories.

pre-commit builds a virtual environment and pip-installs this checkout into it, which is the
slow part (seconds, once per store).  To keep that fast and possible without a network, the
environment sees the interpreter's own site-packages (libcst and click are already there) and
pip builds from the setuptools wheel that virtualenv ships, with no index.  Set
LRAUDIT_PRECOMMIT_ONLINE=1 to let pip resolve every dependency from the index instead, which
also checks that pyproject.toml declares them; the same happens automatically when the base
interpreter lacks them (e.g. the tests run from a virtual environment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BAD = """import tensorflow as tf

model = tf.keras.models.load_model("checkpoints/last.keras")
model.fit(x_train, y_train, epochs=50)
"""
GOOD = """import tensorflow as tf

model = tf.keras.models.load_model("checkpoints/last.keras")
model.fit(x_train, y_train, epochs=50, initial_epoch=completed)
"""
TIMEOUT = 180


def _require_pre_commit() -> None:
    try:
        import pre_commit  # noqa: F401
    except ImportError:  # pragma: no cover - the dev extra provides it
        pytest.fail("the pre-commit package is required for this test: pip install -e '.[dev]'")


def _offline_pip_env() -> dict[str, str]:
    """Environment variables that let pre-commit install the hook without an index, or {}."""
    if os.environ.get("LRAUDIT_PRECOMMIT_ONLINE"):
        return {}
    try:
        import virtualenv
    except ImportError:
        return {}
    wheels = Path(virtualenv.__file__).parent / "seed" / "wheels" / "embed"
    base = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([base, "-I", "-c", "import libcst, click, pyrsistent"], capture_output=True)
    if probe.returncode != 0 or not any(wheels.glob("setuptools-*.whl")):
        return {}
    return {"VIRTUALENV_SYSTEM_SITE_PACKAGES": "1", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_", "SKIP"))}
    env.update({
        "PRE_COMMIT_HOME": str(home),
        "PRE_COMMIT_COLOR": "never",
        "NO_COLOR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
    })
    env.update(_offline_pip_env())
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def _git(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = _run(["git", *args], cwd, env)
    assert result.returncode == 0, result.stderr
    return result


def _pre_commit(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "pre_commit", *args], cwd, env)


def _snapshot(dest: Path, env: dict[str, str]) -> str:
    """The package as this working tree has it (committed or not), as a one-commit hook repo.

    Only what `pip install .` needs is copied, so other work in progress in the tree cannot
    break the install."""
    listed = _run(["git", "ls-files", "-c", "-o", "--exclude-standard", "--", "lraudit"], ROOT, env)
    names = listed.stdout.splitlines() if listed.returncode == 0 else [
        p.relative_to(ROOT).as_posix() for p in (ROOT / "lraudit").rglob("*") if p.is_file()]
    names += ["pyproject.toml", "README.md", ".pre-commit-hooks.yaml"]
    for name in names:
        source = ROOT / name
        if source.is_file() and "__pycache__" not in name:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git(dest, env, "init", "-q")
    _git(dest, env, "add", ".")
    _git(dest, env, "commit", "-q", "-m", "snapshot")
    return _git(dest, env, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture(scope="module")
def hooked_repo(tmp_path_factory):
    """A user repository whose git pre-commit hook runs both lraudit hooks from a snapshot of
    this checkout; the hook environment is built once for the module."""
    _require_pre_commit()
    base = tmp_path_factory.mktemp("precommit")
    env = _env(base / "store")
    hook_repo, user = base / "hooks", base / "user"
    hook_repo.mkdir()
    user.mkdir()
    rev = _snapshot(hook_repo, env)
    (user / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_repo.as_posix()}\n  rev: {rev}\n"
        "  hooks:\n  - id: lraudit\n  - id: lraudit-fix\n", encoding="utf-8")
    (user / "README.md").write_text("a training project\n", encoding="utf-8")
    _git(user, env, "init", "-q")
    _git(user, env, "add", ".pre-commit-config.yaml", "README.md")
    _git(user, env, "commit", "-q", "--no-verify", "-m", "init")
    installed = _pre_commit(user, env, "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    warm = _pre_commit(user, env, "install-hooks")  # build the environment once, up front
    assert warm.returncode == 0, warm.stdout + warm.stderr
    return user, env


def _commit(user: Path, env: dict[str, str], *files: str) -> subprocess.CompletedProcess:
    _git(user, env, "add", *files)
    return _run(["git", "commit", "-m", "change"], user, env)


def _head(user: Path, env: dict[str, str]) -> str:
    return _git(user, env, "rev-parse", "HEAD").stdout.strip()


def test_manifest_is_valid() -> None:
    _require_pre_commit()
    result = _run([sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
                  ROOT, dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_script_blocks_the_commit(hooked_repo) -> None:
    user, env = hooked_repo
    before = _head(user, env)
    (user / "train.py").write_text(BAD, encoding="utf-8")
    result = _commit(user, env, "train.py")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "train.py:4:1: LR001 [error]" in output
    assert "lraudit (learning-rate resumption hazards)" in output and "Failed" in output
    assert _head(user, env) == before  # nothing was committed
    assert (user / "train.py").read_text(encoding="utf-8") == BAD  # no fix exists for LR001
    _git(user, env, "reset", "-q", "train.py")
    (user / "train.py").unlink()


def test_good_scripts_pass_even_hundreds(hooked_repo) -> None:
    user, env = hooked_repo
    before = _head(user, env)
    (user / "train.py").write_text(GOOD, encoding="utf-8")
    names = ["train.py"]
    for i in range(300):  # more than one command line's worth for pre-commit to split
        name = f"pkg/module_with_a_rather_long_name_{i:03d}.py"
        (user / name).parent.mkdir(exist_ok=True)
        (user / name).write_text(f"VALUE = {i}\n", encoding="utf-8")
        names.append(name)
    result = _commit(user, env, *names)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _head(user, env) != before


def test_no_python_files_skips_the_hook(hooked_repo) -> None:
    user, env = hooked_repo
    (user / "NOTES.md").write_text("no code here\n", encoding="utf-8")
    result = _commit(user, env, "NOTES.md")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(no files to check)Skipped" in result.stdout + result.stderr


def test_always_run_with_no_files_does_not_scan_the_tree(hooked_repo, tmp_path) -> None:
    """`always_run: true` makes pre-commit call the hook with no file names; a full-tree scan
    would find the bad script lying in the work tree and fail."""
    user, env = hooked_repo
    (user / "legacy_train.py").write_text(BAD, encoding="utf-8")  # untracked, not staged
    config = (user / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    forced = tmp_path / "always.yaml"
    forced.write_text(config.replace("  - id: lraudit\n", "  - id: lraudit\n    always_run: true\n", 1),
                      encoding="utf-8")
    try:
        result = _pre_commit(user, env, "run", "lraudit", "--config", str(forced), "--files", "README.md")
    finally:
        (user / "legacy_train.py").unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout and "LR001" not in result.stdout


def test_try_repo_from_the_checkout(tmp_path) -> None:
    """The documented way to try the hook before adding it: `pre-commit try-repo <checkout>`."""
    _require_pre_commit()
    env = _env(tmp_path / "store")
    if _run(["git", "rev-parse", "--git-dir"], ROOT, env).returncode != 0:
        pytest.skip("the checkout is not a git repository")
    user = tmp_path / "user"
    user.mkdir()
    _git(user, env, "init", "-q")
    (user / "bad.py").write_text(BAD, encoding="utf-8")
    (user / "good.py").write_text(GOOD, encoding="utf-8")
    _git(user, env, "add", "bad.py", "good.py")
    result = _pre_commit(user, env, "try-repo", str(ROOT), "lraudit", "--files", "bad.py", "good.py")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "bad.py:4:1: LR001" in output and "good.py" not in output.split("Failed", 1)[1]


def test_ci_docs_use_real_hooks_and_options() -> None:
    """docs/ci.md's YAML parses, names hooks that exist, and every lraudit command it shows
    parses with the real CLI (an option renamed in code would otherwise rot in the docs)."""
    import re
    import shlex

    import yaml

    from lraudit.cli import main

    doc = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert hooks == {"lraudit", "lraudit-fix"}
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert len(blocks) >= 4
    for block in blocks:
        yaml.safe_load(block)
    used = set(re.findall(r"- id: ([\w-]+)", doc))
    assert used and used <= hooks
    code = "\n".join(re.findall(r"```(?:bash|yaml)\n(.*?)```", doc, re.S))
    commands = re.findall(r"\blraudit (?:scan|verify)\b[^\n]*", code)
    assert len(commands) >= 8
    for line in commands:
        args = shlex.split(line.split("||")[0].split("#")[0])[1:]
        command = main.get_command(None, args[0])
        command.make_context(args[0], args[1:])  # raises on an unknown option or bad choice
