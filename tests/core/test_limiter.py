"""The adaptive concurrency limiter (issue 18): the AIMD arithmetic, slots shared by threads and
tasks, timeouts and cancellation, and the limiter against the simulator's moving cap.

Concurrency is counted from the simulator's request log, never from wall-clock time; the only
timeouts here are generous liveness bounds.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pytest

from modelscope_inference import ConcurrencyTimeoutError, ModelScopeClient, QuotaExhaustedError
from modelscope_inference.chat import ChatRequest
from modelscope_inference.limiter import (
    PROBE_WAIT_MAX_SECONDS,
    PROBE_WAIT_MAX_SUCCESSES,
    PROBE_WAIT_SECONDS,
    PROBE_WAIT_SUCCESSES,
    AIMDState,
    ConcurrencyGate,
    adaptive_enabled,
    existing_limiter,
    limiter_for,
)
from modelscope_inference.simulator import Simulator
from modelscope_inference.simulator.concurrency import ConcurrencyBook

from . import limiter_fixtures
from .limiter_fixtures import LIVENESS

# The shared fixtures, found by pytest under these names.
fresh_limits = limiter_fixtures.fresh_limits
sim_session = limiter_fixtures.sim_session
sim = limiter_fixtures.sim

CHAT = "Qwen/Qwen3-8B"
EMBED = "Qwen/Qwen3-Embedding-0.6B"


def _client(sim: Simulator, **options: Any) -> ModelScopeClient:
    options.setdefault("max_retries", 2)
    options.setdefault("max_wait", 0.05)
    client = ModelScopeClient.create(api_key=sim.token, base_url=sim.base_url, **options)
    client.forget_quota()  # the tracker is process-wide: start each test from nothing known
    return client


def _ask(text: str = "hi") -> ChatRequest:
    return ChatRequest(model=CHAT, messages=[{"role": "user", "content": text}])


def _chat_log(sim: Simulator) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith("/chat/completions")]


async def _many(client: ModelScopeClient, n: int) -> list[Any]:
    return await asyncio.gather(*(client.chat.acomplete(_ask(str(i))) for i in range(n)))


# -- the arithmetic ------------------------------------------------------------------------


def test_saturated_successes_grow_the_limit_by_about_one_per_round() -> None:
    state = AIMDState(limit=2.0)
    state.on_success(level=2, bound=16)
    state.on_success(level=2, bound=16)
    assert state.limit == 3.0


def test_successes_below_the_limit_do_not_grow_it() -> None:
    state = AIMDState(limit=4.0)
    for _ in range(50):
        state.on_success(level=1, bound=16)
    assert state.limit == 4.0


def test_a_transient_429_cuts_the_limit_below_the_level_that_failed() -> None:
    state = AIMDState(limit=5.0)
    state.on_rate_limited(level=5, epoch=0)
    assert state.limit == pytest.approx(3.75)
    assert state.ceiling == 5


def test_429s_of_calls_sent_before_a_cut_do_not_cut_again() -> None:
    state = AIMDState(limit=8.0)
    state.on_rate_limited(level=8, epoch=0)
    after_first = state.limit
    state.on_rate_limited(level=7, epoch=0)  # sent in the same round as the first
    assert state.limit == after_first


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _saturated_calls(
    state: AIMDState, clock: FakeClock, caps: list[int], seconds_per_call: float
) -> int:
    """Send one call at a time as the limit's top level against a cap (``caps[i]`` for call i),
    as a saturated client would; the 429s it met."""
    refused = 0
    for cap in caps:
        level = math.floor(state.limit)
        if level > cap:
            refused += 1
            state.on_rate_limited(level, state.epoch)
        else:
            state.on_success(level, bound=16, epoch=state.epoch)
        clock.now += seconds_per_call
    return refused


def test_the_failed_level_is_tried_again_after_both_waits() -> None:
    clock = FakeClock()
    state = AIMDState(limit=2.0, clock=clock)
    state.on_rate_limited(level=2, epoch=0)
    assert state.limit == 1.0
    for _ in range(PROBE_WAIT_SUCCESSES + 10):  # enough calls, too soon
        state.on_success(level=1, bound=16)
    assert state.limit == 1.0
    clock.now = PROBE_WAIT_SECONDS
    state.on_success(level=1, bound=16)
    assert state.limit == 2.0


def test_a_probe_needs_its_successes_even_when_slow_calls_make_the_time_pass() -> None:
    clock = FakeClock()
    state = AIMDState(limit=2.0, clock=clock)
    state.on_rate_limited(level=2, epoch=0)
    clock.now = 100.0
    for _ in range(PROBE_WAIT_SUCCESSES - 1):
        state.on_success(level=1, bound=16)
    assert state.limit == 1.0
    state.on_success(level=1, bound=16)
    assert state.limit == 2.0


def test_failed_probes_double_the_wait_in_calls_then_in_seconds_up_to_the_maximum() -> None:
    state = AIMDState(limit=2.0, clock=FakeClock())
    waits = []
    for _ in range(16):
        state.on_rate_limited(level=2, epoch=state.epoch)
        waits.append((state.wait_seconds, state.wait_successes))
    calls_steps = int(math.log2(PROBE_WAIT_MAX_SUCCESSES // PROBE_WAIT_SUCCESSES))
    assert waits[: calls_steps + 3] == [
        *((PROBE_WAIT_SECONDS, PROBE_WAIT_SUCCESSES * 2**i) for i in range(calls_steps + 1)),
        (2 * PROBE_WAIT_SECONDS, PROBE_WAIT_MAX_SUCCESSES),
        (4 * PROBE_WAIT_SECONDS, PROBE_WAIT_MAX_SUCCESSES),
    ]
    assert waits[-1] == (PROBE_WAIT_MAX_SECONDS, PROBE_WAIT_MAX_SUCCESSES)


def test_a_probe_that_succeeds_starts_the_waits_again() -> None:
    state = AIMDState(limit=2.0, clock=FakeClock())
    for _ in range(4):
        state.on_rate_limited(level=2, epoch=state.epoch)
    state.on_success(level=2, bound=16)
    assert (state.ceiling, state.wait_seconds, state.wait_successes) == (
        None,
        PROBE_WAIT_SECONDS,
        PROBE_WAIT_SUCCESSES,
    )


def test_a_429_at_another_level_starts_the_waits_again() -> None:
    state = AIMDState(limit=6.0, clock=FakeClock())
    for _ in range(4):
        state.on_rate_limited(level=6, epoch=state.epoch)
    state.on_rate_limited(level=3, epoch=state.epoch)  # the cap fell
    assert (state.ceiling, state.wait_seconds, state.wait_successes) == (
        3,
        PROBE_WAIT_SECONDS,
        PROBE_WAIT_SUCCESSES,
    )


def test_a_steady_cap_costs_a_logarithmic_count_of_429s() -> None:
    # Ten minutes of 50-ms calls at cap 1: failed probes after 4, 8 ... 64 calls (the seconds'
    # floor first), then 2, 4 ... 64 s apart, then one per 64 s.
    clock = FakeClock()
    state = AIMDState(clock=clock)
    refused = _saturated_calls(state, clock, [1] * 12_000, seconds_per_call=0.05)
    in_calls = int(math.log2(PROBE_WAIT_MAX_SUCCESSES // PROBE_WAIT_SUCCESSES))
    in_seconds = int(math.log2(PROBE_WAIT_MAX_SECONDS / PROBE_WAIT_SECONDS))
    at_max = math.ceil(600 / PROBE_WAIT_MAX_SECONDS)
    assert refused <= 1 + in_calls + in_seconds + at_max  # 1 + 4 + 6 + 10 = 21 of 12,000
    assert state.limit == 1.0


def test_a_long_steady_cap_stays_well_within_the_429_budget() -> None:
    for cap, seconds_per_call in [(1, 0.05), (3, 0.05), (8, 0.01), (1, 10.0)]:
        clock = FakeClock()
        state = AIMDState(clock=clock)
        refused = _saturated_calls(state, clock, [cap] * 20_000, seconds_per_call)
        assert refused / 20_000 <= 0.03, (cap, seconds_per_call, refused)
        assert math.floor(state.limit) <= cap


def test_a_raised_cap_is_found_by_the_next_due_probe() -> None:
    clock = FakeClock()
    state = AIMDState(clock=clock)
    _saturated_calls(state, clock, [1] * 200, seconds_per_call=0.05)  # 10 s at cap 1
    assert state.limit == 1.0
    # The next probe waits for both: the seconds since the last failed one, and the calls.
    seconds_left = state.failed_at + state.wait_seconds - clock.now
    calls_left = state.wait_successes - state.credit
    not_before = max(int(seconds_left / 0.05), calls_left)
    assert not_before >= 2
    assert not_before * 0.05 <= PROBE_WAIT_MAX_SUCCESSES * 0.05  # within 64 calls here: 3.2 s
    _saturated_calls(state, clock, [4] * (not_before - 1), seconds_per_call=0.05)
    assert state.limit == 1.0  # not before its probe is due
    _saturated_calls(state, clock, [4] * 20, seconds_per_call=0.05)
    assert math.floor(state.limit) == 4  # then within 20 calls: 1 -> 2 -> 3 -> 4 (5 fails)
    assert state.ceiling == 5


def test_a_lowered_cap_backs_off_to_it() -> None:
    clock = FakeClock()
    state = AIMDState(limit=8.0, clock=clock)
    refused = _saturated_calls(state, clock, [2] * 20, seconds_per_call=0.05)
    assert math.floor(state.limit) == 2
    assert refused <= 4  # 8 -> 6 -> 4 -> 3 -> 2, one 429 per cut


def test_a_success_at_the_failed_level_forgets_it() -> None:
    state = AIMDState(limit=2.0, ceiling=2)
    state.on_success(level=2, bound=16)
    assert state.ceiling is None


def test_the_limit_never_passes_max_concurrency() -> None:
    state = AIMDState(limit=3.0)
    for _ in range(100):
        state.on_success(level=3, bound=3)
    assert state.limit == 3.0


def test_the_env_var_turns_it_off_and_an_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert adaptive_enabled(None) is True
    monkeypatch.setenv("MODELSCOPE_ADAPTIVE_CONCURRENCY", "0")
    assert adaptive_enabled(None) is False
    assert adaptive_enabled(True) is True


# -- slots: threads and tasks ----------------------------------------------------------------


def test_threads_and_tasks_share_one_limit() -> None:
    limiter = limiter_for("ms-t", "http://h/v1", "m")  # starts at one slot
    held = limiter.acquire(bound=16, timeout=LIVENESS)

    async def waiter() -> int:
        slot = await limiter.aacquire(bound=16, timeout=LIVENESS)
        level = slot.level
        limiter.release(slot, rate_limited=False, succeeded=False)
        return level

    async def main() -> int:
        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0.05)
        assert not task.done()  # the thread's slot is the only one
        threading.Thread(
            target=limiter.release, args=(held,), kwargs={"rate_limited": False, "succeeded": False}
        ).start()
        return await asyncio.wait_for(task, LIVENESS)

    assert asyncio.run(main()) == 1
    assert limiter.in_flight == 0


def _trial_under_way(limiter: Any) -> Any:
    """Grow the limit to 2 (one call succeeds alone), then hold a call at level 2, untried,
    while the call below it has ended: the slot of the trial."""
    first = limiter.acquire(bound=16, timeout=LIVENESS)
    limiter.release(first, rate_limited=False, succeeded=True)
    assert limiter.limit == 2
    below = limiter.acquire(bound=16, timeout=LIVENESS)
    trial = limiter.acquire(bound=16, timeout=LIVENESS)
    assert (below.trial, trial.level, trial.trial) == (False, 2, True)
    limiter.release(below, rate_limited=False, succeeded=True)
    return trial


def test_a_level_not_yet_shown_to_work_is_tried_by_one_call_at_a_time() -> None:
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    trial = _trial_under_way(limiter)
    # One slot is free under the limit, but it is level 2 again, still untried: wait.
    with pytest.raises(ConcurrencyTimeoutError):
        limiter.acquire(bound=16, timeout=0.05)
    limiter.release(trial, rate_limited=False, succeeded=True)
    after = limiter.acquire(bound=16, timeout=0)  # level 2 worked: no waiting now
    other = limiter.acquire(bound=16, timeout=0)
    assert (after.level, after.trial, other.level, other.trial) == (1, False, 2, False)
    for slot in (after, other):
        limiter.release(slot, rate_limited=False, succeeded=False)
    assert limiter.in_flight == 0


def test_a_trial_that_meets_a_429_lets_the_waiting_call_go_below_it() -> None:
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    trial = _trial_under_way(limiter)

    async def main() -> Any:
        waiting = asyncio.ensure_future(limiter.aacquire(bound=16, timeout=LIVENESS))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # held back by the trial
        limiter.release(trial, rate_limited=True, succeeded=False)
        return await asyncio.wait_for(waiting, LIVENESS)

    again = asyncio.run(main())
    assert limiter.limit == 1
    assert (again.level, again.trial) == (1, False)
    limiter.release(again, rate_limited=False, succeeded=False)
    assert limiter.in_flight == 0


def test_waiting_past_the_timeout_raises_a_typed_error_and_sends_nothing() -> None:
    gate = ConcurrencyGate.create("ms-t", "http://h/v1", timeout=0.05)
    limiter = gate.limiter("m")
    held = limiter.acquire(bound=16, timeout=LIVENESS)
    with (
        pytest.raises(ConcurrencyTimeoutError, match="adaptive_concurrency=False") as info,
        gate.hold("m"),
    ):
        raise AssertionError("no slot was free: the body must not run")
    assert info.value.model == "m"
    limiter.release(held, rate_limited=False, succeeded=False)
    assert limiter.in_flight == 0


def test_a_cancelled_waiter_leaks_no_slot() -> None:
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    held = limiter.acquire(bound=16, timeout=LIVENESS)

    async def main() -> None:
        task = asyncio.ensure_future(limiter.aacquire(bound=16, timeout=LIVENESS))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        limiter.release(held, rate_limited=False, succeeded=False)
        again = await asyncio.wait_for(limiter.aacquire(bound=16, timeout=LIVENESS), LIVENESS)
        limiter.release(again, rate_limited=False, succeeded=False)

    asyncio.run(main())
    assert limiter.in_flight == 0


def test_a_waiter_cancelled_just_after_being_handed_a_slot_passes_it_on() -> None:
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    held = limiter.acquire(bound=16, timeout=LIVENESS)

    async def main() -> None:
        task = asyncio.ensure_future(limiter.aacquire(bound=16, timeout=LIVENESS))
        await asyncio.sleep(0.05)
        limiter.release(held, rate_limited=False, succeeded=False)  # hands the slot to task
        task.cancel()  # before the task ran again
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert limiter.in_flight == 0


# -- against the simulator -------------------------------------------------------------------


def test_concurrent_calls_stay_within_a_capped_model_with_few_429s(sim: Simulator) -> None:
    sim.latency = 0.02
    sim.set_concurrency_cap(CHAT, 2)
    client = _client(sim)

    results = asyncio.run(_many(client, 40))

    assert len(results) == 40
    log = _chat_log(sim)
    refused = [r for r in log if r.over_cap]
    # Without the limiter, 38 of the first 40 arrivals would be refused.
    assert len(refused) <= 3
    assert existing_limiter(sim.token, sim.base_url, CHAT) is not None


def test_the_limit_grows_to_use_a_higher_cap(sim: Simulator) -> None:
    sim.latency = 0.02
    sim.set_concurrency_cap(CHAT, 4)
    client = _client(sim)

    asyncio.run(_many(client, 60))

    assert max(r.concurrency for r in _chat_log(sim) if not r.over_cap) == 4


def test_a_spent_quota_does_not_cut_the_limit(sim: Simulator) -> None:
    client = _client(sim)
    limiter = limiter_for(sim.token, sim.base_url, CHAT)
    limiter._state.limit = 3.0  # as if learned
    sim.set_quota(model_limits={CHAT: 0})

    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_ask())

    assert limiter.limit == 3


def test_a_stream_holds_its_slot_until_it_is_closed(sim: Simulator) -> None:
    client = _client(sim)
    deltas = client.chat.stream(_ask("a long answer please " * 5))
    next(deltas)  # open, first output read
    limiter = limiter_for(sim.token, sim.base_url, CHAT)
    assert limiter.in_flight == 1
    deltas.close()
    assert limiter.in_flight == 0


def test_turning_the_limiter_off_restores_todays_behaviour(sim: Simulator) -> None:
    """Off: every call goes out at once (the log shows all 8 in flight together), embeddings
    batches go one at a time as before, a 429 is retried as before, and no limiter exists."""
    sim.latency = 0.2
    client = _client(sim, adaptive_concurrency=False)

    asyncio.run(_many(client, 8))
    asyncio.run(client.embeddings.aembed([f"t{i}" for i in range(6)], model=EMBED, batch_size=2))

    chat = _chat_log(sim)
    assert max(r.concurrency for r in chat) == 8
    embeds = [r for r in sim.requests if r.path.endswith("/embeddings")]
    assert [r.concurrency for r in embeds] == [1, 1, 1]
    assert existing_limiter(sim.token, sim.base_url, CHAT) is None
    assert existing_limiter(sim.token, sim.base_url, EMBED) is None


def test_the_env_var_is_the_same_switch(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCOPE_ADAPTIVE_CONCURRENCY", "false")
    sim.latency = 0.2
    asyncio.run(_many(_client(sim), 6))
    assert max(r.concurrency for r in _chat_log(sim)) == 6
    assert existing_limiter(sim.token, sim.base_url, CHAT) is None


def test_embedding_batches_run_concurrently_under_the_limiter(sim: Simulator) -> None:
    sim.latency = 0.02
    sim.set_concurrency_cap(EMBED, 3)
    client = _client(sim)

    vectors = asyncio.run(
        client.embeddings.aembed([f"t{i}" for i in range(80)], model=EMBED, batch_size=2)
    )

    assert len(vectors) == 80
    embeds = [r for r in sim.requests if r.path.endswith("/embeddings")]
    assert max(r.concurrency for r in embeds if not r.over_cap) == 3


# -- the simulator's cap ---------------------------------------------------------------------


def test_the_simulator_cap_follows_its_schedule() -> None:
    now = [0.0]
    book = ConcurrencyBook(clock=lambda: now[0])
    book.set_cap("m", schedule=[(0, 1), (5, 4), (10, 2), (15, 8)])
    seen = []
    for t in (0, 4.9, 5, 12, 20):
        now[0] = t
        seen.append(book.cap("m"))
    assert seen == [1, 1, 4, 2, 8]


def test_a_refusal_over_the_cap_is_a_counted_transient_429(sim: Simulator) -> None:
    sim.set_concurrency_cap(CHAT, 0)
    before = sim.quota(CHAT)
    client = _client(sim, max_retries=0, adaptive_concurrency=False)

    with pytest.raises(Exception) as info:
        client.chat.complete(_ask())

    assert type(info.value).__name__ == "RateLimitError"  # transient, not a spent quota
    after = sim.quota(CHAT)
    assert after.model_remaining == before.model_remaining - 1
    assert _chat_log(sim)[0].over_cap is True


def test_threads_share_the_limit_with_few_429s(sim: Simulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sim.latency = 0.02
    sim.set_concurrency_cap(CHAT, 2)
    client = _client(sim)

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda i: client.chat.complete(_ask(str(i))), range(36)))

    assert len(results) == 36
    refused = [r for r in _chat_log(sim) if r.over_cap]
    assert len(refused) <= 3  # without the limiter: 10 of the first 12 arrivals


def test_no_slot_is_held_while_a_retry_waits(sim: Simulator) -> None:
    from modelscope_inference import RetryPolicy
    from modelscope_inference.simulator import Fault

    sim.inject(Fault.rate_limit(), times=1, model=CHAT)
    held_during_waits: list[int] = []
    limiter = limiter_for(sim.token, sim.base_url, CHAT)
    policy = RetryPolicy(max_retries=2, sleep=lambda s: held_during_waits.append(limiter.in_flight))
    client = ModelScopeClient.create(api_key=sim.token, base_url=sim.base_url, policy=policy)
    client.forget_quota()

    client.chat.complete(_ask())

    assert held_during_waits == [0]  # one retry wait, with the slot given back
    assert limiter.in_flight == 0
