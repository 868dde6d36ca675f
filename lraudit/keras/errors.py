"""What a failed resume check raises or warns.

Pure Python on purpose: users catch `ResumeMismatch` in code that must not pay for a
TensorFlow import, and the scan side may name these classes in its fix texts.
"""

from __future__ import annotations

from collections.abc import Iterable

from lraudit.findings import Finding


def render(findings: Iterable[Finding]) -> str:
    """One paragraph per finding, `CODE name: message`, the way verify prints them."""
    return "\n".join(f"{f.code} {f.name}: {f.message}" for f in findings)


class ResumeMismatch(RuntimeError):
    """A resumed run would train with the wrong learning rate or step counter.

    `code` is the code of the first (most telling) finding; `findings` holds all of them
    as the shared `Finding` record, so a caller can report them with lraudit's reporters.
    """

    def __init__(self, findings: Iterable[Finding]):
        self.findings: tuple[Finding, ...] = tuple(findings)
        if not self.findings:
            raise ValueError("ResumeMismatch needs at least one finding")
        self.code: str = self.findings[0].code
        super().__init__(render(self.findings))


class ResumeMismatchWarning(UserWarning):
    """What `on_mismatch="warn"` emits instead of raising; carries the same `code`."""

    def __init__(self, finding: Finding):
        self.finding = finding
        self.code: str = finding.code
        super().__init__(render([finding]))
