"""Helpers over call and literal nodes that the interpreter and the rules share: the
"call X lacks keyword Y" primitives, constant folding of literals, and the text of a path
expression.  No state: plain functions of libcst nodes.
"""

from __future__ import annotations

import re
import warnings

import libcst as cst

from lraudit.scan.names import dotted_name

# --------------------------------------------------------------------------------------------
# helpers over call nodes (the "call X lacks keyword Y" primitives rules share)


def keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional(call: cst.Call, index: int) -> cst.Arg | None:
    pos = [a for a in call.args if a.keyword is None and not a.star]
    return pos[index] if index < len(pos) else None


def argument(call: cst.Call, name: str, index: int | None = None) -> cst.Arg | None:
    """The argument bound to parameter `name` (keyword or, when given, its position)."""
    found = keyword(call, name)
    if found is None and index is not None:
        found = positional(call, index)
    return found


def has_star_args(call: cst.Call) -> bool:
    return any(a.star for a in call.args)


def literal_value(node: cst.BaseExpression) -> object:
    """The value of a numeric/string/bool/None literal (with unary minus), else `NotALiteral`."""
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:  # more digits than int() converts (4,300 since Python 3.11)
            return NotALiteral
    if isinstance(node, cst.Float):
        return float(node.value.replace("_", ""))
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = literal_value(node.expression)
        return -inner if isinstance(inner, (int, float)) else NotALiteral
    if isinstance(node, cst.SimpleString):
        try:
            with warnings.catch_warnings():  # "\d" in the user's string: their warning, not ours
                warnings.simplefilter("ignore")
                return node.evaluated_value
        except Exception:  # noqa: BLE001 - odd prefixes; treat as not a literal
            return NotALiteral
    if isinstance(node, cst.ConcatenatedString):
        left, right = literal_value(node.left), literal_value(node.right)
        return left + right if isinstance(left, str) and isinstance(right, str) else NotALiteral
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.BinaryOperation) and isinstance(
            node.operator, (cst.Multiply, cst.Divide, cst.Add, cst.Subtract, cst.Power)):
        left, right = literal_value(node.left), literal_value(node.right)
        if isinstance(left, (int, float)) and isinstance(right, (int, float)) and not isinstance(left, bool):
            if _too_big(left, right, node.operator):
                return NotALiteral
            try:
                return {cst.Multiply: lambda: left * right, cst.Divide: lambda: left / right,
                        cst.Add: lambda: left + right, cst.Subtract: lambda: left - right,
                        cst.Power: lambda: left ** right}[type(node.operator)]()
            except (ZeroDivisionError, OverflowError):
                return NotALiteral
    return NotALiteral


# A literal the analysis folds must stay a number the rules can compare: `10**10**10` in a
# scanned file would otherwise be computed (hours of CPU, gigabytes of memory).
_MAX_LITERAL_BITS = 4096


def _too_big(left: int | float, right: int | float, operator: cst.BaseBinaryOp) -> bool:
    """Whether folding `left <op> right` would build an integer beyond _MAX_LITERAL_BITS."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return False  # float arithmetic is bounded (OverflowError at worst)
    if isinstance(operator, cst.Power):
        return right > 0 and abs(left) > 1 and right * abs(left).bit_length() > _MAX_LITERAL_BITS
    if isinstance(operator, cst.Multiply):
        return abs(left).bit_length() + abs(right).bit_length() > _MAX_LITERAL_BITS
    return False


class _NotALiteral:
    def __repr__(self) -> str:
        return "NotALiteral"


NotALiteral = _NotALiteral()


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa]")


def path_text(node: cst.BaseExpression | None, consts: dict[str, str] | None = None) -> str | None:
    """The literal tail of a path expression: enough to see its suffix (`.h5`, `.keras`).

    Handles strings, f-strings (their trailing literal part), `os.path.join(..., "x.h5")`,
    `a + "x.h5"`, `Path(...) / "x.h5"`, `"...{}.h5".format(...)`, `"...%d.h5" % n` (its fields
    become "{}"), and a file picked from a glob: `max(glob.glob("ckpt/*.h5"), key=...)`,
    `sorted(Path(d).glob("*.h5"))[-1]`.
    """
    if node is None:
        return None
    value = literal_value(node)
    if isinstance(value, str):
        return value
    if isinstance(node, cst.FormattedString):
        tail = ""
        for part in reversed(node.parts):
            if isinstance(part, cst.FormattedStringText):
                tail = part.value + tail
            else:
                return "{}" + tail if tail else None
        return tail
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Divide)):
        return path_text(node.right, consts)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
        template = path_text(node.left, consts)  # `"w/epoch%03d.h5" % epoch`: a template, like "{}"
        return _PERCENT_FIELD.sub("{}", template) if template is not None else None
    if isinstance(node, cst.Call):
        name = dotted_name(node.func) or ""
        if name.endswith(("path.join", ".joinpath")) and node.args:
            return path_text(node.args[-1].value, consts)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
            return path_text(node.func.value, consts)
        if name.endswith(("Path", "str", "fspath")) and len(node.args) == 1:
            return path_text(node.args[0].value, consts)
        leaf = node.func.attr.value if isinstance(node.func, cst.Attribute) else name
        if leaf in ("glob", "iglob", "rglob", "max", "min", "sorted") and node.args:
            return path_text(node.args[0].value, consts)  # the pattern, or the files it matched
    if isinstance(node, cst.Subscript):  # one of the files a glob matched: `files[-1]`
        return path_text(node.value, consts)
    if isinstance(node, cst.Name) and consts is not None:
        return consts.get(node.value)
    return None


def source_of(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


# `args.weights`, `FLAGS.init_checkpoint`, `config.pretrained`, `args["model"]`: an option's value.
_OPTION = re.compile(r"(?:args|opts?|options|flags|FLAGS|config|cfg|hparams|params)"
                     r"""(?:\.(\w+)|\[['"](\w+)['"]\])""")


def option_name(text: str) -> str | None:
    """The option an expression's text reads (`args.weights` -> "weights"), or None."""
    match = _OPTION.fullmatch(text.strip())
    return (match.group(1) or match.group(2)) if match else None
