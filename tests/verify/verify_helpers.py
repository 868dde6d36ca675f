"""Helpers shared by the verify tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "fixtures" / "make_checkpoints.py"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_checkpoints", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_checkpoints", module)
    spec.loader.exec_module(module)
    return module


make_checkpoints = _load_generator()


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def needs_tensorflow() -> None:
    """Skip like pytest.importorskip("tensorflow") without importing it into this process."""
    if not (have("tensorflow") and have("keras")):
        pytest.skip("TensorFlow/Keras not installed: cannot generate real checkpoints")


def run_verify(*args: str):
    """Invoke the click command in-process; returns click's Result (exit_code, stdout, stderr)."""
    from lraudit.verify.command import verify_command

    argv = [str(a) for a in args]
    if not any(a.startswith("--replay") for a in argv):
        argv += ["--replay", "0"]   # fast-path tests; replay has its own (tests/verify/test_replay*.py)
    return CliRunner().invoke(verify_command, argv, catch_exceptions=False)


def verify_json(target, *args: str) -> tuple[int, dict]:
    result = run_verify(str(target), "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)
