"""ChatModelScope on answers shaped like the real service's (modelscope-api.md §8.4): the
simulator sends ``reasoning_content: ""``, ``system_fingerprint: ""``, ``function_calls: null``,
a non-stream ``delta`` and ``created`` in milliseconds; none of it may become an empty reasoning
block or a surfaced empty value."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from langchain_core.messages import AIMessage, AIMessageChunk
from lc_helpers import PLAIN, REASONER, THINKING

from langchain_modelscope import ChatModelScope
from modelscope_inference.simulator import Simulator

Chat = Callable[..., ChatModelScope]


def _assert_no_reasoning(message: AIMessage) -> None:
    assert "reasoning_content" not in message.additional_kwargs
    assert [block["type"] for block in message.content_blocks] == ["text"]


def _assert_reasoning_chunks_are_never_empty(chunks: list[AIMessageChunk]) -> None:
    reasoning = [c.additional_kwargs["reasoning_content"] for c in chunks if c.additional_kwargs]
    assert reasoning and all(isinstance(r, str) and r for r in reasoning)
    assert all("reasoning_content" not in c.additional_kwargs for c in chunks if c.text)


def _assert_one_reasoning_block_then_text(message: AIMessage) -> None:
    blocks = message.content_blocks
    assert [b["type"] for b in blocks] == ["reasoning", "text"]
    assert blocks[0].get("reasoning") == message.additional_kwargs["reasoning_content"] != ""


def test_answer_without_thinking_has_no_reasoning_kwarg_or_block(chat: Chat) -> None:
    _assert_no_reasoning(chat(PLAIN).invoke("hello"))


async def test_async_answer_without_thinking_has_no_reasoning_kwarg_or_block(chat: Chat) -> None:
    _assert_no_reasoning(await chat(PLAIN).ainvoke("hello"))


def test_empty_system_fingerprint_and_created_are_not_surfaced(chat: Chat) -> None:
    message = chat(PLAIN).invoke("hello")

    assert "system_fingerprint" not in message.response_metadata
    assert "created" not in message.response_metadata
    completion_id = message.response_metadata["id"]
    assert completion_id == message.id and completion_id.startswith("chatcmpl-")
    assert uuid.UUID(completion_id.removeprefix("chatcmpl-")).version == 4


def test_stream_without_thinking_has_no_reasoning_anywhere(chat: Chat) -> None:
    chunks = list(chat(PLAIN).stream("hello"))

    assert all("reasoning_content" not in c.additional_kwargs for c in chunks)
    full = chunks[0]
    for piece in chunks[1:]:
        full += piece
    _assert_no_reasoning(full)
    assert "system_fingerprint" not in full.response_metadata


def test_thinking_stream_has_no_empty_reasoning_chunks(chat: Chat) -> None:
    chunks = list(chat(THINKING).stream("Why is the sky blue?"))

    _assert_reasoning_chunks_are_never_empty(chunks)
    full = chunks[0]
    for piece in chunks[1:]:
        full += piece
    _assert_one_reasoning_block_then_text(full)


async def test_async_thinking_stream_has_no_empty_reasoning_chunks(chat: Chat) -> None:
    chunks = [c async for c in chat(REASONER).astream("Why is the sky blue?")]

    _assert_reasoning_chunks_are_never_empty(chunks)


def test_thinking_invoke_has_one_reasoning_block_then_text(chat: Chat, sim: Simulator) -> None:
    _assert_one_reasoning_block_then_text(chat(THINKING).invoke("Why is the sky blue?"))
    assert [r.stream for r in sim.requests] == [True]
