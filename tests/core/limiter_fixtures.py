"""Fixtures shared by the limiter's test modules (imported by name: pytest finds them there).

Example:
    >>> from .limiter_fixtures import fresh_limits, sim, sim_session  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelscope_inference.limiter import forget_limits
from modelscope_inference.simulator import Simulator

LIVENESS = 30.0  # seconds: only a hung test ever reaches it


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No learned limit before or after a test, and the limiter's switch at its default."""
    monkeypatch.delenv("MODELSCOPE_ADAPTIVE_CONCURRENCY", raising=False)
    forget_limits()
    yield
    forget_limits()


@pytest.fixture(scope="module")
def sim_session() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def sim(sim_session: Simulator) -> Iterator[Simulator]:
    sim_session.reset()
    yield sim_session
    sim_session.reset()
