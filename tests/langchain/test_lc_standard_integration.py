"""langchain-tests' standard integration suites, run against the local ModelScope simulator."""

from __future__ import annotations

from typing import Any

import pytest
from lc_helpers import reset_simulator, running_simulator
from lc_suites import ChatSuite, EmbeddingsSuite, offline_image_download  # noqa: F401 - fixture


@pytest.fixture(autouse=True)
def _clean_simulator() -> None:
    """Each standard test starts from fresh quota counters, on both sides."""
    reset_simulator()


def _simulator_connection() -> dict[str, Any]:
    sim = running_simulator()
    return {"api_key": sim.token, "base_url": sim.base_url}


class TestChatModelScopeIntegration(ChatSuite):
    def connection(self) -> dict[str, Any]:
        return _simulator_connection()


class TestModelScopeEmbeddingsIntegration(EmbeddingsSuite):
    def connection(self) -> dict[str, Any]:
        return _simulator_connection()
