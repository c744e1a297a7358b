"""The same standard suites, plus a thinking-model agent loop, against the real ModelScope
service. They run only when ``MODELSCOPE_API_KEY`` is set, and spend real daily quota (roughly
150 calls): ``pytest tests/langchain/test_lc_live.py -m live``. Model ids can be changed with
``MODELSCOPE_LIVE_CHAT_MODEL`` and friends, since the served catalogue changes often."""

from __future__ import annotations

import os
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from lc_suites import ChatSuite, EmbeddingsSuite, offline_image_download  # noqa: F401 - fixture

from langchain_modelscope import ChatModelScope

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not os.environ.get("MODELSCOPE_API_KEY"),
        reason="live tests need MODELSCOPE_API_KEY and spend real daily quota",
    ),
]


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


class TestChatModelScopeLive(ChatSuite):
    plain_model = _env("MODELSCOPE_LIVE_CHAT_MODEL", "Qwen/Qwen3-32B")
    vision_model = _env("MODELSCOPE_LIVE_VISION_MODEL", "Qwen/Qwen3-VL-8B-Instruct")
    thinking_model = _env("MODELSCOPE_LIVE_THINKING_MODEL", "Qwen/Qwen3-235B-A22B-Thinking-2507")
    override_model = _env("MODELSCOPE_LIVE_OVERRIDE_MODEL", "Qwen/Qwen3-8B")
    offline_images = False

    def connection(self) -> dict[str, Any]:
        return {}  # token and base URL from MODELSCOPE_API_KEY / MODELSCOPE_BASE_URL


class TestModelScopeEmbeddingsLive(EmbeddingsSuite):
    embedding_model = _env("MODELSCOPE_LIVE_EMBEDDING_MODEL", "Qwen/Qwen3-Embedding-0.6B")

    def connection(self) -> dict[str, Any]:
        return {}


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def test_thinking_model_agent_loop_live() -> None:
    """User scenario 13: a 3-turn tool loop on a thinking model, with no 400 about
    reasoning_content or tool_call_id."""
    llm = ChatModelScope(model=TestChatModelScopeLive.thinking_model)
    agent = create_agent(llm, tools=[add, multiply])

    state = agent.invoke({"messages": [("user", "Use the tools to compute (3 + 4) * 5.")]})

    assert any(isinstance(m, ToolMessage) for m in state["messages"])
    assert "35" in state["messages"][-1].text
