"""Module-level constants and the branches they decide.

Real scripts switch parts of themselves on and off with flags set once at the top
(`AUGMENT = True`, `RESUME = False`) and test them later (`if not AUGMENT: model.fit(...)`).
A branch such a flag decides never runs the other way, and a hazard found only there is a false
finding.  A name counts as a constant only when the module binds it exactly once, at module
level, to a literal: any other binding anywhere in the text (an assignment in a function, a
parameter, a loop variable, `global`, `as`, a keyword argument of the same name) disqualifies
it, so a flag that a command line or a function may change is never treated as fixed.
"""

from __future__ import annotations

import re

import libcst as cst

from lraudit.scan.literals import NotALiteral, literal_value

_SIMPLE = (bool, int, float, str, type(None))


def module_constants(module: cst.Module, source: str) -> dict[str, object]:
    """Names bound once, at module level, to a literal bool/number/string/None."""
    candidates: dict[str, object] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if (isinstance(small, cst.Assign) and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)):
                value = literal_value(small.value)
                if value is not NotALiteral and isinstance(value, _SIMPLE):
                    candidates[small.targets[0].target.value] = value
    return {name: value for name, value in candidates.items() if _bound_once(name, source)}


def _bound_once(name: str, source: str) -> bool:
    n = re.escape(name)
    assignments = len(re.findall(rf"(?<![.\w]){n}\s*(?::[^=\n]*)?=(?!=)", source))
    others = re.search(
        rf"(?<![.\w]){n}\s*(?:[-+*/%&|^@]|//|\*\*|>>|<<)=|(?<![.\w]){n}\s*:="
        rf"|\bfor\b[^\n]*(?<![.\w]){n}\b[^\n]*\bin\b|\bas\s+{n}\b|\b(?:global|nonlocal)\b[^\n]*\b{n}\b"
        rf"|\bdef\b[^\n]*\b{n}\b|\blambda\b[^:\n]*\b{n}\b|\bdel\b[^\n]*\b{n}\b", source)
    return assignments == 1 and others is None


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
