"""Which Keras a project pins: the last word on a file's flavour when its imports cannot tell.

`tf.keras` is Keras 2 up to TensorFlow 2.15 and Keras 3 from 2.16 on, and `import keras` is
Keras 3 from keras 3.0 on, so a script's imports alone rarely settle the question.  The
project's dependency files usually do: the nearest `requirements*.txt`, `pyproject.toml`,
`setup.cfg`, `setup.py` or `environment.yml` above the file that mentions tensorflow, keras
or tf_keras decides.  Each directory is read once per process (cached); nothing is imported.

A pin decides only when every version it admits lands on one side of the Keras 3 switch:
`tensorflow==2.15.*` and `tensorflow<2.16` are Keras 2, `tensorflow>=2.16` and `keras>=3`
are Keras 3, `tensorflow>=2.10` could be either and decides nothing.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names.py imports libcst; reading pins (for the cache key) must not
    from lraudit.scan.names import Flavour, ImportTable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Files read, in the order a directory is searched.
_REQUIREMENTS = re.compile(r"^requirements.*\.(txt|in)$", re.IGNORECASE)
_OTHER_FILES = (("pyproject.toml", "toml"), ("setup.cfg", "cfg"), ("setup.py", "setup.py"),
                ("environment.yml", "conda"), ("environment.yaml", "conda"))
# Stop walking up at a repository root.
_ROOT_MARKERS = (".git", ".hg", ".svn")

# Distribution names that mean TensorFlow (their version is TensorFlow's).
_TF_NAMES = {"tensorflow", "tensorflow-gpu", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel",
             "tensorflow-aarch64", "tf-nightly", "tf-nightly-gpu", "tf-nightly-cpu", "intel-tensorflow"}
_KERAS_NAMES = {"keras", "keras-nightly"}
_TF_KERAS_NAMES = {"tf-keras", "tf-keras-nightly"}

# `name [extras] op version, op version ; marker` (PEP 508, plus conda's single `=`).
_REQ = re.compile(
    r"""(?P<name>[A-Za-z][\w.-]*)\s*(?:\[[^\]]*\])?\s*\(?\s*
        (?P<spec>(?:(?:===|==|~=|!=|<=|>=|<|>|=|\^|~)\s*[\w.*+!-]+\s*,?\s*)*)\)?\s*(;.*)?$""",
    re.VERBOSE)
_CLAUSE = re.compile(r"(===|==|~=|!=|<=|>=|<|>|=|\^|~)\s*([\w.*+!-]+)")

INF = (10 ** 6, 0)


@dataclass(frozen=True)
class Pins:
    """Version ranges (lowest, highest-exclusive) as (major, minor), or None when unpinned."""

    tensorflow: tuple[tuple[int, int], tuple[int, int]] | None = None
    keras: tuple[tuple[int, int], tuple[int, int]] | None = None
    tf_keras: bool = False

    @property
    def empty(self) -> bool:
        return self.tensorflow is None and self.keras is None and not self.tf_keras


def _canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(text: str) -> tuple[int, ...] | None:
    parts = []
    for piece in text.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.group() != piece:
            break
    return tuple(parts) or None


def _range(spec: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The (major, minor) range a specifier admits; None when it pins nothing."""
    low, high = (0, 0), INF
    found = False
    for op, raw in _CLAUSE.findall(spec):
        version = _version(raw)
        if version is None:
            continue
        found = True
        major = version[0]
        minor = version[1] if len(version) > 1 else None
        if op in ("==", "===", "=") or (op == "~" and len(version) >= 2):
            if minor is None or raw.endswith(".*") and len(version) == 1:
                lo, hi = (major, 0), (major + 1, 0)
            else:
                lo, hi = (major, minor), (major, minor + 1)
        elif op == "~=":  # compatible release: ~=2.15 means >=2.15,<3; ~=2.15.1 means <2.16
            if len(version) >= 3:
                lo, hi = (major, minor or 0), (major, (minor or 0) + 1)
            else:
                lo, hi = (major, minor or 0), (major + 1, 0)
        elif op in ("^", "~"):  # poetry caret (and tilde with a bare major)
            lo = (major, minor or 0)
            hi = (major + 1, 0) if major > 0 or minor is None else (0, (minor or 0) + 1)
        elif op == ">=":
            lo, hi = (major, minor or 0), INF
        elif op == ">":
            lo, hi = ((major, minor) if minor is not None and len(version) > 2 else
                      (major, (minor or 0) + 1) if minor is not None else (major + 1, 0)), INF
        elif op == "<":
            if minor is None:
                lo, hi = (0, 0), (major, 0)
            elif len(version) > 2 and any(version[2:]):
                lo, hi = (0, 0), (major, minor + 1)
            else:
                lo, hi = (0, 0), (major, minor)
        elif op == "<=":
            lo, hi = (0, 0), (major, (minor or 0) + 1) if minor is not None else (major + 1, 0)
        else:  # != excludes one version: no help deciding a side
            continue
        low, high = max(low, lo), min(high, hi)
    return (low, high) if found else None


def _merge(old, new):
    """Two files (or lines) pin the same package: keep what both admit."""
    if old is None:
        return new
    if new is None:
        return old
    return max(old[0], new[0]), min(old[1], new[1])


def _requirement(text: str) -> tuple[str, str] | None:
    """(name, specifier) of one PEP 508 / conda requirement string, or None."""
    match = _REQ.match(text.strip().lstrip("-").strip())
    if match is None:
        return None
    return match.group("name"), match.group("spec") or ""


def _accumulate(pins: Pins, name: str, spec: str) -> Pins:
    name = _canonical_name(name)
    rng = _range(spec) or ((0, 0), INF)  # named without a version: present, undecided
    if name in _TF_KERAS_NAMES:
        return Pins(pins.tensorflow, pins.keras, True)
    if name in _TF_NAMES:
        return Pins(_merge(pins.tensorflow, rng), pins.keras, pins.tf_keras)
    if name in _KERAS_NAMES:
        return Pins(pins.tensorflow, _merge(pins.keras, rng), pins.tf_keras)
    return pins


def _toml_requirements(text: str) -> list[tuple[str, str]]:
    """PEP 621 dependencies and extras, PEP 735 groups, and Poetry's tables."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    out: list[tuple[str, str]] = []
    project = data.get("project", {})
    strings = list(project.get("dependencies", []) or [])
    for group in (project.get("optional-dependencies", {}) or {}).values():
        strings += list(group or [])
    for group in (data.get("dependency-groups", {}) or {}).values():
        strings += [g for g in group or [] if isinstance(g, str)]
    for s in strings:
        if isinstance(s, str) and (req := _requirement(s)) is not None:
            out.append(req)
    poetry = data.get("tool", {}).get("poetry", {})
    tables = [poetry.get("dependencies", {}), poetry.get("dev-dependencies", {})]
    tables += [g.get("dependencies", {}) for g in (poetry.get("group", {}) or {}).values() if isinstance(g, dict)]
    for table in tables:
        for name, value in (table or {}).items():
            if isinstance(value, dict):
                value = value.get("version", "")
            if isinstance(value, str):
                spec = value if value[:1] in "<>=!~^" or not value else "==" + value
                out.append((name, "" if value == "*" else spec))
    return out


def _cfg_requirements(text: str) -> list[tuple[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    out = []
    values = []
    if parser.has_option("options", "install_requires"):
        values.append(parser.get("options", "install_requires"))
    if parser.has_section("options.extras_require"):
        values += [v for _, v in parser.items("options.extras_require")]
    for value in values:
        for line in value.splitlines():
            if (req := _requirement(line.split("#", 1)[0])) is not None:
                out.append(req)
    return out


def _quoted_requirements(text: str) -> list[tuple[str, str]]:
    """setup.py: every string literal that reads as a requirement."""
    out = []
    for quoted in re.findall(r"""["']([A-Za-z][\w.\-\[\], <>=!~*^;'"]*?)["']""", text):
        if (req := _requirement(quoted)) is not None:
            out.append(req)
    return out


def _line_requirements(text: str, conda: bool) -> list[tuple[str, str]]:
    """requirements*.txt lines, or the `- name...` items of an environment.yml."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if conda:
            if not line.startswith("-"):
                continue
            line = line[1:].strip()
        if not line or line.startswith(("-", "git+", "http")):
            continue
        if (req := _requirement(line)) is not None:
            out.append(req)
    return out


def parse_pins(text: str, kind: str) -> Pins:
    """Pins from a dependency file's text; kind: requirements | toml | cfg | setup.py | conda."""
    if kind == "toml":
        reqs = _toml_requirements(text)
    elif kind == "cfg":
        reqs = _cfg_requirements(text)
    elif kind == "setup.py":
        reqs = _quoted_requirements(text)
    else:
        reqs = _line_requirements(text, conda=kind == "conda")
    pins = Pins()
    for name, spec in reqs:
        pins = _accumulate(pins, name, spec)
    return pins


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@lru_cache(maxsize=4096)
def _directory_pins(directory: Path) -> Pins | None:
    """The pins that one directory's dependency files declare; None when none mention TF/Keras."""
    texts: list[tuple[str, str]] = []
    try:
        names = sorted(n for n, is_file in _listing(directory) if is_file)
    except OSError:
        return None
    for name in names:
        if _REQUIREMENTS.match(name):
            texts.append((_read(directory / name), "requirements"))
    for name, kind in _OTHER_FILES:
        if name in names:
            texts.append((_read(directory / name), kind))
    pins = Pins()
    for text, kind in texts:
        found = parse_pins(text, kind)
        pins = Pins(_merge(pins.tensorflow, found.tensorflow), _merge(pins.keras, found.keras),
                    pins.tf_keras or found.tf_keras)
    return None if pins.empty else pins


@lru_cache(maxsize=4096)
def _listing(directory: Path) -> tuple[tuple[str, bool], ...]:
    """(name, is a file) of each entry, from one scandir: the file type comes with the listing,
    so a warm scan of a big tree does not stat every file of every directory it climbs."""
    with os.scandir(directory) as entries:
        return tuple((e.name, e.is_file()) for e in entries)


@lru_cache(maxsize=4096)
def _nearest(directory: Path) -> Pins | None:
    pins = _directory_pins(directory)
    if pins is not None:
        return pins
    try:
        listed = {name for name, _ in _listing(directory)}
    except OSError:
        listed = set(_ROOT_MARKERS)  # cannot list it: ask each marker directly, as before
    if any(marker in listed and (directory / marker).exists() for marker in _ROOT_MARKERS) \
            or directory.parent == directory:
        return None
    return _nearest(directory.parent)


def project_pins(file: Path) -> Pins | None:
    """The nearest pins above `file` (its own directory first), stopping at a repository root."""
    try:
        directory = file.resolve().parent
    except OSError:
        return None
    return _nearest(directory)


def _side(rng) -> Flavour:
    """Keras 2 when the whole TensorFlow range is below 2.16, Keras 3 when it is at or above."""
    from lraudit.scan.names import Flavour

    if rng is None:
        return Flavour.UNKNOWN
    low, high = rng
    if high <= (2, 16):
        return Flavour.KERAS2
    if low >= (2, 16):
        return Flavour.KERAS3
    return Flavour.UNKNOWN


def _keras_side(rng) -> Flavour:
    from lraudit.scan.names import Flavour

    if rng is None:
        return Flavour.UNKNOWN
    low, high = rng
    if high <= (3, 0):
        return Flavour.KERAS2
    if low >= (3, 0):
        return Flavour.KERAS3
    return Flavour.UNKNOWN


def pinned_flavour(pins: Pins | None, imports: ImportTable) -> Flavour:
    """The flavour the pins give a file with these imports.

    `tf.keras` follows TensorFlow's version unless tf_keras is pinned too (it is installed to
    keep Keras 2 under TF >= 2.16, with TF_USE_LEGACY_KERAS set outside the code).  Standalone
    `import keras` follows the keras pin, else TensorFlow's (TF >= 2.16 requires keras 3).
    """
    from lraudit.scan.names import Flavour

    if pins is None:
        return Flavour.UNKNOWN
    tops = {r.split(".")[0] for r in imports.roots}
    standalone = "keras" in tops
    via_tf = "tensorflow" in tops
    tf_side = _side(pins.tensorflow)
    if pins.tf_keras and via_tf and tf_side is not Flavour.KERAS2:
        return Flavour.KERAS2
    if standalone and not via_tf:
        keras_side = _keras_side(pins.keras)
        return keras_side if keras_side is not Flavour.UNKNOWN else tf_side
    if via_tf:
        return tf_side
    return Flavour.UNKNOWN


def resolve_flavour(from_imports: Flavour, imports: ImportTable, pins: Pins | None) -> Flavour:
    """Imports that prove a flavour win (they are about this very file); pins fill the gap."""
    from lraudit.scan.names import Flavour

    if from_imports is not Flavour.UNKNOWN:
        return from_imports
    return pinned_flavour(pins, imports)


def clear_cache() -> None:
    """Forget what was read (tests that rewrite dependency files in one process)."""
    _directory_pins.cache_clear()
    _nearest.cache_clear()
    _listing.cache_clear()
