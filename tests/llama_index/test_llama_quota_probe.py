"""ModelScopeLLM and the credits-era quota (modelscope-api.md §8.2, issue 14): refused without a
request while spent, one probe after ``quota_probe_interval`` under 20 threads or tasks, calls
flow when credits came back, ``forget_quota()``, ``preflight=False``, garbage headers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from llama_index.core.base.llms.types import ChatMessage

from llama_index_modelscope import ModelScopeLLM
from modelscope_inference import BadRequestError, QuotaExhaustedError
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Fault, Reply, Simulator

PLAIN = "Qwen/Qwen2.5-7B-Instruct"
CALLERS = 20
HI = [ChatMessage(role="user", content="hi")]
MakeLLM = Callable[..., ModelScopeLLM]


class ManualClock:
    """Stands in for the tracker's wall clock; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def skip(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ManualClock]:
    manual = ManualClock()
    monkeypatch.setattr(tracker_for(sim.token, sim.base_url), "clock", manual)
    yield manual


def posts(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.path.endswith("/chat/completions"))


def outcome(llm: ModelScopeLLM) -> str:
    try:
        llm.chat(HI)
    except QuotaExhaustedError:
        return "refused"
    return "answered"


@pytest.fixture
def spent(make_llm: MakeLLM, sim: Simulator, clock: ManualClock) -> ModelScopeLLM:
    """An LLM whose model's quota the service answered as spent (one 429, no retry)."""
    llm = make_llm(PLAIN, quota_probe_interval=120, max_retries=0)
    sim.set_quota(model_limits={PLAIN: 0})
    assert outcome(llm) == "refused"
    assert posts(sim) == 1
    return llm


def test_refused_without_a_request_while_spent(
    spent: ModelScopeLLM, sim: Simulator, clock: ManualClock
) -> None:
    clock.skip(119)

    assert outcome(spent) == "refused"
    assert posts(sim) == 1


def test_one_probe_under_20_threads_then_calls_flow(
    spent: ModelScopeLLM, sim: Simulator, clock: ManualClock
) -> None:
    sim.set_quota(model_limits={PLAIN: 30})  # credits came back mid-day
    clock.skip(120)
    sim.inject(Fault.latency(1.5))  # the probe stays in flight while the others arrive

    with ThreadPoolExecutor(CALLERS) as pool:
        results = list(pool.map(lambda _: outcome(spent), range(CALLERS)))

    assert sorted(results) == ["answered"] + ["refused"] * (CALLERS - 1)
    assert posts(sim) == 2
    assert outcome(spent) == "answered"
    assert spent.quota_status.model_remaining == 28


def test_a_probe_that_finds_it_still_spent_refuses_for_another_interval(
    spent: ModelScopeLLM, sim: Simulator, clock: ManualClock
) -> None:
    clock.skip(120)
    assert outcome(spent) == "refused"  # the probe: a real request
    assert posts(sim) == 2

    clock.skip(119)
    assert outcome(spent) == "refused"
    assert posts(sim) == 2


async def test_one_probe_under_20_asyncio_tasks(
    spent: ModelScopeLLM, sim: Simulator, clock: ManualClock
) -> None:
    sim.set_quota(model_limits={PLAIN: 30})
    clock.skip(120)

    async def one() -> str:
        try:
            await spent.achat(HI)
        except QuotaExhaustedError:
            return "refused"
        return "answered"

    results = await asyncio.gather(*(one() for _ in range(CALLERS)))

    assert sorted(results) == ["answered"] + ["refused"] * (CALLERS - 1)
    assert posts(sim) == 2
    await spent.aclose()


def test_forget_quota_and_preflight_off(
    spent: ModelScopeLLM, make_llm: MakeLLM, sim: Simulator
) -> None:
    unchecked = make_llm(PLAIN, preflight=False, max_retries=0)
    assert outcome(unchecked) == "refused"
    assert posts(sim) == 2  # preflight off: it asked the service

    sim.set_quota(model_limits={PLAIN: 5})
    spent.forget_quota()

    assert not spent.quota_status.known
    assert outcome(spent) == "answered"
    assert posts(sim) == 3


@pytest.mark.parametrize("value", ["-5", "nan", "1.5", ""])
def test_a_garbage_header_on_an_error_answer_locks_nothing(
    make_llm: MakeLLM, sim: Simulator, value: str
) -> None:
    garbage = {"modelscope-ratelimit-model-requests-remaining": value}
    sim.script(Reply.error(400, {"errors": {"message": "bad"}}, headers=garbage))
    llm = make_llm(PLAIN, max_retries=0)
    with pytest.raises(BadRequestError):
        llm.chat(HI)

    assert outcome(llm) == "answered"
    assert outcome(llm) == "answered"
    assert posts(sim) == 3
    assert llm.quota_status.model_remaining is not None  # the later answers' figures


def test_an_error_answer_with_headers_updates_the_status(make_llm: MakeLLM, sim: Simulator) -> None:
    headers = {
        "modelscope-ratelimit-requests-remaining": "1897",
        "modelscope-ratelimit-model-requests-remaining": "458",
    }
    sim.script(Reply.error(400, {"errors": {"message": "invalid parameter"}}, headers))
    llm = make_llm(PLAIN, max_retries=0)

    with pytest.raises(BadRequestError):
        llm.chat(HI)

    status = llm.quota_status
    assert (status.account_remaining, status.model_remaining) == (1897, 458)
