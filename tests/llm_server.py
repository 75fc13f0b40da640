"""A fake OpenAI-compatible server on loopback that answers from a script, for tests of the LLM client.

It is a real HTTP server (``http.server.ThreadingHTTPServer`` in a daemon thread on
``127.0.0.1`` and an ephemeral port), so the official ``openai`` client talks to it over real
sockets exactly as it would to OpenAI, vLLM, Ollama or LM Studio. It speaks
``POST /v1/chat/completions`` and ``GET /v1/models``.

Each chat request takes the next behaviour from a queue (``server.script(...)``); with the queue
empty it answers ``server.default`` (an ``Ok`` by default). Every request is recorded (path,
headers, parsed JSON body) so that tests can assert what the client sent: model name, messages,
images as data URLs.

Use it through the ``llm_server`` fixture (``tests/modeling/assist/core/conftest.py``), or directly::

    with FakeLLMServer() as server:
        server.script(RateLimited(retry_after="0"), Ok("A fine paragraph."))
        client = OpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeLLMServer",
    "Malformed",
    "Ok",
    "RecordedRequest",
    "Slow",
    "Status",
    "RateLimited",
]


# ----------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Ok:
    """A well-formed chat completion whose message content is ``text``."""

    text: str
    prompt_tokens: int = 11
    completion_tokens: int = 7
    model: str | None = None  # None: echo the model the client asked for


@dataclass(frozen=True)
class Status:
    """An error status with an OpenAI-style JSON error body and optional extra headers."""

    status: int
    message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)


def RateLimited(retry_after: str | None = None, message: str = "Rate limit reached") -> Status:  # noqa: N802
    """A 429, with a ``Retry-After`` header when ``retry_after`` is given (seconds, as a string)."""
    return Status(429, message, {"Retry-After": retry_after} if retry_after is not None else {})


@dataclass(frozen=True)
class Slow:
    """Wait ``delay_s`` before answering with ``then`` (a client with a shorter timeout gives up first)."""

    delay_s: float
    then: Ok | Status | None = None


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is ``body`` verbatim (not JSON, or JSON without ``choices``)."""

    body: str = "{this is not json"
    content_type: str = "application/json"


Behaviour = Ok | Status | Slow | Malformed


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the raw text when it was not JSON

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []

    def image_urls(self) -> list[str]:
        """The ``image_url.url`` of every image content part, in order."""
        urls = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                urls.extend(part["image_url"]["url"] for part in content if part.get("type") == "image_url")
        return urls


# ----------------------------------------------------------------------------- the server


class FakeLLMServer:
    """The scripted server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(self, *, models: tuple[str, ...] = ("fake-vision-1",)):
        self.models = models
        self.default: Behaviour = Ok("Default scripted reply.")
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_sleeping = threading.Event()

    # -- lifecycle
    def start(self) -> FakeLLMServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_sleeping.set()  # wake any Slow handler so shutdown is quick
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- use
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, what ``OpenAI(base_url=...)`` wants."""
        if self._httpd is None:
            raise RuntimeError("the fake LLM server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next chat requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def reset(self) -> None:
        """Forget queued behaviours and recorded requests; restore the default reply."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.default = Ok("Default scripted reply.")

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def pending(self) -> int:
        """How many scripted behaviours have not been used yet."""
        with self._lock:
            return len(self._queue)

    # -- used by the handler
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default


def _completion_body(ok: Ok, requested_model: str, index: int) -> dict:
    return {
        "id": f"chatcmpl-fake-{index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ok.model or requested_model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ok.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": ok.prompt_tokens,
            "completion_tokens": ok.completion_tokens,
            "total_tokens": ok.prompt_tokens + ok.completion_tokens,
        },
    }


def _lower(headers) -> dict[str, str]:
    """Header names lower-cased (HTTP names are case-insensitive; httpx sends them lower-case)."""
    return {name.lower(): value for name, value in headers.items()}


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # without it, keep-alive + delayed ACKs add ~40 ms per request

        def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json", headers=None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to answer

        def _send_json(self, status: int, payload: dict, headers=None) -> None:
            self._send(status, json.dumps(payload).encode(), headers=headers)

        def _read_body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
            try:
                return json.loads(raw) if raw else None
            except json.JSONDecodeError:
                return raw

        def do_GET(self):  # noqa: N802
            server._record(RecordedRequest("GET", self.path, _lower(self.headers), None))
            if self.path.rstrip("/") == "/v1/models":
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "loupe-tests"} for m in server.models]
                self._send_json(200, {"object": "list", "data": data})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self):  # noqa: N802
            body = self._read_body()
            server._record(RecordedRequest("POST", self.path, _lower(self.headers), body))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            requested_model = body.get("model", "") if isinstance(body, dict) else ""
            behaviour = server._next()
            if isinstance(behaviour, Slow):
                server._stop_sleeping.wait(behaviour.delay_s)
                behaviour = behaviour.then or server.default
            if isinstance(behaviour, Ok):
                self._send_json(200, _completion_body(behaviour, requested_model, len(server.requests)))
            elif isinstance(behaviour, Status):
                error = {"error": {"message": behaviour.message, "type": "scripted", "code": str(behaviour.status)}}
                self._send_json(behaviour.status, error, headers=behaviour.headers)
            elif isinstance(behaviour, Malformed):
                self._send(200, behaviour.body.encode(), content_type=behaviour.content_type)
            else:  # pragma: no cover - a test scripted something unknown
                self._send_json(500, {"error": {"message": f"unknown behaviour {behaviour!r}"}})

    return Handler
