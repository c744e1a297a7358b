"""A small live set for the core and the LlamaIndex adapter, against the real ModelScope
service. It runs only when ``MODELSCOPE_API_KEY`` is set and spends about ten calls of daily
quota: ``pytest tests/live -m live``. Model ids follow the LangChain live suite's variables
(``MODELSCOPE_LIVE_CHAT_MODEL``, ``MODELSCOPE_LIVE_THINKING_MODEL``), since the served
catalogue changes often. The code paths are the same ones the simulator tests exercise."""

from __future__ import annotations

import os

import pytest
from llama_index.core.llms import ChatMessage

from llama_index_modelscope import ModelScopeLLM
from modelscope_inference import AuthenticationError, ChatRequest, ModelScopeClient

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not os.environ.get("MODELSCOPE_API_KEY"),
        reason="live tests need MODELSCOPE_API_KEY and spend real daily quota",
    ),
]

CHAT_MODEL = os.environ.get("MODELSCOPE_LIVE_CHAT_MODEL") or "Qwen/Qwen3-32B"
THINKING_MODEL = (
    os.environ.get("MODELSCOPE_LIVE_THINKING_MODEL") or "Qwen/Qwen3-235B-A22B-Thinking-2507"
)
HI = [{"role": "user", "content": "Reply with the single word: pong"}]


def test_core_non_streaming_call_to_a_hybrid_model_answers_and_reports_quota() -> None:
    client = ModelScopeClient.create()

    result = client.chat.complete(
        ChatRequest(model=CHAT_MODEL, messages=HI, params={"max_tokens": 8})
    )

    assert result.content.strip()
    assert result.reasoning == ""
    assert result.quota is not None and result.quota.account_remaining is not None


def test_core_thinking_only_model_is_aggregated_with_reasoning_apart() -> None:
    client = ModelScopeClient.create()

    result = client.chat.complete(ChatRequest(model=THINKING_MODEL, messages=HI))

    assert result.content.strip()
    assert result.reasoning.strip()
    assert result.reasoning not in result.content


def test_core_stream_yields_text_then_a_done_delta_with_usage() -> None:
    client = ModelScopeClient.create()

    deltas = list(
        client.chat.stream(ChatRequest(model=CHAT_MODEL, messages=HI, enable_thinking=False))
    )

    assert "".join(d.content for d in deltas).strip()
    assert deltas[-1].done
    assert deltas[-1].usage is not None and deltas[-1].usage.output_tokens > 0


def test_a_wrong_token_is_an_authentication_error() -> None:
    client = ModelScopeClient.create(api_key="ms-00000000-0000-0000-0000-000000000000")

    with pytest.raises(AuthenticationError):
        client.chat.complete(ChatRequest(model=CHAT_MODEL, messages=HI))


def test_llama_index_chat_and_stream_chat() -> None:
    llm = ModelScopeLLM(model=CHAT_MODEL, max_tokens=16)
    messages = [ChatMessage(role="user", content=HI[0]["content"])]

    assert llm.chat(messages).message.content
    assert "".join(r.delta or "" for r in llm.stream_chat(messages)).strip()
    assert llm.quota_status.account_remaining is not None
