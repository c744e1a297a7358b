"""ChatModelScope's conversions: options, messages, tools, structured output, images, streams."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import types
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.rate_limiters import BaseRateLimiter
from langchain_core.tools import tool
from lc_helpers import HYBRID, PLAIN, THINKING, VISION, chat_bodies, tiny_png_base64
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langchain_modelscope import ChatModelScope
from modelscope_inference.simulator import Fault, Reply, ScriptedToolCall, Simulator

Chat = Callable[..., ChatModelScope]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class Subtract(BaseModel):
    """Subtract b from a."""

    a: int
    b: int


POWER = {
    "type": "function",
    "function": {
        "name": "power",
        "description": "Raise a to the power b.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


class Joke(BaseModel):
    """A joke."""

    setup: str = Field(description="the question")
    punchline: str = Field(description="the answer")


class JokeDict(TypedDict):
    """A joke."""

    setup: str
    punchline: str


# --- options --------------------------------------------------------------------------------


def test_sampling_options_are_sent_only_when_set(chat: Chat, sim: Simulator) -> None:
    chat(PLAIN, temperature=0.2, max_tokens=50, seed=7, stop_sequences=["zzz"]).invoke("hi")
    chat(PLAIN).invoke("hi")

    configured, default = chat_bodies(sim)
    assert configured["temperature"] == 0.2
    assert configured["max_tokens"] == 50
    assert configured["seed"] == 7
    assert configured["stop"] == ["zzz"]
    assert not {"temperature", "max_tokens", "seed", "stop", "top_p", "n"} & set(default)


def test_model_kwargs_and_extra_body_are_top_level_fields(chat: Chat, sim: Simulator) -> None:
    llm = chat(PLAIN, model_kwargs={"top_k": 5}, extra_body={"repetition_penalty": 1.1})
    llm.invoke("hi", extra_body={"presence_penalty": 0.5})

    [body] = chat_bodies(sim)
    assert body["top_k"] == 5
    assert body["repetition_penalty"] == 1.1
    assert body["presence_penalty"] == 0.5


def test_call_time_stop_and_model_override_win(chat: Chat, sim: Simulator) -> None:
    result = chat(PLAIN, stop=["x"]).invoke("hi", stop=["You"], model=HYBRID)

    [body] = chat_bodies(sim)
    assert body["stop"] == ["You"]
    assert body["model"] == HYBRID
    assert result.response_metadata["model_name"] == HYBRID


def test_model_and_model_name_are_both_accepted() -> None:
    by_alias = ChatModelScope(model=PLAIN, api_key="ms-x")
    by_name = ChatModelScope(model_name=PLAIN, api_key="ms-x")  # type: ignore[call-arg]

    assert by_alias.model_name == by_name.model_name == by_alias.model == PLAIN


def test_default_headers_and_custom_http_clients_are_used(chat: Chat, sim: Simulator) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    sync_client = httpx.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]})
    async_client = httpx.AsyncClient(event_hooks={"request": [record]})
    llm = chat(
        PLAIN,
        default_headers={"X-Team": "search"},
        http_client=sync_client,
        http_async_client=async_client,
    )

    async def ainvoke_then_close() -> None:
        async with async_client:
            await llm.ainvoke("hi")

    llm.invoke("hi")
    asyncio.run(ainvoke_then_close())

    assert seen == ["/v1/chat/completions"] * 2
    assert all(r.headers.get("x-team") == "search" for r in sim.requests)
    sync_client.close()


def test_standard_langsmith_params() -> None:
    llm = ChatModelScope(model=PLAIN, api_key="ms-x", temperature=0.5, max_tokens=9, stop=["!"])

    params = llm._get_ls_params()

    assert params == {
        "ls_provider": "modelscope",
        "ls_model_name": PLAIN,
        "ls_model_type": "chat",
        "ls_temperature": 0.5,
        "ls_max_tokens": 9,
        "ls_stop": ["!"],
    }


def test_per_call_options_win_in_langsmith_params() -> None:
    llm = ChatModelScope(model=PLAIN, api_key="ms-x", temperature=0.5, max_tokens=9)

    params = llm._get_ls_params(model="Qwen/Qwen3-32B", temperature=0.1, max_tokens=None)

    assert params["ls_model_name"] == "Qwen/Qwen3-32B"
    assert params["ls_temperature"] == 0.1
    assert "ls_max_tokens" not in params  # an explicit None for this call, as LangChain reads it


def test_invocation_params_are_langchain_cores() -> None:
    llm = ChatModelScope(model=THINKING, api_key="ms-x", temperature=0.5, enable_thinking=False)

    ours = llm._get_invocation_params(stop=["!"], tools=[{"type": "function"}], top_p=0.9)
    base = BaseChatModel._get_invocation_params(
        llm, stop=["!"], tools=[{"type": "function"}], top_p=0.9
    )

    assert ours == base
    assert ours["_type"] == "modelscope-chat" and ours["enable_thinking"] is False


def test_langchain_still_sees_run_manager_in_the_generate_signatures() -> None:
    llm = ChatModelScope(model=PLAIN, api_key="ms-x")

    for method in (llm._generate, llm._agenerate):
        code = method.__func__.__code__
        bare = types.FunctionType(code, {}, code.co_name, method.__func__.__defaults__)
        bare.__annotations__ = method.__func__.__annotations__
        fresh = list(inspect.signature(bare).parameters.values())[1:]  # without self
        # the precomputed signature (see chat_models) is the function's own
        assert list(inspect.signature(method).parameters.values()) == fresh
        assert "run_manager" in inspect.signature(method).parameters


def test_profile_comes_from_the_catalog() -> None:
    vision = ChatModelScope(model=VISION, api_key="ms-x").profile
    thinking = ChatModelScope(model=THINKING, api_key="ms-x").profile

    assert vision is not None and vision["image_inputs"] is True
    assert thinking is not None and thinking["reasoning_output"] is True
    assert thinking["tool_choice"] is False  # thinking mode rejects a forced tool_choice


def test_stream_usage_false_sends_no_stream_options(chat: Chat, sim: Simulator) -> None:
    chunks = list(chat(PLAIN, stream_usage=False).stream("hi"))

    [body] = chat_bodies(sim)
    assert "stream_options" not in body
    assert all(c.usage_metadata is None for c in chunks)


def test_stream_asks_for_usage_by_default(chat: Chat, sim: Simulator) -> None:
    list(chat(PLAIN).stream("hi"))

    assert chat_bodies(sim)[0]["stream_options"] == {"include_usage": True}


class _Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_streaming_true_streams_under_invoke_and_fires_new_tokens(
    chat: Chat, sim: Simulator
) -> None:
    handler = _Tokens()

    result = chat(PLAIN, streaming=True).invoke("hi", config={"callbacks": [handler]})

    assert chat_bodies(sim)[0]["stream"] is True
    assert len(handler.tokens) > 1
    assert "".join(handler.tokens) == result.content
    assert result.usage_metadata is not None


def test_langchain_cache_answers_a_repeat_without_a_request(chat: Chat, sim: Simulator) -> None:
    llm = chat(PLAIN, cache=InMemoryCache())

    first, second = llm.invoke("hi"), llm.invoke("hi")

    assert first.content == second.content
    assert len(chat_bodies(sim)) == 1


def test_rate_limiter_is_consulted_before_each_call(chat: Chat, sim: Simulator) -> None:
    class Counting(BaseRateLimiter):
        calls = 0

        def acquire(self, *, blocking: bool = True) -> bool:
            Counting.calls += 1
            return True

        async def aacquire(self, *, blocking: bool = True) -> bool:
            return self.acquire(blocking=blocking)

    llm = chat(PLAIN, rate_limiter=Counting())
    llm.invoke("hi")
    list(llm.stream("hi"))

    assert Counting.calls == 2


def test_disable_streaming_answers_stream_with_one_call(chat: Chat, sim: Simulator) -> None:
    chunks = list(chat(PLAIN, disable_streaming=True).stream("hi"))

    assert len(chunks) == 1 and chunks[0].text
    assert chat_bodies(sim)[0]["stream"] is False


def test_n_above_one_cannot_stream() -> None:
    with pytest.raises(ValueError, match="n > 1"):
        ChatModelScope(model=PLAIN, api_key="ms-x", n=2, streaming=True)


# --- messages -------------------------------------------------------------------------------


def test_text_only_content_lists_are_flattened(chat: Chat, sim: Simulator) -> None:
    chat(PLAIN).invoke(
        [
            SystemMessage([{"type": "text", "text": "Be brief."}]),
            HumanMessage([{"type": "text", "text": "Hello "}, "there"]),
        ]
    )

    [body] = chat_bodies(sim)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]


def test_message_names_are_sent(chat: Chat, sim: Simulator) -> None:
    chat(PLAIN).invoke([HumanMessage("hello", name="ada")])

    assert chat_bodies(sim)[0]["messages"][0]["name"] == "ada"


def test_image_blocks_become_openai_image_url_parts(chat: Chat, sim: Simulator) -> None:
    data = tiny_png_base64()
    message = HumanMessage(
        [
            {"type": "text", "text": "Describe these."},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
            {"type": "image", "base64": data, "mime_type": "image/png"},
            {"type": "image", "url": "https://example.com/cat.png"},
        ]
    )

    result = chat(VISION).invoke([message])

    parts = chat_bodies(sim)[0]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "Describe these."}
    assert [p["type"] for p in parts[1:]] == ["image_url"] * 3
    assert parts[2]["image_url"]["url"] == f"data:image/png;base64,{data}"
    assert parts[3]["image_url"]["url"] == "https://example.com/cat.png"
    assert "3 images" in str(result.content)


def test_tool_message_history_round_trips(chat: Chat, sim: Simulator) -> None:
    history = [
        HumanMessage("What is 3 + 4?"),
        AIMessage(
            "",
            tool_calls=[{"name": "add", "args": {"a": 3, "b": 4}, "id": "call_1"}],
        ),
        ToolMessage("7", tool_call_id="call_1", name="add"),
    ]

    result = chat(PLAIN).bind_tools([add]).invoke(history)

    assistant, tool_result = chat_bodies(sim)[0]["messages"][1:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 3, "b": 4}'},
        }
    ]
    assert tool_result == {"role": "tool", "tool_call_id": "call_1", "content": "7"}
    assert "7" in str(result.content)


def test_invalid_tool_calls_go_back_with_their_raw_arguments(chat: Chat, sim: Simulator) -> None:
    history = [
        HumanMessage("What is 3 + 4?"),
        AIMessage(
            "",
            invalid_tool_calls=[
                {
                    "type": "invalid_tool_call",
                    "name": "add",
                    "args": '{"a": 3',
                    "id": "c9",
                    "error": "x",
                }
            ],
        ),
        ToolMessage("error: bad arguments", tool_call_id="c9", status="error"),
    ]

    chat(PLAIN).bind_tools([add]).invoke(history)

    assistant = chat_bodies(sim)[0]["messages"][1]
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"a": 3'


def test_assistant_list_content_keeps_only_text(chat: Chat, sim: Simulator) -> None:
    history = [
        HumanMessage("hi"),
        AIMessage(
            [
                {"type": "reasoning", "reasoning": "think"},
                {"type": "text", "text": "Hello!"},
                {"type": "tool_use", "id": "t1", "name": "add", "input": {}},
            ]
        ),
        HumanMessage("again"),
    ]

    chat(PLAIN).invoke(history)

    assert chat_bodies(sim)[0]["messages"][1] == {"role": "assistant", "content": "Hello!"}


# --- tools ----------------------------------------------------------------------------------


def test_bind_tools_accepts_functions_tools_pydantic_models_and_dicts(
    chat: Chat, sim: Simulator
) -> None:
    chat(PLAIN).bind_tools([add, multiply, Subtract, POWER]).invoke("hi")

    [body] = chat_bodies(sim)
    assert [t["function"]["name"] for t in body["tools"]] == [
        "add",
        "multiply",
        "Subtract",
        "power",
    ]
    assert all(t["type"] == "function" for t in body["tools"])
    assert "tool_choice" not in body
    assert "parallel_tool_calls" not in body
    assert all("strict" not in t["function"] for t in body["tools"])


@pytest.mark.parametrize(
    ("tools", "choice", "sent"),
    [
        ([add, multiply], "auto", "auto"),
        ([add, multiply], "none", "none"),
        ([add, multiply], "any", "required"),
        ([add, multiply], "required", "required"),
        ([add, multiply], "multiply", {"type": "function", "function": {"name": "multiply"}}),
        ([add], True, {"type": "function", "function": {"name": "add"}}),
        ([add, multiply], True, "required"),
    ],
)
def test_tool_choice_forms(
    chat: Chat, sim: Simulator, tools: list[Any], choice: Any, sent: Any
) -> None:
    chat(PLAIN).bind_tools(tools, tool_choice=choice).invoke("What is 3 + 4?")

    assert chat_bodies(sim)[0]["tool_choice"] == sent


def test_tool_choice_must_name_a_bound_tool(chat: Chat) -> None:
    with pytest.raises(ValueError, match="not a bound tool"):
        chat(PLAIN).bind_tools([add], tool_choice="divide")


def test_strict_and_parallel_tool_calls_are_sent_when_asked(chat: Chat, sim: Simulator) -> None:
    chat(PLAIN).bind_tools([add], strict=True, parallel_tool_calls=False).invoke("3 + 4?")

    [body] = chat_bodies(sim)
    assert body["tools"][0]["function"]["strict"] is True
    assert body["parallel_tool_calls"] is False


def test_tool_calls_are_parsed_into_dicts_with_ids(chat: Chat) -> None:
    result = chat(PLAIN).bind_tools([add]).invoke("What is 3 + 4?")

    [call] = result.tool_calls
    assert call["name"] == "add" and call["args"] == {"a": 3, "b": 4}
    assert call["id"]
    assert result.response_metadata["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("raw", ['{"a": 3', '"just a string"', '{"a": 1}}', "[1, 2]"])
def test_broken_arguments_are_invalid_tool_calls_never_empty_args(
    chat: Chat, sim: Simulator, raw: str
) -> None:
    sim.script(Reply.tool_call("add", raw))

    result = chat(PLAIN).bind_tools([add]).invoke("What is 3 + 4?")

    assert result.tool_calls == []
    [invalid] = result.invalid_tool_calls
    assert invalid["name"] == "add"
    assert invalid["args"] == raw
    assert invalid["error"]


def test_doubly_encoded_arguments_are_repaired(chat: Chat, sim: Simulator) -> None:
    sim.script(Reply.tool_call("add", json.dumps('{"a": 3, "b": 4}')))

    result = chat(PLAIN).bind_tools([add]).invoke("What is 3 + 4?")

    assert result.tool_calls[0]["args"] == {"a": 3, "b": 4}


def _stream_tools(llm: Any, prompt: str) -> AIMessageChunk:
    full: AIMessageChunk | None = None
    for chunk in llm.stream(prompt):
        full = chunk if full is None else full + chunk
    assert full is not None
    return full


@pytest.mark.parametrize(
    "fault",
    [
        None,
        Fault.tool_delta_no_index(),
        Fault.tool_delta_id_first_only(),
        Fault.shared_index_zero(),
    ],
)
def test_streamed_parallel_tool_calls_merge_per_call(
    chat: Chat, sim: Simulator, fault: Fault | None
) -> None:
    sim.script(
        Reply(
            tool_calls=[
                ScriptedToolCall("add", {"a": 3, "b": 4}, id="call_a"),
                ScriptedToolCall("multiply", {"a": 5, "b": 6}, id="call_m"),
            ]
        )
    )
    if fault is not None:
        sim.inject(fault)

    full = _stream_tools(chat(PLAIN).bind_tools([add, multiply]), "3 + 4 and 5 * 6")

    assert [(c["name"], c["args"], c["id"]) for c in full.tool_calls] == [
        ("add", {"a": 3, "b": 4}, "call_a"),
        ("multiply", {"a": 5, "b": 6}, "call_m"),
    ]
    assert {c["index"] for c in full.tool_call_chunks} == {0, 1}


# --- structured output ----------------------------------------------------------------------


def test_structured_output_defaults_to_function_calling(chat: Chat, sim: Simulator) -> None:
    joke = chat(PLAIN).with_structured_output(Joke).invoke("Tell me a joke about cats")

    assert isinstance(joke, Joke)
    [body] = chat_bodies(sim)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Joke"}}
    assert "parallel_tool_calls" not in body


def test_structured_output_on_a_thinking_model_uses_json_mode_with_the_schema_in_the_prompt(
    chat: Chat, sim: Simulator
) -> None:
    joke = chat(THINKING).with_structured_output(Joke).invoke("Tell me a joke about cats")

    assert isinstance(joke, Joke)
    [body] = chat_bodies(sim)
    assert "tool_choice" not in body and "tools" not in body
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]
    assert system["role"] == "system"
    assert '"punchline"' in system["content"] and '"title": "Joke"' in system["content"]


def test_function_calling_on_a_thinking_model_warns_once_about_the_downgrade(
    chat: Chat, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    llm = chat(THINKING).with_structured_output(Joke, method="function_calling")
    caplog.set_level(logging.WARNING, logger="modelscope_inference")

    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        llm.invoke("Tell me a joke about cats")

    # one event, one warning: the core's log line, not also a UserWarning (issue 16)
    logged = [r.getMessage() for r in caplog.records if "tool_choice='auto'" in r.getMessage()]
    assert len(logged) == 1
    assert [str(w.message) for w in raised if "tool_choice" in str(w.message)] == []
    assert chat_bodies(sim)[0]["tool_choice"] == "auto"


def test_json_schema_method_runs_as_json_mode_with_the_schema_in_the_prompt(
    chat: Chat, sim: Simulator
) -> None:
    joke = (
        chat(PLAIN)
        .with_structured_output(Joke, method="json_schema", strict=True)
        .invoke("Tell me a joke about cats")
    )

    assert isinstance(joke, Joke)
    [body] = chat_bodies(sim)
    assert body["response_format"] == {"type": "json_object"}
    assert '"required": ["setup", "punchline"]' in body["messages"][0]["content"]


def test_json_mode_sends_json_object(chat: Chat, sim: Simulator) -> None:
    prompt = "Tell me a joke. Answer in JSON with 'setup' and 'punchline' keys."

    joke = chat(PLAIN).with_structured_output(Joke, method="json_mode").invoke(prompt)

    assert isinstance(joke, Joke)
    assert chat_bodies(sim)[0]["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_typed_dict_schemas_give_dicts(chat: Chat, method: str) -> None:
    result = chat(PLAIN).with_structured_output(JokeDict, method=method).invoke("a cat joke")  # type: ignore[arg-type]

    assert isinstance(result, dict)
    assert set(result) == {"setup", "punchline"}


def test_include_raw_returns_raw_parsed_and_error(chat: Chat) -> None:
    result = chat(PLAIN).with_structured_output(Joke, include_raw=True).invoke("a cat joke")

    assert isinstance(result, dict)
    assert isinstance(result["raw"], AIMessage)
    assert isinstance(result["parsed"], Joke)
    assert result["parsing_error"] is None


def test_structured_output_streams_parsed_objects(chat: Chat) -> None:
    chunks = list(chat(PLAIN).with_structured_output(Joke).stream("a cat joke"))

    assert chunks and isinstance(chunks[-1], Joke)


def test_unknown_structured_output_method_is_refused(chat: Chat) -> None:
    with pytest.raises(ValueError, match="Unknown method"):
        chat(PLAIN).with_structured_output(Joke, method="xml")  # type: ignore[arg-type]


# --- hybrid models and tools ----------------------------------------------------------------


def test_forced_tool_choice_on_a_hybrid_model_turns_thinking_off_for_streams(
    chat: Chat, sim: Simulator
) -> None:
    full = _stream_tools(chat(HYBRID).bind_tools([add], tool_choice="add"), "3 + 4?")

    [body] = chat_bodies(sim)
    assert body["enable_thinking"] is False
    assert body["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert full.tool_calls[0]["args"] == {"a": 3, "b": 4}


def test_json_schema_method_accepts_a_named_schema_dict(chat: Chat, sim: Simulator) -> None:
    named = {"name": "joke", "schema": Joke.model_json_schema()}

    result = chat(PLAIN).with_structured_output(named, method="json_schema").invoke("a joke")

    assert isinstance(result, dict) and set(result) == {"setup", "punchline"}
    [body] = chat_bodies(sim)
    assert body["response_format"] == {"type": "json_object"}
    assert json.dumps(named["schema"]) in body["messages"][0]["content"]
