"""Helpers shared by the reliability suites: the per-suite counters the summary prints, a retry
policy that never sleeps, and core clients wired to an ``httpx.MockTransport``.

Example:
    >>> client = mock_client(lambda request: httpx.Response(200, json=completion("hi")))
    >>> client.chat.complete(chat_request()).content
    'hi'
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import httpx

from modelscope_inference import ModelScopeClient, RetryPolicy
from modelscope_inference.chat import ChatRequest

# What each suite checked, printed by conftest.pytest_terminal_summary.
COUNTS: Counter[str] = Counter()

# The token every suite uses; test_secrets.py asserts it never leaks.
TOKEN = "ms-LEAKCHECK-7f3a9c2e-0000-4b1d-9e8f-123456789abc"
BASE_URL = "https://api-inference.modelscope.cn/v1"
CHAT_MODEL = "deepseek-ai/DeepSeek-V3.1"  # no thinking: a non-stream call is a plain POST
THINKING_MODEL = "Qwen/QwQ-32B"  # always thinks: a non-stream call streams internally
EMBED_MODEL = "Qwen/Qwen3-Embedding-0.6B"

SLEEPS: list[float] = []


def record_sleep(seconds: float) -> None:
    """A retry sleep that returns at once and remembers the wait it was asked for."""
    SLEEPS.append(seconds)


async def record_async_sleep(seconds: float) -> None:
    """Async twin of :func:`record_sleep`."""
    SLEEPS.append(seconds)


def fast_policy(max_retries: int = 1) -> RetryPolicy:
    """The core retry policy with its real predicate and waits, but no real sleeping."""
    return RetryPolicy(max_retries=max_retries, sleep=record_sleep, async_sleep=record_async_sleep)


Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(
    handler: Handler, *, max_retries: int = 1, timeout: float = 5.0
) -> ModelScopeClient:
    """A core client whose sync and async HTTP both go to ``handler``; quota state reset."""
    transport = httpx.MockTransport(handler)
    client = ModelScopeClient.create(
        api_key=TOKEN,
        base_url=BASE_URL,
        timeout=timeout,
        max_retries=max_retries,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        policy=fast_policy(max_retries),
    )
    client.transport.quota.reset()
    return client


def chat_request(model: str = CHAT_MODEL, **kwargs: Any) -> ChatRequest:
    """A one-message chat request."""
    return ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}], **kwargs)


def completion(content: str, *, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A minimal non-streamed ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": CHAT_MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def sse_body(chunks: Sequence[str], *, tool_deltas: Sequence[dict[str, Any]] = ()) -> bytes:
    """A well-formed SSE answer: one event per content piece, tool deltas, usage, ``[DONE]``."""
    events: list[dict[str, Any]] = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    events += [{"id": "c1", "choices": [{"index": 0, "delta": {"content": c}}]} for c in chunks]
    events += [
        {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [d]}}]} for d in tool_deltas
    ]
    events.append({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append(
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    )
    lines = [b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in events]
    return b"".join(lines) + b"data: [DONE]\n\n"


class PiecewiseStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent in the given pieces, optionally breaking the connection at the end
    (``httpx.ReadError``), as a dropped TCP connection would."""

    def __init__(self, pieces: Sequence[bytes], *, break_at_end: bool = False) -> None:
        self.pieces = list(pieces)
        self.break_at_end = break_at_end

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.break_at_end:
            raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.break_at_end:
            raise httpx.ReadError("connection reset by peer")


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` split at the given offsets (clamped, deduplicated, sorted)."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]
