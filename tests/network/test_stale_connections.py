"""A server that closes idle connections after 1 s (uvicorn's ``timeout_keep_alive``), and a
client that is away 1.5 s between calls: on the async path its event loop is blocked (CPU work,
a sync call in async code), so the server's close is not seen before the next request. No call
may fail, with retries off, on either path of either framework."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from modelscope_inference.simulator import Simulator

from .calls import FORMS, CallForm

CALLS = 20
AWAY_SECONDS = 1.5  # longer than the server's keep-alive timeout; not a measurement
pytestmark = pytest.mark.timeout(CALLS * AWAY_SECONDS + 240)

ONE_CALL_FORMS = [f for f in FORMS if f.name.endswith(("invoke", "achat", "-chat"))]


@pytest.fixture(scope="module")
def closing_simulator() -> Iterator[Simulator]:
    with Simulator(timeout_keep_alive=1) as sim:
        yield sim


@dataclass
class Outcome:
    failures: list[BaseException]
    run_header: str


def _failures_sync(form: CallForm, model: Any) -> list[BaseException]:
    assert form.sync_body is not None
    failures: list[BaseException] = []
    for _ in range(CALLS):
        try:
            form.sync_body(model)
        except Exception as exc:
            failures.append(exc)
        time.sleep(AWAY_SECONDS)
    return failures


def _failures_async(form: CallForm, model: Any) -> list[BaseException]:
    assert form.async_body is not None
    body = form.async_body

    async def main() -> list[BaseException]:
        failures: list[BaseException] = []
        for _ in range(CALLS):
            try:
                await body(model)
            except Exception as exc:
                failures.append(exc)
            time.sleep(AWAY_SECONDS)  # blocks the event loop, as CPU-bound work would
        await model.aclose()
        return failures

    return asyncio.run(main())


def _run_form(form: CallForm, sim: Simulator) -> Outcome:
    model = form.model(sim)  # max_retries=0: a failure would surface
    try:
        failures = _failures_async(form, model) if form.is_async else _failures_sync(form, model)
    finally:
        model.close()
    return Outcome(failures, model.default_headers["X-Test-Run"])


@pytest.fixture(scope="module")
def outcomes(closing_simulator: Simulator) -> dict[str, Outcome]:
    """Every form at once, each in a thread of its own with its own model and connections
    (the waits are idle time, so running them side by side changes nothing they test)."""
    with ThreadPoolExecutor(max_workers=len(ONE_CALL_FORMS)) as pool:
        futures = {f.name: pool.submit(_run_form, f, closing_simulator) for f in ONE_CALL_FORMS}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("form", ONE_CALL_FORMS, ids=str)
def test_connections_the_server_closed_while_idle_never_fail_a_call(
    form: CallForm, outcomes: dict[str, Outcome], closing_simulator: Simulator
) -> None:
    outcome = outcomes[form.name]

    assert outcome.failures == []
    chat_requests = [
        r
        for r in closing_simulator.requests
        if r.path.endswith("/completions") and r.headers.get("x-test-run") == outcome.run_header
    ]
    assert len(chat_requests) == CALLS  # each call reached the server exactly once
