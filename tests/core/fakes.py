"""Fakes for the core unit tests: a scripted HTTP server, SSE bodies, a clock, a sleep recorder.

Nothing here talks to the network or to the simulator: every client is built on
``httpx.MockTransport`` with a :class:`FakeServer` as its handler.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

Responder = Callable[[httpx.Request], httpx.Response]

CHAT_URL_SUFFIX = "/chat/completions"
SECRET = "ms-SECRET-0f1e2d3c"


class FakeServer:
    """An HTTP handler that answers with scripted responders, in order; the last one repeats.

    Every request is recorded, so tests can count attempts and read the bodies sent.
    """

    def __init__(self, *responders: Responder) -> None:
        if not responders:
            raise ValueError("FakeServer needs at least one responder")
        self.responders = list(responders)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        position = min(len(self.requests), len(self.responders) - 1)
        self.requests.append(request)
        return self.responders[position](request)

    @property
    def count(self) -> int:
        return len(self.requests)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def reply(
    status: int = 200,
    body: object | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> Responder:
    """A responder answering ``status`` with a JSON ``body`` (or raw ``content``, or nothing)."""

    def respond(request: httpx.Request) -> httpx.Response:
        if body is not None:
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, content=content or b"", headers=headers)

    return respond


def fail(make_error: Callable[[httpx.Request], Exception]) -> Responder:
    """A responder that raises (a connection error, a timeout) instead of answering."""

    def respond(request: httpx.Request) -> httpx.Response:
        raise make_error(request)

    return respond


def chat_completion(
    content: str = "Hello",
    *,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    model: str = "m",
    usage: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": dict(usage or {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
    }


def chunk(
    content: str | None = None,
    *,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` event with one choice."""
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int = 3, completion: int = 2) -> dict[str, Any]:
    """The choice-less usage chunk sent with ``stream_options.include_usage``."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def sse_bytes(events: Sequence[object], *, done: bool = True) -> bytes:
    """``data: <json>`` lines for ``events``, then ``data: [DONE]`` unless ``done`` is False."""
    lines = [f"data: {json.dumps(e)}\n\n" for e in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


class ChunkedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered in the given pieces, optionally breaking with ``error``."""

    def __init__(self, pieces: Sequence[bytes], error: Exception | None = None) -> None:
        self.pieces = list(pieces)
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.error is not None:
            raise self.error


def sse(
    *events: object,
    done: bool = True,
    break_with: type[httpx.TransportError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Responder:
    """A streaming responder: one network piece per event; ``break_with`` drops the connection
    after the last event instead of sending ``[DONE]``."""

    def respond(request: httpx.Request) -> httpx.Response:
        pieces = [sse_bytes([e], done=False) for e in events]
        error = None
        if break_with is not None:
            error = break_with("connection reset by peer", request=request)
        elif done:
            pieces.append(b"data: [DONE]\n\n")
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream", **(headers or {})},
            stream=ChunkedStream(pieces, error),
        )

    return respond


def thinking_aware(
    *, non_stream_error: Mapping[str, Any], stream_events: Sequence[object]
) -> Responder:
    """Like the service with a thinking-only model: 400 for ``stream: false``, SSE otherwise."""
    streaming = sse(*stream_events)
    refusing = reply(400, non_stream_error)

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return streaming(request) if body.get("stream") else refusing(request)

    return respond


class FakeClock:
    """A settable UTC clock for the quota tracker."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Sleeps:
    """Records the waits the retry policy asks for, instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
