"""A LlamaIndex ``FunctionAgent`` with two tools, on ``ModelScopeLLM``.

``ModelScopeLLM`` is a function-calling LLM out of the box (no ``is_function_calling_model``
flag to set), so the agent uses native tool calls. Run it with
``python examples/llamaindex_function_agent.py`` (no token: a local simulator answers).
"""

from __future__ import annotations

import asyncio

from _common import modelscope_service
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult

from llama_index_modelscope import ModelScopeLLM


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


async def run() -> None:
    llm = ModelScopeLLM(model="Qwen/Qwen3-32B")
    print("function calling:", llm.metadata.is_function_calling_model)
    agent = FunctionAgent(
        tools=[add, multiply],
        llm=llm,
        system_prompt="You are a careful calculator. Use the tools for every step.",
    )
    handler = agent.run("What is (3 + 4) * 5?")
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            print(f"  tool call: {event.tool_name}({event.tool_kwargs}) -> {event.tool_output}")
    print("answer:", await handler)


if __name__ == "__main__":
    with modelscope_service():
        asyncio.run(run())
