"""Quota state shared across processes (issue 18): once one process learns a quota is spent,
the others refuse without a request, and the half-open rule's one probe at a time holds across
all of them; a worker killed holding the probe claim or a slot blocks the others only until its
lease expires. Real processes, one simulator, a SQLite file or a real ``redis-server``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from modelscope_inference.simulator import Simulator
from modelscope_inference.store import open_store

from .state_worker import SLOTS_KEY

MODEL = "Qwen/Qwen3-32B"
WORKER = Path(__file__).with_name("state_worker.py")
LIVENESS = 90.0  # seconds: a bound for processes to finish, never a timing assertion
LEASE = 2.0  # seconds: the crashed worker's claim and slot (waited out, never raced)


def _chat_requests(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.path.endswith("/chat/completions"))


class Workers:
    """Worker processes, each stopped (killed, then reaped) whatever happens."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, mode: str, state: str, *options: str) -> subprocess.Popen[str]:
        command = [sys.executable, str(WORKER), mode, "--base-url", self.sim.base_url]
        command += ["--token", self.sim.token, "--state", state, "--model", MODEL, *options]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.procs.append(proc)
        return proc

    def outcomes(self, procs: Sequence[subprocess.Popen[str]]) -> list[list[str]]:
        """Each worker's outcomes; a worker that fails shows its stderr."""
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=LIVENESS)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(model_limits={MODEL: 0}) as simulator:
        yield simulator


@pytest.fixture
def workers(sim: Simulator) -> Iterator[Workers]:
    pool = Workers(sim)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real ``redis-server`` on a free loopback port, stopped whatever happens."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run installs Debian's redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = subprocess.Popen(
        [*command, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        _wait_for_redis(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_redis(url: str, server: subprocess.Popen[bytes]) -> None:
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert server.poll() is None, "redis-server exited at start"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
    finally:
        client.close()


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


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
    _wait_until(lambda: held.exists() and held.read_text(), holder)
    claim = json.loads(held.read_text())
    assert claim["probe"] and claim["slot"]
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=LIVENESS)

    store = open_store(state)
    _wait_until(lambda: store.slots_in_use(SLOTS_KEY) == 0, None)
    freed_at = time.time()
    assert freed_at >= claim["before"] + LEASE  # never handed back before the lease ran out
    assert store.acquire_slot(SLOTS_KEY, capacity=1) is not None

    options = ("--calls", "1", "--interval", "60", "--offset", "3600", "--until-settled")
    outcomes = workers.outcomes([workers.start("calls", state, *options) for _ in range(3)])
    assert _chat_requests(sim) == 1 + 1  # the 429 that taught everyone, then one probe
    assert all(outcome[-1] == "refused" for outcome in outcomes)


def _wait_until(ready: object, proc: subprocess.Popen[str] | None) -> None:
    """Poll ``ready()`` (a liveness bound, not a timing assertion); fail if ``proc`` died."""
    assert callable(ready)
    deadline = time.monotonic() + LIVENESS
    while not ready():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"worker exited early: {proc.communicate()[1]}")
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)
