"""The one error an LM call raises: a `ModelError` (one sentence, exit 2) that DSPy passes through.

`ModelCallError` derives from both `engine.errors.ModelError` and DSPy's `LMError`. DSPy's engine
boundary wraps any other exception from a custom engine into `LMUnexpectedError`; an `LMError`
passes through untouched, so the compile job sees a `WorkbenchError` and records the run as
failed with this sentence as the reason. Its message is scrubbed of keys when it is made.

`kind` says what went wrong, for diagnosis and tests:
unreachable, timeout, auth, not_found, rate_limit, server, garbage, bad_request, no_key.
"""

from __future__ import annotations

from dspy.utils.exceptions import LMError

from engine.errors import ModelError
from engine.lms.keys import scrub

KINDS = ("unreachable", "timeout", "auth", "not_found", "rate_limit", "server", "garbage", "bad_request",
         "no_key", "error")


class ModelCallError(ModelError, LMError):
    def __init__(self, message: str, *, kind: str = "error", status: int | None = None,
                 retry_after: float | None = None):
        message = scrub(message)
        LMError.__init__(self, message, code=kind, status=status, retry_after=retry_after)
        self.kind = kind

    def __reduce__(self):  # picklable across processes, like any exception
        return (_rebuild, (self.message, self.kind, self.status, self.retry_after))


def _rebuild(message, kind, status, retry_after):
    return ModelCallError(message, kind=kind, status=status, retry_after=retry_after)


def short_body(text: str, limit: int = 160) -> str:
    """A server's error body, on one line and short, for a sentence."""
    text = " ".join(scrub(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
