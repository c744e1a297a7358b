"""LlamaIndex building blocks end to end against the simulator: RAG, FunctionAgent, ReActAgent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ReActAgent

from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
from modelscope_inference.simulator import Simulator

# The workflows package inspects agent instances, tripping pydantic's deprecation warnings.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MakeLLM = Callable[..., ModelScopeLLM]
MakeEmbedding = Callable[..., ModelScopeEmbedding]
Bodies = Callable[[], list[dict[str, Any]]]

DOCS = [
    Document(text="Mount Fuji is the highest mountain in Japan. It is 3776 metres tall."),
    Document(text="The Eiffel Tower is in Paris. It was completed in 1889."),
    Document(text="Tea is a drink made by steeping leaves in hot water."),
]


def add(a: int, b: int) -> int:
    """Add two integers and return the sum."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers and return the product."""
    return a * b


@pytest.fixture
def restore_settings() -> Iterator[None]:
    llm, embed = Settings._llm, Settings._embed_model
    yield
    Settings._llm, Settings._embed_model = llm, embed


def test_vector_index_query_engine_answers_from_the_documents(
    make_llm: MakeLLM, make_embedding: MakeEmbedding, sim: Simulator
) -> None:
    index = VectorStoreIndex.from_documents(DOCS, embed_model=make_embedding())
    engine = index.as_query_engine(llm=make_llm("Qwen/Qwen3-32B"), similarity_top_k=1)
    answer = engine.query("Which mountain is the highest in Japan?")
    assert "Mount Fuji" in str(answer)
    assert "Fuji" in answer.source_nodes[0].node.get_content()
    paths = [r.path for r in sim.requests]
    assert "/v1/embeddings" in paths and "/v1/chat/completions" in paths


async def test_query_engine_works_through_settings_async(
    make_llm: MakeLLM, make_embedding: MakeEmbedding, restore_settings: None
) -> None:
    Settings.llm = make_llm("Qwen/Qwen2.5-7B-Instruct")
    Settings.embed_model = make_embedding()
    index = VectorStoreIndex.from_documents(DOCS)
    answer = await index.as_query_engine(similarity_top_k=1).aquery(
        "When was the Eiffel Tower completed?"
    )
    assert "Eiffel" in str(answer)


@pytest.mark.parametrize(
    "model", ["Qwen/Qwen3-32B", "Qwen/Qwen2.5-7B-Instruct", "deepseek-ai/DeepSeek-R1-0528"]
)
async def test_function_agent_runs_a_multi_step_tool_task(
    make_llm: MakeLLM, chat_bodies: Bodies, model: str
) -> None:
    agent = FunctionAgent(tools=[add, multiply], llm=make_llm(model))
    handler = agent.run("What is (3 + 4) * 5?")
    thinking = [
        e.thinking_delta
        async for e in handler.stream_events()
        if isinstance(e, AgentStream) and e.thinking_delta
    ]
    result = await handler
    assert "35" in str(result)
    called = [
        m["tool_calls"][0]["function"]["name"]
        for m in chat_bodies()[-1]["messages"]
        if m.get("tool_calls")
    ]
    assert called == ["add", "multiply"]
    # Streaming agents let hybrid and thinking-only models think; reasoning is surfaced apart.
    assert bool(thinking) == (model != "Qwen/Qwen2.5-7B-Instruct")


async def test_non_streaming_function_agent(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    agent = FunctionAgent(tools=[add, multiply], llm=make_llm("Qwen/Qwen3-32B"), streaming=False)
    assert "35" in str(await agent.run("What is (3 + 4) * 5?"))
    assert all(b["stream"] is False for b in chat_bodies())


@pytest.mark.parametrize(
    "model", ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen3-235B-A22B-Thinking-2507"]
)
async def test_react_agent_runs_a_multi_step_tool_task(
    make_llm: MakeLLM, chat_bodies: Bodies, model: str
) -> None:
    agent = ReActAgent(tools=[add, multiply], llm=make_llm(model))
    result = await agent.run("What is (3 + 4) * 5?")
    assert "35" in str(result)
    assert all("tools" not in b for b in chat_bodies())
    assert len(chat_bodies()) == 3
