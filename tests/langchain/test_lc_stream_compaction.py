"""ChatModelScope.stream / astream hold a bounded number of chunks, and lose none of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, LLMResult
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks
from lc_helpers import PLAIN

from langchain_modelscope import ChatModelScope, _compaction
from langchain_modelscope._compaction import COMPACT_EVERY, chunk_list, compacting
from modelscope_inference.simulator import Reply, Simulator

Chat = Callable[..., ChatModelScope]
PIECES = [f"w{i} " for i in range(1000)]


class Recorder(BaseCallbackHandler):
    """Keeps what ``on_llm_end`` and ``on_llm_error`` were given."""

    run_inline = True

    def __init__(self) -> None:
        self.ends: list[LLMResult] = []
        self.errors: list[BaseException] = []

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


@pytest.fixture
def held_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of langchain-core's chunk list right after each compaction."""
    sizes: list[int] = []
    original = _compaction.compact

    def spy(frame: FrameType | None) -> None:
        original(frame)
        held = chunk_list(frame)
        sizes.append(len(held) if held is not None else -1)

    monkeypatch.setattr(_compaction, "compact", spy)
    return sizes


def _langchain_like_stream(count: int, sizes: list[int], final: list[Any]) -> Iterator[Any]:
    """The shape of langchain-core's stream: collect every chunk, merge them at the end."""
    chunks: list[ChatGenerationChunk] = []
    for i in range(count):
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=f"{i},"))
        chunks.append(chunk)
        yield chunk.message
        sizes.append(len(chunks))
    final.append(merge_chat_generation_chunks(chunks))


def test_compacting_bounds_the_held_list_and_merges_exactly() -> None:
    sizes: list[int] = []
    final: list[Any] = []

    yielded = [m.content for m in compacting(_langchain_like_stream(1000, sizes, final))]

    assert yielded == [f"{i}," for i in range(1000)]
    assert max(sizes) <= COMPACT_EVERY
    assert final[0].message.content == "".join(f"{i}," for i in range(1000))


def test_langchain_core_still_collects_its_stream_into_a_chunks_list(chat: Chat) -> None:
    # If a langchain-core release renames the list, compaction silently stops: this says so.
    stream = BaseChatModel.stream(chat(PLAIN), "hello")
    next(stream)
    try:
        held = chunk_list(stream.gi_frame)
        assert held is not None and isinstance(held[0], ChatGenerationChunk)
    finally:
        stream.close()


async def test_langchain_core_still_collects_its_astream_into_a_chunks_list(chat: Chat) -> None:
    stream = BaseChatModel.astream(chat(PLAIN), "hello")
    await stream.__anext__()
    try:
        held = chunk_list(stream.ag_frame)  # type: ignore[attr-defined]
        assert held is not None and isinstance(held[0], ChatGenerationChunk)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def _check_end(recorder: Recorder, received: list[str]) -> None:
    assert "".join(received) == "".join(PIECES)
    (result,) = recorder.ends
    generation = result.generations[0][0]
    assert generation.text == "".join(PIECES)
    assert generation.message.response_metadata["finish_reason"] == "stop"
    assert generation.message.usage_metadata is not None


def test_a_long_stream_holds_few_chunks_and_reports_all_of_them(
    chat: Chat, sim: Simulator, held_sizes: list[int]
) -> None:
    sim.script(Reply(chunks=PIECES))
    recorder = Recorder()

    received = [c.text for c in chat(PLAIN).stream("hello", config={"callbacks": [recorder]})]

    _check_end(recorder, received)
    assert len(held_sizes) >= len(PIECES) // COMPACT_EVERY
    assert set(held_sizes) == {1}


async def test_a_long_astream_holds_few_chunks_and_reports_all_of_them(
    chat: Chat, sim: Simulator, held_sizes: list[int]
) -> None:
    sim.script(Reply(chunks=PIECES))
    recorder = Recorder()

    received = [
        c.text async for c in chat(PLAIN).astream("hello", config={"callbacks": [recorder]})
    ]

    _check_end(recorder, received)
    assert len(held_sizes) >= len(PIECES) // COMPACT_EVERY
    assert set(held_sizes) == {1}


def test_closing_a_stream_early_closes_langchains_run(chat: Chat, sim: Simulator) -> None:
    sim.script(Reply(chunks=PIECES))
    recorder = Recorder()

    stream = chat(PLAIN).stream("hello", config={"callbacks": [recorder]})
    for _ in range(COMPACT_EVERY + 5):
        next(stream)
    stream.close()  # type: ignore[attr-defined]

    assert len(recorder.errors) == 1 and isinstance(recorder.errors[0], GeneratorExit)
    assert recorder.ends == []
