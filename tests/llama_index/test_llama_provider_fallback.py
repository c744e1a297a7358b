"""ModelScopeLLM with a provider-routed fallback (modelscope-api.md §8.3): when the free
model's quota is spent, ``fallback_models=["Qwen/Qwen3-32B:DashScope"]`` takes over. What was
sent is read from the simulator's request log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from llama_index_modelscope import ModelScopeLLM
from modelscope_inference.simulator import Simulator

FREE = "Qwen/Qwen3-32B"
ROUTED = "Qwen/Qwen3-32B:DashScope"
PLAIN = "Qwen/Qwen2.5-7B-Instruct"

MakeLLM = Callable[..., ModelScopeLLM]
Bodies = Callable[[], list[dict[str, Any]]]


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def test_routed_fallback_takes_over_when_the_free_models_quota_is_spent(
    make_llm: MakeLLM, sim: Simulator, chat_bodies: Bodies
) -> None:
    sim.set_quota(model_limits={FREE: 0})
    llm = make_llm(FREE, fallback_models=[ROUTED])

    first = llm.chat(user("hi"))
    second = llm.complete("hi again")

    # the spent free scope is refused locally the second time; the routed scope is separate
    assert [b["model"] for b in chat_bodies()] == [FREE, ROUTED, ROUTED]
    assert first.raw is not None and first.raw["model"] == ROUTED
    assert second.additional_kwargs["model"] == ROUTED
    assert chat_bodies()[1]["enable_thinking"] is False  # the base model's hybrid rules


def test_routed_fallback_takes_over_on_streams(
    make_llm: MakeLLM, sim: Simulator, chat_bodies: Bodies
) -> None:
    sim.set_quota(model_limits={FREE: 0})

    chunks = list(make_llm(FREE, fallback_models=[ROUTED]).stream_chat(user("hi")))

    assert chunks[-1].additional_kwargs["model"] == ROUTED
    assert chunks[-1].message.content
    assert [b["model"] for b in chat_bodies()] == [FREE, ROUTED]


async def test_routed_fallback_takes_over_async(
    make_llm: MakeLLM, sim: Simulator, chat_bodies: Bodies
) -> None:
    sim.set_quota(model_limits={FREE: 0})

    response = await make_llm(FREE, fallback_models=[ROUTED]).achat(user("hi"))

    assert response.additional_kwargs["model"] == ROUTED
    assert [b["model"] for b in chat_bodies()] == [FREE, ROUTED]


def test_routed_fallback_takes_over_when_the_account_is_spent(
    make_llm: MakeLLM, sim: Simulator, chat_bodies: Bodies
) -> None:
    sim.set_quota(account_limit=0)

    response = make_llm(PLAIN, fallback_models=[FREE, ROUTED]).chat(user("hi"))

    # FREE is free tier too: refused locally once the account is known to be spent
    assert [b["model"] for b in chat_bodies()] == [PLAIN, ROUTED]
    assert response.additional_kwargs["model"] == ROUTED


def test_a_routed_model_is_known_to_the_catalog(make_llm: MakeLLM) -> None:
    metadata = make_llm(ROUTED).metadata
    assert metadata.model_name == ROUTED
    assert metadata.context_window == make_llm(FREE).metadata.context_window == 131_072
    assert metadata.is_function_calling_model
