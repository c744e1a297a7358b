"""Use the simulator's own pytest fixtures (a session server, reset before each test)."""

from collections.abc import Iterator

import httpx
import pytest

from modelscope_inference.simulator import Simulator
from modelscope_inference.simulator.pytest_plugin import (  # noqa: F401 - fixtures
    modelscope_simulator,
    modelscope_simulator_session,
)


@pytest.fixture(scope="module")
def http(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Raw HTTP to the simulator's `/v1`, with the valid token."""
    sim: Simulator = request.getfixturevalue("modelscope_simulator_session")
    headers = {"Authorization": f"Bearer {sim.token}"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=10) as c:
        yield c
