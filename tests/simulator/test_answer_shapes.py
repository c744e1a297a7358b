"""Successful answers shaped like the real service's (modelscope-api.md §8.4, §8.1 headers).

The one real 200 on record has a `chatcmpl-<uuid4 with dashes>` id, `created` in milliseconds,
`system_fingerprint: ""`, `reasoning_content: ""` on a model that did not think,
`function_calls: null`, and an extra all-empty `choices[0].delta`. No SSE capture exists, but
ModelScope's own sample code reads `delta.reasoning_content` and `delta.content` on every chunk
and compares them with `''`, so every delta carries both as strings; that sample runs here
unchanged.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from modelscope_inference import catalog
from modelscope_inference.simulator import ModelKind, Reply, ScriptedToolCall, Simulator
from modelscope_inference.simulator.models import build_catalog

CHAT = "Qwen/Qwen2.5-7B-Instruct"
HYBRID = "Qwen/Qwen3-8B"
QWQ = "Qwen/QwQ-32B"
EMBED = "Qwen/Qwen3-Embedding-0.6B"
HELLO: Any = [{"role": "user", "content": "Hello there"}]
EMPTY_DELTA = {
    "content": "",
    "function_calls": None,
    "reasoning_content": "",
    "role": None,
    "tool_calls": None,
}
ADD_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}

# ModelScope's official streaming sample, verbatim from modelscope-api.md §8.4 (copied into many
# repositories, e.g. a `qwq-32b/app.py`). Only BASE_URL and TOKEN are supplied by the test.
OFFICIAL_STREAM_SAMPLE = """\
from openai import OpenAI
client = OpenAI(base_url=BASE_URL, api_key=TOKEN)
response = client.chat.completions.create(
    model="Qwen/QwQ-32B", messages=[{"role": "user", "content": "9.9和9.11谁大"}], stream=True)
done_thinking = False
for chunk in response:
    thinking_chunk = chunk.choices[0].delta.reasoning_content
    answer_chunk = chunk.choices[0].delta.content
    if thinking_chunk != '':
        print(thinking_chunk, end='', flush=True)
    elif answer_chunk != '':
        if not done_thinking:
            print('\\n\\n === Final Answer ===\\n')
            done_thinking = True
        print(answer_chunk, end='', flush=True)
"""
FINAL_ANSWER_BANNER = "\n\n === Final Answer ===\n\n"


@pytest.fixture(autouse=True)
def sim(modelscope_simulator: Simulator) -> Simulator:
    return modelscope_simulator


def chat(http: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", CHAT)
    body.setdefault("messages", HELLO)
    response = http.post("/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def stream_chunks(http: httpx.Client, **body: Any) -> list[dict[str, Any]]:
    body.setdefault("model", CHAT)
    body.setdefault("messages", HELLO)
    body["stream"] = True
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def is_dashed_uuid4(value: str) -> bool:
    parsed = uuid.UUID(value)
    return str(parsed) == value and parsed.version == 4


def assert_created_in_milliseconds(created: object) -> None:
    assert isinstance(created, int) and len(str(created)) == 13
    assert abs(created / 1000 - time.time()) < 60


# -- non-stream answers --------------------------------------------------------------------


def test_completion_id_is_chatcmpl_and_a_uuid4_with_dashes(http: httpx.Client) -> None:
    completion_id = chat(http).json()["id"]
    assert completion_id.startswith("chatcmpl-")
    assert is_dashed_uuid4(completion_id.removeprefix("chatcmpl-"))


def test_created_is_in_milliseconds(http: httpx.Client) -> None:
    assert_created_in_milliseconds(chat(http).json()["created"])


def test_system_fingerprint_is_an_empty_string(http: httpx.Client) -> None:
    assert chat(http).json()["system_fingerprint"] == ""


def test_a_model_that_did_not_think_sends_empty_reasoning_and_null_function_calls(
    http: httpx.Client,
) -> None:
    message = chat(http).json()["choices"][0]["message"]
    assert message["reasoning_content"] == ""
    assert "function_calls" in message and message["function_calls"] is None


def test_hybrid_with_thinking_off_also_sends_empty_reasoning(http: httpx.Client) -> None:
    body = chat(http, model=HYBRID, enable_thinking=False).json()
    assert body["choices"][0]["message"]["reasoning_content"] == ""


def test_non_stream_choice_also_carries_an_all_empty_delta(http: httpx.Client) -> None:
    choice = chat(http).json()["choices"][0]
    assert choice["delta"] == EMPTY_DELTA
    assert choice["finish_reason"] == "stop"


def test_tool_call_answer_keeps_its_tool_calls_next_to_null_function_calls(
    http: httpx.Client,
) -> None:
    messages = [{"role": "user", "content": "What is 2 plus 3?"}]
    message = chat(http, messages=messages, tools=[ADD_TOOL]).json()["choices"][0]["message"]
    assert message["tool_calls"][0]["function"]["name"] == "add"
    assert message["function_calls"] is None and message["reasoning_content"] == ""


def test_usage_has_the_three_counts(http: httpx.Client) -> None:
    usage = chat(http).json()["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


# -- headers (§8.1) ------------------------------------------------------------------------


def test_chat_answer_has_json_with_charset_and_no_request_id_header(http: httpx.Client) -> None:
    response = chat(http)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "x-request-id" not in response.headers


def test_stream_answer_has_no_request_id_header(http: httpx.Client) -> None:
    body = {"model": CHAT, "messages": HELLO, "stream": True}
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "x-request-id" not in response.headers


def test_embedding_answer_has_json_with_charset_and_no_request_id_header(
    http: httpx.Client,
) -> None:
    response = http.post("/embeddings", json={"model": EMBED, "input": "hi"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "x-request-id" not in response.headers


# -- streams -------------------------------------------------------------------------------


def _deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        (CHAT, {}),
        (HYBRID, {}),
        (HYBRID, {"enable_thinking": False}),
        (QWQ, {}),
        (CHAT, {"tools": [ADD_TOOL], "messages": [{"role": "user", "content": "Add 2 and 3"}]}),
    ],
    ids=["chat", "hybrid-thinking", "hybrid-not-thinking", "thinking-only", "tool-call"],
)
def test_every_stream_delta_carries_content_and_reasoning_as_strings(
    http: httpx.Client, model: str, extra: dict[str, Any]
) -> None:
    deltas = _deltas(stream_chunks(http, model=model, **extra))
    assert len(deltas) >= 3
    for delta in deltas:
        assert isinstance(delta["content"], str), delta
        assert isinstance(delta["reasoning_content"], str), delta


def test_scripted_chunks_also_carry_empty_reasoning(sim: Simulator, http: httpx.Client) -> None:
    sim.script(Reply(chunks=["Hel", "lo"], reasoning="Think."))
    deltas = _deltas(stream_chunks(http, model=QWQ))
    assert [d["content"] for d in deltas if d["content"]] == ["Hel", "lo"]
    assert all(d["reasoning_content"] == "" for d in deltas if d["content"])
    assert all(isinstance(d["content"], str) for d in deltas)


def test_scripted_tool_call_deltas_carry_empty_texts(sim: Simulator, http: httpx.Client) -> None:
    sim.script(Reply(tool_calls=[ScriptedToolCall("add", {"a": 1, "b": 2})]))
    deltas = [d for d in _deltas(stream_chunks(http)) if "tool_calls" in d]
    assert deltas and all(d["content"] == d["reasoning_content"] == "" for d in deltas)


def test_stream_chunks_share_a_uuid_id_and_a_millisecond_created(http: httpx.Client) -> None:
    chunks = stream_chunks(http)
    assert len({c["id"] for c in chunks}) == 1
    assert is_dashed_uuid4(chunks[0]["id"].removeprefix("chatcmpl-"))
    assert_created_in_milliseconds(chunks[0]["created"])


def test_no_chunk_has_empty_choices_unless_usage_was_asked_for(http: httpx.Client) -> None:
    assert all(c["choices"] for c in stream_chunks(http, model=QWQ))
    with_usage = stream_chunks(http, model=QWQ, stream_options={"include_usage": True})
    assert [c for c in with_usage if not c["choices"]] == [with_usage[-1]]


# -- ModelScope's official streaming sample (§8.4) -----------------------------------------


def test_qwq_32b_is_a_thinking_only_model_in_simulator_and_catalog() -> None:
    assert build_catalog()[QWQ].kind is ModelKind.THINKING
    assert catalog.lookup(QWQ).thinking == "always"


def test_official_streaming_sample_prints_reasoning_then_the_answer(
    sim: Simulator, http: httpx.Client
) -> None:
    output = io.StringIO()
    namespace = {"BASE_URL": sim.base_url, "TOKEN": sim.token, "__name__": "__main__"}
    with contextlib.redirect_stdout(output):
        exec(compile(OFFICIAL_STREAM_SAMPLE, "qwq_stream_sample.py", "exec"), namespace)

    printed = output.getvalue()
    question = [{"role": "user", "content": "9.9和9.11谁大"}]
    deltas = _deltas(stream_chunks(http, model=QWQ, messages=question))
    reasoning = "".join(d["reasoning_content"] for d in deltas)
    answer = "".join(d["content"] for d in deltas)
    assert reasoning and answer
    assert printed == reasoning + FINAL_ANSWER_BANNER + answer
    assert "None" not in printed
    assert [r.model for r in sim.requests] == [QWQ, QWQ]
