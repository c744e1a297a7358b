"""Start ``modelscope-inference simulate`` for a test, and stop it with its children whatever
happens (its own session, killed as a process group in a ``finally``)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx

from .conftest import clean_environ

# Not a speed bound: only how long to wait for a process that neither answers nor exits,
# kept under the suite's 120 s per-test timeout so the failure says what happened.
_GIVE_UP_AFTER = 100.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SimulateProcess:
    """A running ``modelscope-inference simulate`` and where it answers."""

    process: subprocess.Popen[str]
    url: str
    token: str
    stderr_text: str = ""

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stderr(self) -> str:
        """Everything it printed on stderr (known once stopped)."""
        return self.stderr_text


def _kill_group(process: subprocess.Popen[str]) -> str:
    """SIGKILL the process and everything it started; its stderr (the pipes are closed)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    _, err = process.communicate()
    return err or ""


def _wait_until_serving(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + _GIVE_UP_AFTER
    while True:
        try:
            httpx.get(f"{url}/v1/models", timeout=5, trust_env=False)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                raise AssertionError(f"simulate exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise AssertionError("simulate neither answered nor exited") from None
            time.sleep(0.1)


@contextlib.contextmanager
def simulate(*args: str, token: str = "ms-simulator") -> Iterator[SimulateProcess]:
    """``python -m modelscope_inference simulate --port P --token T *args``, serving."""
    port = free_port()
    command: Sequence[str] = [
        sys.executable, "-m", "modelscope_inference", "simulate",
        "--port", str(port), "--token", token, *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environ(),
        start_new_session=True,  # its own process group: killpg reaches anything it started
    )
    served = SimulateProcess(process, f"http://127.0.0.1:{port}", token)
    try:
        _wait_until_serving(process, served.url)
        yield served
    finally:
        served.stderr_text = _kill_group(process)


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m modelscope_inference *args`` whose stdout pipe has no reader left.

    The read end is closed before the command starts, so its first write to stdout fails
    whatever the machine's speed: the ``... | head -3`` case at its most certain.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelscope_inference", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_environ(),
            start_new_session=True,
        )
    finally:
        os.close(write_end)
    try:
        _, err = process.communicate(timeout=_GIVE_UP_AFTER)
    finally:
        _kill_group(process)
    return subprocess.CompletedProcess(process.args, process.returncode, "", err)
