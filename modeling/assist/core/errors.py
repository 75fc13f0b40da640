"""The exceptions of the LLM core: ``str()`` is a sentence an annotator can be shown, ``detail`` is for logs."""

from __future__ import annotations

__all__ = ["LLMBadResponse", "LLMError", "LLMRateLimited", "LLMRequestRejected", "LLMTimeout", "LLMUnavailable"]


class LLMError(Exception):
    """A call to the language model failed. ``str()`` is fit for an annotator; ``detail`` is for logs."""

    #: Whether the same request may succeed later (a Celery retry makes sense).
    retryable = False
    default_message = "The text assistant could not produce a draft."

    def __init__(self, message: str | None = None, *, detail: str = "", status: int | None = None, attempts: int = 0):
        super().__init__(message or self.default_message)
        self.detail = detail
        self.status = status
        self.attempts = attempts


class LLMRateLimited(LLMError):
    """The server (429) or the project's own request budget said: not now."""

    retryable = True
    default_message = "The text assistant is busy right now (too many requests). Please try again in a minute."

    def __init__(self, message: str | None = None, *, retry_after_s: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class LLMTimeout(LLMError):
    """No answer within the configured timeout, on every attempt."""

    retryable = True
    default_message = "The text assistant did not answer in time. Please try again later."


class LLMUnavailable(LLMError):
    """The server kept failing (5xx) or could not be reached."""

    retryable = True
    default_message = "The text assistant is unavailable right now. Please try again later."


class LLMRequestRejected(LLMError):
    """A 4xx other than 429: the key, the model name or the request is wrong; retrying cannot help."""

    default_message = "The text assistant refused the request. A researcher needs to check the LLM settings."


class LLMBadResponse(LLMError):
    """The server answered 200 with something that is not a readable chat completion."""

    default_message = "The text assistant sent back an answer that could not be read. Please try again."
