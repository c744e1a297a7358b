"""ChatModelScope and the credits-era quota (modelscope-api.md §8.2, issue 14): a spent model is
refused without a request, one probe goes after ``quota_probe_interval`` even under 20 concurrent
callers, calls flow again when credits came back, and ``forget_quota()`` / ``preflight``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from lc_helpers import PLAIN, chat_bodies

from langchain_modelscope import ChatModelScope
from modelscope_inference import QuotaExhaustedError
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Fault, ModelKind, ModelSpec, Simulator

Chat = Callable[..., ChatModelScope]
CALLERS = 20
PROBE_SECONDS = 1.5  # the probe is held this long in the simulator, while the others arrive


class Clock:
    """The quota tracker's clock, moved by hand: no test waits for the probe interval."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(tracker_for(sim.token, sim.base_url), "clock", fake)
    yield fake


def spend_the_model(llm: ChatModelScope, sim: Simulator) -> None:
    """The model's last call: it answers, and its headers show 0 left."""
    sim.set_quota(model_limits={PLAIN: 1})
    llm.invoke("hi")
    assert llm.quota_status.model_remaining == 0


def test_a_spent_model_is_refused_without_a_request(
    chat: Chat, sim: Simulator, clock: Clock
) -> None:
    llm = chat(quota_probe_interval=60)
    spend_the_model(llm, sim)

    with pytest.raises(QuotaExhaustedError, match="no request was sent"):
        llm.invoke("again")

    assert len(chat_bodies(sim)) == 1


@pytest.mark.parametrize("credits_back", [True, False])
def test_one_probe_under_20_threads_then_calls_flow_or_stay_refused(
    chat: Chat, sim: Simulator, clock: Clock, credits_back: bool
) -> None:
    llm = chat(quota_probe_interval=60, max_retries=0)
    spend_the_model(llm, sim)
    if credits_back:
        sim.set_quota(model_limits={PLAIN: 50})
    clock.now += timedelta(seconds=60)
    sim.inject(Fault.latency(PROBE_SECONDS))
    outcomes: list[str] = []
    start = threading.Barrier(CALLERS)

    def call() -> None:
        start.wait()
        try:
            llm.invoke("probe?")
            outcomes.append("answered")
        except QuotaExhaustedError:
            outcomes.append("refused")

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(chat_bodies(sim)) == 2  # the first call, and one probe
    probe = "answered" if credits_back else "refused"
    assert sorted(outcomes) == sorted([probe] + ["refused"] * (CALLERS - 1))
    if credits_back:
        assert llm.invoke("flows").content
        assert len(chat_bodies(sim)) == 3
    else:
        clock.now += timedelta(seconds=59)
        with pytest.raises(QuotaExhaustedError):
            llm.invoke("still spent")
        assert len(chat_bodies(sim)) == 2


async def test_one_probe_under_20_asyncio_tasks(chat: Chat, sim: Simulator, clock: Clock) -> None:
    llm = chat(quota_probe_interval=60, max_retries=0)
    await asyncio.to_thread(spend_the_model, llm, sim)
    sim.set_quota(model_limits={PLAIN: 50})
    clock.now += timedelta(seconds=60)

    async def call() -> str:
        try:
            await llm.ainvoke("probe?")
            return "answered"
        except QuotaExhaustedError:
            return "refused"

    outcomes = await asyncio.gather(*(call() for _ in range(CALLERS)))

    assert sorted(outcomes) == ["answered"] + ["refused"] * (CALLERS - 1)
    assert len(chat_bodies(sim)) == 2
    assert (await llm.ainvoke("flows")).content
    await llm.aclose()


def test_forget_quota_lets_the_next_call_ask(chat: Chat, sim: Simulator, clock: Clock) -> None:
    llm = chat()
    spend_the_model(llm, sim)
    sim.restore_quota(model=PLAIN)  # credits came back, before the probe interval ends

    llm.forget_quota()

    assert not llm.quota_status.known
    assert llm.invoke("again").content
    assert len(chat_bodies(sim)) == 2


def test_preflight_off_asks_the_service_every_time(
    chat: Chat, sim: Simulator, clock: Clock
) -> None:
    llm = chat(preflight=False, max_retries=0)
    spend_the_model(llm, sim)

    for _ in range(2):
        with pytest.raises(QuotaExhaustedError):
            llm.invoke("again")

    assert len(chat_bodies(sim)) == 3


def test_a_model_without_quota_headers_stays_unknown_and_is_never_refused(
    sim: Simulator, clock: Clock
) -> None:
    quiet = "Org/Quiet-Model"
    with Simulator(models=[ModelSpec(quiet, ModelKind.CHAT, quota_headers=False)]) as own:
        llm = ChatModelScope(model=quiet, api_key=own.token, base_url=own.base_url)
        reply = llm.invoke("hi")
        llm.invoke("hi")
        assert reply.response_metadata.get("quota") is None
        assert not llm.quota_status.known
        assert len(own.requests) == 2
        llm.close()


def test_an_error_answer_carries_the_quota_into_the_status(
    chat: Chat, sim: Simulator, clock: Clock
) -> None:
    llm = chat(max_retries=0)
    sim.set_quota(model_limits={PLAIN: 7})
    sim.inject(Fault.server_error(500))

    with pytest.raises(Exception, match="500"):
        llm.invoke("hi")

    assert llm.quota_status.model_remaining == 7
