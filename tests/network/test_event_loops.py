"""One instance, many event loops: a script that calls ``asyncio.run(llm.ainvoke(...))`` in a
loop (Celery tasks, ``async_to_sync``, per-test loops) keeps a constant number of sockets.
Each loop's pool is closed when ``asyncio.run`` shuts the loop down; no ``ResourceWarning``
(the test config makes them errors)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from llama_index.core.llms import ChatMessage

from langchain_modelscope import ModelScopeEmbeddings
from llama_index_modelscope import ModelScopeEmbedding
from modelscope_inference.simulator import Simulator

from .conftest import langchain_model, llama_index_model

RUNS = 50
SLACK = 3  # descriptors the interpreter may open on its own (a lazily imported module, a log)
EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"

pytestmark = pytest.mark.timeout(300)

Body = Callable[[Any], Awaitable[object]]


def open_descriptors() -> int:
    """This process's open file descriptors, sockets included (Linux)."""
    return len(os.listdir("/proc/self/fd"))


async def _lc_ainvoke(llm: Any) -> object:
    return (await llm.ainvoke("hi")).content


async def _lc_astream(llm: Any) -> object:
    return [chunk.content async for chunk in llm.astream("hi")]


async def _li_achat(llm: Any) -> object:
    return (await llm.achat([ChatMessage(role="user", content="hi")])).message.content


async def _li_astream_chat(llm: Any) -> object:
    stream = await llm.astream_chat([ChatMessage(role="user", content="hi")])
    return [r.delta async for r in stream]


async def _lc_aembed_query(embedder: Any) -> object:
    return await embedder.aembed_query("hi")


async def _li_aget_query_embedding(embedder: Any) -> object:
    return await embedder.aget_query_embedding("hi")


def _lc_embeddings(sim: Simulator) -> ModelScopeEmbeddings:
    return ModelScopeEmbeddings(
        model=EMBEDDING_MODEL, api_key=sim.token, base_url=sim.base_url, max_retries=0
    )


def _li_embedding(sim: Simulator) -> ModelScopeEmbedding:
    return ModelScopeEmbedding(
        model_name=EMBEDDING_MODEL, api_key=sim.token, api_base=sim.base_url, max_retries=0
    )


CASES: dict[str, tuple[Callable[[Simulator], Any], Body]] = {
    "langchain-ainvoke": (langchain_model, _lc_ainvoke),
    "langchain-astream": (langchain_model, _lc_astream),
    "langchain-aembed_query": (_lc_embeddings, _lc_aembed_query),
    "llamaindex-achat": (llama_index_model, _li_achat),
    "llamaindex-astream_chat": (llama_index_model, _li_astream_chat),
    "llamaindex-aget_query_embedding": (_li_embedding, _li_aget_query_embedding),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fifty_asyncio_runs_with_one_instance_keep_descriptors_flat(
    case: str, plain_simulator: Simulator
) -> None:
    build, body = CASES[case]
    model = build(plain_simulator)
    counts: list[int] = []
    try:
        for _ in range(RUNS):
            asyncio.run(body(model))  # no gc.collect(): a script does not call it either
            counts.append(open_descriptors())
    finally:
        model.close()

    assert counts[-1] - counts[0] <= SLACK, counts
