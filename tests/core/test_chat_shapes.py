"""The real service's answer shapes (modelscope-api.md §8.4) replayed through the core: ``""``
fields mean absent, ``created`` in milliseconds and the extra fields are ignored."""

from __future__ import annotations

from typing import Any

import httpx

from modelscope_inference import ChatRequest

from .fakes import FakeServer, reply, sse

CODER = "Qwen/Qwen3-Coder-480B-A35B-Instruct"
THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
HI = [{"role": "user", "content": "hi"}]
EMPTY_DELTA = {
    "content": "",
    "function_calls": None,
    "reasoning_content": "",
    "role": None,
    "tool_calls": None,
}
# reference: modelscope-api.md §8.4, the one real 200 on record (values made up, fields kept).
REAL_200: dict[str, Any] = {
    "id": "chatcmpl-0b6a1f0e-5c3d-4e8f-9a2b-7c1d3e5f7a9b",
    "choices": [
        {
            "finish_reason": "stop",
            "index": 0,
            "logprobs": None,
            "message": {
                "content": "Hello! How can I help?",
                "role": "assistant",
                "function_calls": None,
                "reasoning_content": "",
            },
            "delta": EMPTY_DELTA,
        }
    ],
    "created": 1758960123456,
    "model": CODER,
    "object": "chat.completion",
    "system_fingerprint": "",
    "usage": {"completion_tokens": 7, "prompt_tokens": 9, "total_tokens": 16},
}


def chunk(
    content: str = "", reasoning: str = "", finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A stream chunk as §8.4 implies: both text fields on every delta, as strings."""
    delta = {"content": content, "reasoning_content": reasoning, **extra}
    return {
        "id": "chatcmpl-0b6a1f0e-5c3d-4e8f-9a2b-7c1d3e5f7a9b",
        "object": "chat.completion.chunk",
        "created": 1758960123456,
        "model": THINKING,
        "system_fingerprint": "",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


STREAM = (
    chunk(role="assistant"),
    chunk(reasoning="Compare "),
    chunk(reasoning="decimals."),
    chunk("9.9 "),
    chunk("is larger.", tool_calls=None, function_calls=None, role=None),
    chunk(finish="stop"),
)


def test_real_200_parses_with_no_reasoning_and_no_tool_calls(make_client: Any) -> None:
    server = FakeServer(reply(200, REAL_200))

    result = make_client(server).chat.complete(ChatRequest(model=CODER, messages=HI))

    assert (result.content, result.reasoning) == ("Hello! How can I help?", "")
    assert result.first.tool_calls == [] and result.first.finish_reason == "stop"
    assert result.id == REAL_200["id"]
    assert result.usage is not None and result.usage.total_tokens == 16


async def test_real_200_parses_the_same_way_async(make_client: Any) -> None:
    server = FakeServer(reply(200, REAL_200))

    result = await make_client(server).chat.acomplete(ChatRequest(model=CODER, messages=HI))

    assert (result.content, result.reasoning, result.first.tool_calls) == (
        "Hello! How can I help?",
        "",
        [],
    )


def test_stream_deltas_never_carry_empty_text_or_reasoning(make_client: Any) -> None:
    server = FakeServer(sse(*STREAM))

    deltas = list(make_client(server).chat.stream(ChatRequest(model=THINKING, messages=HI)))

    output = [(d.content, d.reasoning) for d in deltas if not d.done]
    assert output == [("", "Compare "), ("", "decimals."), ("9.9 ", ""), ("is larger.", "")]
    assert deltas[-1].done and deltas[-1].finish_reason == "stop"
    assert deltas[-1].tool_calls == ()


async def test_async_stream_aggregates_reasoning_and_answer_apart(make_client: Any) -> None:
    server = FakeServer(sse(*STREAM))

    result = await make_client(server).chat.acomplete(ChatRequest(model=THINKING, messages=HI))

    assert (result.reasoning, result.content) == ("Compare decimals.", "9.9 is larger.")


def test_all_empty_chunks_are_not_output_so_a_break_after_them_is_retried(
    make_client: Any,
) -> None:
    broken = sse(chunk(role="assistant"), chunk(), break_with=httpx.ReadError)
    server = FakeServer(broken, sse(*STREAM))

    deltas = list(make_client(server).chat.stream(ChatRequest(model=THINKING, messages=HI)))

    assert server.count == 2
    assert "".join(d.content for d in deltas) == "9.9 is larger."
