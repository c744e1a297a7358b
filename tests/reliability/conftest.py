"""Shared fixtures for the reliability suites, and the summary line each suite prints.

- ``reliability_sim``: one simulator for the session, accepting :data:`support.TOKEN`;
  ``sim`` hands it to a test reset (requests, faults, scripts, quotas, and the client-side quota
  tracker for that token).
- Retries never really sleep here: neither adapter takes a ``RetryPolicy``, so the policy's
  default ``sleep``/``async_sleep`` are swapped for recorders (the waits asked for land in
  ``support.SLEEPS``); the predicate, waits and attempt counts stay the real ones.
- Every suite adds to ``support.COUNTS`` (fault-matrix cases, fuzz examples, secret surfaces);
  ``pytest_terminal_summary`` prints them, since the suite runs without ``-s``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from modelscope_inference import catalog
from modelscope_inference.quota import tracker_for
from modelscope_inference.retry import RetryPolicy
from modelscope_inference.simulator import Simulator

from .support import COUNTS, SLEEPS, TOKEN, record_async_sleep, record_sleep

_ENV_VARS = (
    "MODELSCOPE_API_KEY",
    "MODELSCOPE_SDK_TOKEN",
    "MODELSCOPE_API_TOKEN",
    "MODELSCOPE_BASE_URL",
    "MODELSCOPE_API_BASE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    terminalreporter.section("reliability")
    for suite, count in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{suite}: {count}")


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No token or base URL from the machine; no thinking-mode lessons carried between tests."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    catalog.forget_learned()
    SLEEPS.clear()
    yield
    catalog.forget_learned()


@pytest.fixture(scope="module", autouse=True)
def _retries_do_not_sleep() -> Iterator[None]:
    """Every ``RetryPolicy`` built without explicit sleeps records its waits instead."""
    defaults = {f.name: f.default for f in dataclasses.fields(RetryPolicy)}
    defaults.update(sleep=record_sleep, async_sleep=record_async_sleep)
    names = RetryPolicy.__init__.__code__.co_varnames[1 : 1 + len(defaults)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RetryPolicy.__init__, "__defaults__", tuple(defaults[n] for n in names))
        policy = RetryPolicy()
        assert policy.sleep is record_sleep and policy.async_sleep is record_async_sleep
        yield


@pytest.fixture(scope="session")
def reliability_sim() -> Iterator[Simulator]:
    with Simulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def sim(reliability_sim: Simulator) -> Iterator[Simulator]:
    """The session simulator, reset, with the client-side quota memory for it cleared."""
    reliability_sim.reset()
    tracker_for(TOKEN, reliability_sim.base_url).reset()
    yield reliability_sim
    reliability_sim.reset()
    tracker_for(TOKEN, reliability_sim.base_url).reset()
