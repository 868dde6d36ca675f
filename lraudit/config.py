"""`[tool.lraudit]` in the nearest pyproject.toml: select, ignore, per-file-ignores, exclude.

Read once per run (never per file); command-line options override it.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_KEYS = {"select", "ignore", "extend-select", "per-file-ignores", "exclude", "extend-exclude",
         "target-keras", "fail-on", "time-budget"}


class ConfigError(Exception):
    """A pyproject.toml that cannot be used; reported as a usage error (exit 2)."""


@dataclass
class Config:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    target_keras: str | None = None
    fail_on: str | None = None
    time_budget: float | None = None  # seconds per file (scan/budget.py)
    root: Path | None = None  # directory of the pyproject.toml the settings came from
    source: Path | None = None

    def ignored_for(self, path: str) -> set[str]:
        """Codes/prefixes ignored for this file by `per-file-ignores` (globs relative to root)."""
        rel = path
        if self.root is not None:
            try:
                rel = Path(path).resolve().relative_to(self.root.resolve()).as_posix()
            except (ValueError, OSError, RuntimeError):  # outside the root, or a symlink loop
                rel = Path(path).as_posix()
        out: set[str] = set()
        for pattern, codes in self.per_file_ignores.items():
            if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(Path(rel).name, pattern):
                out.update(c.upper() for c in codes)
        return out


def find_pyproject(start: Path) -> Path | None:
    try:
        start = start.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        start = start.absolute()
    for directory in [start if start.is_dir() else start.parent, *start.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _str_list(value: object, key: str, path: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{path}: [tool.lraudit] {key} must be a list of strings")


def load_config(start: Path, explicit: Path | None = None) -> Config:
    path = explicit or find_pyproject(start)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    section = data.get("tool", {}).get("lraudit")
    if section is None:
        return Config(root=path.parent, source=path) if explicit else Config()
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.lraudit] must be a table")
    unknown = set(section) - _KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown [tool.lraudit] setting(s): {', '.join(sorted(unknown))}")
    cfg = Config(root=path.parent, source=path)
    if "select" in section:
        cfg.select = _str_list(section["select"], "select", path)
    if "extend-select" in section:
        cfg.select = (cfg.select or ["ALL"]) + _str_list(section["extend-select"], "extend-select", path)
    cfg.ignore = _str_list(section.get("ignore", []), "ignore", path)
    cfg.exclude = _str_list(section.get("exclude", []), "exclude", path) + \
        _str_list(section.get("extend-exclude", []), "extend-exclude", path)
    pfi = section.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError(f"{path}: [tool.lraudit] per-file-ignores must be a table of glob = [codes]")
    cfg.per_file_ignores = {k: _str_list(v, f"per-file-ignores.{k}", path) for k, v in pfi.items()}
    if "target-keras" in section:
        value = str(section["target-keras"])
        if value not in ("2", "3"):
            raise ConfigError(f"{path}: [tool.lraudit] target-keras must be 2 or 3")
        cfg.target_keras = value
    if "time-budget" in section:
        value = section["time-budget"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{path}: [tool.lraudit] time-budget must be a positive number of seconds")
        cfg.time_budget = float(value)
    if "fail-on" in section:
        cfg.fail_on = str(section["fail-on"])
    return cfg
