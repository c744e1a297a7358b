"""Real, independently written servers on loopback, started and stopped by the tests.

- a TLS endpoint: the simulator's app served by uvicorn's own TLS, with a certificate from a
  test CA that ``trustme`` makes;
- a forward proxy: ``proxy.py`` (PyPI) in a subprocess of its own session, killed with its
  children whatever the outcome; its access log shows each request it carried;
- a server whose keep-alive timeout is 1 s (uvicorn's ``timeout_keep_alive``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from langchain_modelscope import ChatModelScope
from llama_index_modelscope import ModelScopeLLM
from modelscope_inference import catalog
from modelscope_inference.simulator import Simulator

SUPERVISOR = Path(__file__).with_name("supervise.py")
MODEL = "Qwen/Qwen2.5-7B-Instruct"  # not a thinking model: every call form works on it
_START_SECONDS = 60.0  # a liveness bound for a busy machine, not a measurement
_ENV_VARS = (
    "MODELSCOPE_API_KEY",
    "MODELSCOPE_SDK_TOKEN",
    "MODELSCOPE_API_TOKEN",
    "MODELSCOPE_BASE_URL",
    "MODELSCOPE_API_BASE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No token, proxy or CA setting leaks in from the machine (either case of each name)."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    catalog.forget_learned()
    yield
    catalog.forget_learned()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"proxy.py exited at start-up:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"proxy.py did not listen within {_START_SECONDS} s:\n{log.read_text()}")


@dataclass
class ForwardProxy:
    """A running ``proxy.py``: its URL and what its access log has shown so far."""

    url: str
    log: Path

    def carried(self, fragment: str) -> int:
        """How many access-log lines name ``fragment`` (a path, or ``CONNECT host:port``)."""
        return sum(fragment in line for line in self.log.read_text().splitlines())

    def wait_carried(self, fragment: str, count: int = 1) -> int:
        """Wait until the log names ``fragment`` ``count`` times: proxy.py writes a line when
        the client's connection to it closes."""
        deadline = time.monotonic() + _START_SECONDS
        while self.carried(fragment) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.carried(fragment)


@pytest.fixture(scope="session")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    port = free_port()
    log = tmp_path_factory.mktemp("proxy") / "proxy.log"
    command = [sys.executable, str(SUPERVISOR), sys.executable, "-m", "proxy"]
    command += ["--hostname", "127.0.0.1", "--port", str(port), "--num-workers", "1"]
    command += ["--num-acceptors", "1", "--log-level", "INFO"]
    with log.open("wb") as sink:
        # A session of its own: a signal sent to the test run's process group (a CI
        # timeout) must not take the supervisor before it can stop the server.
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, log)
        yield ForwardProxy(f"http://127.0.0.1:{port}", log)
    finally:
        stop_supervised(process)


def stop_supervised(process: subprocess.Popen[bytes]) -> None:
    """Close the supervisor's stdin (it kills the server's process group) and reap it."""
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def dead_proxy_url() -> str:
    """A proxy address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass(frozen=True)
class TestCA:
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(paths.ca_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths.cert_file))
    cert.private_key_pem.write_to_path(str(paths.key_file))
    return paths


@pytest.fixture(scope="session")
def tls_simulator(test_ca: TestCA) -> Iterator[Simulator]:
    with Simulator(ssl_certfile=str(test_ca.cert_file), ssl_keyfile=str(test_ca.key_file)) as sim:
        yield sim


@pytest.fixture(scope="session")
def plain_simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


def unique_headers() -> dict[str, str]:
    """Headers that make a configuration of its own: clients are shared per configuration,
    and each test must build its clients under its own environment."""
    return {"X-Test-Run": uuid.uuid4().hex}


ModelFactory = Callable[..., Any]


def langchain_model(sim: Simulator, **options: Any) -> ChatModelScope:
    options.setdefault("default_headers", unique_headers())
    return ChatModelScope(
        model=MODEL, api_key=sim.token, base_url=sim.base_url, max_retries=0, **options
    )


def llama_index_model(sim: Simulator, **options: Any) -> ModelScopeLLM:
    options.setdefault("default_headers", unique_headers())
    if "http_async_client" in options:
        options["async_http_client"] = options.pop("http_async_client")
    return ModelScopeLLM(
        model=MODEL, api_key=sim.token, api_base=sim.base_url, max_retries=0, **options
    )


@pytest.fixture
def test_ca_file(test_ca: TestCA) -> str:
    return str(test_ca.ca_file)
