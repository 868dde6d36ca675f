"""Shared helpers: run the real CLI in-process (fast) or as a subprocess (true start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "scripts"
SHARED = ROOT.parent / "shared"


@pytest.fixture
def cli():
    from lraudit.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return run


def run_lraudit(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lraudit.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)
