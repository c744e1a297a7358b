"""Fixtures for the user-facing layer: a clean environment and a running simulator."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from modelscope_inference import catalog
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Simulator

ENV_VARS = (
    "MODELSCOPE_API_KEY",
    "MODELSCOPE_SDK_TOKEN",
    "MODELSCOPE_API_TOKEN",
    "MODELSCOPE_BASE_URL",
    "MODELSCOPE_API_BASE",
)


def clean_environ() -> dict[str, str]:
    """The process environment without any ModelScope token or base URL (for subprocesses)."""
    return {k: v for k, v in os.environ.items() if k not in ENV_VARS}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No token or base URL leaks in from the machine; catalog lessons are dropped."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    catalog.forget_learned()
    yield
    catalog.forget_learned()


@pytest.fixture(scope="session")
def session_simulator() -> Iterator[Simulator]:
    """One simulator for these tests; ``sim`` hands it out reset."""
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def sim(session_simulator: Simulator) -> Iterator[Simulator]:
    """The session's simulator in its initial state, with a clean quota memory for it."""
    simulator = session_simulator
    tracker = tracker_for(simulator.token, simulator.base_url)
    simulator.reset()
    tracker.reset()
    yield simulator
    simulator.reset()
    tracker.reset()


@pytest.fixture
def simulated_env(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """MODELSCOPE_API_KEY and MODELSCOPE_BASE_URL point at the simulator (restored after)."""
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    monkeypatch.setenv("MODELSCOPE_BASE_URL", sim.base_url)
    return sim
