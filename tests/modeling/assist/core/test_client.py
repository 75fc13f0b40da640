"""The LLM client against a real loopback server speaking the Chat Completions API (official client, real sockets)."""
from __future__ import annotations

import base64
import socket
import time

import pytest

from modeling.assist.core.client import (
    LLMBadResponse,
    LLMClient,
    LLMConfig,
    LLMRateLimited,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    ModelPrice,
    _retry_after_seconds,
    image_data_url,
)
from tests.llm_server import Malformed, Ok, RateLimited, Slow, Status

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe the image."}]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 16


def test_success_returns_text_tokens_and_sends_model_and_messages(llm_server, make_client):
    """A 200 gives the text, model, token counts and one attempt; the server saw our model, messages and key."""
    llm_server.script(Ok("A sharp, well exposed image.", prompt_tokens=30, completion_tokens=8))
    reply = make_client().chat(MESSAGES, temperature=0.1, max_tokens=50)
    assert (reply.text, reply.model, reply.prompt_tokens, reply.completion_tokens) == (
        "A sharp, well exposed image.", "fake-vision-1", 30, 8)
    assert reply.attempts == 1 and reply.finish_reason == "stop" and reply.latency_s >= 0
    (request,) = llm_server.chat_requests
    assert request.body["model"] == "fake-vision-1"
    assert request.body["messages"] == MESSAGES
    assert request.body["max_tokens"] == 50 and request.body["temperature"] == 0.1
    assert request.headers["authorization"] == "Bearer sk-test"


def test_rate_limited_then_success_honours_retry_after(llm_server, make_client, sleeps):
    """A 429 with Retry-After is retried after exactly that delay; the reply counts two attempts."""
    llm_server.script(RateLimited(retry_after="1.5"), Ok("fine"))
    reply = make_client().chat(MESSAGES)
    assert reply.text == "fine" and reply.attempts == 2
    assert sleeps.calls == [1.5]
    assert len(llm_server.chat_requests) == 2


def test_rate_limited_without_retry_after_backs_off_exponentially_with_jitter(llm_server, make_client, sleeps):
    """Without Retry-After the delays are base*2**(n-1) with equal jitter: in [c/2, c] for c = 1, 2."""
    llm_server.script(RateLimited(), RateLimited(), Ok("fine"))
    reply = make_client(backoff_base_s=1.0).chat(MESSAGES)
    assert reply.attempts == 3
    first, second = sleeps.calls
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0


def test_rate_limited_with_long_retry_after_gives_up_at_once(llm_server, make_client, sleeps):
    """A Retry-After beyond max_retry_after_s is not slept through: LLMRateLimited carries it for a re-queue."""
    llm_server.script(RateLimited(retry_after="3600"))
    with pytest.raises(LLMRateLimited) as caught:
        make_client(max_retry_after_s=60).chat(MESSAGES)
    assert caught.value.retry_after_s == 3600 and caught.value.retryable and caught.value.attempts == 1
    assert sleeps.calls == [] and len(llm_server.chat_requests) == 1


def test_rate_limited_on_every_attempt_raises_rate_limited(llm_server, make_client):
    """429 on all 1 + max_retries attempts raises LLMRateLimited."""
    llm_server.script(*[RateLimited(retry_after="0")] * 3)
    with pytest.raises(LLMRateLimited):
        make_client(max_retries=2).chat(MESSAGES)
    assert len(llm_server.chat_requests) == 3


def test_server_error_is_retried_then_raised(llm_server, make_client, sleeps):
    """500 on every attempt: max_retries retries with growing backoff, then LLMUnavailable."""
    llm_server.script(*[Status(500)] * 3)
    with pytest.raises(LLMUnavailable) as caught:
        make_client(max_retries=2, backoff_base_s=0.5).chat(MESSAGES)
    assert caught.value.status == 500 and caught.value.attempts == 3
    assert len(llm_server.chat_requests) == 3
    assert len(sleeps.calls) == 2 and 0.25 <= sleeps.calls[0] <= 0.5 and 0.5 <= sleeps.calls[1] <= 1.0


def test_server_error_then_success(llm_server, make_client):
    """A 503 followed by a 200 succeeds on the second attempt."""
    llm_server.script(Status(503), Ok("recovered"))
    reply = make_client().chat(MESSAGES)
    assert (reply.text, reply.attempts) == ("recovered", 2)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(llm_server, make_client, sleeps, status):
    """4xx other than 429 fail at once with LLMRequestRejected (one request, no sleep)."""
    llm_server.script(Status(status, "bad request"))
    with pytest.raises(LLMRequestRejected) as caught:
        make_client().chat(MESSAGES)
    assert caught.value.status == status and not caught.value.retryable
    assert len(llm_server.chat_requests) == 1 and sleeps.calls == []


def test_timeout_is_retried_then_raised(llm_server, make_client):
    """A server slower than timeout_s on every attempt raises LLMTimeout after 1 + max_retries requests."""
    llm_server.script(Slow(3.0), Slow(3.0))
    started = time.monotonic()
    with pytest.raises(LLMTimeout) as caught:
        make_client(timeout_s=0.2, max_retries=1).chat(MESSAGES)
    assert caught.value.attempts == 2 and caught.value.retryable
    assert time.monotonic() - started < 2.5
    assert len(llm_server.chat_requests) == 2


def test_timeout_then_success(llm_server, make_client):
    """One slow answer, then a fast one: the retry succeeds."""
    llm_server.script(Slow(3.0), Ok("in time"))
    reply = make_client(timeout_s=0.2).chat(MESSAGES)
    assert (reply.text, reply.attempts) == ("in time", 2)


@pytest.mark.parametrize(
    "body",
    ['{this is not json', '{"id": "x", "object": "chat.completion"}', '{"id": "x", "choices": []}'],
    ids=["not-json", "no-choices", "empty-choices"],
)
def test_malformed_body_raises_bad_response_without_retry(llm_server, make_client, body):
    """A 200 that is not a readable completion raises LLMBadResponse on the first attempt."""
    llm_server.script(Malformed(body))
    with pytest.raises(LLMBadResponse):
        make_client().chat(MESSAGES)
    assert len(llm_server.chat_requests) == 1


def test_plain_text_body_raises_bad_response(llm_server, make_client):
    """A text/plain 200 (a proxy page, say) is not a completion."""
    llm_server.script(Malformed("<html>gateway</html>", content_type="text/html"))
    with pytest.raises(LLMBadResponse):
        make_client().chat(MESSAGES)


def test_unreachable_server_raises_unavailable(sleeps):
    """Nobody listening on the port: connection errors are retried, then LLMUnavailable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LLMConfig(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, timeout_s=1)
    with LLMClient(config, sleep=sleeps) as client, pytest.raises(LLMUnavailable) as caught:
        client.chat(MESSAGES)
    assert caught.value.attempts == 2 and len(sleeps.calls) == 1


def test_images_are_sent_as_data_urls_in_the_last_user_message(llm_server, make_client):
    """Images become image_url parts with base64 data URLs after the text of the last user message."""
    llm_server.script(Ok("seen"))
    make_client().chat(MESSAGES, images=[PNG, JPEG])
    (request,) = llm_server.chat_requests
    assert request.body["messages"][0] == MESSAGES[0]
    parts = request.body["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "Describe the image."}
    assert request.image_urls() == [
        "data:image/png;base64," + base64.b64encode(PNG).decode(),
        "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
    ]


def test_unknown_image_format_is_refused_before_any_request(llm_server, make_client):
    """Bytes that are not PNG/JPEG/GIF/WebP raise ValueError and nothing is sent."""
    with pytest.raises(ValueError, match="PNG, JPEG"):
        make_client().chat(MESSAGES, images=[b"not an image"])
    assert llm_server.chat_requests == []
    assert image_data_url(b"RIFF\x00\x00\x00\x00WEBPVP8 ").startswith("data:image/webp;base64,")


def test_cost_comes_from_the_price_table(llm_server, make_client):
    """Cost = tokens x price per million; usage adds up; unknown models cost nothing."""
    llm_server.script(Ok("a", prompt_tokens=1000, completion_tokens=500), Ok("b", model="other-model"))
    client = make_client(prices={"fake-vision-1": ModelPrice(prompt_per_million=2.0, completion_per_million=8.0)})
    first, second = client.chat(MESSAGES), client.chat(MESSAGES)
    assert first.cost == pytest.approx(1000 * 2.0 / 1e6 + 500 * 8.0 / 1e6)
    assert second.model == "other-model" and second.cost == pytest.approx(11 * 2.0 / 1e6 + 7 * 8.0 / 1e6)
    total = first.usage + second.usage
    assert (total.requests, total.prompt_tokens, total.completion_tokens) == (2, 1011, 507)
    assert make_client().config.price_for("anything").prompt_per_million == 0


def test_max_completion_tokens_parameter(llm_server, make_client):
    """Newer OpenAI models take max_completion_tokens; the config chooses which name is sent."""
    make_client(max_tokens_param="max_completion_tokens").chat(MESSAGES, max_tokens=64)
    body = llm_server.chat_requests[0].body
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


def test_error_messages_are_for_annotators_and_details_for_logs(llm_server, make_client):
    """str(error) is a plain sentence without status codes; detail keeps the technical cause."""
    llm_server.script(Status(401, "Incorrect API key provided"))
    with pytest.raises(LLMRequestRejected) as caught:
        make_client().chat(MESSAGES)
    assert "401" not in str(caught.value) and "researcher" in str(caught.value)
    assert "401" in caught.value.detail and "Incorrect API key" in caught.value.detail


def test_models_endpoint_lists_the_fake_model(llm_server):
    """The fake server also answers GET /v1/models, so connection checks can use it."""
    import openai

    with openai.OpenAI(base_url=llm_server.base_url, api_key="k", max_retries=0) as sdk:
        assert [model.id for model in sdk.models.list()] == ["fake-vision-1"]


def test_retry_after_header_forms():
    """Retry-After as seconds or an HTTP date, retry-after-ms preferred; junk is ignored."""
    assert _retry_after_seconds({"retry-after": "7"}) == 7
    assert _retry_after_seconds({"retry-after-ms": "250", "retry-after": "7"}) == 0.25
    assert _retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=lambda: 1445412480.0) == 10
    assert _retry_after_seconds({"retry-after": "soon"}) is None
    assert _retry_after_seconds({}) is None


@pytest.mark.parametrize(
    "overrides, message",
    [({"base_url": "api.openai.com"}, "base_url"), ({"model": ""}, "model"), ({"timeout_s": 0}, "timeout_s"),
     ({"max_retries": -1}, "max_retries"), ({"max_tokens_param": "tokens"}, "max_tokens_param")],
)
def test_config_validates_its_fields(overrides, message):
    """LLMConfig rejects bad values with a ValueError naming the field."""
    settings = {"base_url": "http://localhost:11434/v1", "model": "llava", **overrides}
    with pytest.raises(ValueError, match=message):
        LLMConfig(**settings)


def test_worst_case_seconds_bounds_a_call():
    """The bound a Celery time limit must exceed: attempts x timeout + retries x longest wait."""
    config = LLMConfig("http://x/v1", "m", timeout_s=10, max_retries=2, backoff_max_s=5, max_retry_after_s=20)
    assert config.worst_case_seconds() == 3 * 10 + 2 * 20
