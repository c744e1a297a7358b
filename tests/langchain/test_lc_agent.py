"""A LangGraph agent with two tools completes a multi-step task on the simulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from lc_helpers import HYBRID, PLAIN, THINKING, chat_bodies

from langchain_modelscope import ChatModelScope
from modelscope_inference.simulator import Simulator

Chat = Callable[..., ChatModelScope]
QUESTION = "What is (3 + 4) * 5? Use the tools."


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.mark.parametrize("model", [PLAIN, HYBRID, THINKING])
def test_agent_chains_two_tools_to_the_answer(chat: Chat, sim: Simulator, model: str) -> None:
    agent = create_agent(chat(model), tools=[add, multiply])

    state = agent.invoke({"messages": [("user", QUESTION)]})

    messages = state["messages"]
    tool_results = [m for m in messages if isinstance(m, ToolMessage)]
    assert [(m.name, m.content) for m in tool_results] == [("add", "7"), ("multiply", "35")]
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert "35" in final.text
    assert len(chat_bodies(sim)) == 3  # call add, call multiply, answer


def test_agent_streaming_messages_uses_the_stream_path(chat: Chat, sim: Simulator) -> None:
    agent = create_agent(chat(THINKING), tools=[add, multiply])

    tokens = [
        message.text
        for message, _ in agent.stream({"messages": [("user", QUESTION)]}, stream_mode="messages")
        if not isinstance(message, ToolMessage)
    ]

    assert "35" in "".join(tokens)
    bodies = chat_bodies(sim)
    assert all(body["stream"] for body in bodies)
    assert all("reasoning_content" not in m for b in bodies for m in b["messages"])


async def test_agent_runs_async(chat: Chat) -> None:
    agent = create_agent(chat(PLAIN), tools=[add, multiply])

    state = await agent.ainvoke({"messages": [("user", QUESTION)]})

    assert "35" in state["messages"][-1].text
