"""ModelScopeLLM against the simulator: conversion, thinking, tools, quota, errors, secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ChatResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel, Field

from llama_index_modelscope import ModelScopeLLM, ToolArgumentsError
from modelscope_inference import (
    AuthenticationError,
    ConfigurationError,
    QuotaExhaustedError,
    StreamInterruptedError,
)
from modelscope_inference.simulator import Fault, Reply, ScriptedToolCall, Simulator

HYBRID = "Qwen/Qwen3-32B"
PLAIN = "Qwen/Qwen2.5-7B-Instruct"
THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
R1 = "deepseek-ai/DeepSeek-R1-0528"

MakeLLM = Callable[..., ModelScopeLLM]
Bodies = Callable[[], list[dict[str, Any]]]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


TOOLS = [FunctionTool.from_defaults(add), FunctionTool.from_defaults(multiply)]


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


# --- metadata and configuration --------------------------------------------------------------


def test_metadata_context_window_comes_from_the_catalog(make_llm: MakeLLM) -> None:
    assert make_llm(HYBRID).metadata.context_window == 131_072
    assert make_llm(THINKING).metadata.context_window == 262_144
    assert make_llm(PLAIN).metadata.context_window == 32_768


def test_context_window_override_wins(make_llm: MakeLLM) -> None:
    assert make_llm(HYBRID, context_window=8_000).metadata.context_window == 8_000


def test_metadata_describes_a_chat_model_with_function_calling_without_flags(
    make_llm: MakeLLM,
) -> None:
    meta = make_llm(HYBRID, max_tokens=512).metadata
    assert meta.is_chat_model is True
    assert meta.is_function_calling_model is True
    assert meta.model_name == HYBRID
    assert meta.num_output == 512


def test_models_without_tool_calling_are_not_function_calling(make_llm: MakeLLM) -> None:
    assert make_llm("Qwen/QVQ-72B-Preview").metadata.is_function_calling_model is False


def test_class_name_is_stable() -> None:
    assert ModelScopeLLM.class_name() == "ModelScopeLLM"


def test_missing_token_fails_at_construction(sim: Simulator) -> None:
    with pytest.raises(ConfigurationError, match="MODELSCOPE_API_KEY"):
        ModelScopeLLM(model=HYBRID, api_base=sim.base_url)


def test_token_is_read_from_the_environment(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    llm = ModelScopeLLM(model=PLAIN, api_base=sim.base_url)
    assert llm.complete("hello").text


# --- chat and complete ----------------------------------------------------------------------


def test_chat_returns_the_answer_as_an_assistant_message(make_llm: MakeLLM) -> None:
    response = make_llm(PLAIN).chat(user("hello there"))
    assert response.message.role == MessageRole.ASSISTANT
    assert "hello there" in (response.message.content or "")
    assert response.additional_kwargs["model"] == PLAIN
    assert response.additional_kwargs["prompt_tokens"] > 0


def test_complete_uses_the_chat_endpoint_with_one_user_message(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    text = make_llm(PLAIN).complete("say hi").text
    assert text
    assert [r.path for r in sim.requests] == ["/v1/chat/completions"]
    assert sim.requests[0].body["messages"] == [{"role": "user", "content": "say hi"}]


def test_sampling_fields_and_additional_kwargs_reach_the_body(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    llm = make_llm(PLAIN, temperature=0.3, max_tokens=64, additional_kwargs={"top_p": 0.9})
    llm.chat(user("hi"), seed=7)
    body = chat_bodies()[0]
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["seed"]) == (
        0.3,
        64,
        0.9,
        7,
    )


def test_system_and_history_are_sent_as_wire_messages(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    history = [
        ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
        ChatMessage(role=MessageRole.USER, content="Hi"),
        ChatMessage(role=MessageRole.ASSISTANT, content="Hello!"),
        ChatMessage(role=MessageRole.USER, content="Bye"),
    ]
    make_llm(PLAIN).chat(history)
    assert chat_bodies()[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]


def test_images_are_sent_as_image_url_parts(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    message = ChatMessage(
        role=MessageRole.USER,
        blocks=[
            ImageBlock(url="https://example.com/cat.png"),
            ImageBlock(image=b"\x89PNG\r\n", image_mimetype="image/png"),
            TextBlock(text="What is this?"),
        ],
    )
    assert make_llm("Qwen/Qwen2.5-VL-72B-Instruct").chat([message]).message.content
    parts = chat_bodies()[0]["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[2] == {"type": "text", "text": "What is this?"}


def test_unsupported_content_fails_before_any_request(make_llm: MakeLLM, sim: Simulator) -> None:
    message = ChatMessage(role=MessageRole.USER, blocks=[AudioBlock(audio=b"RIFF", format="wav")])
    with pytest.raises(ValueError, match="AudioBlock"):
        make_llm(PLAIN).chat([message])
    assert sim.requests == []


# --- thinking rules ---------------------------------------------------------------------------


def test_hybrid_chat_sends_enable_thinking_false_without_streaming(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    response = make_llm(HYBRID).chat(user("hi"))
    body = chat_bodies()[0]
    assert body["enable_thinking"] is False
    assert body["stream"] is False
    assert not any(isinstance(b, ThinkingBlock) for b in response.message.blocks)


def test_hybrid_with_thinking_on_streams_and_returns_a_thinking_block(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    response = make_llm(HYBRID, enable_thinking=True, thinking_budget=256).chat(user("why?"))
    body = chat_bodies()[0]
    assert (body["enable_thinking"], body["thinking_budget"], body["stream"]) == (True, 256, True)
    thinking = [b for b in response.message.blocks if isinstance(b, ThinkingBlock)]
    assert thinking and thinking[0].content
    assert response.message.additional_kwargs["reasoning_content"] == thinking[0].content
    assert thinking[0].content not in (response.message.content or "")


def test_thinking_only_model_chat_streams_internally(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    response = make_llm(THINKING).chat(user("hi"))
    assert chat_bodies()[0]["stream"] is True
    assert response.message.content
    assert response.message.additional_kwargs["reasoning_content"]


def test_enable_thinking_can_be_set_per_call(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    make_llm(HYBRID).chat(user("hi"), enable_thinking=True)
    assert chat_bodies()[0]["enable_thinking"] is True


def test_stream_chat_yields_text_deltas_and_keeps_reasoning_apart(make_llm: MakeLLM) -> None:
    chunks = list(make_llm(THINKING).stream_chat(user("why is the sky blue")))
    text = "".join(c.delta or "" for c in chunks)
    reasoning = "".join(c.additional_kwargs.get("thinking_delta", "") for c in chunks)
    final = chunks[-1]
    assert len(chunks) > 3
    assert text and reasoning
    assert final.message.content == text
    assert final.message.additional_kwargs["reasoning_content"] == reasoning
    assert reasoning not in text
    assert all("thinking_delta" not in c.additional_kwargs for c in chunks if c.delta)
    blocks = final.message.blocks
    assert isinstance(blocks[0], ThinkingBlock) and blocks[0].content == reasoning
    assert final.additional_kwargs["completion_tokens"] > 0


def test_stream_complete_yields_deltas_and_reasoning(make_llm: MakeLLM) -> None:
    chunks = list(make_llm(R1).stream_complete("hello"))
    assert "".join(c.delta or "" for c in chunks) == chunks[-1].text
    assert chunks[-1].additional_kwargs["reasoning_content"]


def test_reasoning_is_not_sent_back_by_default(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    llm = make_llm(THINKING)
    first = llm.chat(user("hi")).message
    llm.chat([*user("hi"), first, *user("and then?")])
    assistant = chat_bodies()[1]["messages"][1]
    assert assistant["role"] == "assistant"
    assert "reasoning_content" not in assistant


def test_pass_back_reasoning_sends_it(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    llm = make_llm(THINKING, pass_back_reasoning=True)
    first = llm.chat(user("hi")).message
    llm.chat([*user("hi"), first, *user("and then?")])
    assert (
        chat_bodies()[1]["messages"][1]["reasoning_content"]
        == first.additional_kwargs["reasoning_content"]
    )


# --- async twins ------------------------------------------------------------------------------


async def test_achat_and_acomplete(make_llm: MakeLLM, sim: Simulator) -> None:
    llm = make_llm(THINKING)
    chat = await llm.achat(user("hi"))
    done = await llm.acomplete("hi")
    assert chat.message.content and chat.message.additional_kwargs["reasoning_content"]
    assert done.text and done.additional_kwargs["reasoning_content"]
    assert {r.path for r in sim.requests} == {"/v1/chat/completions"}


async def test_astream_chat_and_astream_complete(make_llm: MakeLLM) -> None:
    llm = make_llm(THINKING)
    chats = [c async for c in await llm.astream_chat(user("hi"))]
    completions = [c async for c in await llm.astream_complete("hi")]
    assert "".join(c.delta or "" for c in chats) == chats[-1].message.content
    assert any("thinking_delta" in c.additional_kwargs for c in chats)
    assert "".join(c.delta or "" for c in completions) == completions[-1].text


# --- tools ------------------------------------------------------------------------------------


def test_chat_with_tools_sends_openai_tools_and_returns_tool_selections(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    llm = make_llm(HYBRID)
    response = llm.chat_with_tools(TOOLS, user_msg="What is 3 + 4?")
    body = chat_bodies()[0]
    assert [t["function"]["name"] for t in body["tools"]] == ["add", "multiply"]
    assert "parallel_tool_calls" not in body
    assert "tool_choice" not in body
    calls = llm.get_tool_calls_from_response(response)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("add", {"a": 3, "b": 4})]
    assert calls[0].tool_id
    wire = response.message.additional_kwargs["tool_calls"][0]
    assert wire["function"]["name"] == "add" and json.loads(wire["function"]["arguments"])


def test_tool_required_sends_tool_choice_required(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    make_llm(PLAIN).chat_with_tools(TOOLS, user_msg="What is 3 + 4?", tool_required=True)
    assert chat_bodies()[0]["tool_choice"] == "required"


def test_tool_choice_by_name_is_sent_in_object_form(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    make_llm(PLAIN).chat_with_tools(TOOLS, user_msg="Multiply 2 by 5", tool_choice="multiply")
    assert chat_bodies()[0]["tool_choice"] == {"type": "function", "function": {"name": "multiply"}}


def test_thinking_model_never_gets_a_forced_tool_choice(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    make_llm(R1).chat_with_tools(TOOLS, user_msg="What is 3 + 4?", tool_required=True)
    assert chat_bodies()[0]["tool_choice"] == "auto"


def test_only_the_first_tool_call_is_kept_unless_parallel_calls_are_allowed(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    two = Reply(
        tool_calls=[
            ScriptedToolCall("add", {"a": 1, "b": 2}),
            ScriptedToolCall("multiply", {"a": 3, "b": 4}),
        ]
    )
    sim.script(two, times=2)
    llm = make_llm(PLAIN)
    single = llm.chat_with_tools(TOOLS, user_msg="go")
    both = llm.chat_with_tools(TOOLS, user_msg="go", allow_parallel_tool_calls=True)
    assert [c.tool_name for c in llm.get_tool_calls_from_response(single)] == ["add"]
    assert [c.tool_name for c in llm.get_tool_calls_from_response(both)] == ["add", "multiply"]
    assert len(single.message.additional_kwargs["tool_calls"]) == 1


@pytest.mark.parametrize("raw", ['{"a": 1, "b":', '"just a string"', "[1, 2]"])
def test_broken_tool_arguments_raise_instead_of_becoming_empty(
    make_llm: MakeLLM, sim: Simulator, raw: str
) -> None:
    sim.script(Reply.tool_call("add", raw))
    llm = make_llm(PLAIN)
    response = llm.chat_with_tools(TOOLS, user_msg="What is 3 + 4?")
    block = next(b for b in response.message.blocks if isinstance(b, ToolCallBlock))
    assert block.tool_kwargs == raw
    with pytest.raises(ToolArgumentsError, match="add") as info:
        llm.get_tool_calls_from_response(response)
    assert info.value.raw_arguments == raw


def test_no_tool_call_raises_only_when_asked(make_llm: MakeLLM, sim: Simulator) -> None:
    sim.script(Reply.text("no tools needed"))
    llm = make_llm(PLAIN)
    response = llm.chat_with_tools(TOOLS, user_msg="hi")
    assert llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="tool call"):
        llm.get_tool_calls_from_response(response)


@pytest.mark.parametrize(
    "fault", [None, Fault.tool_delta_no_index(), Fault.tool_delta_id_first_only()]
)
def test_streamed_tool_calls_are_merged_into_the_final_response(
    make_llm: MakeLLM, sim: Simulator, fault: Fault | None
) -> None:
    if fault is not None:
        sim.inject(fault)
    llm = make_llm(PLAIN)
    chunks = list(llm.stream_chat_with_tools(TOOLS, user_msg="What is 3 + 4?"))
    assert all(llm.get_tool_calls_from_response(c, False) == [] for c in chunks[:-1])
    calls = llm.get_tool_calls_from_response(chunks[-1])
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("add", {"a": 3, "b": 4})]


def test_tool_history_round_trips_in_openai_wire_form(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    llm = make_llm(HYBRID)
    first = llm.chat_with_tools(TOOLS, user_msg="What is 3 + 4?")
    call = llm.get_tool_calls_from_response(first)[0]
    result = ChatMessage(
        role=MessageRole.TOOL, content="7", additional_kwargs={"tool_call_id": call.tool_id}
    )
    final = llm.chat_with_tools(
        TOOLS, chat_history=[*user("What is 3 + 4?"), first.message, result]
    )
    assistant, tool = chat_bodies()[1]["messages"][1:3]
    assert assistant["tool_calls"][0]["id"] == call.tool_id
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"a": 3, "b": 4}
    assert tool == {"role": "tool", "content": "7", "tool_call_id": call.tool_id}
    assert "7" in (final.message.content or "")


def test_legacy_tool_calls_in_additional_kwargs_are_read(make_llm: MakeLLM) -> None:
    wire = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":1}'}}
    message = ChatMessage(role=MessageRole.ASSISTANT, additional_kwargs={"tool_calls": [wire]})
    calls = make_llm(PLAIN).get_tool_calls_from_response(ChatResponse(message=message))
    assert [(c.tool_id, c.tool_kwargs) for c in calls] == [("c1", {"a": 1})]


# --- structured output ------------------------------------------------------------------------


class City(BaseModel):
    name: str
    population: int


PROMPT = PromptTemplate("Extract the city from: {text}")


def test_structured_predict_returns_a_validated_object_via_tool_calling(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    city = make_llm(HYBRID).structured_predict(City, PROMPT, text="Paris has 2100000 people")
    assert isinstance(city, City) and city.population == 2_100_000
    body = chat_bodies()[0]
    assert body["tools"][0]["function"]["name"] == "City"
    assert body["tool_choice"] == "required"


async def test_astructured_predict_and_as_structured_llm(make_llm: MakeLLM) -> None:
    llm = make_llm(PLAIN)
    city = await llm.astructured_predict(City, PROMPT, text="Lyon has 520000 people")
    structured = llm.as_structured_llm(City).complete("Lyon has 520000 people")
    assert isinstance(city, City) and city.population == 520_000
    assert isinstance(structured.raw, City) and structured.raw.population == 520_000


# --- quota, fallback, errors, retries ------------------------------------------------------------


def test_account_quota_exhaustion_raises_fast_after_one_request(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    sim.set_quota(account_limit=0)
    llm = make_llm(PLAIN, max_retries=5)
    with pytest.raises(QuotaExhaustedError) as info:
        llm.chat(user("hi"))
    assert info.value.scope == "account"
    assert len(sim.requests) == 1
    with pytest.raises(QuotaExhaustedError):
        llm.complete("again")
    assert len(sim.requests) == 1  # known spent: no second request
    assert llm.quota_status.account_remaining == 0


def test_model_quota_exhaustion_falls_back_to_the_next_model(
    make_llm: MakeLLM, sim: Simulator, chat_bodies: Bodies
) -> None:
    sim.set_quota(model_limits={PLAIN: 0})
    llm = make_llm(PLAIN, fallback_models=[HYBRID])
    response = llm.chat(user("hi"))
    assert [b["model"] for b in chat_bodies()] == [PLAIN, HYBRID]
    assert response.additional_kwargs["model"] == HYBRID
    assert response.raw["model"] == HYBRID


def test_model_fallback_also_works_for_streams(make_llm: MakeLLM, sim: Simulator) -> None:
    sim.set_quota(model_limits={PLAIN: 0})
    chunks = list(make_llm(PLAIN, fallback_models=[HYBRID]).stream_chat(user("hi")))
    assert chunks[-1].additional_kwargs["model"] == HYBRID


def test_quota_status_reflects_the_last_headers(make_llm: MakeLLM, sim: Simulator) -> None:
    sim.set_quota(account_limit=50, model_limits={PLAIN: 10})
    llm = make_llm(PLAIN)
    llm.chat(user("hi"))
    status = llm.quota_status
    assert (status.account_remaining, status.model_remaining) == (49, 9)


def test_transient_server_errors_are_retried(make_llm: MakeLLM, sim: Simulator) -> None:
    sim.inject(Fault.server_error(503))
    assert make_llm(PLAIN, max_retries=2).chat(user("hi")).message.content
    assert len(sim.requests) == 2


def test_a_stream_broken_after_output_is_not_retried(make_llm: MakeLLM, sim: Simulator) -> None:
    sim.inject(Fault.drop_after(4))
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in make_llm(PLAIN, max_retries=3).stream_chat(user("tell me a story")):
            received.append(chunk.delta or "")
    assert len(sim.requests) == 1
    assert info.value.text == "".join(received)


def test_bad_token_raises_an_auth_error_without_retry(sim: Simulator) -> None:
    llm = ModelScopeLLM(model=PLAIN, api_base=sim.base_url, api_key="ms-wrong-token-123")
    with pytest.raises(AuthenticationError) as info:
        llm.chat(user("hi"))
    assert len(sim.requests) == 1
    assert "ms-wrong-token-123" not in str(info.value)


# --- secrets --------------------------------------------------------------------------------


def test_token_is_absent_from_serialization_and_repr(make_llm: MakeLLM, sim: Simulator) -> None:
    llm = make_llm(HYBRID)
    for text in (llm.to_json(), str(llm.to_dict()), str(llm.model_dump()), repr(llm), str(llm)):
        assert sim.token not in text
    assert "api_key" not in llm.to_dict()


def test_from_dict_round_trip_reads_the_token_from_the_environment(
    make_llm: MakeLLM, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_llm(HYBRID, enable_thinking=False, fallback_models=[PLAIN]).to_dict()
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    clone = ModelScopeLLM.from_dict(data)
    assert (clone.model, clone.enable_thinking, clone.fallback_models) == (HYBRID, False, [PLAIN])
    assert clone.complete("hi").text


class _Collector(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Collector"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)


def test_token_is_absent_from_instrumentation_events(make_llm: MakeLLM, sim: Simulator) -> None:
    root = get_dispatcher()
    collector = _Collector()
    root.add_event_handler(collector)
    try:
        llm = make_llm(THINKING)
        llm.chat(user("hi"))
        list(llm.stream_chat(user("hi")))
        llm.complete("hi")
        llm.chat_with_tools(TOOLS, user_msg="What is 3 + 4?")
    finally:
        root.event_handlers.remove(collector)
    names = {type(e).__name__ for e in collector.events}
    assert {"LLMChatStartEvent", "LLMChatEndEvent", "LLMCompletionEndEvent"} <= names
    for event in collector.events:
        assert sim.token not in str(event.model_dump())
        assert sim.token not in repr(event)


def test_callbacks_fire_for_chat_and_complete(make_llm: MakeLLM) -> None:
    from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler

    debug = LlamaDebugHandler()
    llm = make_llm(PLAIN, callback_manager=CallbackManager([debug]))
    llm.chat(user("hi"))
    llm.complete("hi")
    assert len(debug.get_llm_inputs_outputs()) == 2
