"""Black-box specification of the ModelScope simulator.

Every test drives the simulator only through the `openai` SDK or raw `httpx`, and uses the
`Simulator` control surface (quota, clock, faults, scripts) to set the scene. Each test names
the behaviour it checks; fidelity points cite `modelscope-api.md`.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import openai
import pytest

from modelscope_inference.simulator import (
    DEFAULT_ACCOUNT_LIMIT,
    DEFAULT_MODEL_LIMIT,
    SHANGHAI,
    Fault,
    Reply,
    ScriptedToolCall,
    Simulator,
)

CHAT = "Qwen/Qwen2.5-7B-Instruct"
OTHER_CHAT = "Qwen/Qwen2.5-Coder-32B-Instruct"
HYBRID = "Qwen/Qwen3-8B"
THINKING_ONLY = [
    "Qwen/Qwen3-235B-A22B-Thinking-2507",
    "deepseek-ai/DeepSeek-R1-0528",
    "Qwen/QwQ-32B",
]
VISION = "Qwen/Qwen2.5-VL-72B-Instruct"
EMBED = "Qwen/Qwen3-Embedding-0.6B"
HELLO: Any = [{"role": "user", "content": "Hello there"}]
QUOTA_HEADERS = (
    "modelscope-ratelimit-requests-limit",
    "modelscope-ratelimit-requests-remaining",
    "modelscope-ratelimit-model-requests-limit",
    "modelscope-ratelimit-model-requests-remaining",
)
# reference: modelscope-api.md §8.1, the 2026 text is spelled right (the typo is the older one)
INVALID_TOKEN_MESSAGE = (
    "Authentication failed, please make sure that a valid ModelScope token is supplied."
)
TWO_INTS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
ARITHMETIC_TOOLS: Any = [
    {"type": "function", "function": {"name": n, "description": d, "parameters": TWO_INTS}}
    for n, d in (("add", "Add two integers."), ("multiply", "Multiply two integers."))
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather at a location.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sim(modelscope_simulator: Simulator) -> Simulator:
    """The shared simulator, reset before every test (so tests never see each other)."""
    return modelscope_simulator


@pytest.fixture(scope="module")
def client(modelscope_simulator_session: Simulator) -> openai.OpenAI:
    sim = modelscope_simulator_session
    return openai.OpenAI(base_url=sim.base_url, api_key=sim.token, max_retries=0)


def chat(http: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", CHAT)
    body.setdefault("messages", HELLO)
    return http.post("/chat/completions", json=body)


def stream_data(http: httpx.Client, **body: Any) -> list[str]:
    """The payload of every `data:` line of a streamed chat completion."""
    body.setdefault("model", CHAT)
    body.setdefault("messages", HELLO)
    body["stream"] = True
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def chunks_of(data: list[str]) -> list[dict[str, Any]]:
    return [json.loads(d) for d in data if d != "[DONE]"]


def deltas(data: list[str]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks_of(data) if c.get("choices")]


def quota(response: httpx.Response) -> tuple[int, ...]:
    return tuple(int(response.headers[h]) for h in QUOTA_HEADERS)


def is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


def tool_turn(http: httpx.Client, messages: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    response = chat(http, messages=messages, tools=ARITHMETIC_TOOLS, **body)
    assert response.status_code == 200
    return dict(response.json()["choices"][0])


# -- authentication (§2, §3.3) -------------------------------------------------------------


def test_invalid_token_gets_the_2026_401_with_request_id_inside_errors(sim: Simulator) -> None:
    response = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": CHAT, "messages": HELLO},
        headers={"Authorization": "Bearer ms-wrong"},
    )
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"errors"}
    assert body["errors"]["message"] == INVALID_TOKEN_MESSAGE
    assert body["errors"]["request_id"] == sim.requests[-1].request_id
    assert response.text.startswith('{"errors":{"message":"Authentication failed')
    assert not any(h.startswith("modelscope-ratelimit") for h in response.headers)


def test_missing_token_gets_the_singular_error_401_without_quota_headers(sim: Simulator) -> None:
    response = httpx.post(f"{sim.base_url}/chat/completions", json={"model": CHAT})
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["message"] == INVALID_TOKEN_MESSAGE
    assert is_uuid(body["error"]["request_id"])
    assert not any(h.startswith("modelscope-ratelimit") for h in response.headers)


def test_unbound_token_gets_401_asking_to_bind_alibaba_cloud(sim: Simulator) -> None:
    response = httpx.post(
        f"{sim.base_url}/embeddings",
        json={"model": EMBED, "input": "hi"},
        headers={"Authorization": "Bearer ms-unbound"},
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message"] == "Please bind your Alibaba Cloud account before use."
    assert is_uuid(error["request_id"])


def test_openai_sdk_sees_authentication_error_for_invalid_token(sim: Simulator) -> None:
    bad = openai.OpenAI(base_url=sim.base_url, api_key="garbage", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model=CHAT, messages=HELLO)
    assert "Authentication failed" in str(info.value)


def test_models_list_needs_no_token_and_accepts_garbage_tokens(sim: Simulator) -> None:
    keyless = httpx.get(f"{sim.base_url}/models")
    garbage = httpx.get(f"{sim.base_url}/models", headers={"Authorization": "Bearer nonsense"})
    assert keyless.status_code == garbage.status_code == 200
    body = keyless.json()
    assert body["object"] == "list"
    assert {CHAT, HYBRID, VISION, EMBED} <= {m["id"] for m in body["data"]}
    assert all(set(m) == {"id", "object", "created", "owned_by"} for m in body["data"])
    assert all(m["object"] == "model" for m in body["data"])


def test_models_list_via_openai_sdk_without_real_key(sim: Simulator) -> None:
    anonymous = openai.OpenAI(base_url=sim.base_url, api_key="anything", max_retries=0)
    assert CHAT in {m.id for m in anonymous.models.list()}


# -- chat completions: shape, streaming, usage (§1.2, §4.4) --------------------------------


def test_chat_completion_has_openai_shape_and_usage(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model=CHAT, messages=HELLO)
    assert result.object == "chat.completion"
    assert result.model == CHAT
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].message.content
    assert result.choices[0].finish_reason == "stop"
    usage = result.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_is_sse_ending_with_done_and_splits_content_in_several_chunks(
    http: httpx.Client,
) -> None:
    with http.stream(
        "POST", "/chat/completions", json={"model": CHAT, "messages": HELLO, "stream": True}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events[:-1])
    content = [d["content"] for d in deltas([e[6:] for e in events[:-1]]) if d.get("content")]
    assert len(content) > 3


def test_stream_content_equals_non_stream_content(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=CHAT, messages=HELLO)
    parts = client.chat.completions.create(model=CHAT, messages=HELLO, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert streamed == whole.choices[0].message.content


def test_stream_has_no_usage_without_include_usage(http: httpx.Client) -> None:
    chunks = chunks_of(stream_data(http))
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_include_usage_adds_final_usage_chunk_with_empty_choices(http: httpx.Client) -> None:
    chunks = chunks_of(stream_data(http, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last["choices"] == []
    usage = last["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert all("usage" not in c for c in chunks[:-1])


def test_unknown_model_gets_the_2026_400_no_provider_with_quota_headers(
    http: httpx.Client,
) -> None:
    # reference: modelscope-api.md §8.1, "model id not served" is a 400 (not 404) with headers
    response = chat(http, model="Nobody/Not-A-Model")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"errors"}
    assert body["errors"]["message"] == "Model id : Nobody/Not-A-Model , has no provider supported"
    assert is_uuid(body["errors"]["request_id"])
    assert quota(response) == (DEFAULT_ACCOUNT_LIMIT,) * 2 + (DEFAULT_MODEL_LIMIT,) * 2


def test_embedding_model_on_chat_gets_400(http: httpx.Client) -> None:
    response = chat(http, model=EMBED)
    assert response.status_code == 400
    assert "/v1/embeddings" in response.json()["error"]["message"]


def test_chat_model_on_embeddings_gets_400(http: httpx.Client) -> None:
    response = http.post("/embeddings", json={"model": CHAT, "input": "hi"})
    assert response.status_code == 400
    assert "chat model" in response.json()["error"]["message"]


def test_text_content_parts_are_accepted_by_every_model(http: httpx.Client) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello in parts"}]}]
    assert chat(http, model=CHAT, messages=parts).status_code == 200
    assert chat(http, model=VISION, messages=parts).status_code == 200
    data = stream_data(http, model=THINKING_ONLY[0], messages=parts)
    assert data[-1] == "[DONE]"


def test_image_input_is_rejected_for_a_non_vision_model(http: httpx.Client) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    messages = [{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}]
    response = chat(http, model=CHAT, messages=messages)
    assert response.status_code == 400
    assert "does not accept image inputs" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", "data:image/png;base64,iVBORw0KGgo="]
)
def test_image_input_is_accepted_by_a_vision_model(http: httpx.Client, url: str) -> None:
    image = {"type": "image_url", "image_url": {"url": url}}
    messages = [{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}]
    response = chat(http, model=VISION, messages=messages)
    assert response.status_code == 200
    assert "1 image" in response.json()["choices"][0]["message"]["content"]


def test_unknown_route_answers_404_page_not_found(sim: Simulator) -> None:
    response = httpx.post(f"{sim.base_url}/completions", json={})
    assert response.status_code == 404
    assert response.text == "404 page not found"
    assert "x-request-id" not in response.headers


# -- request ids and headers (§8.1) --------------------------------------------------------


def test_no_response_has_an_x_request_id_the_id_is_in_the_error_body(
    sim: Simulator, http: httpx.Client
) -> None:
    ok = chat(http)
    bad = chat(http, model="Nobody/Nothing")
    models = http.get("/models")
    assert all("x-request-id" not in r.headers for r in (ok, bad, models))
    assert bad.json()["errors"]["request_id"] == sim.requests[-2].request_id


def test_json_answers_have_the_real_content_type_with_charset(http: httpx.Client) -> None:
    for response in (chat(http), chat(http, model="Nobody/Nothing"), http.get("/models")):
        assert response.headers["content-type"] == "application/json; charset=utf-8"


# -- quotas (§3.1, §3.2, §3.3) -------------------------------------------------------------


def test_successful_call_carries_four_quota_headers_and_decrements_both(http: httpx.Client) -> None:
    first, second = chat(http), chat(http)
    limit, model_limit = DEFAULT_ACCOUNT_LIMIT, DEFAULT_MODEL_LIMIT
    assert quota(first) == (limit, limit - 1, model_limit, model_limit - 1)
    assert quota(second) == (limit, limit - 2, model_limit, model_limit - 2)


def test_embeddings_count_against_the_same_quota(http: httpx.Client) -> None:
    chat(http)
    response = http.post("/embeddings", json={"model": EMBED, "input": "hi"})
    account_left, model_left = quota(response)[1], quota(response)[3]
    assert account_left == DEFAULT_ACCOUNT_LIMIT - 2
    assert model_left == DEFAULT_MODEL_LIMIT - 1


def test_model_limit_exhaustion_gives_429_with_model_remaining_zero(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.set_quota(account_limit=10, model_limits={CHAT: 2})
    assert chat(http).status_code == chat(http).status_code == 200
    spent = chat(http)
    assert spent.status_code == 429
    assert quota(spent) == (10, 8, 2, 0)
    assert chat(http, model=OTHER_CHAT).status_code == 200


def test_account_limit_exhaustion_gives_429_with_account_remaining_zero(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.set_quota(account_limit=2, default_model_limit=5)
    chat(http)
    chat(http, model=OTHER_CHAT)
    spent = chat(http, model=HYBRID, stream=True)
    assert spent.status_code == 429
    assert quota(spent) == (2, 0, 5, 5)


def test_quota_429_body_is_request_limit_exceeded_with_request_id_inside(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.set_quota(account_limit=0)
    response = chat(http)
    body = response.json()
    assert set(body) == {"errors"}
    assert body["errors"]["message"] == "Request limit exceeded."
    assert body["errors"]["request_id"] == sim.requests[-1].request_id


def test_openai_sdk_sees_rate_limit_error_when_quota_is_spent(
    sim: Simulator, client: openai.OpenAI
) -> None:
    sim.set_quota(model_limits={CHAT: 0})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=CHAT, messages=HELLO)
    assert info.value.response.headers["modelscope-ratelimit-model-requests-remaining"] == "0"


def test_rejected_requests_spend_quota_as_the_real_service_counts_failures(
    sim: Simulator, http: httpx.Client
) -> None:
    # reference: modelscope-api.md §8.1, the remaining count fell across failed calls
    response = chat(http, model=HYBRID)  # 400: hybrid non-stream without enable_thinking=false
    assert response.status_code == 400
    assert response.headers["modelscope-ratelimit-model-requests-remaining"] == str(
        DEFAULT_MODEL_LIMIT - 1
    )
    assert sim.quota(HYBRID).model_remaining == DEFAULT_MODEL_LIMIT - 1
    assert sim.quota(HYBRID).account_remaining == DEFAULT_ACCOUNT_LIMIT - 1


def test_rejected_requests_spend_nothing_when_failures_are_not_counted(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.count_failures = False
    chat(http, model=HYBRID)  # 400: hybrid non-stream without enable_thinking=false
    chat(http, model="Nobody/Nothing")  # 400: not served
    assert sim.quota(HYBRID).model_remaining == DEFAULT_MODEL_LIMIT
    assert sim.quota(HYBRID).account_remaining == DEFAULT_ACCOUNT_LIMIT


def test_quota_resets_at_midnight_asia_shanghai(sim: Simulator, http: httpx.Client) -> None:
    sim.set_quota(account_limit=1)
    sim.set_clock(datetime(2025, 3, 1, 23, 59, 59, tzinfo=SHANGHAI))
    assert chat(http).status_code == 200
    assert chat(http).status_code == 429
    sim.set_clock(datetime(2025, 3, 2, 0, 0, 0, tzinfo=SHANGHAI))
    assert chat(http).status_code == 200


def test_quota_day_follows_shanghai_time_not_utc(sim: Simulator, http: httpx.Client) -> None:
    sim.set_quota(account_limit=1)
    sim.set_clock(datetime(2025, 3, 1, 15, 59, tzinfo=timezone.utc))  # 23:59 in Shanghai
    assert chat(http).status_code == 200
    sim.set_clock(datetime(2025, 3, 1, 16, 1, tzinfo=timezone.utc))  # 00:01 next Shanghai day
    assert chat(http).status_code == 200
    sim.set_clock(datetime(2025, 3, 2, 15, 0, tzinfo=timezone.utc))  # same Shanghai day
    assert chat(http).status_code == 429


def test_callable_clock_is_read_per_request(sim: Simulator, http: httpx.Client) -> None:
    now = [datetime(2025, 6, 1, 12, 0, tzinfo=SHANGHAI)]
    sim.set_quota(account_limit=1)
    sim.set_clock(lambda: now[0])
    chat(http)
    assert chat(http).status_code == 429
    now[0] += timedelta(days=1)
    assert chat(http).status_code == 200


# -- thinking (§4.1, §3.3) -----------------------------------------------------------------


@pytest.mark.parametrize("model", THINKING_ONLY)
def test_thinking_only_model_non_stream_gets_400_verbatim(http: httpx.Client, model: str) -> None:
    response = chat(http, model=model)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == {
        "code": "invalid_parameter_error",
        "message": "enable thinking can not be support when `stream=False`.",
        "type": "invalid_request_error",
    }
    assert is_uuid(body["request_id"])


@pytest.mark.parametrize("flag", [None, True])
def test_hybrid_model_non_stream_without_enable_thinking_false_gets_400(
    http: httpx.Client, flag: bool | None
) -> None:
    extra = {} if flag is None else {"enable_thinking": flag}
    response = chat(http, model="Qwen/Qwen3-32B", **extra)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter_error"
    assert (
        error["message"] == "parameter.enable_thinking must be set to false for non-streaming calls"
    )


def test_hybrid_model_non_stream_with_enable_thinking_false_answers_without_reasoning(
    client: openai.OpenAI,
) -> None:
    result = client.chat.completions.create(
        model="Qwen/Qwen3-235B-A22B",
        messages=HELLO,
        extra_body={"enable_thinking": False},
    )
    message = result.choices[0].message
    assert message.content
    assert getattr(message, "reasoning_content", None) == ""  # §8.4: "", not absent


def test_hybrid_stream_thinks_by_default_with_reasoning_before_content(http: httpx.Client) -> None:
    kinds = [
        "reasoning" if d.get("reasoning_content") else "content"
        for d in deltas(stream_data(http, model=HYBRID))
        if d.get("reasoning_content") or d.get("content")
    ]
    assert kinds[0] == "reasoning" and kinds[-1] == "content"
    assert kinds == sorted(kinds, key=lambda k: k == "content")


def test_hybrid_stream_with_enable_thinking_false_has_no_reasoning(http: httpx.Client) -> None:
    stream = deltas(stream_data(http, model=HYBRID, enable_thinking=False))
    assert all(d["reasoning_content"] == "" for d in stream)  # §8.4: "" on every delta
    assert any(d.get("content") for d in stream)


@pytest.mark.parametrize("model", THINKING_ONLY)
def test_thinking_only_model_streams_reasoning(http: httpx.Client, model: str) -> None:
    assert any(d.get("reasoning_content") for d in deltas(stream_data(http, model=model)))


def test_thinking_budget_caps_reasoning_length(http: httpx.Client) -> None:
    def reasoning_words(**extra: Any) -> int:
        data = stream_data(http, model=HYBRID, **extra)
        return len("".join(d.get("reasoning_content", "") for d in deltas(data)).split())

    assert reasoning_words(thinking_budget=5) <= 5 < reasoning_words()


def test_reasoning_tokens_are_reported_in_streamed_usage(http: httpx.Client) -> None:
    data = stream_data(http, model=HYBRID, stream_options={"include_usage": True})
    usage = chunks_of(data)[-1]["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert 0 < reasoning < usage["completion_tokens"]


def test_usage_has_no_reasoning_details_without_reasoning(http: httpx.Client) -> None:
    assert "completion_tokens_details" not in chat(http).json()["usage"]


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "add"}}])
def test_forced_tool_choice_is_rejected_in_thinking_mode(http: httpx.Client, choice: Any) -> None:
    response = http.post(
        "/chat/completions",
        json={
            "model": HYBRID,
            "messages": HELLO,
            "stream": True,
            "tools": ARITHMETIC_TOOLS,
            "tool_choice": choice,
        },
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert (
        message == "tool_choice does not support being set to required or object in thinking mode"
    )


# -- the brain: tools ----------------------------------------------------------------------


def test_brain_runs_a_multi_step_tool_loop_to_the_final_answer(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is (3 + 4) * 5? Use the tools."}]
    calls = []
    for _ in range(4):
        result = client.chat.completions.create(
            model=CHAT, messages=messages, tools=ARITHMETIC_TOOLS
        )
        message = result.choices[0].message
        if not message.tool_calls:
            break
        assert result.choices[0].finish_reason == "tool_calls"
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            assert call.type == "function"
            args = json.loads(call.function.arguments)
            name = call.function.name
            calls.append((name, args))
            value = args["a"] + args["b"] if name == "add" else args["a"] * args["b"]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": str(value)})
    assert calls == [("add", {"a": 3, "b": 4}), ("multiply", {"a": 7, "b": 5})]
    assert message.content is not None and "35" in message.content


def test_tool_call_ids_look_like_openai_ids(http: httpx.Client) -> None:
    choice = tool_turn(http, [{"role": "user", "content": "Add 1 and 2"}])
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and len(call["id"]) > 10
    assert call["type"] == "function"


def test_string_arguments_come_from_the_prompt(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "What is the weather in San Francisco, CA?"}]
    response = chat(http, messages=messages, tools=[WEATHER_TOOL])
    arguments = response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"location": "San Francisco, CA"}


def test_tool_choice_object_forces_the_named_tool(http: httpx.Client) -> None:
    choice = tool_turn(
        http,
        [{"role": "user", "content": "Please add 2 and 2"}],
        tool_choice={"type": "function", "function": {"name": "multiply"}},
    )
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "multiply"


def test_tool_choice_required_forces_a_call_even_after_results(http: httpx.Client) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Add 1 and 2"}]
    first = tool_turn(http, messages)["message"]
    messages += [
        first,
        {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"], "content": "3"},
    ]
    assert tool_turn(http, messages)["message"]["content"]  # auto: answers in text
    assert tool_turn(http, messages, tool_choice="required")["message"]["tool_calls"]


def test_tool_choice_none_answers_in_text(http: httpx.Client) -> None:
    choice = tool_turn(http, [{"role": "user", "content": "Add 1 and 2"}], tool_choice="none")
    assert "tool_calls" not in choice["message"] and choice["message"]["content"]


def test_parallel_request_calls_all_mentioned_tools_in_one_turn(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "In parallel: add 1 and 2, and multiply 3 by 4."}]
    names = [c["function"]["name"] for c in tool_turn(http, messages)["message"]["tool_calls"]]
    assert names == ["add", "multiply"]


def test_streamed_tool_calls_follow_the_openai_delta_shape(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "Add 10 and 20"}]
    calls = [
        d["tool_calls"][0]
        for d in deltas(stream_data(http, messages=messages, tools=ARITHMETIC_TOOLS))
        if "tool_calls" in d
    ]
    first, rest = calls[0], calls[1:]
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": "add", "arguments": ""}
    assert len(rest) >= 2
    assert all(set(c) == {"index", "function"} and c["index"] == 0 for c in rest)
    assert json.loads("".join(c["function"]["arguments"] for c in rest)) == {"a": 10, "b": 20}


def test_react_prompt_gets_an_action_then_a_final_answer(http: httpx.Client) -> None:
    system = (
        "You have access to the following tools:\n"
        "> Tool Name: add\nTool Description: Add two integers.\n"
        f"Tool Args: {json.dumps(TWO_INTS)}\n\n"
        "Use the format Thought: ...\nAction: ...\nAction Input: ..."
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": "What is 2 + 5?"},
    ]
    step = chat(http, messages=messages).json()["choices"][0]["message"]["content"]
    assert step.startswith("Thought:")
    assert "\nAction: add\nAction Input: " in step
    assert json.loads(step.split("Action Input: ")[1]) == {"a": 2, "b": 5}
    messages += [
        {"role": "assistant", "content": step},
        {"role": "user", "content": "Observation: 7"},
    ]
    final = chat(http, messages=messages).json()["choices"][0]["message"]["content"]
    assert final.startswith("Thought: I can answer without using any more tools.")
    assert "\nAnswer: " in final and "7" in final.split("Answer: ")[1]


# -- the brain: JSON, limits, RAG, default replies -----------------------------------------


def test_json_schema_response_format_is_filled_when_the_simulator_is_told_it_is_served(
    http: httpx.Client, sim: Simulator
) -> None:
    sim.json_schema_supported = True
    schema = {
        "type": "object",
        "properties": {
            "setup": {"type": "string"},
            "punchline": {"type": "string"},
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["setup", "punchline", "rating", "tags"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "Joke", "schema": schema, "strict": True}}
    messages = [{"role": "user", "content": "Tell me a joke about cats."}]
    content = chat(http, messages=messages, response_format=fmt).json()["choices"][0]["message"][
        "content"
    ]
    joke = json.loads(content)
    assert set(joke) == {"setup", "punchline", "rating", "tags"}
    assert isinstance(joke["setup"], str) and joke["setup"]
    assert 1 <= joke["rating"] <= 5 and isinstance(joke["tags"], list)


def test_json_object_uses_key_names_from_the_prompt(http: httpx.Client) -> None:
    prompt = "Tell me a joke about cats. Return JSON with 'setup' and 'punchline' keys."
    response = chat(
        http,
        messages=[{"role": "user", "content": prompt}],
        response_format={"type": "json_object"},
    )
    assert set(json.loads(response.json()["choices"][0]["message"]["content"])) == {
        "setup",
        "punchline",
    }


def test_stop_sequence_truncates_with_finish_reason_stop(http: httpx.Client) -> None:
    full = chat(http).json()["choices"][0]["message"]["content"]
    cut = chat(http, stop=["deterministic"]).json()["choices"][0]
    assert cut["message"]["content"] == full[: full.index("deterministic")]
    assert cut["finish_reason"] == "stop"


def test_stop_sequence_also_applies_to_streams(http: httpx.Client) -> None:
    data = stream_data(http, stop="deterministic")
    streamed = "".join(d.get("content", "") for d in deltas(data))
    assert streamed and "deterministic" not in streamed


def test_max_tokens_truncates_with_finish_reason_length(http: httpx.Client) -> None:
    choice_and_usage = chat(http, max_tokens=3).json()
    choice = choice_and_usage["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "You said:"
    assert choice_and_usage["usage"]["completion_tokens"] == 3


def test_rag_prompt_is_answered_with_the_best_matching_context_sentence(http: httpx.Client) -> None:
    prompt = (
        "Context information is below.\n---------------------\n"
        "The Eiffel Tower is in Paris. Mount Fuji is the tallest mountain in Japan. "
        "Pandas mostly eat bamboo.\n---------------------\n"
        "Given the context information and not prior knowledge, answer the query.\n"
        "Query: What do pandas eat?\nAnswer: "
    )
    answer = chat(http, messages=[{"role": "user", "content": prompt}]).json()["choices"][0][
        "message"
    ]["content"]
    assert answer == "Pandas mostly eat bamboo."


def test_rag_prompt_with_question_before_context_is_answered_from_context(
    http: httpx.Client,
) -> None:
    prompt = (
        "Use the following pieces of retrieved context to answer the question.\n"
        "Question: Where is the Eiffel Tower?\n"
        "Context: The Eiffel Tower is in Paris. Pandas mostly eat bamboo.\nAnswer:"
    )
    messages = [{"role": "user", "content": prompt}]
    answer = chat(http, messages=messages).json()["choices"][0]["message"]["content"]
    assert answer == "The Eiffel Tower is in Paris."


def test_default_reply_quotes_the_user_message_deterministically(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "Tell me about rivers"}]
    first = chat(http, messages=messages).json()["choices"][0]["message"]["content"]
    second = chat(http, messages=messages).json()["choices"][0]["message"]["content"]
    assert first == second and '"Tell me about rivers"' in first


# -- embeddings (§1.4) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "dimension"),
    [
        ("Qwen/Qwen3-Embedding-0.6B", 1024),
        ("Qwen/Qwen3-Embedding-8B", 4096),
        ("BAAI/bge-large-zh-v1.5", 1024),
    ],
)
def test_embeddings_are_deterministic_unit_vectors_of_the_model_dimension(
    client: openai.OpenAI, model: str, dimension: int
) -> None:
    first = client.embeddings.create(
        model=model, input="the quick brown fox", encoding_format="float"
    )
    second = client.embeddings.create(
        model=model, input="the quick brown fox", encoding_format="float"
    )
    vector = first.data[0].embedding
    assert len(vector) == dimension
    assert vector == second.data[0].embedding
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-6)


def test_embeddings_rank_similar_texts_higher(client: openai.OpenAI) -> None:
    texts = [
        "Cats purr when they are happy.",
        "A happy cat purrs.",
        "Interest rates rose in March.",
    ]
    a, b, c = (
        d.embedding
        for d in client.embeddings.create(model=EMBED, input=texts, encoding_format="float").data
    )
    similar = sum(x * y for x, y in zip(a, b, strict=True))
    unrelated = sum(x * y for x, y in zip(a, c, strict=True))
    assert similar > unrelated + 0.2


def test_embeddings_base64_is_little_endian_float32_of_the_float_vector(http: httpx.Client) -> None:
    body = {"model": EMBED, "input": "hello world"}
    floats = http.post("/embeddings", json=body).json()["data"][0]["embedding"]
    encoded = http.post("/embeddings", json={**body, "encoding_format": "base64"}).json()["data"][
        0
    ]["embedding"]
    raw = base64.b64decode(encoded)
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(decoded) == len(floats) == 1024
    assert all(
        math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7) for x, y in zip(decoded, floats, strict=True)
    )


def test_openai_sdk_default_base64_embeddings_decode_to_the_float_vector(
    client: openai.OpenAI,
) -> None:
    via_default = client.embeddings.create(model=EMBED, input="hello world").data[0].embedding
    via_float = (
        client.embeddings.create(model=EMBED, input="hello world", encoding_format="float")
        .data[0]
        .embedding
    )
    assert all(
        math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
        for x, y in zip(via_default, via_float, strict=True)
    )


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3, 4]]])
def test_embeddings_reject_token_id_inputs_saying_to_send_strings(
    http: httpx.Client, tokens: Any
) -> None:
    response = http.post("/embeddings", json={"model": EMBED, "input": tokens})
    assert response.status_code == 400
    assert "send `input` as a string or a list of strings" in response.json()["error"]["message"]


def test_embeddings_accept_a_string_or_a_list_and_report_usage(http: httpx.Client) -> None:
    single = http.post("/embeddings", json={"model": EMBED, "input": "one"}).json()
    many = http.post("/embeddings", json={"model": EMBED, "input": ["one", "two words"]}).json()
    assert single["object"] == "list" and len(single["data"]) == 1
    assert [d["index"] for d in many["data"]] == [0, 1]
    assert all(d["object"] == "embedding" for d in many["data"])
    assert many["usage"]["prompt_tokens"] == many["usage"]["total_tokens"] == 3
    assert many["model"] == EMBED


# -- scripted replies ----------------------------------------------------------------------


def test_scripted_replies_are_consumed_in_order_then_the_brain_resumes(
    sim: Simulator, client: openai.OpenAI
) -> None:
    sim.script(Reply.text("first"), Reply.text("second"))

    def ask() -> str | None:
        return client.chat.completions.create(model=CHAT, messages=HELLO).choices[0].message.content

    assert [ask(), ask()] == ["first", "second"]
    assert ask() != "first" and "deterministic" in (ask() or "")


def test_script_times_repeats_the_whole_group(sim: Simulator, http: httpx.Client) -> None:
    sim.script(Reply.text("a"), Reply.text("b"), times=2)
    got = [chat(http).json()["choices"][0]["message"]["content"] for _ in range(5)]
    assert got[:4] == ["a", "b", "a", "b"] and got[4] not in ("a", "b")


def test_scripted_exact_chunks_are_streamed_verbatim(sim: Simulator, http: httpx.Client) -> None:
    sim.script(Reply(chunks=[f"t{i} " for i in range(2000)]))
    content = [d["content"] for d in deltas(stream_data(http)) if d.get("content")]
    assert content == [f"t{i} " for i in range(2000)]


def test_scripted_n_chunks_splits_content_into_that_many_deltas(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.script(Reply(content="abcdefghij", n_chunks=4))
    content = [d["content"] for d in deltas(stream_data(http)) if d.get("content")]
    assert content == ["abc", "def", "gh", "ij"]


def test_scripted_reply_sets_reasoning_tool_calls_usage_and_finish_reason(
    sim: Simulator, http: httpx.Client
) -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
    sim.script(
        Reply(
            content="",
            reasoning="think first",
            tool_calls=[ScriptedToolCall("lookup", {"q": "x"}, id="call_fixed")],
            usage=usage,
            finish_reason="tool_calls",
        )
    )
    body = chat(http).json()
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "think first"
    assert message["tool_calls"] == [
        {
            "id": "call_fixed",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
        }
    ]
    assert body["usage"] == usage and body["choices"][0]["finish_reason"] == "tool_calls"


def test_scripted_error_reply_returns_its_status_body_and_headers(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.script(Reply.error(418, {"errors": {"message": "teapot"}}, headers={"x-extra": "1"}))
    response = chat(http)
    assert response.status_code == 418
    assert response.json() == {"errors": {"message": "teapot"}}
    assert response.headers["x-extra"] == "1"
    assert chat(http).status_code == 200


# -- faults --------------------------------------------------------------------------------


def test_rate_limit_fault_is_a_transient_429_with_remaining_above_zero_and_retry_after(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject(Fault.rate_limit(retry_after=2))
    response = chat(http)
    assert response.status_code == 429
    assert response.json()["errors"]["message"] == "Request limit exceeded."
    assert response.headers["retry-after"] == "2"
    account_left, model_left = quota(response)[1], quota(response)[3]
    assert account_left > 0 and model_left > 0
    assert chat(http).status_code == 200


def test_rate_limit_fault_without_retry_after_sends_no_retry_after(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject(Fault.rate_limit())
    response = chat(http)
    assert response.status_code == 429 and "retry-after" not in response.headers


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_fault_returns_an_errors_body(
    sim: Simulator, http: httpx.Client, status: int
) -> None:
    sim.inject(Fault.server_error(status))
    response = chat(http)
    assert response.status_code == status
    assert response.json() == {
        "errors": {"message": "Internal server error"},
        "request_id": sim.requests[-1].request_id,
    }


def test_empty_4xx_fault_has_no_body_at_all(sim: Simulator, http: httpx.Client) -> None:
    sim.inject(Fault.empty_4xx(400))
    response = chat(http)
    assert response.status_code == 400 and response.content == b""


def test_openai_sdk_reports_empty_400_as_bad_request(sim: Simulator, client: openai.OpenAI) -> None:
    sim.inject(Fault.empty_4xx())
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=CHAT, messages=HELLO)


def test_latency_fault_delays_the_whole_response(sim: Simulator, http: httpx.Client) -> None:
    sim.inject(Fault.latency(0.3))
    start = time.perf_counter()
    assert chat(http).status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_constructor_latency_delays_every_request() -> None:
    with Simulator(latency=0.2) as slow, httpx.Client(base_url=slow.base_url) as c:
        start = time.perf_counter()
        c.get("/models")
        assert time.perf_counter() - start >= 0.2
        start = time.perf_counter()
        c.post("/chat/completions", json={}, headers={"Authorization": f"Bearer {slow.token}"})
        assert time.perf_counter() - start >= 0.2


def test_slow_first_byte_sends_headers_then_stalls_the_stream(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject(Fault.slow_first_byte(0.4))
    start = time.perf_counter()
    body = {"model": CHAT, "messages": HELLO, "stream": True}
    with http.stream("POST", "/chat/completions", json=body) as response:
        headers_at = time.perf_counter() - start
        next(response.iter_bytes())
        first_byte_at = time.perf_counter() - start
    assert headers_at < 0.3 <= 0.4 <= first_byte_at


def test_slow_first_byte_times_out_a_client_with_a_short_read_timeout(sim: Simulator) -> None:
    sim.inject(Fault.slow_first_byte(0.5))
    hasty = openai.OpenAI(base_url=sim.base_url, api_key=sim.token, max_retries=0, timeout=0.1)
    with pytest.raises(openai.APITimeoutError):
        hasty.chat.completions.create(model=CHAT, messages=HELLO)


def test_drop_after_closes_the_stream_without_done(sim: Simulator, http: httpx.Client) -> None:
    sim.inject(Fault.drop_after(3))
    seen: list[str] = []
    body = {"model": CHAT, "messages": HELLO, "stream": True}
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", "/chat/completions", json=body) as r,
    ):
        seen.extend(line for line in r.iter_lines() if line.startswith("data: "))
    assert len(seen) == 3 and "data: [DONE]" not in seen


def test_drop_after_on_a_non_stream_request_breaks_the_body(
    sim: Simulator, client: openai.OpenAI
) -> None:
    sim.inject(Fault.drop_after(1))
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model=CHAT, messages=HELLO)
    assert client.chat.completions.create(model=CHAT, messages=HELLO).choices


def test_malformed_chunk_is_emitted_at_the_given_position(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject(Fault.malformed_chunk(at=2))
    data = stream_data(http)
    assert data[2] == "{not json"
    assert data[-1] == "[DONE]" and sum(d == "{not json" for d in data) == 1


def test_openai_sdk_fails_on_a_malformed_chunk(sim: Simulator, client: openai.OpenAI) -> None:
    sim.inject(Fault.malformed_chunk(at=1))
    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(model=CHAT, messages=HELLO, stream=True))


def test_null_choices_fault_emits_extra_chunks_with_choices_null(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject(Fault.null_choices(count=2))
    chunks = chunks_of(stream_data(http))
    assert sum(c["choices"] is None for c in chunks) == 2
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])


def _streamed_tool_pieces(http: httpx.Client, sim: Simulator, fault: Fault) -> list[dict[str, Any]]:
    sim.script(
        Reply(
            tool_calls=[
                ScriptedToolCall("add", {"a": 1, "b": 2}),
                ScriptedToolCall("multiply", {"a": 3, "b": 4}),
            ]
        )
    )
    sim.inject(fault)
    return [d["tool_calls"][0] for d in deltas(stream_data(http)) if "tool_calls" in d]


def test_tool_delta_no_index_fault_omits_index_and_repeats_the_id(
    sim: Simulator, http: httpx.Client
) -> None:
    pieces = _streamed_tool_pieces(http, sim, Fault.tool_delta_no_index())
    assert all("index" not in p for p in pieces)
    ids = [p["id"] for p in pieces]
    assert len(set(ids)) == 2 and len(ids) == len(pieces)


def test_tool_delta_id_first_only_fault_sends_each_id_once_and_no_index(
    sim: Simulator, http: httpx.Client
) -> None:
    pieces = _streamed_tool_pieces(http, sim, Fault.tool_delta_id_first_only())
    assert all("index" not in p for p in pieces)
    with_id = [p for p in pieces if "id" in p]
    assert [p["function"]["name"] for p in with_id] == ["add", "multiply"]
    assert len(pieces) > len(with_id) + 2


def test_shared_index_zero_fault_gives_parallel_calls_index_zero_and_distinct_ids(
    sim: Simulator, http: httpx.Client
) -> None:
    pieces = _streamed_tool_pieces(http, sim, Fault.shared_index_zero())
    assert {p["index"] for p in pieces} == {0}
    assert len({p["id"] for p in pieces if "id" in p}) == 2


def test_fault_applies_to_the_next_n_requests_only(sim: Simulator, http: httpx.Client) -> None:
    sim.inject(Fault.server_error(503), times=2)
    assert [chat(http).status_code for _ in range(3)] == [503, 503, 200]


def test_fault_can_target_one_model(sim: Simulator, http: httpx.Client) -> None:
    sim.inject(Fault.server_error(502), model=OTHER_CHAT)
    assert chat(http).status_code == 200
    assert chat(http, model=OTHER_CHAT).status_code == 502
    assert chat(http, model=OTHER_CHAT).status_code == 200


def test_replacing_faults_apply_one_per_request_in_arming_order(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject(Fault.rate_limit(), times=2)
    sim.inject(Fault.server_error())
    assert [chat(http).status_code for _ in range(4)] == [429, 429, 500, 200]


def test_stream_only_faults_wait_for_a_streaming_request(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject(Fault.malformed_chunk(at=1))
    assert chat(http).status_code == 200
    assert "{not json" in stream_data(http)


def test_server_errors_do_not_spend_quota(sim: Simulator, http: httpx.Client) -> None:
    # reference: modelscope-api.md §8.2, calls that fail because of the system are refunded
    sim.inject(Fault.server_error())
    chat(http)
    assert sim.quota(CHAT).model_remaining == DEFAULT_MODEL_LIMIT


# -- recording, reset, lifecycle -----------------------------------------------------------


def test_requests_are_recorded_with_the_authorization_masked(
    sim: Simulator, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model=CHAT, messages=HELLO, stream=True).close()
    record = sim.requests[-1]
    assert (record.method, record.path, record.model, record.stream) == (
        "POST",
        "/v1/chat/completions",
        CHAT,
        True,
    )
    assert record.headers["authorization"] == "Bearer ms-s***"
    assert record.body["messages"] == HELLO
    assert sim.token not in repr(sim.requests)


def test_reset_clears_requests_faults_scripts_and_quota(sim: Simulator, http: httpx.Client) -> None:
    sim.set_quota(account_limit=1)
    chat(http)
    sim.inject(Fault.server_error())
    sim.script(Reply.text("scripted"))
    sim.reset()
    assert sim.requests == []
    response = chat(http)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] != "scripted"
    assert quota(response)[:2] == (DEFAULT_ACCOUNT_LIMIT, DEFAULT_ACCOUNT_LIMIT - 1)


def test_custom_models_can_be_added() -> None:
    with Simulator(models=["Org/Custom-Chat", "Org/Custom-Embedding"]) as custom:
        ids = {m["id"] for m in httpx.get(f"{custom.base_url}/models").json()["data"]}
        headers = {"Authorization": f"Bearer {custom.token}"}
        reply = httpx.post(
            f"{custom.base_url}/embeddings",
            json={"model": "Org/Custom-Embedding", "input": "x"},
            headers=headers,
        )
    assert {"Org/Custom-Chat", "Org/Custom-Embedding", CHAT} <= ids
    assert reply.status_code == 200


def test_sync_context_manager_stops_the_server_on_exit() -> None:
    with Simulator(token="ms-other") as local:
        url = local.base_url
        assert httpx.get(f"{url}/models").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models")


async def test_async_context_manager_serves_the_async_openai_client() -> None:
    async with Simulator() as local:
        aclient = openai.AsyncOpenAI(base_url=local.base_url, api_key=local.token, max_retries=0)
        result = await aclient.chat.completions.create(model=CHAT, messages=HELLO)
        await aclient.close()
    assert result.choices[0].message.content


def test_embeddings_dimensions_shortens_to_a_unit_vector(client: openai.OpenAI) -> None:
    full = client.embeddings.create(model=EMBED, input="hello world", encoding_format="float")
    short = client.embeddings.create(
        model=EMBED, input="hello world", encoding_format="float", dimensions=256
    )
    vector = short.data[0].embedding
    assert len(vector) == 256
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-6)
    head = full.data[0].embedding[:256]
    norm = math.sqrt(math.fsum(v * v for v in head))
    assert all(
        math.isclose(x, h / norm, rel_tol=1e-6, abs_tol=1e-9)
        for x, h in zip(vector, head, strict=True)
    )


@pytest.mark.parametrize("dimensions", [0, 5000, "256", True])
def test_embeddings_reject_dimensions_outside_the_model_size(
    http: httpx.Client, dimensions: Any
) -> None:
    response = http.post(
        "/embeddings", json={"model": EMBED, "input": "hi", "dimensions": dimensions}
    )
    assert response.status_code == 400
    assert "`dimensions` must be an integer from 1 to 1024" in response.json()["error"]["message"]
