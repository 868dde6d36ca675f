"""Module-level constants and the branches they decide.

Real scripts switch parts of themselves on and off with flags set once at the top
(`AUGMENT = True`, `RESUME = False`) and test them later (`if not AUGMENT: model.fit(...)`).
A branch such a flag decides never runs the other way, and a hazard found only there is a false
finding.  A name counts as a constant only when the file binds it exactly once, to a literal
(at module level, or once in a function: `restore = 0`): any other binding anywhere in the text (an assignment in a function, a
parameter, a loop variable, `global`, `as`, a keyword argument of the same name) disqualifies
it, so a flag that a command line or a function may change is never treated as fixed.
"""

from __future__ import annotations

import re
from collections import Counter

import libcst as cst

from lraudit.scan.literals import NotALiteral, literal_value

_SIMPLE = (bool, int, float, str, type(None))


_LITERAL_ASSIGNMENT = re.compile(
    r"""^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*(True|False|None|-?\d+(?:\.\d*)?(?:[eE]-?\d+)?|'[^'\\\n]*'|"[^"\\\n]*")"""
    r"""[ \t]*(?:#[^\n]*)?$""", re.MULTILINE)


def module_constants(module: cst.Module, source: str) -> dict[str, object]:
    """Names bound once in the whole file, to a literal bool/number/string/None: a flag at the
    top of the script, or one set once inside a function (`restore = 0`, hard-disabling a
    resume path).  Read from the text (a line `NAME = <literal>`), then checked against every
    other way the text could bind the name, each counted in one pass over the text."""
    candidates = _LITERAL_ASSIGNMENT.findall(source)
    if not candidates:
        return {}
    assigned = Counter(_ASSIGNED.findall(source))
    rebound = set(_AUG_OR_WALRUS.findall(source))
    for line in _BINDING_LINE.findall(source):  # for/def/lambda/global/del/import/as lines
        rebound.update(_WORD.findall(line))
    out: dict[str, object] = {}
    for name, text in candidates:
        if assigned[name] != 1 or name in rebound:
            continue
        value = literal_value(cst.parse_expression(text))
        if value is not NotALiteral and isinstance(value, _SIMPLE):
            out[name] = value
    return out


_ASSIGNED = re.compile(r"(?<![.\w])([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)")
_AUG_OR_WALRUS = re.compile(r"(?<![.\w])([A-Za-z_]\w*)\s*(?:(?:[-+*/%&|^@]|//|\*\*|>>|<<)=|:=)")
_BINDING_LINE = re.compile(r"^[ \t]*(?:for|async[ \t]+for|def|async[ \t]+def|global|nonlocal|del|import|from|with)\b[^\n]*"
                           r"|\blambda\b[^:\n]*|\bas[ \t]+\w+|\bfor\b[^\n]*?\bin\b", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z_]\w*")


def static_truth(test: cst.BaseExpression, constants: dict[str, object]) -> bool | None:
    """True/False when the module's constants decide `test`; None when they do not."""
    if isinstance(test, cst.Name):
        if test.value in constants:
            return bool(constants[test.value])
        return None
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = static_truth(test.expression, constants)
        return None if inner is None else not inner
    if isinstance(test, cst.BooleanOperation):
        left = static_truth(test.left, constants)
        right = static_truth(test.right, constants)
        if isinstance(test.operator, cst.And):
            if left is False or right is False:
                return False
            return True if left and right else None
        if left is True or right is True:
            return True
        return False if left is False and right is False else None
    if (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.left, cst.Name) and test.left.value in constants):
        target = test.comparisons[0]
        other = literal_value(target.comparator)
        if other is NotALiteral:
            return None
        mine = constants[test.left.value]
        if isinstance(target.operator, (cst.Equal, cst.Is)):
            return mine == other
        if isinstance(target.operator, (cst.NotEqual, cst.IsNot)):
            return mine != other
    return None
