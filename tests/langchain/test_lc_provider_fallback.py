"""ChatModelScope with a provider-routed fallback (modelscope-api.md §8.3): when the free
model's quota is spent, ``fallback_models=["Qwen/Qwen3-32B:DashScope"]`` takes over. What was
sent is read from the simulator's request log."""

from __future__ import annotations

from collections.abc import Callable

from lc_helpers import HYBRID, PLAIN, chat_bodies

from langchain_modelscope import ChatModelScope
from modelscope_inference.simulator import Simulator

Chat = Callable[..., ChatModelScope]
ROUTED = "Qwen/Qwen3-32B:DashScope"


def test_routed_fallback_takes_over_when_the_free_models_quota_is_spent(
    chat: Chat, sim: Simulator
) -> None:
    sim.set_quota(model_limits={HYBRID: 0})
    llm = chat(HYBRID, fallback_models=[ROUTED])

    first = llm.invoke("hello")
    second = llm.invoke("hello again")

    # the spent free scope is refused locally the second time; the routed scope is separate
    assert [b["model"] for b in chat_bodies(sim)] == [HYBRID, ROUTED, ROUTED]
    assert first.response_metadata["model_name"] == second.response_metadata["model_name"] == ROUTED
    assert chat_bodies(sim)[1]["enable_thinking"] is False  # the base model's hybrid rules
    assert llm.quota_status.model_remaining == 0


def test_routed_fallback_takes_over_on_streams(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(model_limits={HYBRID: 0})

    chunks = list(chat(HYBRID, fallback_models=[ROUTED]).stream("hello"))

    assert chunks[-1].response_metadata["model_name"] == ROUTED
    assert "".join(c.text for c in chunks)
    assert [b["model"] for b in chat_bodies(sim)] == [HYBRID, ROUTED]


async def test_routed_fallback_takes_over_async(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(model_limits={HYBRID: 0})

    result = await chat(HYBRID, fallback_models=[ROUTED]).ainvoke("hello")

    assert result.response_metadata["model_name"] == ROUTED
    assert [b["model"] for b in chat_bodies(sim)] == [HYBRID, ROUTED]


def test_routed_fallback_takes_over_when_the_account_is_spent(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(account_limit=0)

    result = chat(PLAIN, fallback_models=[HYBRID, ROUTED]).invoke("hello")

    # HYBRID is free tier too: refused locally once the account is known to be spent
    assert [b["model"] for b in chat_bodies(sim)] == [PLAIN, ROUTED]
    assert result.response_metadata["model_name"] == ROUTED


def test_a_routed_model_can_be_the_main_model(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(account_limit=0)

    result = chat(ROUTED).invoke("hello")

    assert result.response_metadata["model_name"] == ROUTED
    assert "quota" not in result.response_metadata  # no free-tier headers on a routed answer
