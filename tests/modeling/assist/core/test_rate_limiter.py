"""The per-key token bucket that paces a project's LLM requests."""
from __future__ import annotations

import threading

import pytest

from modeling.assist.core.client import LLMRateLimited, RateLimiter


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_at_the_configured_rate():
    """At 30 requests per minute (burst 1) the second and third calls wait 2 s and 4 s."""
    clock = FakeClock()
    waits = []
    limiter = RateLimiter(30, clock=clock, sleep=waits.append)
    assert [limiter.acquire("p1") for _ in range(3)] == [0.0, 2.0, 4.0]
    assert waits == [2.0, 4.0]


def test_tokens_refill_with_time_up_to_the_burst():
    """After a long pause a bucket holds at most `burst` tokens."""
    clock = FakeClock()
    limiter = RateLimiter(60, burst=3, clock=clock, sleep=lambda s: None)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(1.0)
    clock.now += 1000
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(1.0)


def test_keys_have_separate_buckets_and_rates():
    """One project's use does not slow another; set_rate gives a key its own rate."""
    clock = FakeClock()
    limiter = RateLimiter(6, clock=clock, sleep=lambda s: None)
    limiter.set_rate("big", 600)
    assert limiter.acquire("p1") == 0 and limiter.acquire("p2") == 0
    assert limiter.acquire("p1") == pytest.approx(10.0)
    assert limiter.acquire("big") == 0 and limiter.acquire("big") == pytest.approx(0.1)


def test_max_wait_raises_rate_limited_and_takes_nothing():
    """A wait longer than max_wait_s raises LLMRateLimited with retry_after_s; the budget is not spent."""
    clock = FakeClock()
    limiter = RateLimiter(6, clock=clock, sleep=lambda s: None)
    limiter.acquire("p")
    with pytest.raises(LLMRateLimited) as caught:
        limiter.acquire("p", max_wait_s=1.0)
    assert caught.value.retry_after_s == pytest.approx(10.0)
    clock.now += 10
    assert limiter.acquire("p", max_wait_s=1.0) == 0.0


def test_concurrent_callers_never_share_a_slot():
    """32 threads at once get 32 distinct slots 0, 1, ..., 31 intervals apart (no double grant)."""
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, sleep=lambda s: None)
    waits, lock, start = [], threading.Lock(), threading.Barrier(32)

    def worker():
        start.wait()
        wait = limiter.acquire("shared")
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(w, 6) for w in waits) == [float(k) for k in range(32)]


def test_client_uses_a_shared_limiter(llm_server, make_client, sleeps):
    """Two clients sharing a limiter and key pace their requests together."""
    from modeling.assist.core.client import LLMClient

    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, sleep=sleeps)
    first = LLMClient(make_client().config, rate_limiter=limiter, rate_key="project-1", sleep=sleeps)
    second = LLMClient(make_client().config, rate_limiter=limiter, rate_key="project-1", sleep=sleeps)
    first.chat([{"role": "user", "content": "x"}])
    second.chat([{"role": "user", "content": "y"}])
    assert sleeps.calls == [pytest.approx(1.0)]
    first.close(), second.close()


def test_invalid_rates_are_refused():
    """A rate must be positive and a burst at least one."""
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(10, burst=0.5)
