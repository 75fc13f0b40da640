"""A chat client for OpenAI and OpenAI-compatible servers (vLLM, Ollama, LM Studio) with retries, rate limits and costs.

Django-free core (DESIGN.md, "Cores without Django"): the Django side reads base URL, model and
key from settings, builds an :class:`LLMConfig`, and calls :meth:`LLMClient.chat`.

Failure policy (issue 5, "Robustness"):

* **429 and 5xx** are retried with exponential backoff and jitter, at most ``max_retries`` times;
  a ``Retry-After`` (or ``retry-after-ms``) header replaces the computed delay. A Retry-After
  longer than ``max_retry_after_s`` is not slept through: :class:`LLMRateLimited` is raised at
  once with ``retry_after_s`` set, so a Celery task can re-queue itself with that countdown
  instead of holding a worker.
* **Timeouts and connection errors** are retried the same way (they are transient by nature);
  after the last attempt :class:`LLMTimeout` / :class:`LLMUnavailable` is raised. A call can
  therefore take up to :meth:`LLMConfig.worst_case_seconds`; set the task's time limits above it.
* **Other 4xx** (bad key, unknown model, request too large) fail at once with
  :class:`LLMRequestRejected`: repeating the same request cannot help.
* **A 200 that cannot be read** (not JSON, no choices, no text) raises :class:`LLMBadResponse`
  without retrying. Text that *can* be read but breaks a prompt's rules is not an error here;
  :mod:`modeling.assist.core.validation` reports it.

Every exception's ``str()`` is a sentence an annotator can be shown; ``detail`` holds the
technical cause for researchers and logs.
"""

from __future__ import annotations

import base64
import email.utils
import json
import math
import random
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import openai

from modeling.assist.core.errors import (
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
)
from modeling.assist.core.rate_limit import RateLimiter

__all__ = [
    "LLMBadResponse",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "LLMRateLimited",
    "LLMReply",
    "LLMRequestRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "ModelPrice",
    "RateLimiter",
    "Usage",
    "image_data_url",
]


# ----------------------------------------------------------------------------- config and results


@dataclass(frozen=True)
class ModelPrice:
    """What one million tokens cost, in the project's currency (USD by convention)."""

    prompt_per_million: float = 0.0
    completion_per_million: float = 0.0

    def __post_init__(self):
        if self.prompt_per_million < 0 or self.completion_per_million < 0:
            raise ValueError("prices must be >= 0")


@dataclass(frozen=True)
class LLMConfig:
    """Where the model lives and how patiently to talk to it.

    ``api_key`` may be empty for local servers that need none (Ollama, LM Studio). ``prices``
    maps model names to :class:`ModelPrice`; models not in it cost 0. ``requests_per_minute``
    of ``None`` or 0 means no local limit. ``max_tokens_param`` is ``"max_tokens"`` (what
    OpenAI-compatible servers accept) or ``"max_completion_tokens"`` (newer OpenAI models).
    """

    base_url: str
    model: str
    api_key: str = ""
    timeout_s: float = 60.0
    max_retries: int = 3
    requests_per_minute: float | None = None
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 60.0
    max_tokens_param: str = "max_tokens"

    def __post_init__(self):
        if not self.base_url or not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL, e.g. https://api.openai.com/v1")
        if not self.model:
            raise ValueError("model must be a non-empty model name")
        if not self.timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.requests_per_minute is not None and self.requests_per_minute < 0:
            raise ValueError("requests_per_minute must be >= 0 (0 or None: no limit)")
        if self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise ValueError("need 0 <= backoff_base_s <= backoff_max_s")
        if self.max_retry_after_s < 0:
            raise ValueError("max_retry_after_s must be >= 0")
        if self.max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            raise ValueError("max_tokens_param must be 'max_tokens' or 'max_completion_tokens'")
        for name, price in self.prices.items():
            if not isinstance(price, ModelPrice):
                raise ValueError(f"prices[{name!r}] must be a ModelPrice")

    def worst_case_seconds(self) -> float:
        """An upper bound on one :meth:`LLMClient.chat` call (every attempt times out, every wait maximal)."""
        attempts = self.max_retries + 1
        waits = self.max_retries * max(self.backoff_max_s, self.max_retry_after_s)
        return attempts * self.timeout_s + waits

    def price_for(self, model: str) -> ModelPrice:
        """The price of ``model``, falling back to the configured model's, else free."""
        return self.prices.get(model) or self.prices.get(self.model) or ModelPrice()


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one or more calls; add them up with ``+``."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.requests + other.requests,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost + other.cost,
        )

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int, price: ModelPrice) -> Usage:
        cost = (prompt_tokens * price.prompt_per_million + completion_tokens * price.completion_per_million) / 1e6
        return cls(1, prompt_tokens, completion_tokens, cost)


@dataclass(frozen=True)
class LLMReply:
    """One successful chat completion. ``attempts`` counts HTTP requests made, retries included."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    attempts: int
    finish_reason: str | None = None
    cost: float = 0.0

    @property
    def usage(self) -> Usage:
        return Usage(1, self.prompt_tokens, self.completion_tokens, self.cost)


# ----------------------------------------------------------------------------- images


_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_data_url(data: bytes) -> str:
    """``data:image/...;base64,...`` for PNG, JPEG, GIF or WebP bytes (sniffed); ValueError otherwise."""
    mime = None
    for signature, candidate in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            mime = candidate
            break
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise ValueError("images must be PNG, JPEG, GIF or WebP bytes")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _attach_images(messages: Sequence[Mapping], images: Sequence[bytes]) -> list[dict]:
    """Copy ``messages`` with the images added as content parts to the last user message."""
    out = [dict(message) for message in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            content = message.get("content")
            parts = list(content) if isinstance(content, list) else [{"type": "text", "text": content or ""}]
            parts += [{"type": "image_url", "image_url": {"url": image_data_url(image)}} for image in images]
            message["content"] = parts
            return out
    raise ValueError("images need a user message to attach to")


# ----------------------------------------------------------------------------- the client


def _retry_after_seconds(headers, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP date), if present."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            value = float(milliseconds) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return max(0.0, parsed.timestamp() - now())


class LLMClient:
    """Chat completions over the official ``openai`` package; retries, rate limit and cost are ours.

    ``sleep``, ``clock`` and ``rng`` are injectable so tests observe backoff without waiting.
    ``rate_limiter``/``rate_key``: share one :class:`RateLimiter` between clients of a project;
    without one, a private limiter is made when ``config.requests_per_minute`` is set.
    ``http_client``: the httpx client the SDK sends with (e.g. one that applies an egress policy).
    ``scrub``: applied to every upstream text that goes into an error's ``detail`` (shorten, redact keys).
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        rate_limiter: RateLimiter | None = None,
        rate_key: Hashable = "default",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_rate_wait_s: float | None = None,
        http_client=None,
        scrub: Callable[[str], str] | None = None,
    ):
        self.config = config
        self._scrub = scrub or (lambda text: text)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        if rate_limiter is None and config.requests_per_minute:
            rate_limiter = RateLimiter(config.requests_per_minute, clock=clock, sleep=sleep)
        self.rate_limiter = rate_limiter
        self.rate_key = rate_key
        self.max_rate_wait_s = max_rate_wait_s
        # The SDK's own retries are off: ours follow the policy in the module docstring.
        self._openai = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-needed",  # local servers ignore it; the SDK insists on one
            timeout=config.timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    def close(self) -> None:
        self._openai.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _backoff(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (1-based): ``base * 2**(n-1)``, capped, with equal jitter."""
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (retry_number - 1))
        with self._rng_lock:
            return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def chat(
        self,
        messages: Sequence[Mapping],
        *,
        temperature: float = 0.2,
        max_tokens: int = 512,
        images: Sequence[bytes] | None = None,
    ) -> LLMReply:
        """Send ``messages`` (OpenAI chat format) and return the assistant's text.

        ``images`` (encoded PNG/JPEG/GIF/WebP bytes) are appended as base64 data URLs to the
        last user message. Raises an :class:`LLMError` subclass when no usable reply came back.
        """
        if not messages:
            raise ValueError("messages must not be empty")
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        payload = _attach_images(messages, images) if images else [dict(m) for m in messages]
        request = {
            "model": self.config.model,
            "messages": payload,
            "temperature": temperature,
            self.config.max_tokens_param: max_tokens,
        }
        started = self._clock()
        attempts = 0
        while True:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(self.rate_key, max_wait_s=self.max_rate_wait_s)
            attempts += 1
            try:
                completion = self._openai.chat.completions.create(**request)
            except openai.APITimeoutError as error:  # before APIConnectionError: it is a subclass
                failure = LLMTimeout(
                    detail=self._scrub(f"no answer within {self.config.timeout_s:g}s ({error})"), attempts=attempts
                )
                retry_after = None
            except openai.APIConnectionError as error:
                failure = LLMUnavailable(detail=self._scrub(f"cannot reach {self.config.base_url}: {error.__cause__ or error}"), attempts=attempts)
                retry_after = None
            except openai.RateLimitError as error:
                retry_after = _retry_after_seconds(error.response.headers)
                failure = LLMRateLimited(
                    retry_after_s=retry_after, detail=self._scrub(f"HTTP 429: {error.message}"), status=429, attempts=attempts
                )
                if retry_after is not None and retry_after > self.config.max_retry_after_s:
                    raise failure from error  # let the caller re-queue instead of holding a worker
            except openai.APIStatusError as error:
                if error.status_code >= 500:
                    retry_after = _retry_after_seconds(error.response.headers)
                    failure = LLMUnavailable(
                        detail=self._scrub(f"HTTP {error.status_code}: {error.message}"), status=error.status_code, attempts=attempts
                    )
                else:
                    raise LLMRequestRejected(
                        detail=self._scrub(f"HTTP {error.status_code}: {error.message}"), status=error.status_code, attempts=attempts
                    ) from error
            except (openai.APIResponseValidationError, json.JSONDecodeError) as error:
                # The SDK lets json.JSONDecodeError through for a 200 whose body is not JSON.
                raise LLMBadResponse(detail=self._scrub(f"unreadable response body: {error}"), attempts=attempts) from error
            else:
                return self._reply(completion, started, attempts)

            if attempts > self.config.max_retries:
                raise failure
            if retry_after is not None:
                delay = min(retry_after, self.config.max_retry_after_s)
            else:
                delay = self._backoff(attempts)
            self._sleep(delay)

    def _reply(self, completion, started: float, attempts: int) -> LLMReply:
        if not hasattr(completion, "choices"):
            raise LLMBadResponse(detail=f"expected a chat completion, got {type(completion).__name__}", attempts=attempts)
        if not completion.choices:
            raise LLMBadResponse(detail="the completion has no choices", attempts=attempts)
        choice = completion.choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            refusal = getattr(message, "refusal", None)
            detail = self._scrub(f"the model refused: {refusal}") if refusal else "the completion has no text content"
            raise LLMBadResponse(detail=detail, attempts=attempts)
        usage = completion.usage
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        model = completion.model or self.config.model
        cost = Usage.of(prompt_tokens, completion_tokens, self.config.price_for(model)).cost
        return LLMReply(
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=self._clock() - started,
            attempts=attempts,
            finish_reason=getattr(choice, "finish_reason", None),
            cost=cost,
        )
