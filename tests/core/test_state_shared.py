"""Quota state shared across processes (issue 18): once one process learns a quota is spent,
the others refuse without a request, and the half-open rule's one probe at a time holds across
all of them; a worker killed holding the probe claim or a slot blocks the others only until its
lease expires. Real processes, one simulator, a SQLite file or a real ``redis-server``."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from modelscope_inference.simulator import Simulator
from modelscope_inference.store import open_store

from .processes import LIVENESS, Workers, sqlite_url, wait_until
from .state_worker import SLOTS_KEY

MODEL = "Qwen/Qwen3-32B"
WORKER = Path(__file__).with_name("state_worker.py")
LEASE = 2.0  # seconds: the crashed worker's claim and slot (waited out, never raced)


def _chat_requests(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.path.endswith("/chat/completions"))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(model_limits={MODEL: 0}) as simulator:
        yield simulator


@pytest.fixture
def workers(sim: Simulator) -> Iterator[Workers]:
    pool = Workers(sim, WORKER, MODEL)
    try:
        yield pool
    finally:
        pool.stop()


def _sqlite(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


def _run_group(
    workers: Workers, tmp_path: Path, states: Sequence[str], *options: str
) -> list[list[str]]:
    """Worker 0 learns the quota is spent (one request); then every worker calls at once."""
    learned = str(tmp_path / "learned")
    first = workers.start("calls", states[0], "--first", "--signal", learned, *options)
    rest = [workers.start("calls", s, "--wait-for", learned, *options) for s in states[1:]]
    return workers.outcomes([first, *rest])


# --- once spent, refused everywhere -------------------------------------------------------------


def test_eight_processes_on_sqlite_send_one_request_once_the_quota_is_spent(
    sim: Simulator, workers: Workers, tmp_path: Path
) -> None:
    outcomes = _run_group(workers, tmp_path, [_sqlite(tmp_path)] * 8, "--calls", "5")
    assert outcomes[0][0] == "refused"  # the 429 that taught everyone
    assert all(o == "refused" for outcome in outcomes for o in outcome)
    assert sum(map(len, outcomes)) == 8 * 5 + 1
    assert _chat_requests(sim) == 1


def test_eight_processes_on_sqlite_send_exactly_one_probe_once_due(
    sim: Simulator, workers: Workers, tmp_path: Path
) -> None:
    # Everyone's quota clock is an hour ahead after the 429: a probe is due for all 8 at once,
    # and the next one not before another hour, so the count cannot depend on timing.
    options = ("--calls", "5", "--interval", "60", "--offset", "3600")
    outcomes = _run_group(workers, tmp_path, [_sqlite(tmp_path)] * 8, *options)
    assert _chat_requests(sim) == 1 + 1
    assert all(o in ("refused", "in-flight") for outcome in outcomes for o in outcome)


def test_two_groups_sharing_redis_send_one_request_and_one_probe(
    sim: Simulator, workers: Workers, tmp_path: Path, redis_url: str
) -> None:
    # Two spellings of one server: two "hosts" whose configurations differ but share state.
    other = redis_url.replace("127.0.0.1", "localhost")
    states = [redis_url] * 4 + [other] * 4
    outcomes = _run_group(workers, tmp_path, states, "--calls", "5")
    assert _chat_requests(sim) == 1
    assert sum(map(len, outcomes)) == 8 * 5 + 1

    probing = ("--calls", "5", "--interval", "60", "--offset", "3600")
    (tmp_path / "again").mkdir()
    _run_group(workers, tmp_path / "again", states, *probing)
    # Worker 0's first call is refused from Redis this time; the one probe is the only request.
    assert _chat_requests(sim) == 1 + 1


# --- a crashed worker ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_worker_killed_holding_the_probe_and_a_slot_blocks_others_until_its_lease_expires(
    backend: str, sim: Simulator, workers: Workers, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    base = _sqlite(tmp_path) if backend == "sqlite" else request.getfixturevalue("redis_url")
    state = f"{base}?lease={LEASE}"
    learned, held = str(tmp_path / "learned"), tmp_path / "held"
    teacher = workers.start("calls", state, "--first", "--signal", learned, "--calls", "0")
    workers.outcomes([teacher])

    due = ("--interval", "60", "--offset", "3600")
    holder = workers.start("hold", state, *due, "--signal", str(held))
    wait_until(lambda: held.exists() and held.read_text(), holder)
    claim = json.loads(held.read_text())
    assert claim["probe"] and claim["slot"]
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=LIVENESS)

    store = open_store(state)
    wait_until(lambda: store.slots_in_use(SLOTS_KEY) == 0, None)
    freed_at = time.time()
    assert freed_at >= claim["before"] + LEASE  # never handed back before the lease ran out
    assert store.acquire_slot(SLOTS_KEY, capacity=1) is not None

    options = ("--calls", "1", "--interval", "60", "--offset", "3600", "--until-settled")
    outcomes = workers.outcomes([workers.start("calls", state, *options) for _ in range(3)])
    assert _chat_requests(sim) == 1 + 1  # the 429 that taught everyone, then one probe
    assert all(outcome[-1] == "refused" for outcome in outcomes)
