"""Worker processes and a real ``redis-server`` for the shared-state tests, each stopped
whatever happens (killed, then reaped)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from modelscope_inference.simulator import Simulator

LIVENESS = 90.0  # seconds: a bound for processes to finish, never a timing assertion


class Workers:
    """Processes running ``script`` against ``sim`` on ``model``, each stopped (killed, then
    reaped) by :meth:`stop`, whatever happens."""

    def __init__(self, sim: Simulator, script: Path, model: str) -> None:
        self.sim = sim
        self.script = script
        self.model = model
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, mode: str, state: str, *options: str) -> subprocess.Popen[str]:
        command = [sys.executable, str(self.script), mode, "--base-url", self.sim.base_url]
        command += ["--token", self.sim.token, "--state", state, "--model", self.model, *options]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.procs.append(proc)
        return proc

    def outcomes(self, procs: Sequence[subprocess.Popen[str]]) -> list[Any]:
        """Each worker's last line of output, as JSON; a worker that fails shows its stderr."""
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


def start_redis() -> Iterator[str]:
    """A real ``redis-server`` on a free loopback port, stopped whatever happens (a fixture's
    body: ``yield from start_redis()``)."""
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


def wait_until(ready: Any, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``ready()`` (a liveness bound, not a timing assertion); fail if ``proc`` died."""
    assert callable(ready)
    deadline = time.monotonic() + LIVENESS
    while not ready():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"worker exited early: {proc.communicate()[1]}")
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"
