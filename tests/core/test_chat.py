"""Chat: the thinking rules (modelscope-api.md §4.1), message hygiene, streaming that never
duplicates text, and fallback across models on a model-scoped exhaustion."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from modelscope_inference import (
    ChatRequest,
    QuotaExhaustedError,
    ServiceUnavailableError,
    StreamInterruptedError,
    ThinkingModeError,
    catalog,
)
from modelscope_inference.chat import learn_from_thinking_error, normalize_tool_choice, plan_call

from .fakes import (
    FakeServer,
    Sleeps,
    chat_completion,
    chunk,
    reply,
    sse,
    thinking_aware,
    usage_chunk,
)

THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
HYBRID = "Qwen/Qwen3-32B"
PLAIN = "Qwen/Qwen2.5-72B-Instruct"
UNKNOWN = "acme-lab/Mystery-Reasoner-1"
HI = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
STREAM_FALSE_400 = {
    "error": {
        "code": "invalid_parameter_error",
        "message": "enable thinking can not be support when `stream=False`.",
        "type": "invalid_request_error",
    },
    "request_id": "214720c8",
}
HYBRID_400 = {
    "error": {"message": "parameter.enable_thinking must be set to false for non-streaming calls"}
}
TOOL_CHOICE_400 = {
    "error": {
        "message": "tool_choice does not support being set to required or object in thinking mode"
    }
}
REASONED = (
    chunk(reasoning="Let me "),
    chunk(reasoning="think."),
    chunk("Hel"),
    chunk("lo"),
    chunk(finish="stop"),
    usage_chunk(5, 7),
)


def _plan(model: str, *, stream: bool = False, **fields: Any) -> dict[str, Any]:
    fields.setdefault("messages", HI)
    return plan_call(ChatRequest(model=model, **fields), model, want_stream=stream).body


# --- planning: thinking ----------------------------------------------------------------------


def test_thinking_only_model_is_streamed_even_when_not_asked() -> None:
    plan = plan_call(ChatRequest(model=THINKING, messages=HI), THINKING, want_stream=False)

    assert plan.stream is True
    assert plan.body["stream"] is True
    assert plan.body.get("enable_thinking") is not False


def test_hybrid_model_non_stream_sends_enable_thinking_false() -> None:
    body = _plan(HYBRID)

    assert body["stream"] is False
    assert body["enable_thinking"] is False


def test_hybrid_model_with_thinking_asked_is_streamed_internally() -> None:
    body = _plan(HYBRID, enable_thinking=True)

    assert body["stream"] is True
    assert body["enable_thinking"] is True


def test_hybrid_model_explicitly_off_when_streaming() -> None:
    body = _plan(HYBRID, stream=True, enable_thinking=False)

    assert body["stream"] is True
    assert body["enable_thinking"] is False


def test_plain_model_non_stream_is_left_alone() -> None:
    body = _plan(PLAIN)

    assert body["stream"] is False
    assert "enable_thinking" not in body


@pytest.mark.parametrize("choice", ["required", "any", "get_weather"])
def test_forced_tool_choice_on_hybrid_stream_turns_thinking_off(choice: str) -> None:
    plan = plan_call(
        ChatRequest(model=HYBRID, messages=HI, tools=TOOLS, tool_choice=choice),
        HYBRID,
        want_stream=True,
    )

    assert plan.body["enable_thinking"] is False
    assert plan.body["stream"] is True
    assert plan.body["tool_choice"] == normalize_tool_choice(choice)
    assert plan.warnings == ()


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "f"}}])
def test_forced_tool_choice_on_thinking_only_model_is_downgraded_with_a_warning(
    choice: Any,
) -> None:
    plan = plan_call(
        ChatRequest(model=THINKING, messages=HI, tools=TOOLS, tool_choice=choice),
        THINKING,
        want_stream=False,
    )

    assert plan.body["tool_choice"] == "auto"
    assert len(plan.warnings) == 1
    assert THINKING in plan.warnings[0]
    assert "auto" in plan.warnings[0]


def test_downgrade_warning_is_logged_when_the_call_runs(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = FakeServer(sse(chunk("ok")))
    request = ChatRequest(model=THINKING, messages=HI, tools=TOOLS, tool_choice="required")
    caplog.set_level(logging.WARNING, logger="modelscope_inference")

    result = make_client(server).chat.complete(request)

    assert server.bodies[0]["tool_choice"] == "auto"
    assert any("tool_choice" in r.getMessage() for r in caplog.records)
    assert result.warnings


def test_auto_tool_choice_is_kept_in_thinking_mode() -> None:
    body = _plan(THINKING, tools=TOOLS, tool_choice="auto")

    assert body["tool_choice"] == "auto"


def test_tool_choice_is_dropped_without_tools() -> None:
    body = _plan(PLAIN, tool_choice="required")

    assert "tool_choice" not in body
    assert "tools" not in body


def test_thinking_budget_is_a_top_level_field() -> None:
    body = _plan(HYBRID, stream=True, enable_thinking=True, thinking_budget=4096)

    assert body["thinking_budget"] == 4096
    assert "extra_body" not in body
    assert "thinking_budget" not in json.dumps(body.get("messages"))


def test_thinking_budget_is_not_sent_with_thinking_off() -> None:
    body = _plan(HYBRID, enable_thinking=False, thinking_budget=4096)

    assert "thinking_budget" not in body


def test_stream_options_include_usage_only_when_stream_usage() -> None:
    with_usage = _plan(PLAIN, stream=True)
    without_usage = _plan(PLAIN, stream=True, stream_usage=False)
    not_streamed = _plan(PLAIN)

    assert with_usage["stream_options"] == {"include_usage": True}
    assert "stream_options" not in without_usage
    assert "stream_options" not in not_streamed


def test_params_are_top_level_and_none_values_dropped() -> None:
    body = _plan(PLAIN, params={"temperature": 0.2, "max_tokens": None, "seed": 7})

    assert body["temperature"] == 0.2
    assert body["seed"] == 7
    assert "max_tokens" not in body


# --- planning: messages ----------------------------------------------------------------------


def test_text_only_content_lists_are_flattened() -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}],
        },
    ]

    body = _plan(PLAIN, messages=messages)

    assert [m["content"] for m in body["messages"]] == ["Be brief.", "Hello, world"]


def test_content_lists_with_images_are_kept() -> None:
    parts = [
        {"type": "image_url", "image_url": {"url": "https://x.example/cat.png"}},
        {"type": "text", "text": "What is this?"},
    ]

    body = _plan("Qwen/Qwen2.5-VL-72B-Instruct", messages=[{"role": "user", "content": parts}])

    assert body["messages"][0]["content"] == parts


def test_reasoning_content_is_stripped_from_history_unless_passed_back() -> None:
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello", "reasoning_content": "thinking..."},
        {"role": "user", "content": "again"},
    ]

    stripped = _plan(PLAIN, messages=history)["messages"]
    kept = _plan(PLAIN, messages=history, pass_back_reasoning=True)["messages"]

    assert all("reasoning_content" not in m for m in stripped)
    assert kept[1]["reasoning_content"] == "thinking..."
    assert history[1]["reasoning_content"] == "thinking..."  # the caller's list is untouched


# --- execution: thinking ---------------------------------------------------------------------


def test_thinking_model_invoke_streams_and_keeps_reasoning_apart(make_client: Any) -> None:
    server = FakeServer(thinking_aware(non_stream_error=STREAM_FALSE_400, stream_events=REASONED))

    result = make_client(server).chat.complete(ChatRequest(model=THINKING, messages=HI))

    assert server.count == 1
    assert server.bodies[0]["stream"] is True
    assert result.content == "Hello"
    assert result.reasoning == "Let me think."
    assert result.first.finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (5, 7)


async def test_async_thinking_model_invoke_streams_and_aggregates(make_client: Any) -> None:
    server = FakeServer(thinking_aware(non_stream_error=STREAM_FALSE_400, stream_events=REASONED))

    result = await make_client(server).chat.acomplete(ChatRequest(model=THINKING, messages=HI))

    assert server.count == 1
    assert (result.content, result.reasoning) == ("Hello", "Let me think.")


def test_hybrid_invoke_sends_thinking_off_and_has_no_reasoning(make_client: Any) -> None:
    server = FakeServer(reply(200, chat_completion("Plain answer")))

    result = make_client(server).chat.complete(ChatRequest(model=HYBRID, messages=HI))

    assert server.bodies[0]["enable_thinking"] is False
    assert server.bodies[0]["stream"] is False
    assert result.content == "Plain answer"
    assert result.reasoning == ""


def test_non_streamed_reasoning_content_is_kept_apart(make_client: Any) -> None:
    server = FakeServer(reply(200, chat_completion("42", reasoning="6 x 7")))

    result = make_client(server).chat.complete(ChatRequest(model=PLAIN, messages=HI))

    assert (result.content, result.reasoning) == ("42", "6 x 7")


def test_thinking_400_for_unknown_model_is_corrected_once_and_remembered(
    make_client: Any,
) -> None:
    server = FakeServer(thinking_aware(non_stream_error=STREAM_FALSE_400, stream_events=REASONED))
    client = make_client(server)
    assert catalog.lookup(UNKNOWN).known is False

    result = client.chat.complete(ChatRequest(model=UNKNOWN, messages=HI))

    assert [b["stream"] for b in server.bodies] == [False, True]
    assert result.content == "Hello"
    assert catalog.lookup(UNKNOWN).thinking == "always"

    client.chat.complete(ChatRequest(model=UNKNOWN, messages=HI))
    assert server.count == 3
    assert server.bodies[2]["stream"] is True


def test_hybrid_400_for_unknown_model_is_corrected_with_thinking_off(make_client: Any) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("enable_thinking") is False:
            return httpx.Response(200, json=chat_completion("fine"))
        return httpx.Response(400, json=HYBRID_400)

    server = FakeServer(respond)

    result = make_client(server).chat.complete(ChatRequest(model=UNKNOWN, messages=HI))

    assert result.content == "fine"
    assert server.count == 2
    assert server.bodies[1]["enable_thinking"] is False
    assert catalog.lookup(UNKNOWN).thinking == "hybrid"


def test_tool_choice_400_for_unknown_model_is_corrected(make_client: Any) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("enable_thinking") is False:
            return httpx.Response(200, json=chat_completion("called"))
        return httpx.Response(400, json=TOOL_CHOICE_400)

    server = FakeServer(respond)
    request = ChatRequest(model=UNKNOWN, messages=HI, tools=TOOLS, tool_choice="required")

    make_client(server).chat.complete(request)

    assert server.count == 2
    assert server.bodies[1]["tool_choice"] == "required"
    assert server.bodies[1]["enable_thinking"] is False


def test_thinking_correction_happens_only_once(make_client: Any) -> None:
    server = FakeServer(reply(400, STREAM_FALSE_400))

    with pytest.raises(ThinkingModeError):
        make_client(server).chat.complete(ChatRequest(model=UNKNOWN, messages=HI))

    assert server.count == 2


def test_learning_reports_whether_a_replan_can_help() -> None:
    response = httpx.Response(400, request=httpx.Request("POST", "https://x/v1/chat/completions"))
    error = ThinkingModeError(
        "The service said: 'enable thinking can not be support when `stream=False`.'",
        response=response,
        body=None,
    )

    assert learn_from_thinking_error(UNKNOWN, error) is True
    assert learn_from_thinking_error(UNKNOWN, error) is False
    assert learn_from_thinking_error(THINKING, error) is False


def test_stream_thinking_400_for_unknown_model_is_corrected(make_client: Any) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("enable_thinking") is False:
            return sse(chunk("ok"))(request)
        return httpx.Response(400, json=TOOL_CHOICE_400)

    server = FakeServer(respond)
    request = ChatRequest(model=UNKNOWN, messages=HI, tools=TOOLS, tool_choice="required")

    deltas = list(make_client(server).chat.stream(request))

    assert "".join(d.content for d in deltas) == "ok"
    assert server.count == 2


# --- streaming -------------------------------------------------------------------------------


def test_stream_yields_deltas_then_a_done_delta(make_client: Any) -> None:
    server = FakeServer(sse(*REASONED))

    deltas = list(make_client(server).chat.stream(ChatRequest(model=THINKING, messages=HI)))

    assert "".join(d.content for d in deltas) == "Hello"
    assert "".join(d.reasoning for d in deltas) == "Let me think."
    assert deltas[-1].done
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage is not None
    assert deltas[-1].usage.total_tokens == 12
    assert all(not d.done for d in deltas[:-1])


def test_empty_and_null_choices_chunks_are_tolerated(make_client: Any) -> None:
    events = (
        {"id": "x", "choices": None},
        chunk("a"),
        {"id": "x", "choices": []},
        {"id": "x"},
        chunk(None),
        chunk("b"),
        usage_chunk(),
    )
    server = FakeServer(sse(*events))

    deltas = list(make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)))

    assert [d.content for d in deltas if not d.done] == ["a", "b"]
    assert deltas[-1].usage is not None


def test_stream_dropped_after_output_raises_with_partial_text_and_no_retry(
    make_client: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(
        sse(chunk("Hel"), chunk("lo"), chunk(" wor"), break_with=httpx.ReadError),
        sse(chunk("never sent")),
    )
    received: list[str] = []

    with pytest.raises(StreamInterruptedError) as caught:
        for delta in make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)):
            received.append(delta.content)

    assert server.count == 1
    assert sleeps.waits == []
    assert received == ["Hel", "lo", " wor"]
    assert caught.value.text == "Hello wor"
    assert caught.value.model == PLAIN


def test_stream_ending_without_done_after_output_is_an_interruption(make_client: Any) -> None:
    server = FakeServer(sse(chunk("partial"), done=False))

    with pytest.raises(StreamInterruptedError) as caught:
        list(make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)))

    assert caught.value.text == "partial"
    assert server.count == 1


def test_interruption_carries_partial_reasoning_and_tool_fragments(make_client: Any) -> None:
    tool_delta = [
        {"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": '{"ci'}}
    ]
    server = FakeServer(
        sse(chunk(reasoning="hmm"), chunk(tool_calls=tool_delta), break_with=httpx.ReadError)
    )

    with pytest.raises(StreamInterruptedError) as caught:
        list(make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)))

    assert caught.value.reasoning == "hmm"
    assert caught.value.tool_calls[0]["arguments"] == '{"ci'


async def test_async_stream_dropped_after_output_is_not_retried(make_client: Any) -> None:
    server = FakeServer(sse(chunk("Hel"), chunk("lo"), break_with=httpx.ReadError))
    client = make_client(server)

    with pytest.raises(StreamInterruptedError) as caught:
        async for _ in client.chat.astream(ChatRequest(model=PLAIN, messages=HI)):
            pass

    assert caught.value.text == "Hello"
    assert server.count == 1


def test_failure_before_the_first_chunk_is_retried(make_client: Any, sleeps: Sleeps) -> None:
    server = FakeServer(
        sse(break_with=httpx.ReadError),
        sse(chunk("Hello"), chunk(" there")),
    )

    deltas = list(make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)))

    assert server.count == 2
    assert len(sleeps.waits) == 1
    assert "".join(d.content for d in deltas) == "Hello there"


def test_error_status_before_the_first_chunk_is_retried(make_client: Any) -> None:
    server = FakeServer(reply(503), sse(chunk("ok")))

    deltas = list(make_client(server).chat.stream(ChatRequest(model=PLAIN, messages=HI)))

    assert server.count == 2
    assert "".join(d.content for d in deltas) == "ok"


async def test_async_failure_before_the_first_chunk_is_retried(make_client: Any) -> None:
    server = FakeServer(sse(break_with=httpx.ReadError), sse(chunk("ok")))
    client = make_client(server)

    deltas = [d async for d in client.chat.astream(ChatRequest(model=PLAIN, messages=HI))]

    assert server.count == 2
    assert "".join(d.content for d in deltas) == "ok"


def test_internal_stream_of_a_non_stream_call_is_retried_whole(make_client: Any) -> None:
    server = FakeServer(
        sse(chunk("Hel"), break_with=httpx.ReadError),
        sse(chunk("Hello")),
    )

    result = make_client(server).chat.complete(ChatRequest(model=THINKING, messages=HI))

    assert server.count == 2
    assert result.content == "Hello"  # nothing duplicated from the broken attempt


def test_streamed_tool_calls_without_index_are_merged(make_client: Any) -> None:
    first = [{"id": "call_1", "type": "function", "function": {"name": "get_weather"}}]
    rest = [{"function": {"arguments": '{"city": '}}]
    last = [{"function": {"arguments": '"Paris"}'}}]
    server = FakeServer(
        sse(
            chunk(tool_calls=first),
            chunk(tool_calls=rest),
            chunk(tool_calls=last),
            chunk(finish="tool_calls"),
        )
    )

    result = make_client(server).chat.complete(
        ChatRequest(model=THINKING, messages=HI, tools=TOOLS)
    )

    [call] = result.first.tool_calls
    assert (call.id, call.name, call.args) == ("call_1", "get_weather", {"city": "Paris"})


def test_stream_retries_stop_at_max_retries(make_client: Any) -> None:
    server = FakeServer(reply(500))

    with pytest.raises(ServiceUnavailableError):
        list(make_client(server, max_retries=1).chat.stream(ChatRequest(model=PLAIN, messages=HI)))

    assert server.count == 2


# --- fallback --------------------------------------------------------------------------------

MODEL_SPENT = {
    "modelscope-ratelimit-requests-remaining": "1500",
    "modelscope-ratelimit-model-requests-remaining": "0",
}
ACCOUNT_SPENT = {"modelscope-ratelimit-requests-remaining": "0"}
LIMIT_BODY = {"errors": {"message": "Request limit exceeded."}}


def _spent_for(first_model: str, headers: dict[str, str]) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["model"] == first_model:
            return httpx.Response(429, json=LIMIT_BODY, headers=headers)
        if body.get("stream"):
            return sse(chunk("from fallback"))(request)
        return httpx.Response(200, json=chat_completion("from fallback"))

    return respond


def test_model_scoped_exhaustion_falls_back_to_the_next_model(make_client: Any) -> None:
    server = FakeServer(_spent_for(PLAIN, MODEL_SPENT))
    client = make_client(server)
    request = ChatRequest(model=PLAIN, messages=HI, fallback_models=[HYBRID])

    result = client.chat.complete(request)

    assert server.count == 2
    assert [b["model"] for b in server.bodies] == [PLAIN, HYBRID]
    assert result.model == HYBRID
    assert result.content == "from fallback"
    assert server.bodies[1]["enable_thinking"] is False  # planned for the fallback's rules

    client.chat.complete(request)  # the spent model is skipped without a request
    assert [b["model"] for b in server.bodies] == [PLAIN, HYBRID, HYBRID]


async def test_async_model_scoped_exhaustion_falls_back(make_client: Any) -> None:
    server = FakeServer(_spent_for(PLAIN, MODEL_SPENT))
    request = ChatRequest(model=PLAIN, messages=HI, fallback_models=[HYBRID])

    result = await make_client(server).chat.acomplete(request)

    assert server.count == 2
    assert result.model == HYBRID


def test_stream_falls_back_on_model_scoped_exhaustion(make_client: Any) -> None:
    server = FakeServer(_spent_for(PLAIN, MODEL_SPENT))
    request = ChatRequest(model=PLAIN, messages=HI, fallback_models=[HYBRID])

    deltas = list(make_client(server).chat.stream(request))

    assert server.count == 2
    assert "".join(d.content for d in deltas) == "from fallback"
    assert deltas[-1].model == HYBRID


def test_account_scoped_exhaustion_does_not_fall_back(make_client: Any) -> None:
    server = FakeServer(_spent_for(PLAIN, ACCOUNT_SPENT))
    request = ChatRequest(model=PLAIN, messages=HI, fallback_models=[HYBRID])

    with pytest.raises(QuotaExhaustedError) as caught:
        make_client(server).chat.complete(request)

    assert caught.value.scope == "account"
    assert server.count == 1


def test_account_scoped_exhaustion_stops_even_without_pre_flight(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = FakeServer(_spent_for(PLAIN, ACCOUNT_SPENT))
    request = ChatRequest(model=PLAIN, messages=HI, fallback_models=[HYBRID])
    caplog.set_level(logging.WARNING, logger="modelscope_inference")

    with pytest.raises(QuotaExhaustedError):
        make_client(server, preflight=False).chat.complete(request)

    assert [b["model"] for b in server.bodies] == [PLAIN]
    assert not any("falling back" in r.getMessage() for r in caplog.records)


def test_last_model_exhausted_raises(make_client: Any) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json=LIMIT_BODY, headers=MODEL_SPENT)

    server = FakeServer(respond)
    request = ChatRequest(model=PLAIN, messages=HI, fallback_models=[HYBRID, PLAIN])

    with pytest.raises(QuotaExhaustedError) as caught:
        make_client(server).chat.complete(request)

    assert caught.value.scope == "model"
    assert [b["model"] for b in server.bodies] == [PLAIN, HYBRID]
