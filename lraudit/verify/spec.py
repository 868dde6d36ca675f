"""`--schedule`: the user's expected schedule, as a Keras-style call or a JSON file.

`ExponentialDecay(initial_learning_rate=0.1, decay_steps=1000, decay_rate=0.96)` is parsed with
`ast` and only literal arguments are accepted (numbers, booleans, None, lists): the text comes
from a command line or a CI config and is never evaluated as code.  A dotted name
(`keras.optimizers.schedules.CosineDecay(...)`) is accepted for copy-paste convenience, a bare
number means a constant rate, and a path to a JSON file may hold a serialized schedule (Keras 2
or 3 form) or a whole optimizer config whose `learning_rate` is one.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

from lraudit.verify import schedules


class SpecError(ValueError):
    """The --schedule value cannot be understood; the message says why."""


def parse_schedule(text: str) -> dict[str, Any]:
    text = text.strip()
    if not text:
        raise SpecError("empty --schedule")
    if text.endswith(".json") or (os.path.sep in text and os.path.exists(text)) or os.path.isfile(text):
        return _from_json_file(text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"--schedule is not a Keras-style call or a number ({exc.msg})") from None
    node = tree.body
    if isinstance(node, ast.Constant) or isinstance(node, ast.UnaryOp):
        value = _literal(node, "rate")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError("a bare --schedule value must be a number (a constant rate)")
        return schedules.constant(float(value))
    if not isinstance(node, ast.Call):
        raise SpecError("--schedule must look like ExponentialDecay(initial_learning_rate=0.1, ...)")
    name = _call_name(node.func)
    if name not in schedules.PARAMETERS:
        known = ", ".join(sorted(schedules.PARAMETERS))
        raise SpecError(f"unknown schedule {name!r}; built-in schedules are {known} "
                        "(custom schedules need --replay with --custom-objects)")
    order, defaults = schedules.PARAMETERS[name]
    config: dict[str, Any] = {}
    if len(node.args) > len(order):
        raise SpecError(f"{name} takes at most {len(order)} positional arguments")
    for param, arg in zip(order, node.args):
        config[param] = _literal(arg, param)
    for keyword in node.keywords:
        if keyword.arg is None:
            raise SpecError("**kwargs are not allowed in --schedule")
        if keyword.arg not in order:
            raise SpecError(f"{name} has no argument {keyword.arg!r} (expected one of {', '.join(order)})")
        if keyword.arg in config:
            raise SpecError(f"{name} got {keyword.arg!r} twice")
        config[keyword.arg] = _literal(keyword.value, keyword.arg)
    for param in order:
        if param not in config:
            if param not in defaults:
                raise SpecError(f"{name} needs {param}")
            config[param] = defaults[param]
    serialized = {"module": "keras.optimizers.schedules", "class_name": name, "config": config,
                  "registered_name": None}
    _check_evaluates(serialized)
    return serialized


def _call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    raise SpecError("--schedule must call a schedule class by name")


def _literal(node: ast.AST, what: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise SpecError(f"{what} must be a literal (number, True/False, None or a list), "
                        f"not {ast.unparse(node)[:60]!r}") from None


def _from_json_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(16 * 1024 * 1024)
        obj = json.loads(data)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except OSError as exc:
        raise SpecError(f"{path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError):
        raise SpecError(f"{path}: not valid JSON") from None
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return schedules.constant(float(obj))
    if isinstance(obj, dict) and isinstance(obj.get("config"), dict) and "learning_rate" in obj["config"]:
        obj = obj["config"]["learning_rate"]          # an optimizer config
    elif isinstance(obj, dict) and "learning_rate" in obj and "class_name" not in obj:
        obj = obj["learning_rate"]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return schedules.constant(float(obj))
    try:
        serialized = schedules.normalize(obj)
    except schedules.ScheduleError as exc:
        raise SpecError(f"{path}: {exc}") from None
    if schedules.is_builtin(serialized):
        _check_evaluates(serialized)
    return serialized


def _check_evaluates(serialized: dict[str, Any]) -> None:
    try:
        schedules.evaluate(serialized, 0)
    except schedules.ScheduleError as exc:
        raise SpecError(f"--schedule: {exc}") from None
