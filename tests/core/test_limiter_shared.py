"""The adaptive limiter joined to a shared state store (issue 18): processes sharing a SQLite
file or a real ``redis-server`` keep within one learned limit together, start from what the
others learned, hold slot leases that a crashed worker gives back and a long call renews, and
wait for a slot without blocking their event loop. The default in-process state touches no
store at all.

Concurrency is read from the simulator's request log and the store's own rows, never from
wall-clock durations; every wait is event-based with a generous liveness bound.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelscope_inference import ChatRequest, ConcurrencyTimeoutError, ModelScopeClient
from modelscope_inference import store as store_module
from modelscope_inference.errors import StateStoreError
from modelscope_inference.leases import keeper
from modelscope_inference.limiter import (
    ConcurrencyGate,
    InProcessLimitStore,
    LimitScope,
    SharedLimitStore,
    limiter_for,
)
from modelscope_inference.quota import utc_now
from modelscope_inference.simulator import Fault, Simulator
from modelscope_inference.store import namespace, open_store

from . import limiter_fixtures
from .processes import LIVENESS, Workers, sqlite_url, wait_until

fresh_limits = limiter_fixtures.fresh_limits  # a shared fixture, found by pytest by its name

MODEL = "Qwen/Qwen3-8B"
WORKER = Path(__file__).with_name("limiter_worker.py")
LEASE = 2.0  # seconds: short leases to wait out (the keeper renews at a third of it)
WAIT = 30.0  # seconds: a slot wait that only a blocked event loop would ever reach


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # A simulator per test: a new port, so a new base URL and fresh keys in a shared Redis.
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def workers(sim: Simulator) -> Iterator[Workers]:
    pool = Workers(sim, WORKER, MODEL)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("redis_url")
    return url


def _chat_log(sim: Simulator) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith("/chat/completions")]


def _slots_key(sim: Simulator) -> str:
    return SharedLimitStore.keys(LimitScope.of(sim.token, sim.base_url, MODEL))[1]


def _client(sim: Simulator, state: str, **options: Any) -> ModelScopeClient:
    options.setdefault("max_retries", 0)
    return ModelScopeClient.create(api_key=sim.token, base_url=sim.base_url, state=state, **options)


def _ask() -> ChatRequest:
    return ChatRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}])


def _sqlite_expiry(state: str, table: str) -> float | None:
    """The latest expiry among ``table``'s rows (slots, claims) of a SQLite store, read from
    the file itself."""
    path = state.removeprefix("sqlite:///").partition("?")[0]
    with sqlite3.connect(path) as conn:
        (expires,) = conn.execute(f"SELECT max(expires) FROM {table}").fetchone()
    return None if expires is None else float(expires)


class Call(threading.Thread):
    """One sync call on a thread, its outcome kept for the test."""

    def __init__(self, send: Any) -> None:
        super().__init__(daemon=True)
        self.send = send
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.send()
        except BaseException as exc:  # reported by the test, not lost on the thread
            self.error = exc


# -- across processes ------------------------------------------------------------------------


def test_processes_sharing_a_store_never_have_more_calls_in_flight_than_the_shared_limit(
    sim: Simulator, workers: Workers, state: str
) -> None:
    # Each of 4 processes alone would send 2 at once (its max_concurrency): 8 together.
    sim.latency = 0.2
    options = ("--calls", "10", "--tasks", "4", "--max-concurrency", "2")
    outcomes = workers.outcomes([workers.start("burst", state, *options) for _ in range(4)])

    assert [o["ok"] for o in outcomes] == [10] * 4
    levels = [r.concurrency for r in _chat_log(sim)]
    assert len(levels) == 40
    assert max(levels) == 2  # the limit was used, and never passed across the processes
    assert open_store(state).slots_in_use(_slots_key(sim)) == 0  # every lease given back


def test_a_limit_learned_by_one_process_is_where_the_next_one_starts(
    sim: Simulator, workers: Workers, state: str
) -> None:
    sim.latency = 0.1
    options = ("--calls", "24", "--tasks", "4", "--max-concurrency", "3")
    (teacher,) = workers.outcomes([workers.start("burst", state, *options)])
    assert (teacher["start"], teacher["end"]) == (1, 3)  # from the conservative start to 3

    (newcomer,) = workers.outcomes([workers.start("burst", state, "--calls", "0")])
    assert newcomer["start"] == 3


def test_no_store_key_names_the_token(sim: Simulator, tmp_path: Path) -> None:
    state = sqlite_url(tmp_path)
    asyncio.run(_client(sim, state).chat.acomplete(_ask()))
    with sqlite3.connect(tmp_path / "state.db") as conn:
        keys = [k for t in ("records", "slots") for (k,) in conn.execute(f"SELECT key FROM {t}")]
    assert any(":limit:" in k for k in keys)
    assert not any(sim.token in k for k in keys)


def test_a_worker_killed_holding_a_slot_lease_gives_it_back_once_the_lease_runs_out(
    sim: Simulator, workers: Workers, tmp_path: Path
) -> None:
    state = f"{sqlite_url(tmp_path)}?lease={LEASE}"
    sim.inject(Fault.latency(LIVENESS), times=1, model=MODEL)  # the worker's call hangs
    holder = workers.start("burst", state, "--calls", "1", "--tasks", "1")
    store = open_store(state)
    wait_until(lambda: _chat_log(sim) and store.slots_in_use(_slots_key(sim)) == 1, holder)

    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=LIVENESS)
    lapses_at = _sqlite_expiry(state, "slots")  # the dead worker's last renewal, plus a lease
    assert lapses_at is not None

    # The shared limit is 1 and the dead worker holds it: this call waits for the lease.
    _client(sim, state, timeout=LIVENESS).chat.complete(_ask())
    assert time.time() >= lapses_at  # not handed over before the lease ran out
    assert store.slots_in_use(_slots_key(sim)) == 0


# -- leases outlive long calls -------------------------------------------------------------


def _past_first_expiry(state: str, table: str, call: Call) -> bool:
    """Wait until the wall clock passes the first expiry of ``table``'s lease while ``call``
    still runs; True if the lease was live then (renewed)."""
    first = _sqlite_expiry(state, table)
    assert first is not None
    wait_until(lambda: time.time() > first + LEASE / 6 or not call.is_alive())
    assert call.is_alive(), "the slow answer came before the lease's first expiry"
    now, latest = time.time(), _sqlite_expiry(state, table)
    return latest is not None and latest > now


def test_a_long_call_renews_its_slot_lease(sim: Simulator, tmp_path: Path) -> None:
    state = f"{sqlite_url(tmp_path)}?lease={LEASE}"
    sim.inject(Fault.latency(LEASE * 3), times=1, model=MODEL)
    client = _client(sim, state)
    call = Call(lambda: client.chat.complete(_ask()))
    call.start()
    store = open_store(state)
    wait_until(lambda: store.slots_in_use(_slots_key(sim)) == 1 or not call.is_alive())

    assert _past_first_expiry(state, "slots", call)
    assert store.slots_in_use(_slots_key(sim)) == 1

    call.join(LIVENESS)
    assert call.error is None
    assert store.slots_in_use(_slots_key(sim)) == 0
    assert keeper().held() == 0  # nothing left renewing


def test_a_long_probe_renews_its_claim(sim: Simulator, tmp_path: Path) -> None:
    state = f"{sqlite_url(tmp_path)}?lease={LEASE}"
    sim.set_quota(model_limits={MODEL: 0})
    client = _client(sim, state, quota_probe_interval=60)
    with pytest.raises(Exception, match="quota"):
        client.chat.complete(_ask())  # the 429 that says the model's quota is spent
    tracker = client.quota
    tracker.clock = lambda: utc_now() + timedelta(hours=1)  # a probe is due, nobody sleeps
    try:
        sim.inject(Fault.latency(LEASE * 3), times=1, model=MODEL)
        call = Call(lambda: client.chat.complete(_ask()))
        call.start()
        wait_until(lambda: _sqlite_expiry(state, "claims") is not None or not call.is_alive())

        assert _past_first_expiry(state, "claims", call)
        key = f"{namespace(sim.token, sim.base_url)}:quota:probe:model:{MODEL}"
        assert open_store(state).claim(key) is None  # still the probe's: nobody else probes

        call.join(LIVENESS)
        assert call.error is not None and "quota" in str(call.error)  # still spent
        assert _sqlite_expiry(state, "claims") is None  # given back at the end
    finally:
        tracker.clock = utc_now


# -- waiting for a store slot ----------------------------------------------------------------


async def _until(ready: Any) -> None:
    """Let the loop run until ``ready()`` (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + WAIT
    while not ready():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.01)


def test_an_async_wait_for_a_store_slot_honours_its_timeout(sim: Simulator, tmp_path: Path) -> None:
    state = sqlite_url(tmp_path)
    store = open_store(state)
    other = store.acquire_slot(_slots_key(sim), capacity=1)  # another process's only slot
    assert other is not None
    gate = ConcurrencyGate.create(sim.token, sim.base_url, timeout=0.3, state=state)

    async def main() -> None:
        async with gate.ahold(MODEL):
            raise AssertionError("no slot was free: the body must not run")

    with pytest.raises(ConcurrencyTimeoutError, match="sharing its state store"):
        asyncio.run(main())
    assert gate.limiter(MODEL).in_flight == 0
    assert store.slots_in_use(_slots_key(sim)) == 1  # only the other process's


def test_an_async_wait_for_a_store_slot_is_cancellable(sim: Simulator, tmp_path: Path) -> None:
    state = sqlite_url(tmp_path)
    store = open_store(state)
    other = store.acquire_slot(_slots_key(sim), capacity=1)
    assert other is not None
    limiter = limiter_for(sim.token, sim.base_url, MODEL, state)

    async def main() -> None:
        task = asyncio.ensure_future(limiter.aacquire(bound=16, timeout=WAIT))
        await _until(lambda: limiter.in_flight == 1)  # its own process's slot; it polls the store
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert limiter.in_flight == 0
    assert store.slots_in_use(_slots_key(sim)) == 1


def test_an_async_wait_for_a_store_slot_leaves_the_event_loop_running(
    sim: Simulator, tmp_path: Path
) -> None:
    """The slot comes free only when this loop's own code frees it: a wait that blocked the
    loop would never see it, and time out."""
    state = sqlite_url(tmp_path)
    store = open_store(state)
    other = store.acquire_slot(_slots_key(sim), capacity=1)
    assert other is not None
    limiter = limiter_for(sim.token, sim.base_url, MODEL, state)

    async def main() -> int:
        task = asyncio.ensure_future(limiter.aacquire(bound=16, timeout=WAIT))
        await _until(lambda: limiter.in_flight == 1)
        await asyncio.to_thread(store.release_slot, _slots_key(sim), other.token)
        slot = await asyncio.wait_for(task, LIVENESS)
        await limiter.arelease(slot, rate_limited=False, succeeded=True)
        return slot.level

    assert asyncio.run(main()) == 1
    assert store.slots_in_use(_slots_key(sim)) == 0


# -- the default: this process only ------------------------------------------------------------


def test_the_default_in_process_state_makes_no_store_calls(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for cls in (store_module.MemoryStore, store_module.SQLiteStore, store_module.RedisStore):
        for name in ("get_records", "put_record", "claim", "acquire_slot", "release_slot"):
            original = getattr(cls, name)
            monkeypatch.setattr(cls, name, _counted(original, f"{cls.__name__}.{name}", calls))
    sim.latency = 0.02
    sim.set_concurrency_cap(MODEL, 2)  # 429s too: the limiter learns, all in this process
    client = _client(sim, "memory://", max_retries=3, max_wait=0.05)

    async def many() -> None:
        await asyncio.gather(*(client.chat.acomplete(_ask()) for _ in range(12)))

    asyncio.run(many())
    client.chat.complete(_ask())

    assert calls == []
    assert isinstance(client.chat.concurrency.limiter(MODEL).store, InProcessLimitStore)
    assert keeper().held() == 0


def _counted(original: Any, name: str, calls: list[str]) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return original(*args, **kwargs)

    return counted


def test_a_store_failing_when_a_call_gives_its_lease_back_keeps_the_calls_answer(
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = sqlite_url(tmp_path)
    client = _client(sim, state)
    client.chat.complete(_ask())  # the limiter and its store exist now
    store = open_store(state)

    def down(*args: Any, **kwargs: Any) -> None:
        raise StateStoreError("the state store went away")

    monkeypatch.setattr(type(store), "release_slot", down)
    with caplog.at_level("WARNING", logger="modelscope_inference"):
        result = client.chat.complete(_ask())
    assert result.content  # the answer, already paid for, is not replaced by the store's error
    assert "Could not give back a lease" in caplog.text
    assert limiter_for(sim.token, sim.base_url, MODEL, state).in_flight == 0
