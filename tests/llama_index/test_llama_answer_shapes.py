"""ModelScopeLLM on answers shaped like the real service's (modelscope-api.md §8.4): the
simulator sends ``reasoning_content: ""``, ``system_fingerprint: ""``, ``function_calls: null``,
a non-stream ``delta`` and ``created`` in milliseconds; none of it may become an empty
``ThinkingBlock`` or a surfaced empty value."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ThinkingBlock,
)

from llama_index_modelscope import ModelScopeLLM

PLAIN = "Qwen/Qwen2.5-7B-Instruct"
THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
R1 = "deepseek-ai/DeepSeek-R1-0528"

MakeLLM = Callable[..., ModelScopeLLM]


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def _assert_no_thinking(response: ChatResponse) -> None:
    assert [type(b) for b in response.message.blocks] == [TextBlock]
    assert "reasoning_content" not in response.message.additional_kwargs
    assert "thinking_delta" not in response.additional_kwargs


def _assert_thinking_never_empty(chunks: list[ChatResponse]) -> None:
    *growing, closing = chunks
    thinking_deltas = [c.additional_kwargs.get("thinking_delta") for c in growing if not c.delta]
    assert thinking_deltas and all(isinstance(d, str) and d for d in thinking_deltas)
    assert "thinking_delta" not in closing.additional_kwargs
    for chunk in chunks:
        thinking = [b for b in chunk.message.blocks if isinstance(b, ThinkingBlock)]
        assert all(b.content for b in thinking), chunk.message.blocks
    final = chunks[-1].message.blocks
    assert [type(b) for b in final] == [ThinkingBlock, TextBlock]


def test_answer_without_thinking_has_no_thinking_block(make_llm: MakeLLM) -> None:
    _assert_no_thinking(make_llm(PLAIN).chat(user("hello")))


async def test_async_answer_without_thinking_has_no_thinking_block(make_llm: MakeLLM) -> None:
    _assert_no_thinking(await make_llm(PLAIN).achat(user("hello")))


def test_raw_summary_has_the_uuid_id_and_no_empty_fingerprint(make_llm: MakeLLM) -> None:
    raw = make_llm(PLAIN).chat(user("hello")).raw

    assert raw is not None
    assert "system_fingerprint" not in raw and "created" not in raw
    assert uuid.UUID(raw["id"].removeprefix("chatcmpl-")).version == 4


def test_stream_without_thinking_never_has_a_thinking_block(make_llm: MakeLLM) -> None:
    chunks = list(make_llm(PLAIN).stream_chat(user("hello")))

    assert len(chunks) > 2
    for chunk in chunks:
        assert not any(isinstance(b, ThinkingBlock) for b in chunk.message.blocks)
        assert "thinking_delta" not in chunk.additional_kwargs
    _assert_no_thinking(chunks[-1])


def test_thinking_stream_has_no_empty_thinking_blocks_or_deltas(make_llm: MakeLLM) -> None:
    _assert_thinking_never_empty(list(make_llm(THINKING).stream_chat(user("why?"))))


async def test_async_thinking_stream_has_no_empty_thinking_blocks(make_llm: MakeLLM) -> None:
    stream = await make_llm(R1).astream_chat(user("why?"))
    _assert_thinking_never_empty([c async for c in stream])
