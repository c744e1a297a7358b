"""``max_wait`` caps a long ``Retry-After``; ``retry_deadline`` bounds the time spent retrying."""

from __future__ import annotations

import time
from collections.abc import Callable

from langchain_modelscope import ChatModelScope
from modelscope_inference.simulator import Fault, Simulator

PLAIN = "Qwen/Qwen2.5-7B-Instruct"


def test_max_wait_caps_a_long_retry_after(
    chat: Callable[..., ChatModelScope], sim: Simulator
) -> None:
    sim.inject(Fault.rate_limit(retry_after=30), times=1)
    started = time.monotonic()

    reply = chat(model=PLAIN, max_wait=0.05).invoke("hello")

    assert reply.content
    assert len(sim.requests) == 2
    assert time.monotonic() - started < 5


def test_retry_options_reach_the_core_policy(chat: Callable[..., ChatModelScope]) -> None:
    policy = chat(model=PLAIN, max_wait=3.0, retry_deadline=10.0)._core.policy

    assert policy.max_wait == 3.0
    assert policy.deadline == 10.0
