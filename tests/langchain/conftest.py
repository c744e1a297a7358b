"""Fixtures for the LangChain adapter tests: one simulator per session, reset before each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lc_helpers import PLAIN, reset_simulator, stop_simulator

from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_simulator()


@pytest.fixture(autouse=True)
def _hermetic(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """No token or base URL leaks in from the machine (live tests keep theirs)."""
    if request.node.get_closest_marker("live") is None:
        for name in _ENV_VARS:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A running simulator in its initial state, with the client-side quota state cleared."""
    yield reset_simulator()
    reset_simulator()


@pytest.fixture
def chat(sim: Simulator) -> Callable[..., ChatModelScope]:
    """Build a ``ChatModelScope`` pointed at the simulator: ``chat(model=..., **options)``."""

    def factory(model: str = PLAIN, **options: Any) -> ChatModelScope:
        return ChatModelScope(model=model, api_key=sim.token, base_url=sim.base_url, **options)

    return factory


@pytest.fixture
def embeddings(sim: Simulator) -> Callable[..., ModelScopeEmbeddings]:
    """Build a ``ModelScopeEmbeddings`` pointed at the simulator."""

    def factory(**options: Any) -> ModelScopeEmbeddings:
        return ModelScopeEmbeddings(api_key=sim.token, base_url=sim.base_url, **options)

    return factory
