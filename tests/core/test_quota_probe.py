"""Quota in the credits era (modelscope-api.md §8.1, §8.2; issue 14): a spent scope is refused
without a request, but only for ``quota_probe_interval``; then exactly one probe asks the
service, whatever the number of concurrent callers; ``forget()``; unknown figures; garbage
headers never lock anything; error answers update the tracker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from modelscope_inference import (
    BadRequestError,
    ChatRequest,
    ConfigurationError,
    ModelScopeClient,
    QuotaExhaustedError,
    RetryPolicy,
    ServiceUnavailableError,
)
from modelscope_inference.quota import USUAL_RESET, QuotaStatus, QuotaTracker

from .fakes import FakeClock, FakeServer, chat_completion, reply

MODEL = "Qwen/Qwen2.5-72B-Instruct"
OTHER = "Qwen/Qwen3-32B"
MODEL_SPENT = {
    "modelscope-ratelimit-requests-limit": "2000",
    "modelscope-ratelimit-requests-remaining": "1500",
    "modelscope-ratelimit-model-requests-limit": "500",
    "modelscope-ratelimit-model-requests-remaining": "0",
}
MODEL_BACK = {**MODEL_SPENT, "modelscope-ratelimit-model-requests-remaining": "40"}
LIMIT_BODY = {"errors": {"message": "Request limit exceeded.", "request_id": "r-1"}}
CALLERS = 20


def _request(model: str = MODEL) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}])


def _spend(client: ModelScopeClient) -> None:
    """One real request that learns the model's quota is spent."""
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())


# --- refusal, expiry, probe ------------------------------------------------------------------


def test_a_spent_scope_is_refused_without_a_request(make_client: Any) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=MODEL_SPENT))
    client = make_client(server)
    _spend(client)

    with pytest.raises(QuotaExhaustedError) as refused:
        client.chat.complete(_request())

    assert server.count == 1
    assert refused.value.scope == "model"
    message = str(refused.value)
    assert "no request was sent" in message
    assert "forget_quota()" in message and "fallback_models" in message
    assert USUAL_RESET in message


def test_after_the_probe_interval_one_probe_goes_and_calls_flow_if_it_succeeds(
    make_client: Any, clock: FakeClock
) -> None:
    server = FakeServer(
        reply(429, LIMIT_BODY, headers=MODEL_SPENT), reply(200, chat_completion("back"))
    )
    client = make_client(server, quota_probe_interval=60)
    _spend(client)
    clock.advance(seconds=59)
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())

    clock.advance(seconds=1)

    assert client.chat.complete(_request()).content == "back"
    assert client.chat.complete(_request()).content == "back"
    assert server.count == 3


def test_a_probe_that_finds_the_quota_still_spent_restarts_the_interval(
    make_client: Any, clock: FakeClock
) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=MODEL_SPENT))
    client = make_client(server, quota_probe_interval=60)
    _spend(client)
    clock.advance(seconds=60)
    _spend(client)  # the probe: a real request, spent again
    assert server.count == 2

    clock.advance(seconds=59)
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())
    assert server.count == 2
    clock.advance(seconds=1)
    _spend(client)
    assert server.count == 3


def test_a_probe_that_fails_for_another_reason_lets_the_next_call_probe(
    make_client: Any, clock: FakeClock
) -> None:
    server = FakeServer(
        reply(429, LIMIT_BODY, headers=MODEL_SPENT),
        reply(503, {"error": {"message": "busy"}}),
        reply(200, chat_completion("back")),
    )
    client = make_client(server, quota_probe_interval=60, max_retries=0)
    _spend(client)
    clock.advance(seconds=60)

    with pytest.raises(ServiceUnavailableError):
        client.chat.complete(_request())

    assert client.chat.complete(_request()).content == "back"
    assert server.count == 3


def test_interval_zero_always_asks_the_service(make_client: Any) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=MODEL_SPENT))
    client = make_client(server, quota_probe_interval=0)

    for _ in range(3):
        _spend(client)

    assert server.count == 3


def test_a_success_without_headers_clears_a_spent_scope_to_unknown(
    make_client: Any, clock: FakeClock
) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=MODEL_SPENT), reply(200, chat_completion()))
    client = make_client(server, quota_probe_interval=60)
    _spend(client)
    clock.advance(seconds=60)

    client.chat.complete(_request())
    client.chat.complete(_request())

    assert server.count == 3
    assert client.quota_status(MODEL).model_remaining is None
    assert client.quota_status(MODEL).account_remaining == 1500


@pytest.mark.parametrize("interval", [-1, float("nan"), float("inf")])
def test_a_bad_probe_interval_is_a_configuration_error(token: str, interval: float) -> None:
    with pytest.raises(ConfigurationError, match="quota_probe_interval"):
        ModelScopeClient.create(api_key=token, quota_probe_interval=interval)


# --- one probe under concurrency --------------------------------------------------------------


class HeldProbe:
    """A handler whose answers wait until every other caller has been refused, so the probe is
    in flight for all of them; then it answers ``probe_headers``."""

    def __init__(self, refused_needed: int, probe_headers: dict[str, str]) -> None:
        self.refused_needed = refused_needed
        self.probe_headers = probe_headers
        self.count = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.all_refused = threading.Event()

    def note_refused(self) -> None:
        with self.lock:
            self.refused += 1
            if self.refused >= self.refused_needed:
                self.all_refused.set()

    def answer(self) -> httpx.Response:
        return httpx.Response(200, json=chat_completion("probe"), headers=self.probe_headers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.count += 1
        assert self.all_refused.wait(timeout=10), "the other callers were not refused"
        return self.answer()

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.count += 1
        for _ in range(1000):
            if self.all_refused.is_set():
                break
            await asyncio.sleep(0)
        assert self.all_refused.is_set(), "the other callers were not refused"
        return self.answer()


def _client_on(token: str, handler: HeldProbe, clock: FakeClock) -> ModelScopeClient:
    client = ModelScopeClient.create(
        api_key=token,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler.handle_async)),
        policy=RetryPolicy(max_retries=0),
        quota_probe_interval=60,
    )
    client.transport.quota.clock = clock
    return client


@pytest.fixture
def spent_tracker(token: str, clock: FakeClock) -> Any:
    """The token's tracker with the model seen spent 60 s ago (a probe is due)."""
    client = ModelScopeClient.create(api_key=token)
    tracker = client.transport.quota
    original = tracker.clock
    tracker.clock = clock
    tracker.record(MODEL, MODEL_SPENT)
    clock.advance(seconds=60)
    yield tracker
    tracker.clock = original


@pytest.mark.parametrize("comes_back", [True, False])
def test_exactly_one_probe_under_20_threads(
    token: str, clock: FakeClock, spent_tracker: QuotaTracker, comes_back: bool
) -> None:
    handler = HeldProbe(CALLERS - 1, MODEL_BACK if comes_back else MODEL_SPENT)
    client = _client_on(token, handler, clock)
    outcomes: list[str] = []
    start = threading.Barrier(CALLERS)

    def call() -> None:
        start.wait()
        try:
            outcomes.append(client.chat.complete(_request()).content)
        except QuotaExhaustedError as exc:
            assert "Another call is asking the service right now" in str(exc)
            outcomes.append("refused")
            handler.note_refused()

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert handler.count == 1
    assert sorted(outcomes) == ["probe"] + ["refused"] * (CALLERS - 1)
    if comes_back:
        assert client.chat.complete(_request()).content == "probe"
        assert handler.count == 2
    else:
        with pytest.raises(QuotaExhaustedError, match="asks the service again"):
            client.chat.complete(_request())
        assert handler.count == 1


@pytest.mark.parametrize("comes_back", [True, False])
async def test_exactly_one_probe_under_20_asyncio_tasks(
    token: str, clock: FakeClock, spent_tracker: QuotaTracker, comes_back: bool
) -> None:
    handler = HeldProbe(CALLERS - 1, MODEL_BACK if comes_back else MODEL_SPENT)
    client = _client_on(token, handler, clock)

    async def call() -> str:
        try:
            return (await client.chat.acomplete(_request())).content
        except QuotaExhaustedError:
            handler.note_refused()
            return "refused"

    outcomes = await asyncio.gather(*(call() for _ in range(CALLERS)))

    assert handler.count == 1
    assert sorted(outcomes) == ["probe"] + ["refused"] * (CALLERS - 1)
    flows = await _outcome(client.chat.acomplete(_request()))
    assert flows == ("probe" if comes_back else "refused")
    assert handler.count == (2 if comes_back else 1)
    await client.aclose()


async def _outcome(call: Awaitable[Any]) -> str:
    try:
        return str((await call).content)
    except QuotaExhaustedError:
        return "refused"


def test_a_stream_probe_ends_when_the_stream_opens(
    make_client: Any, clock: FakeClock, spent_tracker: QuotaTracker
) -> None:
    sse = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
    server = FakeServer(
        reply(200, content=sse, headers={**MODEL_BACK, "content-type": "text/event-stream"})
    )
    client = make_client(server, quota_probe_interval=60)

    stream = client.chat.stream(_request())
    first = next(stream)  # the probe answered; the stream is still open

    assert first.content == "hi"
    assert client.transport.quota.admit(MODEL, probe_interval=60).refused is None
    stream.close()


# --- forget, preflight, unknown, garbage, errors ----------------------------------------------


def test_forget_lets_the_next_call_ask_the_service(make_client: Any) -> None:
    server = FakeServer(
        reply(429, LIMIT_BODY, headers=MODEL_SPENT), reply(200, chat_completion("back"))
    )
    client = make_client(server)
    _spend(client)

    client.forget_quota(MODEL)

    assert not client.quota_status(MODEL).known
    assert client.chat.complete(_request()).content == "back"
    assert server.count == 2


def test_forget_without_a_model_forgets_every_model(make_client: Any) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=MODEL_SPENT))
    client = make_client(server)
    _spend(client)
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request(OTHER))  # learns OTHER is spent too
    assert server.count == 2

    client.quota.forget()

    assert client.quota.spent_scope(MODEL) is None
    assert client.quota.spent_scope(OTHER) is None


def test_preflight_off_sends_every_call(make_client: Any) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=MODEL_SPENT))
    client = make_client(server, preflight=False)

    for _ in range(3):
        _spend(client)

    assert server.count == 3


def test_answers_without_headers_leave_the_status_unknown(make_client: Any) -> None:
    client = make_client(FakeServer(reply(200, chat_completion())))

    result = client.chat.complete(_request())

    assert result.quota is None
    status = client.quota_status(MODEL)
    assert not status.known
    assert status.to_dict()["known"] is False
    assert status.exhausted_scope is None
    assert client.quota.admit(MODEL).refused is None


@pytest.mark.parametrize("value", ["-5", "nan", "1.5", "", "-0", "inf"])
def test_a_garbage_header_locks_nothing(make_client: Any, value: str) -> None:
    garbage = {
        "modelscope-ratelimit-requests-remaining": value,
        "modelscope-ratelimit-model-requests-remaining": value,
    }
    server = FakeServer(reply(200, chat_completion("ok"), headers=garbage))
    client = make_client(server)

    for _ in range(3):
        assert client.chat.complete(_request()).content == "ok"

    assert server.count == 3
    assert not client.quota_status(MODEL).known


@pytest.mark.parametrize(
    ("status", "error"), [(400, BadRequestError), (500, ServiceUnavailableError)]
)
def test_an_error_answer_with_headers_updates_the_status(
    make_client: Any, status: int, error: type[Exception]
) -> None:
    body = {"errors": {"message": "invalid parameter"}}
    client = make_client(FakeServer(reply(status, body, headers=MODEL_BACK)), max_retries=0)

    with pytest.raises(error):
        client.chat.complete(_request())

    quota = client.quota_status(MODEL)
    assert quota.known
    assert (quota.account_remaining, quota.model_remaining) == (1500, 40)


def test_an_error_answer_with_a_spent_header_makes_the_scope_refused(make_client: Any) -> None:
    server = FakeServer(reply(400, {"errors": {"message": "bad"}}, headers=MODEL_SPENT))
    client = make_client(server, max_retries=0)

    with pytest.raises(BadRequestError):
        client.chat.complete(_request())
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())

    assert server.count == 1


def test_embeddings_are_gated_too(make_client: Any, clock: FakeClock) -> None:
    vectors = {"data": [{"index": 0, "embedding": [0.1, 0.2]}]}
    server = FakeServer(reply(429, LIMIT_BODY, headers=MODEL_SPENT), reply(200, vectors))
    client = make_client(server, quota_probe_interval=60)
    embed: Callable[[], list[list[float]]] = lambda: client.embeddings.embed(["a"], model=MODEL)  # noqa: E731
    with pytest.raises(QuotaExhaustedError):
        embed()
    with pytest.raises(QuotaExhaustedError):
        embed()
    assert server.count == 1

    clock.advance(seconds=60)

    assert embed() == [[0.1, 0.2]]
    assert server.count == 2


def test_a_known_status_says_when_counts_usually_reset() -> None:
    status = QuotaStatus(model=MODEL, model_remaining=3, seen_at=FakeClock().now)

    assert status.known
    assert status.resets_at is not None
    assert status.resets_at - status.seen_at < timedelta(days=1)  # type: ignore[operator]
