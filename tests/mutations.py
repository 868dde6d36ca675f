"""The byte-level mutations both fuzzers share (tests/test_fuzz_scan.py, tests/verify/test_fuzz_verify.py)."""

from __future__ import annotations

from hypothesis import strategies as st


def byte_mutation(draw, buf: bytearray, op: str, pos: int, others: list[bytes], *,
                  splice: tuple[int, int], insert_max: int) -> bool:
    """Apply `op` ("flip", "truncate", "splice", "insert") to `buf` at `pos`, drawing with
    hypothesis's `draw`; False when it is not one of these (or a flip of nothing): the caller's
    own mutations then apply.  `splice`: (most bytes replaced, most bytes taken from `others`)."""
    if op == "flip" and buf:
        buf[pos] ^= 1 << draw(st.integers(0, 7))
    elif op == "truncate":
        del buf[pos:]
    elif op == "splice":
        other = draw(st.sampled_from(others))
        start = draw(st.integers(0, max(0, len(other) - 1)))
        buf[pos:pos + draw(st.integers(0, splice[0]))] = other[start:start + draw(st.integers(1, splice[1]))]
    elif op == "insert":
        buf[pos:pos] = draw(st.binary(min_size=1, max_size=insert_max))
    else:
        return False
    return True
