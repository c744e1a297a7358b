"""Fixtures for the LlamaIndex adapter tests: one simulator per module, reset before each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
from modelscope_inference import catalog
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Simulator

_ENV_VARS = (
    "MODELSCOPE_API_KEY",
    "MODELSCOPE_SDK_TOKEN",
    "MODELSCOPE_API_TOKEN",
    "MODELSCOPE_BASE_URL",
    "MODELSCOPE_API_BASE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)

HYBRID = "Qwen/Qwen3-32B"


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


@pytest.fixture
def sim(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A clean simulator, a clean process-wide quota tracker, and no token in the environment."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)

    def clean() -> None:
        simulator.reset()
        tracker_for(simulator.token, simulator.base_url).reset()
        catalog.forget_learned()

    clean()
    yield simulator
    clean()


@pytest.fixture
def make_llm(sim: Simulator) -> Callable[..., ModelScopeLLM]:
    """``make_llm(model, **fields)``: a ModelScopeLLM pointed at the simulator."""

    def make(model: str = HYBRID, **fields: Any) -> ModelScopeLLM:
        return ModelScopeLLM(model=model, api_base=sim.base_url, api_key=sim.token, **fields)

    return make


@pytest.fixture
def make_embedding(sim: Simulator) -> Callable[..., ModelScopeEmbedding]:
    """``make_embedding(**fields)``: a ModelScopeEmbedding pointed at the simulator."""

    def make(**fields: Any) -> ModelScopeEmbedding:
        return ModelScopeEmbedding(api_base=sim.base_url, api_key=sim.token, **fields)

    return make


@pytest.fixture
def chat_bodies(sim: Simulator) -> Callable[[], list[dict[str, Any]]]:
    """``chat_bodies()``: the JSON bodies of the chat requests received so far, oldest first."""

    def bodies() -> list[dict[str, Any]]:
        return [r.body for r in sim.requests if r.path.endswith("/chat/completions")]

    return bodies
