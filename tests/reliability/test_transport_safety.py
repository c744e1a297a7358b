"""Transport safety: the token only travels over TLS or loopback, never follows a redirect to
another host, and no request can wait forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
from llama_index_modelscope import ModelScopeLLM
from llama_index_modelscope.embeddings import ModelScopeEmbedding
from modelscope_inference import ModelScopeClient, Settings
from modelscope_inference.chat import ChatRequest
from modelscope_inference.errors import APIStatusError, APITimeoutError, ConfigurationError
from modelscope_inference.simulator import Fault, Simulator

from .frameworks import FRAMEWORKS, MODES, run_call
from .support import CHAT_MODEL, EMBED_MODEL, TOKEN

# --- plain http is for loopback only ------------------------------------------------------------

CONSTRUCTORS: dict[str, Callable[[str], Any]] = {
    "core": lambda url: ModelScopeClient.create(api_key=TOKEN, base_url=url),
    "settings": lambda url: Settings.resolve(api_key=TOKEN, base_url=url),
    "ChatModelScope": lambda url: ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url=url),
    "ModelScopeEmbeddings": lambda url: ModelScopeEmbeddings(api_key=TOKEN, base_url=url),
    "ModelScopeLLM": lambda url: ModelScopeLLM(model=CHAT_MODEL, api_key=TOKEN, api_base=url),
    "ModelScopeEmbedding": lambda url: ModelScopeEmbedding(
        model_name=EMBED_MODEL, api_key=TOKEN, api_base=url
    ),
}
UNSAFE = [
    "http://api-inference.modelscope.cn/v1",
    "http://10.0.0.7:8000/v1",
    "http://127.0.0.1.nip.io/v1",  # a public name that merely starts like loopback
    "http://localhost.example.com/v1",
    "http://127.0.0.1@attacker.example/v1",  # userinfo trick: the host is attacker.example
    "HTTP://API-INFERENCE.MODELSCOPE.CN/v1",
]
SAFE = [
    "https://api-inference.modelscope.cn/v1",
    "https://api-inference.modelscope.ai/v1",
    "http://127.0.0.1:8000/v1",
    "http://127.0.0.2:8000/v1",
    "http://localhost:8000/v1",
    "http://[::1]:8000/v1",
]


@pytest.mark.parametrize("url", UNSAFE)
@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_the_token_is_refused_over_plain_http_to_a_remote_host(name: str, url: str) -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        CONSTRUCTORS[name](url)


@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_an_unsafe_base_url_from_the_environment_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("MODELSCOPE_BASE_URL", "http://api-inference.modelscope.cn/v1")
    with pytest.raises(ConfigurationError, match="plain http"):
        CONSTRUCTORS[name](None)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", SAFE)
@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_tls_and_loopback_base_urls_are_accepted(name: str, url: str) -> None:
    CONSTRUCTORS[name](url)


# --- redirects ----------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Records each request's path and headers; the server's ``answer`` decides the reply."""

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        server: Any = self.server
        server.seen.append((self.command, self.path, dict(self.headers)))
        status, headers, body = server.answer(self)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _handle

    def log_message(self, *args: Any) -> None:
        pass


def _serve(host: str, answer: Callable[[Any], tuple[int, dict[str, str], bytes]]) -> Any:
    server: Any = ThreadingHTTPServer((host, 0), _Recorder)
    server.seen, server.answer = [], answer
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture(scope="module")
def redirect_servers() -> Iterator[tuple[str, Any]]:
    """A server on 127.0.0.1 that redirects every request to another host (127.0.0.2)."""
    ok = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"elsewhere"}}]}'
    other = _serve("127.0.0.2", lambda h: (200, {"content-type": "application/json"}, ok))
    target = f"http://127.0.0.2:{other.server_address[1]}"
    first = _serve(
        "127.0.0.1", lambda h: (307, {"location": f"{target}{h.path}"}, b"moved elsewhere")
    )
    yield f"http://127.0.0.1:{first.server_address[1]}/v1", other
    for server in (first, other):
        server.shutdown()
        server.server_close()


@pytest.fixture
def redirecting(redirect_servers: tuple[str, Any]) -> tuple[str, Any]:
    redirect_servers[1].seen.clear()
    return redirect_servers


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_redirect_to_another_host_is_not_followed(
    redirecting: tuple[str, Any], framework: str, mode: str
) -> None:
    base_url, other = redirecting
    observed = run_call(framework, mode, tools=False, base_url=base_url)
    assert isinstance(observed.error, APIStatusError)
    assert observed.error.status_code == 307
    assert other.seen == []


def test_the_sdk_client_the_core_hands_out_does_not_follow_redirects_either(
    redirecting: tuple[str, Any],
) -> None:
    base_url, other = redirecting
    client = ModelScopeClient.create(api_key=TOKEN, base_url=base_url)
    with pytest.raises(Exception):  # noqa: B017 - the openai SDK's own error type
        client.transport.openai_client().models.list()
    assert other.seen == []


@pytest.mark.parametrize("call", ["complete", "stream", "embed"])
def test_a_users_client_that_follows_redirects_never_sends_the_token_to_another_host(
    redirecting: tuple[str, Any], call: str
) -> None:
    base_url, other = redirecting
    client = ModelScopeClient.create(
        api_key=TOKEN,
        base_url=base_url,
        max_retries=0,
        http_client=httpx.Client(follow_redirects=True),
    )
    request = ChatRequest(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
    runs = {
        "complete": lambda: client.chat.complete(request),
        "stream": lambda: list(client.chat.stream(request)),
        "embed": lambda: client.embeddings.embed(["hi"], model=EMBED_MODEL),
    }
    with contextlib.suppress(Exception):  # whatever the outcome, only the headers matter
        runs[call]()
    assert all("authorization" not in {k.lower() for k in h} for _, _, h in other.seen)
    llm = ChatModelScope(
        model=CHAT_MODEL,
        api_key=TOKEN,
        base_url=base_url,
        max_retries=0,
        http_client=httpx.Client(follow_redirects=True),
    )
    with contextlib.suppress(Exception):
        llm.invoke("hi")
    assert all("authorization" not in {k.lower() for k in h} for _, _, h in other.seen)


# --- timeouts -----------------------------------------------------------------------------------


def _assert_bounded(timeout: Any) -> None:
    values = timeout.values() if isinstance(timeout, dict) else [timeout]
    for value in values:
        assert value is not None and math.isfinite(value) and value > 0, timeout


@pytest.mark.parametrize("user_client", [False, True], ids=["own-pool", "user-client-no-timeout"])
def test_every_request_carries_a_finite_timeout(user_client: bool) -> None:
    """Even a user's client built with ``timeout=None`` cannot make a request wait forever."""
    seen: list[httpx.Request] = []
    body = (
        b'{"choices":[{"index":0,"message":{"content":"ok"}}],"data":[{"index":0,"embedding":[1]}]}'
    )
    sse = b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n'

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if b'"stream": true' in request.content:
            return httpx.Response(200, content=sse)
        return httpx.Response(200, content=body)

    mock = httpx.MockTransport(handler)
    options: dict[str, Any] = {}
    if user_client:
        options = {
            "http_client": httpx.Client(transport=mock, timeout=None),
            "async_http_client": httpx.AsyncClient(transport=mock, timeout=None),
        }
    client = ModelScopeClient.create(
        api_key=TOKEN, base_url="https://api-inference.modelscope.cn/v1", **options
    )
    if not user_client:
        _assert_bounded(client.transport.http_client.timeout.as_dict())
        client.transport._client = httpx.Client(transport=mock, timeout=None)
    request = ChatRequest(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
    client.chat.complete(request)
    list(client.chat.stream(request))
    client.embeddings.embed(["a"], model=EMBED_MODEL)
    if user_client:

        async def async_calls() -> None:
            await client.chat.acomplete(request)
            [d async for d in client.chat.astream(request)]
            await client.embeddings.aembed(["a"], model=EMBED_MODEL)

        asyncio.run(async_calls())
    assert len(seen) == (6 if user_client else 3)
    for sent in seen:
        _assert_bounded(sent.extensions["timeout"])


def test_the_default_async_pool_has_a_finite_timeout() -> None:
    client = ModelScopeClient.create(
        api_key=TOKEN, base_url="https://api-inference.modelscope.cn/v1"
    )

    async def pool_timeout() -> dict[str, Any]:
        return dict(client.transport.async_http_client.timeout.as_dict())

    _assert_bounded(asyncio.run(pool_timeout()))
    _assert_bounded(client.transport.openai_client().timeout)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_stalled_answer_raises_a_timeout_within_bounded_time(
    sim: Simulator, framework: str, mode: str
) -> None:
    sim.inject(Fault.slow_first_byte(10.0), times=None)
    started = time.monotonic()
    observed = run_call(
        framework, mode, tools=False, base_url=sim.base_url, timeout=0.3, max_retries=1
    )
    elapsed = time.monotonic() - started
    assert isinstance(observed.error, APITimeoutError)
    assert CHAT_MODEL in str(observed.error)
    assert elapsed < 2 * 0.3 + 1.5, f"took {elapsed:.2f} s"
    assert len([r for r in sim.requests if r.path == "/v1/chat/completions"]) == 2
