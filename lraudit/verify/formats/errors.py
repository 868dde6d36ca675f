"""The one exception readers raise: a checkpoint that cannot be read, with a one-line reason."""

from __future__ import annotations


class ReaderError(Exception):
    """Raised with a short, user-facing reason ("zip archive is truncated", ...)."""


class MissingDependency(ReaderError):
    """A reader needs an optional package (h5py) that is not installed.

    Kept apart from ReaderError's other uses because it is the user's environment, not the
    checkpoint, that is at fault: the command turns it into a usage error instead of LRV008.
    """
