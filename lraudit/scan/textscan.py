"""Lexical helpers for the prefilter: whole-word search, the code of a file without its
comments and string contents, bracket matching.

Everything here may only err towards "present": when a helper cannot follow the text it
answers as if the construct were there, so the prefilter lets the file through.
"""

from __future__ import annotations

import re
from typing import Iterator

BLANKS = " \t\f\r\n\\"


def is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def word_starts(text: str, word: str) -> Iterator[int]:
    """Where `word` occurs as a whole identifier.  Any non-alphanumeric neighbour counts as a
    boundary (a combining mark after the word, say), which only errs towards "present"."""
    n = len(word)
    start = text.find(word)
    while start >= 0:
        end = start + n
        if (start == 0 or not is_ident_char(text[start - 1])) and \
                (end == len(text) or not is_ident_char(text[end])):
            yield start
        start = text.find(word, start + 1)


def has_word(text: str, word: str) -> bool:
    return next(word_starts(text, word), None) is not None


def skip_blank(text: str, i: int) -> int:
    """Past spaces, line continuations, newlines and comments (inside brackets a call may be
    split across lines like that)."""
    size = len(text)
    while i < size:
        ch = text[i]
        if ch in BLANKS:
            i += 1
        elif ch == "#":
            newline = text.find("\n", i)
            i = size if newline < 0 else newline
        else:
            break
    return i


def previous_char(text: str, i: int) -> tuple[str, bool]:
    """The first non-blank character before `i` (`""` at the start), and whether a comment may
    lie in between: a line holding `#` cannot be skipped backwards with certainty."""
    crossed_line = False
    i -= 1
    while i >= 0 and text[i] in BLANKS:
        crossed_line |= text[i] == "\n"
        i -= 1
    if i < 0:
        return "", False
    if crossed_line:
        line_start = text.rfind("\n", 0, i + 1) + 1
        if "#" in text[line_start:i + 1]:
            return text[i], True
    return text[i], False


def previous_word(text: str, i: int) -> str:
    """The identifier (or keyword) that ends just before `i`, looking back over blanks."""
    end = i
    while end > 0 and text[end - 1] in BLANKS:
        end -= 1
    start = end
    while start > 0 and is_ident_char(text[start - 1]):
        start -= 1
    return text[start:end]


def preceded_by(text: str, i: int, chars: str) -> bool:
    """Is the token at `i` preceded by one of `chars` (looking back over blanks)?"""
    ch, unsure = previous_char(text, i)
    return unsure or (ch != "" and ch in chars)


def closing_bracket(text: str, open_at: int) -> int | None:
    """Index of the bracket closing the one at `open_at`, skipping strings and comments;
    None when the text ends first."""
    depth = 0
    i, size = open_at, len(text)
    while i < size:
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
        elif ch == "#":
            newline = text.find("\n", i)
            if newline < 0:
                return None
            i = newline
        elif ch in "'\"":
            i = string_end(text, i)
            if i < 0:
                return None
            continue
        i += 1
    return None


def string_end(text: str, i: int) -> int:
    """Index just past the string literal whose quote is at `i`; -1 when it never ends."""
    quote = text[i]
    triple = text.startswith(quote * 3, i)
    closing = quote * 3 if triple else quote
    j = i + (3 if triple else 1)
    size = len(text)
    while j < size:
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if text.startswith(closing, j):
            return j + len(closing)
        if ch == "\n" and not triple:
            return j  # unterminated single-quoted string: Python refuses it; resume as code
        j += 1
    return -1


def enclosing_opener(text: str, i: int, limit: int = 4000) -> tuple[int | None, bool]:
    """The innermost bracket still open at `i`, in code without strings or comments (see
    `code_only`), where brackets balance within each statement: (its index, or None when `i`
    is outside every bracket; whether that is certain).  Looks back at most `limit`
    characters; when that is not enough the answer is not certain."""
    depth = 0
    stop = max(0, i - limit)
    j = i - 1
    while j >= stop:
        ch = text[j]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            if depth == 0:
                return j, True
            depth -= 1
        j -= 1
    return None, stop == 0


# String literals and comments.  Triple-quoted strings first (they start like empty strings);
# single-quoted ones stop at a line end, as the tokenizer's do.
_STRINGS_AND_COMMENTS = re.compile(
    r"'''(?:[^'\\]|\\.|'(?!''))*(?:'''|\Z)"
    r'|"""(?:[^"\\]|\\.|"(?!""))*(?:"""|\Z)'
    r"|'(?:[^'\\\n]|\\.)*'"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|#[^\n]*",
    re.S)


def code_only(text: str) -> str:
    """The text with comments removed and every string literal emptied (`""`), so that words
    in docstrings and messages do not count as code.  F-strings are kept whole: their
    replacement fields are code.  Line breaks inside strings go too, which is harmless for
    word and bracket questions.  An over-long prefix (`if"x"`) only keeps more text."""
    out: list[str] = []
    last = 0
    for match in _STRINGS_AND_COMMENTS.finditer(text):
        start = match.start()
        first = text[start]
        if first != "#" and "f" in text[max(0, start - 2):start].lower():
            continue  # an f-string (or something that might be one): keep it
        out.append(text[last:start])
        if first != "#":
            out.append(first + first)
        last = match.end()
    out.append(text[last:])
    return "".join(out)
