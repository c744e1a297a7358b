"""ChatModelScope on ModelScope's own rules: thinking models, daily quotas, fallbacks, broken
streams. Each test checks what reached the simulator (``sim.requests``) as well as the answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from lc_helpers import HYBRID, PLAIN, REASONER, THINKING, chat_bodies

from langchain_modelscope import ChatModelScope
from modelscope_inference import QuotaExhaustedError, StreamInterruptedError
from modelscope_inference.simulator import Fault, Reply, Simulator

Chat = Callable[..., ChatModelScope]


def _collect(llm: ChatModelScope, prompt: str) -> AIMessageChunk:
    full: AIMessageChunk | None = None
    for chunk in llm.stream(prompt):
        full = chunk if full is None else full + chunk
    assert full is not None
    return full


# --- thinking -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [THINKING, REASONER])
def test_thinking_only_model_invoke_streams_internally_and_aggregates(
    chat: Chat, sim: Simulator, model: str
) -> None:
    result = chat(model).invoke("Why is the sky blue?")

    [body] = chat_bodies(sim)
    assert body["stream"] is True
    assert result.content and isinstance(result.content, str)
    assert result.additional_kwargs["reasoning_content"]
    assert result.additional_kwargs["reasoning_content"] not in result.content


def test_reasoning_is_a_standard_reasoning_content_block(chat: Chat) -> None:
    result = chat(THINKING).invoke("Why is the sky blue?")

    blocks = result.content_blocks
    assert blocks[0]["type"] == "reasoning"
    assert blocks[0].get("reasoning") == result.additional_kwargs["reasoning_content"]
    assert [b["type"] for b in blocks[1:]] == ["text"]


def test_hybrid_model_invoke_sends_enable_thinking_false(chat: Chat, sim: Simulator) -> None:
    result = chat(HYBRID).invoke("hello")

    [body] = chat_bodies(sim)
    assert body["stream"] is False
    assert body["enable_thinking"] is False
    assert "reasoning_content" not in result.additional_kwargs


def test_hybrid_model_invoke_with_thinking_asked_streams(chat: Chat, sim: Simulator) -> None:
    result = chat(HYBRID, enable_thinking=True).invoke("hello")

    [body] = chat_bodies(sim)
    assert body["stream"] is True
    assert body["enable_thinking"] is True
    assert result.additional_kwargs["reasoning_content"]


def test_hybrid_model_stream_leaves_thinking_to_the_model(chat: Chat, sim: Simulator) -> None:
    full = _collect(chat(HYBRID), "hello")

    [body] = chat_bodies(sim)
    assert "enable_thinking" not in body
    assert full.additional_kwargs["reasoning_content"]
    assert full.additional_kwargs["reasoning_content"] not in full.text


def test_enable_thinking_false_is_sent_on_streams_too(chat: Chat, sim: Simulator) -> None:
    full = _collect(chat(HYBRID, enable_thinking=False), "hello")

    [body] = chat_bodies(sim)
    assert body["enable_thinking"] is False
    assert "reasoning_content" not in full.additional_kwargs


def test_enable_thinking_can_be_set_per_call(chat: Chat, sim: Simulator) -> None:
    chat(HYBRID).invoke("hello", enable_thinking=True)

    assert chat_bodies(sim)[0]["enable_thinking"] is True


def test_thinking_budget_is_a_top_level_body_field(chat: Chat, sim: Simulator) -> None:
    chat(HYBRID, enable_thinking=True, thinking_budget=64).invoke("hello")

    [body] = chat_bodies(sim)
    assert body["thinking_budget"] == 64
    assert "extra_body" not in body


def test_plain_model_gets_no_thinking_fields(chat: Chat, sim: Simulator) -> None:
    chat(PLAIN).invoke("hello")

    [body] = chat_bodies(sim)
    assert "enable_thinking" not in body
    assert "thinking_budget" not in body


def test_reasoning_usage_is_reported_as_output_token_details(chat: Chat) -> None:
    result = chat(THINKING).invoke("hello")

    assert result.usage_metadata is not None
    reasoning = result.usage_metadata.get("output_token_details", {}).get("reasoning")
    assert isinstance(reasoning, int) and reasoning > 0
    assert result.usage_metadata["output_tokens"] >= reasoning


def _history_with_reasoning() -> list[HumanMessage | AIMessage]:
    return [
        HumanMessage("hi"),
        AIMessage("Hello!", additional_kwargs={"reasoning_content": "The user greets me."}),
        HumanMessage("how are you?"),
    ]


def test_reasoning_is_not_sent_back_by_default(chat: Chat, sim: Simulator) -> None:
    chat(THINKING).invoke(_history_with_reasoning())

    [body] = chat_bodies(sim)
    assert all("reasoning_content" not in m for m in body["messages"])


def test_pass_back_reasoning_sends_it_with_the_assistant_turn(chat: Chat, sim: Simulator) -> None:
    chat(THINKING, pass_back_reasoning=True).invoke(_history_with_reasoning())

    [body] = chat_bodies(sim)
    assert body["messages"][1]["reasoning_content"] == "The user greets me."


def test_forced_tool_choice_in_thinking_mode_warns_and_sends_auto(
    chat: Chat, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    llm = chat(THINKING).bind_tools([add], tool_choice="any")
    caplog.set_level(logging.WARNING, logger="modelscope_inference")
    result = llm.invoke("What is 3 + 4?")

    assert sum("tool_choice" in r.getMessage() for r in caplog.records) == 1

    [body] = chat_bodies(sim)
    assert body["tool_choice"] == "auto"
    assert result.tool_calls[0]["args"] == {"a": 3, "b": 4}


async def test_async_thinking_model_invoke_and_stream(chat: Chat, sim: Simulator) -> None:
    llm = chat(THINKING)
    result = await llm.ainvoke("hello")
    chunks = [chunk async for chunk in llm.astream("hello")]

    assert result.additional_kwargs["reasoning_content"] and result.content
    assert any(c.additional_kwargs.get("reasoning_content") for c in chunks)
    assert chunks[-1].chunk_position == "last"
    assert [b["stream"] for b in chat_bodies(sim)] == [True, True]


# --- quota and fallbacks --------------------------------------------------------------------


def test_fallback_model_answers_when_the_first_models_quota_is_spent(
    chat: Chat, sim: Simulator
) -> None:
    sim.set_quota(model_limits={PLAIN: 0})

    result = chat(PLAIN, fallback_models=[HYBRID]).invoke("hello")

    assert [b["model"] for b in chat_bodies(sim)] == [PLAIN, HYBRID]
    assert result.response_metadata["model_name"] == HYBRID
    assert HYBRID in str(result.content)


def test_fallback_models_also_apply_to_streams(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(model_limits={PLAIN: 0})

    full = _collect(chat(PLAIN, fallback_models=[HYBRID], enable_thinking=False), "hello")

    assert full.response_metadata["model_name"] == HYBRID
    assert [b["model"] for b in chat_bodies(sim)] == [PLAIN, HYBRID]


def test_spent_quota_fails_fast_then_preflight_sends_nothing(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(model_limits={PLAIN: 0})
    llm = chat(PLAIN, max_retries=2)

    with pytest.raises(QuotaExhaustedError) as first:
        llm.invoke("hello")
    assert len(chat_bodies(sim)) == 1
    assert first.value.scope == "model"
    assert PLAIN in str(first.value)

    with pytest.raises(QuotaExhaustedError):
        llm.invoke("hello again")
    assert len(chat_bodies(sim)) == 1


def test_account_exhaustion_stops_without_trying_fallbacks(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(account_limit=0)

    with pytest.raises(QuotaExhaustedError) as caught:
        chat(PLAIN, fallback_models=[HYBRID]).invoke("hello")

    assert caught.value.scope == "account"
    assert [b["model"] for b in chat_bodies(sim)] == [PLAIN]


def test_langchain_with_fallbacks_switches_on_a_spent_quota(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(model_limits={PLAIN: 0})
    llm = chat(PLAIN, max_retries=2).with_fallbacks([chat(HYBRID)])

    result = llm.invoke("hello")

    assert result.response_metadata["model_name"] == HYBRID
    assert [b["model"] for b in chat_bodies(sim)] == [PLAIN, HYBRID]


def test_quota_is_in_response_metadata_and_on_the_model(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(model_limits={PLAIN: 5})
    llm = chat(PLAIN)

    result = llm.invoke("hello")

    quota = result.response_metadata["quota"]
    assert quota["model_limit"] == 5 and quota["model_remaining"] == 4
    assert quota["resets_at"]
    assert llm.quota_status.model_remaining == 4


def test_last_streamed_chunk_carries_quota_and_usage(chat: Chat) -> None:
    chunks = list(chat(PLAIN).stream("hello"))

    last = chunks[-1]
    assert last.chunk_position == "last"
    assert last.response_metadata["quota"]["model_remaining"] is not None
    assert last.usage_metadata is not None and last.usage_metadata["input_tokens"] > 0
    assert all(c.usage_metadata is None for c in chunks[:-1])


# --- broken streams -------------------------------------------------------------------------


def test_stream_dropped_midway_is_not_retried_and_keeps_the_partial_text(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply(chunks=["Hello", " brave", " new", " world"]))
    sim.inject(Fault.drop_after(3))
    received: list[str] = []

    with pytest.raises(StreamInterruptedError) as caught:
        for chunk in chat(PLAIN, max_retries=2).stream("hello"):
            received.append(chunk.text)

    assert len(chat_bodies(sim)) == 1
    assert "".join(received) == "Hello brave"
    assert caught.value.text == "Hello brave"


def test_stream_broken_before_output_is_retried(chat: Chat, sim: Simulator) -> None:
    sim.inject(Fault.drop_after(1))

    full = _collect(chat(PLAIN, max_retries=2), "hello")

    assert len(chat_bodies(sim)) == 2
    assert full.text.count("You said") == 1
