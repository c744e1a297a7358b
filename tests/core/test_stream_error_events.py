"""Error objects sent inside a 200 stream, a thinking budget as a request for thinking, and the
403 binding error as ``openai.PermissionDeniedError``."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from modelscope_inference import (
    AccountBindingError,
    ChatRequest,
    ServiceUnavailableError,
    StreamInterruptedError,
    ThinkingModeError,
)
from modelscope_inference.chat import plan_call
from modelscope_inference.errors import classify_error

from .fakes import FakeServer, Sleeps, chunk, sse

PLAIN = "Qwen/Qwen2.5-72B-Instruct"
HYBRID = "Qwen/Qwen3-32B"
HI = [{"role": "user", "content": "hi"}]
MID_STREAM_ERROR = {"error": {"code": 500, "message": "backend overloaded"}}


def test_error_object_after_output_is_an_interruption_with_partial_text(
    make_client: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(sse(chunk("Hel"), chunk("lo"), MID_STREAM_ERROR))
    received: list[str] = []

    with pytest.raises(StreamInterruptedError) as caught:
        for delta in make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)):
            received.append(delta.content)

    assert server.count == 1
    assert received == ["Hel", "lo"]
    assert caught.value.text == "Hello"
    assert "backend overloaded" in str(caught.value)


def test_error_object_before_output_is_classified_and_retried(
    make_client: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(sse(MID_STREAM_ERROR), sse(chunk("ok"), chunk(finish="stop")))

    deltas = list(make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)))

    assert server.count == 2
    assert "".join(d.content for d in deltas) == "ok"


def test_error_object_in_an_internal_stream_is_not_an_empty_answer(make_client: Any) -> None:
    thinking = "Qwen/Qwen3-235B-A22B-Thinking-2507"
    server = FakeServer(sse(MID_STREAM_ERROR))

    with pytest.raises(ServiceUnavailableError, match="backend overloaded"):
        make_client(server, max_retries=0).chat.complete(ChatRequest(model=thinking, messages=HI))


def test_thinking_error_object_in_a_stream_is_a_thinking_mode_error(make_client: Any) -> None:
    event = {"error": {"code": 400, "message": "enable thinking can not be support here"}}
    server = FakeServer(sse(event))

    with pytest.raises(ThinkingModeError):
        list(make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)))


def test_thinking_budget_alone_asks_for_thinking_on_a_hybrid_model() -> None:
    plan = plan_call(
        ChatRequest(model=HYBRID, messages=HI, thinking_budget=512), HYBRID, want_stream=False
    )

    assert plan.stream is True
    assert plan.body["enable_thinking"] is True
    assert plan.body["thinking_budget"] == 512


def test_binding_403_is_also_openai_permission_denied() -> None:
    request = httpx.Request("POST", "https://api-inference.modelscope.cn/v1/chat/completions")
    response = httpx.Response(403, json={"error": {"message": "forbidden"}}, request=request)

    error = classify_error(response, model=PLAIN)

    assert isinstance(error, AccountBindingError)
    assert isinstance(error, openai.PermissionDeniedError)
