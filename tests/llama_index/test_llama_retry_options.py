"""``max_wait`` caps a long ``Retry-After``; ``retry_deadline`` bounds the time spent retrying."""

from __future__ import annotations

import time
from collections.abc import Callable

from llama_index.core.llms import ChatMessage

from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
from modelscope_inference.simulator import Fault, Simulator

PLAIN = "Qwen/Qwen2.5-7B-Instruct"


def test_max_wait_caps_a_long_retry_after(
    make_llm: Callable[..., ModelScopeLLM], sim: Simulator
) -> None:
    sim.inject(Fault.rate_limit(retry_after=30), times=1)
    started = time.monotonic()

    reply = make_llm(PLAIN, max_wait=0.05).chat([ChatMessage(role="user", content="hello")])

    assert reply.message.content
    assert len(sim.requests) == 2
    assert time.monotonic() - started < 5


def test_retry_options_reach_the_core_policy(
    make_llm: Callable[..., ModelScopeLLM],
    make_embedding: Callable[..., ModelScopeEmbedding],
) -> None:
    for component in (
        make_llm(PLAIN, max_wait=3.0, retry_deadline=10.0),
        make_embedding(max_wait=3.0, retry_deadline=10.0),
    ):
        policy = component._core().policy
        assert policy.max_wait == 3.0
        assert policy.deadline == 10.0
