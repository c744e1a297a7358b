"""A pytest fixture that hands each test a clean, running simulator.

The server starts once per session (`modelscope_simulator_session`) and
`modelscope_simulator` resets it before each test, so tests stay isolated and fast. Load it
from a top-level `conftest.py` (it is deliberately not an auto-loaded entry point):

    pytest_plugins = ["modelscope_inference.simulator.pytest_plugin"]

    def test_models(modelscope_simulator):
        client = openai.OpenAI(base_url=modelscope_simulator.base_url,
                               api_key=modelscope_simulator.token)
        assert client.models.list().data
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import Simulator

__all__ = ["modelscope_simulator", "modelscope_simulator_session"]


@pytest.fixture(scope="session")
def modelscope_simulator_session() -> Iterator[Simulator]:
    """One simulator for the whole session; prefer `modelscope_simulator`, which resets it."""
    with Simulator() as sim:
        yield sim


@pytest.fixture
def modelscope_simulator(modelscope_simulator_session: Simulator) -> Iterator[Simulator]:
    """A running simulator in its initial state (requests, faults, scripts, quota cleared).

    >>> def test_hello(modelscope_simulator): ...  # doctest: +SKIP
    """
    modelscope_simulator_session.reset()
    yield modelscope_simulator_session
    modelscope_simulator_session.reset()
