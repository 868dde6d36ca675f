"""Keep the cost of analysing one file linear in its size, and bounded in time.

Three measures, each for a shape of input that real code rarely has and generated or hostile
code does:

* **Large constant literals are summarised before libcst sees them.**  libcst needs about 3.5 s
  and hundreds of MB for a one-megabyte list of numbers (CPython's parser: 0.4 s), and fails on
  an implicit concatenation of some thousands of string parts.  No rule reads the 300th number
  of a data table, so such a literal keeps its first SUMMARY_KEEP elements and the rest of its
  text becomes blanks, newlines kept: every line and column of the file stays where it was, so
  positions and fixes need no mapping, and libcst reads blanks at tokenizer speed.
* **libcst's cost is predicted before it runs.**  Its parser needs about 10 us and 2 kB per
  token, plus time and memory quadratic in the depth of nested brackets within one expression
  (32 nested calls: 10 ms and 2.5 MB per line), in native code that no signal interrupts.
  `parse_cost` counts tokens and reads the bracket structure, and the file is refused up front
  when the prediction exceeds the budget or 1.5 GB.
* **A wall-clock budget for the rest** (`time_budget`): the analysis is Python, which a timer
  signal interrupts; the file then gets one line, "too complex to analyse in N s", and the run
  goes on with the other files.
"""

from __future__ import annotations

import ast
import contextlib
import re
import signal
import threading
from dataclasses import dataclass
from typing import Iterator

from lraudit.scan.source import InputError

DEFAULT_BUDGET_S = 5.0

# A container literal with more elements than this, all constants, is summarised.
SUMMARY_THRESHOLD = 256
SUMMARY_KEEP = 16
# An implicit string concatenation whose text is longer than this is summarised too.
CONCAT_THRESHOLD = 4096

# libcst's measured cost (libcst 1.9 on a 2-vCPU machine, collector paused; see
# benchmarks/README.md): per token, and per squared bracket depth of one expression (nested
# calls, the worst case; parentheses and lists cost less).
_S_PER_TOKEN = 10e-6
_S_PER_DEPTH2 = 9e-6
_BYTES_PER_TOKEN = 2200
_BYTES_PER_DEPTH2 = 3000
MAX_PARSE_BYTES = 1_500_000_000
_TOKEN = re.compile(r"\w+|[^\w\s]")


class TooComplex(InputError):
    """The file would take longer than the budget to analyse."""


def too_complex(budget_s: float, why: str = "") -> TooComplex:
    return TooComplex(f"too complex to analyse in {budget_s:g} s{f' ({why})' if why else ''}; "
                      "raise the budget with --time-budget or [tool.lraudit] time-budget, or "
                      "exclude the file")


# ------------------------------------------------------------------------- literal summaries

def _constant(node: ast.AST, memo: dict[int, bool]) -> bool:
    """Whether `node` is a constant, or a container of constants (memoised: linear overall)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, ast.Constant):
        result = True
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        result = isinstance(node.operand, ast.Constant)
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        result = all(_constant(e, memo) for e in node.elts)
    elif isinstance(node, ast.Dict):
        result = all(k is not None and _constant(k, memo) and _constant(v, memo)
                     for k, v in zip(node.keys, node.values))
    else:
        result = False
    memo[key] = result
    return result


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _offset(starts: list[int], text_lines: list[str], line: int, col_bytes: int) -> int:
    """Character offset of (1-based line, UTF-8 byte column) as CPython reports positions."""
    source_line = text_lines[line - 1]
    column = len(source_line.encode("utf-8")[:col_bytes].decode("utf-8", "replace"))
    return starts[line - 1] + column


def _blank(text: str) -> str:
    """`text` with every character but newlines turned into a space (same length, same lines)."""
    return re.sub(r"[^\n]", " ", text)


def summarise_literals(text: str, tree: ast.Module) -> str:
    """`text` with each large constant literal cut to its first elements (see the module doc).

    Only statements whose text is long enough to hold such a literal are walked, so a file of
    ordinary statements costs one pass over the top-level statement list."""
    lines = text.split("\n")
    long_statements = [s for s in _statements(tree)
                       if s.end_lineno is not None and _span(lines, s) > CONCAT_THRESHOLD // 2]
    if not long_statements:
        return text
    starts = _line_starts(text)
    memo: dict[int, bool] = {}
    cuts: list[tuple[int, int]] = []
    for statement in long_statements:
        stack: list[ast.AST] = [statement]
        while stack:
            node = stack.pop()
            cut = _cut(node, memo, text, lines, starts)
            if cut is not None:
                cuts.append(cut)
                continue
            stack.extend(ast.iter_child_nodes(node))
    if not cuts:
        return text
    out, last = [], 0
    for start, end in sorted(set(cuts)):
        if start < last:
            continue  # inside a literal already cut
        out.append(text[last:start])
        out.append(_blank(text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


def _statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement (compound statements' bodies included), without walking expressions."""
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        statement = stack.pop()
        yield statement
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(statement, field, ()) or ():
                if isinstance(child, ast.stmt):
                    stack.append(child)
                else:  # except handlers and match cases hold statements in .body
                    stack.extend(getattr(child, "body", ()))


def _span(lines: list[str], node: ast.AST) -> int:
    first, last = node.lineno, node.end_lineno  # type: ignore[attr-defined]
    if first == last:
        return node.end_col_offset - node.col_offset  # type: ignore[attr-defined]
    return sum(len(lines[i]) + 1 for i in range(first - 1, min(last, len(lines))))


def _cut(node: ast.AST, memo: dict[int, bool], text: str, lines: list[str],
         starts: list[int]) -> tuple[int, int] | None:
    """The character range to blank in `node`, when it is a literal to summarise."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and len(node.elts) > SUMMARY_THRESHOLD:
        if not _constant(node, memo):
            return None
        kept, last = node.elts[SUMMARY_KEEP - 1], node.elts[-1]
    elif isinstance(node, ast.Dict) and len(node.keys) > SUMMARY_THRESHOLD:
        if not _constant(node, memo):
            return None
        kept, last = node.values[SUMMARY_KEEP - 1], node.values[-1]
    elif (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))
          and _span(lines, node) > CONCAT_THRESHOLD):
        return _cut_concatenation(node, text, lines, starts)
    else:
        return None
    start = _offset(starts, lines, kept.end_lineno, kept.end_col_offset)  # type: ignore[arg-type]
    end = _offset(starts, lines, last.end_lineno, last.end_col_offset)  # type: ignore[arg-type]
    return start, end


_STRING_TOKEN = re.compile(r"""(?is)[a-z]{0,2}('''.*?(?<!\\)'''|\"\"\".*?(?<!\\)\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""")


def _cut_concatenation(node: ast.Constant, text: str, lines: list[str],
                       starts: list[int]) -> tuple[int, int] | None:
    """Blank all but the first string of an implicit concatenation (`"a" "b" ...`)."""
    start = _offset(starts, lines, node.lineno, node.col_offset)
    end = _offset(starts, lines, node.end_lineno, node.end_col_offset)  # type: ignore[arg-type]
    first = _STRING_TOKEN.match(text, start, end)
    if first is None or first.end() >= end:
        return None  # one long string token: libcst reads it as one token, no need
    return first.end(), end


# ------------------------------------------------------------------------- libcst cost

@dataclass(frozen=True)
class ParseCost:
    seconds: float
    bytes: float
    deepest: int


_BRACKETS_ONLY = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in "()[]{}"))


def parse_cost(text: str) -> ParseCost:
    """libcst's predicted time and memory for `text` (after summarising): linear in its
    tokens (words and punctuation; blanks cost nothing) plus, per outermost bracket group, the
    square of its depth.  Brackets inside strings count too: an overestimate only ever refuses
    text that is mostly brackets."""
    tokens = len(_TOKEN.findall(text))
    depth2 = deepest = depth = group = 0
    for ch in text.translate(_BRACKETS_ONLY):
        if ch in "([{":
            depth += 1
            if depth > group:
                group = depth
        elif depth:
            depth -= 1
            if depth == 0:
                depth2 += group * group
                deepest = max(deepest, group)
                group = 0
    depth2 += group * group
    return ParseCost(seconds=tokens * _S_PER_TOKEN + depth2 * _S_PER_DEPTH2,
                     bytes=tokens * _BYTES_PER_TOKEN + depth2 * _BYTES_PER_DEPTH2,
                     deepest=max(deepest, group))


def check_parse_cost(text: str, budget_s: float) -> None:
    """Refuse, before libcst runs, a file it would need more than the budget (or 1.5 GB) for."""
    cost = parse_cost(text)
    if cost.seconds > budget_s or cost.bytes > MAX_PARSE_BYTES:
        nesting = f"brackets nested up to {cost.deepest} deep; " if cost.deepest > 8 else ""
        raise too_complex(budget_s, f"{nesting}parsing alone would need about "
                                    f"{cost.seconds:.0f} s and {cost.bytes / 1e9:.1f} GB")


# ------------------------------------------------------------------------- the wall clock

@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Raise TooComplex in the block once `seconds` of wall time have passed.

    Uses the process's real-time timer, so it works only in the main thread of a process (the
    CLI's and each pool worker's); elsewhere (an editor's thread, a test runner's) the block
    runs unbounded rather than failing."""
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):  # noqa: ARG001 - signal handler signature
        raise too_complex(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
