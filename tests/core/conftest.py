"""Fixtures for the core unit tests: hermetic environment, unique tokens, mocked clients."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from modelscope_inference import ModelScopeClient, RetryPolicy, catalog

from .fakes import FakeClock, FakeServer, Sleeps
from .processes import start_redis

_ENV_VARS = (
    "MODELSCOPE_API_KEY",
    "MODELSCOPE_SDK_TOKEN",
    "MODELSCOPE_API_TOKEN",
    "MODELSCOPE_BASE_URL",
    "MODELSCOPE_API_BASE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "MODELSCOPE_STATE",
)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No token or base URL leaks in from the machine; run-time catalog lessons are dropped."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    catalog.forget_learned()
    yield
    catalog.forget_learned()


@pytest.fixture
def token() -> str:
    """A fresh token per test, so the process-wide quota tracker starts empty."""
    return f"ms-{uuid.uuid4()}"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ClientFactory = Callable[..., ModelScopeClient]


@pytest.fixture
def make_client(token: str, sleeps: Sleeps, clock: FakeClock) -> Iterator[ClientFactory]:
    """Build a client whose sync and async HTTP go to ``server``, with recorded sleeps and the
    fake clock on its quota tracker."""
    clients: list[httpx.Client] = []
    trackers: list[tuple[Any, Any]] = []

    def factory(
        server: FakeServer,
        *,
        max_retries: int = 2,
        max_wait: float = 60.0,
        api_key: str | None = None,
        **options: Any,
    ) -> ModelScopeClient:
        mock = httpx.MockTransport(server)
        http_client = httpx.Client(transport=mock)
        clients.append(http_client)
        policy = RetryPolicy(
            max_retries=max_retries,
            max_wait=max_wait,
            sleep=sleeps.sleep,
            async_sleep=sleeps.async_sleep,
        )
        client = ModelScopeClient.create(
            api_key=api_key or token,
            http_client=http_client,
            async_http_client=httpx.AsyncClient(transport=mock),
            policy=policy,
            **options,
        )
        trackers.append((client.transport.quota, client.transport.quota.clock))
        client.transport.quota.clock = clock
        return client

    yield factory
    for http_client in clients:
        http_client.close()
    for tracker, original in reversed(trackers):
        tracker.clock = original  # the tracker is process-wide; give it its real clock back


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real ``redis-server`` on a free loopback port for the session, stopped whatever
    happens (skipped where none is installed)."""
    yield from start_redis()
