"""Edges of the limiter's trial rule and probe waits, from a review that attacked them: slots
and trials that could leak, a trial that outlived its answer, probe waits after a limit adopted
from a shared store. The tests whose docstring starts "Was:" failed on 4e3a7f4 (fixed since).

No test depends on machine speed: the clocks are fake, and the only timeouts are liveness bounds.
"""

from __future__ import annotations

import asyncio
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelscope_inference import ConcurrencyTimeoutError, ModelScopeClient
from modelscope_inference.chat import ChatRequest
from modelscope_inference.limiter import (
    PROBE_WAIT_MAX_SUCCESSES,
    PROBE_WAIT_SECONDS,
    PROBE_WAIT_SUCCESSES,
    ConcurrencyLimiter,
    LimitScope,
    SharedLimit,
    SharedLimitStore,
    limiter_for,
)
from modelscope_inference.simulator import Simulator
from modelscope_inference.store import open_store

from . import limiter_fixtures
from .limiter_fixtures import LIVENESS

# The shared fixtures, found by pytest under these names.
fresh_limits = limiter_fixtures.fresh_limits
sim_session = limiter_fixtures.sim_session
sim = limiter_fixtures.sim

CHAT = "Qwen/Qwen3-8B"


def _client(sim: Simulator) -> ModelScopeClient:
    client = ModelScopeClient.create(
        api_key=sim.token, base_url=sim.base_url, max_retries=2, max_wait=0.05
    )
    client.forget_quota()
    return client


def _ask(text: str = "hi") -> ChatRequest:
    return ChatRequest(model=CHAT, messages=[{"role": "user", "content": text}])


def _wait_for(condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + LIVENESS
    while not condition():
        assert time.monotonic() < deadline, "liveness bound reached"
        time.sleep(0.002)


def _idle(limiter: ConcurrencyLimiter) -> tuple[int, bool, int]:
    """Calls in flight, a trial in flight, callers waiting: (0, False, 0) when nothing leaked."""
    return limiter.in_flight, limiter._trial is not None, len(limiter._waiters)


class Clock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- a trial outlives its answer -----------------------------------------------------------


def test_a_stream_the_service_accepted_has_shown_its_level_works(sim: Simulator) -> None:
    """Was: a 429 comes when a call arrives, so a stream that opened and gave output has
    answered its trial ("until its answer comes", says the module docstring). The limiter only
    learns when the stream ends, so the trial flag holds back every call above the proven
    level for as long as the stream runs: at limit 2 (proven 1), a long trial stream lets no
    other call run at all, and callers time out (ConcurrencyTimeoutError, "1 calls in flight,
    learned limit 2") although the service accepted two at once."""
    client = _client(sim)
    client.chat.complete(_ask())  # one call alone succeeds: the limit grows to 2
    limiter = limiter_for(sim.token, sim.base_url, CHAT)
    assert (limiter.limit, limiter._state.proven) == (2, 1)

    first = client.chat.stream(_ask("first"))
    next(first)
    second = client.chat.stream(_ask("a long answer please " * 5))  # level 2: the trial
    next(second)  # opened, first output read: the service did not refuse it
    assert limiter.in_flight == 2
    assert not any(r.over_cap for r in sim.requests)
    list(first)  # the first stream ends; the trial stream goes on
    try:
        assert limiter.in_flight == 1
        # Level 2 was accepted by the service while two were in flight: a call may go now.
        slot = limiter.acquire(bound=16, timeout=0)
        limiter.release(slot, rate_limited=False, succeeded=True)
    finally:
        second.close()
    assert _idle(limiter) == (0, False, 0)


# -- slots and the trial flag that leak ------------------------------------------------------


def test_a_thread_interrupted_while_it_waits_leaks_no_slot() -> None:
    """Was: Ctrl-C (any BaseException) in a thread's wait leaves its waiter queued; the next
    freed slot is handed to it and never comes back. Here that slot is a trial of level 1, so
    the flag leaks too: every later call of this scope waits for ever (or times out)."""
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    held = limiter.acquire(bound=16, timeout=LIVENESS)  # the first call: a trial of level 1
    assert held.trial
    main = threading.get_ident()

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def ctrl_c() -> None:
        _wait_for(lambda: limiter._waiters)
        signal.pthread_kill(main, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    helper = threading.Thread(target=ctrl_c)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            limiter.acquire(bound=16, timeout=LIVENESS)
    finally:
        helper.join(LIVENESS)
        signal.signal(signal.SIGUSR1, previous)
    limiter.release(held, rate_limited=False, succeeded=False)  # its call failed (a 500, say)
    assert _idle(limiter) == (0, False, 0)


def test_a_task_left_waiting_when_its_loop_closed_leaks_no_slot() -> None:
    """Was: a task still waiting when its loop is closed (never cancelled) stays queued; the
    freed slot is handed to it, ``call_soon_threadsafe`` raises "Event loop is closed" out of
    an unrelated caller's ``release()``, and the slot (here the trial) is lost for good."""
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    held = limiter.acquire(bound=16, timeout=LIVENESS)
    loop = asyncio.new_event_loop()

    async def until_queued() -> None:
        while not limiter._waiters:
            await asyncio.sleep(0)

    waiting = loop.create_task(limiter.aacquire(bound=16, timeout=LIVENESS))
    loop.run_until_complete(asyncio.wait_for(until_queued(), LIVENESS))
    loop.close()  # the waiting task is abandoned, not cancelled
    del waiting
    limiter.release(held, rate_limited=False, succeeded=False)
    assert _idle(limiter) == (0, False, 0)


# -- probe waits after a limit adopted from a shared store -----------------------------------


def _two_processes(tmp_path: Path, clock: Clock) -> tuple[ConcurrencyLimiter, ConcurrencyLimiter]:
    """Two limiters of one scope on one SQLite file, as two worker processes would have."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    scope = LimitScope.of("ms-t", "http://h/v1", "m")
    limiters = tuple(ConcurrencyLimiter(scope, SharedLimitStore(open_store(url))) for _ in "ab")
    for limiter in limiters:
        limiter._state.clock = clock
    return limiters[0], limiters[1]


def _refused_at_two(limiter: ConcurrencyLimiter) -> None:
    """Two calls at once; the second (store level 2) meets a 429, the first succeeds."""
    below = limiter.acquire(bound=16, timeout=LIVENESS)
    over = limiter.acquire(bound=16, timeout=LIVENESS)
    assert over.level == 2
    limiter.release(over, rate_limited=True, succeeded=False)
    limiter.release(below, rate_limited=False, succeeded=True)


def _succeed_one_at_a_time(limiter: ConcurrencyLimiter, calls: int) -> None:
    for _ in range(calls):
        slot = limiter.acquire(bound=16, timeout=LIVENESS)
        limiter.release(slot, rate_limited=False, succeeded=True)


def test_a_429_adopted_from_another_process_still_waits_a_second_before_the_probe(
    tmp_path: Path,
) -> None:
    """Was: ``_adopt`` takes the store's ceiling but not when it failed: a process that never
    met a 429 has ``failed_at == 0``, so it probes the level another process just found over
    the cap as soon as 4 calls succeed, with no second passed ("tried again only once both
    1 s has passed and 4 calls one below it have succeeded"), and shares the raised limit."""
    clock = Clock()
    here, there = _two_processes(tmp_path, clock)
    assert here._shared is not None
    here._shared.write(here.scope, SharedLimit(2.0))
    _refused_at_two(there)  # the cap fell to 1: there cuts to 1, remembers 2
    assert (there.limit, there._state.ceiling) == (1, 2)

    _succeed_one_at_a_time(here, PROBE_WAIT_SUCCESSES)  # no time has passed
    assert here._state.ceiling == 2
    assert here.limit == 1  # not yet: the 429 was 0 s ago


def test_a_429_at_another_level_adopted_from_another_process_starts_the_waits_again(
    tmp_path: Path,
) -> None:
    """Was: a 429 at another level "starts again from the first waits" - in the process that
    met it. The others adopt the new ceiling with the waits they had lengthened for the old
    one (64 calls after the new rule's first four failed probes), so with the limit shared,
    the level is probed 64 calls late by a process the other left to work alone."""
    clock = Clock()
    here, there = _two_processes(tmp_path, clock)
    state = here._state
    for _ in range(5):  # level 3 meets a 429, then four failed probes of it (cap 2)
        state.limit = 3.0
        state.on_rate_limited(level=3, epoch=state.epoch)
    assert (state.limit, state.ceiling, state.wait_successes) == (2.0, 3, PROBE_WAIT_MAX_SUCCESSES)
    assert here._shared is not None
    here._shared.write(here.scope, SharedLimit(state.limit, state.ceiling))
    clock.now += 100.0
    _refused_at_two(there)  # the cap fell to 1: a 429 at level 2, another level
    assert (there._state.ceiling, there._state.wait_successes) == (2, PROBE_WAIT_SUCCESSES)
    _succeed_one_at_a_time(here, 1)  # here adopts the cut and the new failed level
    assert (here.limit, here._state.ceiling) == (1, 2)
    clock.now += 2 * PROBE_WAIT_SECONDS  # the first wait in seconds is over

    _succeed_one_at_a_time(here, PROBE_WAIT_SUCCESSES)
    assert here.limit == 2  # as ``there`` itself would have probed: 1 s and 4 calls


# -- passing: what the rule relies on --------------------------------------------------------


def test_a_waiter_cancelled_as_it_is_handed_a_trial_passes_the_trial_on() -> None:
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    held = limiter.acquire(bound=16, timeout=LIVENESS)  # a trial of level 1 (nothing proven)

    async def main() -> None:
        task = asyncio.ensure_future(limiter.aacquire(bound=16, timeout=LIVENESS))
        while not limiter._waiters:
            await asyncio.sleep(0)
        limiter.release(held, rate_limited=False, succeeded=False)  # level 1 still untried
        assert limiter._trial is not None  # the waiting task was handed the trial
        task.cancel()  # before it ran again
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _idle(limiter) == (0, False, 0)
        again = await limiter.aacquire(bound=16, timeout=0)
        assert again.trial
        limiter.release(again, rate_limited=False, succeeded=True)

    asyncio.run(main())
    assert _idle(limiter) == (0, False, 0)


def test_a_thread_that_times_out_as_it_is_handed_a_trial_keeps_or_passes_it_on() -> None:
    """Many thread waiters with short timeouts racing the releases that hand them trials:
    whichever side wins, no trial and no slot is left behind."""
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    rounds = 200

    def waiter() -> None:
        for _ in range(rounds):
            try:
                slot = limiter.acquire(bound=16, timeout=0.0005)
            except ConcurrencyTimeoutError:
                continue
            limiter.release(slot, rate_limited=False, succeeded=False)  # never proven

    threads = [threading.Thread(target=waiter) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIVENESS)
    assert not any(thread.is_alive() for thread in threads)
    assert _idle(limiter) == (0, False, 0)
    assert limiter._state.proven == 0


def test_a_trial_taken_under_a_smaller_bound_proves_its_level_for_every_caller() -> None:
    limiter = limiter_for("ms-t", "http://h/v1", "m")
    limiter._state.limit, limiter._state.proven = 3.0, 2  # as just after a step up to 3
    a = limiter.acquire(bound=16, timeout=0)
    b = limiter.acquire(bound=16, timeout=0)
    trial = limiter.acquire(bound=3, timeout=0)  # max_concurrency=3: level 3 is its bound
    assert (trial.level, trial.trial) == (3, True)
    limiter.release(a, rate_limited=False, succeeded=True)
    with pytest.raises(ConcurrencyTimeoutError):  # level 3 again: held back by the trial
        limiter.acquire(bound=16, timeout=0)
    limiter.release(trial, rate_limited=False, succeeded=True)
    assert (limiter.limit, limiter._state.proven) == (3, 3)  # at its bound: no growth
    c = limiter.acquire(bound=16, timeout=0)
    d = limiter.acquire(bound=16, timeout=0)
    assert (c.level, c.trial, d.level, d.trial) == (2, False, 3, False)
    for slot in (b, c, d):
        limiter.release(slot, rate_limited=False, succeeded=True)
    assert _idle(limiter) == (0, False, 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_threads_and_tasks_mixed_never_hold_two_trials_and_leak_nothing(seed: int) -> None:
    """Threads and tasks of two loops, random bounds, timeouts (zero to long), cancellations,
    429s, failures and successes: at most one trial in flight at any time, and at the end no
    slot, no trial flag and no waiter left; ``proven`` never passes the limit."""
    limiter = limiter_for(f"ms-{seed}", "http://h/v1", "m")
    lock = threading.Lock()
    trials = [0]
    broken: list[str] = []

    def call(slot: Any, rnd: random.Random) -> dict[str, bool]:
        with lock:
            trials[0] += slot.trial
            if trials[0] > 1:
                broken.append("two trials in flight")
            if limiter._state.proven > math.floor(limiter._state.limit):
                broken.append("proven above the limit")
        time.sleep(rnd.random() * 0.002)
        with lock:
            trials[0] -= slot.trial
        x = rnd.random()
        return {"rate_limited": x < 0.15, "succeeded": 0.15 <= x < 0.9}

    def thread_calls(i: int) -> None:
        rnd = random.Random(seed * 1000 + i)
        for _ in range(40):
            timeout = rnd.choice([0, 0.001, 0.01, LIVENESS])
            try:
                slot = limiter.acquire(bound=rnd.choice([1, 2, 3, 16]), timeout=timeout)
            except ConcurrencyTimeoutError:
                continue
            limiter.release(slot, **call(slot, rnd))

    async def task_calls(rnd: random.Random) -> None:
        for _ in range(40):
            timeout = rnd.choice([0, 0.001, 0.01, LIVENESS])
            try:
                slot = await limiter.aacquire(bound=rnd.choice([1, 2, 3, 16]), timeout=timeout)
            except ConcurrencyTimeoutError:
                continue
            outcome = call(slot, rnd)
            await asyncio.sleep(0)
            limiter.release(slot, **outcome)

    async def loop_main(k: int) -> None:
        rnd = random.Random(seed * 7 + k)
        tasks = [
            asyncio.ensure_future(task_calls(random.Random(seed * 31 + i + 100 * k)))
            for i in range(4)
        ]
        for _ in range(30):  # waiters cancelled at random moments
            waiting = asyncio.ensure_future(limiter.aacquire(bound=16, timeout=LIVENESS))
            await asyncio.sleep(rnd.random() * 0.002)
            waiting.cancel()
            try:
                slot = await waiting
            except asyncio.CancelledError:
                continue
            limiter.release(slot, rate_limited=False, succeeded=False)
        await asyncio.gather(*tasks)

    threads = [threading.Thread(target=thread_calls, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=asyncio.run, args=(loop_main(k),)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIVENESS * 2)
    assert not any(thread.is_alive() for thread in threads)
    assert broken == []
    assert _idle(limiter) == (0, False, 0)
