"""A TLS connection closed mid-answer is closed for good before its event loop ends.

Leaving an ``astream`` early (a ``break``, an error, a client that stops at ``[DONE]`` before
the body's last chunk arrived) makes aiohttp close that connection rather than pool it, and a
TLS close waits for the server's ``close_notify``. When ``asyncio.run`` ends first, the socket
under the TLS layer was left open ("unclosed transport" when the GC found it, in whatever
test was running then: the dead-proxy test saw one from the HTTPS-proxy tests before it).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from modelscope_inference.simulator import Simulator

from .conftest import ForwardProxy, langchain_model, llama_index_model

pytestmark = pytest.mark.timeout(180)
RUNS = 30  # a run leaked a socket ~1 time in 15 before the fix (busy 2-core machine)


async def _first_chunk_then_leave(model: Any) -> None:
    if hasattr(model, "astream_chat"):
        from llama_index.core.llms import ChatMessage

        async for _ in await model.astream_chat([ChatMessage(role="user", content="hi")]):
            break
    else:
        async for _ in model.astream("hi"):
            break


def _leaks(build: Any) -> list[str]:
    """Run a stream left after its first chunk, in ``asyncio.run``, RUNS times; return every
    ResourceWarning the GC reports afterwards."""
    found: list[str] = []
    unraisable = sys.unraisablehook

    def record(report: Any) -> None:
        found.append(f"{report.exc_value!r} in {report.object!r}")

    sys.unraisablehook = record
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            for _ in range(RUNS):
                asyncio.run(_first_chunk_then_leave(build()))
                gc.collect()
    finally:
        sys.unraisablehook = unraisable
    found += [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    return found


@pytest.fixture
def trusted_ca(test_ca_file: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SSL_CERT_FILE", test_ca_file)
    yield


@pytest.mark.parametrize(
    "build", [langchain_model, llama_index_model], ids=["langchain", "llamaindex"]
)
@pytest.mark.usefixtures("trusted_ca")
def test_a_tls_stream_left_early_leaves_no_socket_open(
    build: Any, tls_simulator: Simulator
) -> None:
    assert _leaks(lambda: build(tls_simulator)) == []


@pytest.mark.parametrize(
    "build", [langchain_model, llama_index_model], ids=["langchain", "llamaindex"]
)
@pytest.mark.usefixtures("trusted_ca")
def test_a_stream_left_early_through_an_https_proxy_leaves_no_socket_open(
    build: Any,
    tls_simulator: Simulator,
    forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)

    assert _leaks(lambda: build(tls_simulator)) == []
