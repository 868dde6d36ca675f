"""Run-time companions that users import inside their training scripts.

`ResumeGuard` (a Keras callback) and `check_resume` (for custom loops) stop a resumed run
whose optimizer does not stand where the run says it stands.  Importing this package
imports neither TensorFlow nor Keras; building a guard imports the Keras it subclasses.
See README.md in this directory.
"""

from lraudit.keras.custom_loop import ResumeState, check_resume
from lraudit.keras.errors import ResumeMismatch, ResumeMismatchWarning
from lraudit.keras.guard import ResumeGuard
from lraudit.keras.trace import TRACE_FILENAME, TraceRecord, read_trace

__all__ = [
    "TRACE_FILENAME",
    "ResumeGuard",
    "ResumeMismatch",
    "ResumeMismatchWarning",
    "ResumeState",
    "TraceRecord",
    "check_resume",
    "read_trace",
]
