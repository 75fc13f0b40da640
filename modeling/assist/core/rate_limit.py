"""A thread-safe per-key token bucket that paces LLM requests (one key per project, say)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from modeling.assist.core.errors import LLMRateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    """A thread-safe token bucket per key (a project id, say), ``requests_per_minute`` each.

    ``acquire`` reserves a token under the lock and sleeps outside it, so concurrent callers
    queue fairly without holding the lock. ``burst`` is the bucket size: 1 (the default) spaces
    requests evenly, ``requests_per_minute`` allows a whole minute's budget at once. Per-key
    rates can be set with :meth:`set_rate`.

    The buckets live in this process. With several worker processes either give each a share
    of the budget or implement the same ``acquire(key, max_wait_s=...)`` over a shared store.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._check(requests_per_minute, burst)
        self._default = (requests_per_minute / 60.0, float(burst))
        self._rates: dict[Hashable, tuple[float, float]] = {}
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, updated_at)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    @staticmethod
    def _check(requests_per_minute: float, burst: float) -> None:
        if not requests_per_minute > 0:
            raise ValueError("requests_per_minute must be > 0")
        if not burst >= 1:
            raise ValueError("burst must be >= 1")

    def set_rate(self, key: Hashable, requests_per_minute: float, *, burst: float = 1.0) -> None:
        """Give ``key`` its own rate (a project with a bigger budget, say)."""
        self._check(requests_per_minute, burst)
        with self._lock:
            self._rates[key] = (requests_per_minute / 60.0, float(burst))

    def _reserve(self, key: Hashable, max_wait_s: float | None) -> float:
        with self._lock:
            per_second, burst = self._rates.get(key, self._default)
            now = self._clock()
            tokens, updated_at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - updated_at) * per_second)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / per_second
            if max_wait_s is not None and wait > max_wait_s:
                self._buckets[key] = (tokens, now)
                raise LLMRateLimited(
                    retry_after_s=wait,
                    detail=f"local limit for {key!r}: next request allowed in {wait:.1f}s (max wait {max_wait_s:.1f}s)",
                )
            # Going below zero is the reservation: later callers see the debt and wait longer.
            self._buckets[key] = (tokens - 1, now)
            return wait

    def acquire(self, key: Hashable = "default", *, max_wait_s: float | None = None) -> float:
        """Take one request from ``key``'s budget, sleeping until it is available; return the wait.

        Raises :class:`LLMRateLimited` (taking nothing) if the wait would exceed ``max_wait_s``.
        """
        wait = self._reserve(key, max_wait_s)
        if wait > 0:
            self._sleep(wait)
        return wait
