"""The one retry layer: what is retried, how long it waits, when it stops, and what it logs."""

from __future__ import annotations

import email.utils
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import tenacity

from modelscope_inference import (
    AccountBindingError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    ConfigurationError,
    ModelNotSupportedError,
    QuotaExhaustedError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
    StreamInterruptedError,
    ThinkingModeError,
)
from modelscope_inference.errors import ModelScopeError
from modelscope_inference.retry import (
    BACKOFF_BASE,
    WaitRetryAfterOrBackoff,
    is_retryable,
    retry_after_seconds,
)

from .fakes import FakeServer, Sleeps, chat_completion, fail, reply

MODEL = "Qwen/Qwen2.5-72B-Instruct"  # no thinking: plain non-streamed calls
REQUEST = ChatRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}])
LIMIT_BODY = {"errors": {"message": "Request limit exceeded."}}
CALLS_LEFT = {
    "modelscope-ratelimit-requests-remaining": "1897",
    "modelscope-ratelimit-model-requests-remaining": "458",
}
OK = reply(200, chat_completion("done"))


# --- Retry-After and backoff -----------------------------------------------------------------


def test_transient_429_with_retry_after_waits_that_long_then_succeeds(
    make_client: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers={"retry-after": "1"}), OK)

    result = make_client(server).chat.complete(REQUEST)

    assert result.content == "done"
    assert server.count == 2
    assert sleeps.waits == [1.0]


async def test_async_transient_429_with_retry_after_waits_then_succeeds(
    make_client: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers={"retry-after": "1"}), OK)

    result = await make_client(server).chat.acomplete(REQUEST)

    assert result.content == "done"
    assert server.count == 2
    assert sleeps.waits == [1.0]


def test_retry_after_ms_is_honoured(make_client: Any, sleeps: Sleeps) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers={"retry-after-ms": "250"}), OK)

    make_client(server).chat.complete(REQUEST)

    assert sleeps.waits == [0.25]


def test_http_date_retry_after_is_honoured(make_client: Any, sleeps: Sleeps) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=5)
    header = email.utils.format_datetime(when, usegmt=True)
    server = FakeServer(reply(429, LIMIT_BODY, headers={"retry-after": header}), OK)

    make_client(server).chat.complete(REQUEST)

    assert len(sleeps.waits) == 1
    assert 3.0 < sleeps.waits[0] <= 5.0


def test_retry_after_on_a_503_is_honoured(make_client: Any, sleeps: Sleeps) -> None:
    server = FakeServer(reply(503, headers={"retry-after": "2"}), OK)

    make_client(server).chat.complete(REQUEST)

    assert sleeps.waits == [2.0]


def test_retry_after_is_capped_at_max_wait(make_client: Any, sleeps: Sleeps) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers={"retry-after": "3600"}), OK)

    make_client(server, max_wait=5.0).chat.complete(REQUEST)

    assert sleeps.waits == [5.0]


def test_without_retry_after_waits_are_jittered_exponential_backoff(
    make_client: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(reply(500))

    with pytest.raises(ServiceUnavailableError):
        make_client(server, max_retries=4).chat.complete(REQUEST)

    assert len(sleeps.waits) == 4
    for attempt, wait in enumerate(sleeps.waits, start=1):
        assert 0.0 <= wait <= BACKOFF_BASE * 2 ** (attempt - 1)


def _state_after(exc: BaseException, attempt: int) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def _connection_error() -> APIConnectionError:
    return APIConnectionError("down", request=httpx.Request("POST", "https://x/v1"))


def test_backoff_is_full_jitter_between_zero_and_a_doubling_ceiling() -> None:
    ceilings: list[tuple[float, float]] = []

    def rng(low: float, high: float) -> float:
        ceilings.append((low, high))
        return high

    wait = WaitRetryAfterOrBackoff(max_wait=60.0, rng=rng)
    waits = [wait(_state_after(_connection_error(), n)) for n in (1, 2, 3, 4)]

    assert ceilings == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 4.0)]
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_backoff_ceiling_is_capped_at_max_wait() -> None:
    ceilings: list[float] = []

    def rng(low: float, high: float) -> float:
        ceilings.append(high)
        return low

    wait = WaitRetryAfterOrBackoff(max_wait=3.0, rng=rng)

    assert wait(_state_after(_connection_error(), 12)) == 0.0
    assert ceilings == [3.0]


def test_advised_wait_beats_backoff_and_is_capped() -> None:
    request = httpx.Request("POST", "https://x/v1")
    response = httpx.Response(429, request=request)
    rate_limited = RateLimitError("slow down", response=response, body=None, retry_after=7.0)

    assert WaitRetryAfterOrBackoff(max_wait=60.0)(_state_after(rate_limited, 1)) == 7.0
    assert WaitRetryAfterOrBackoff(max_wait=2.0)(_state_after(rate_limited, 1)) == 2.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "1"}, 1.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:10 GMT"}, 10.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:27:00 GMT"}, 0.0),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=timezone.utc)

    assert retry_after_seconds(headers, now=now) == expected


# --- attempts never exceed max_retries + 1 ---------------------------------------------------


def _refuse(request: httpx.Request) -> Exception:
    return httpx.ConnectError("connection refused", request=request)


def _stall(request: httpx.Request) -> Exception:
    return httpx.ReadTimeout("read timed out", request=request)


FAILURES = {
    "500": (reply(500), ServiceUnavailableError),
    # reference: modelscope-api.md §8.1: a 429 with calls left in the headers is transient (the
    # header-less one is ambiguous and retried once only: test_errors.py)
    "transient-429": (reply(429, LIMIT_BODY, headers=CALLS_LEFT), RateLimitError),
    "connection-error": (fail(_refuse), APIConnectionError),
    "timeout": (fail(_stall), APITimeoutError),
}


@pytest.mark.parametrize("max_retries", [0, 1, 3])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_attempts_never_exceed_max_retries_plus_one(
    make_client: Any, sleeps: Sleeps, failure: str, max_retries: int
) -> None:
    responder, error = FAILURES[failure]
    server = FakeServer(responder)

    with pytest.raises(error):
        make_client(server, max_retries=max_retries).chat.complete(REQUEST)

    assert server.count == max_retries + 1
    assert len(sleeps.waits) == max_retries


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_async_attempts_never_exceed_max_retries_plus_one(
    make_client: Any, failure: str
) -> None:
    responder, error = FAILURES[failure]
    server = FakeServer(responder)

    with pytest.raises(error):
        await make_client(server, max_retries=2).chat.acomplete(REQUEST)

    assert server.count == 3


def test_streams_that_fail_before_output_obey_the_same_cap(make_client: Any) -> None:
    server = FakeServer(reply(502))

    with pytest.raises(ServiceUnavailableError):
        list(make_client(server, max_retries=2).chat.stream(REQUEST))

    assert server.count == 3


NEVER_RETRIED = {
    "401-invalid-token": (
        reply(401, {"errors": {"message": "Authenticaton failed"}, "request_id": "r"}),
        AuthenticationError,
    ),
    "401-binding": (
        reply(401, {"error": {"message": "Please bind your Alibaba Cloud account before use."}}),
        AccountBindingError,
    ),
    "403": (reply(403), AccountBindingError),
    "400": (reply(400), BadRequestError),
    "404": (reply(404), ModelNotSupportedError),
    "thinking-mode": (
        reply(400, {"error": {"message": "enable thinking can not be support when stream=False"}}),
        ThinkingModeError,
    ),
    "quota-exhausted": (
        reply(429, LIMIT_BODY, headers={"modelscope-ratelimit-model-requests-remaining": "0"}),
        QuotaExhaustedError,
    ),
}


@pytest.mark.parametrize("failure", list(NEVER_RETRIED))
def test_permanent_failures_are_never_retried(
    make_client: Any, sleeps: Sleeps, failure: str
) -> None:
    responder, error = NEVER_RETRIED[failure]
    server = FakeServer(responder, OK)
    # An always-thinking model, so the thinking 400 cannot teach the catalog anything new.
    model = "Qwen/Qwen3-235B-A22B-Thinking-2507" if failure == "thinking-mode" else MODEL
    request = ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(error):
        make_client(server, max_retries=3).chat.complete(request)

    assert server.count == 1
    assert sleeps.waits == []


def _status_error(cls: type[Any], status: int) -> Any:
    response = httpx.Response(status, request=httpx.Request("POST", "https://x/v1"))
    if cls is QuotaExhaustedError:
        return cls("q", response=response, body=None, scope="model")
    return cls("e", response=response, body=None)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_status_error(RateLimitError, 429), True),
        (_status_error(ServiceUnavailableError, 500), True),
        (_status_error(ServiceUnavailableError, 503), True),
        (_connection_error(), True),
        (APITimeoutError("slow", request=httpx.Request("POST", "https://x/v1")), True),
        (_status_error(QuotaExhaustedError, 429), False),
        (_status_error(AuthenticationError, 401), False),
        (_status_error(AccountBindingError, 403), False),
        (_status_error(BadRequestError, 400), False),
        (_status_error(ThinkingModeError, 400), False),
        (_status_error(ModelNotSupportedError, 404), False),
        (StreamInterruptedError("x", request=httpx.Request("POST", "https://x/v1")), False),
        (ValueError("not ours"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_retry_predicate(exc: BaseException, expected: bool) -> None:
    assert is_retryable(exc) is expected


def test_408_and_409_are_retried() -> None:
    from modelscope_inference.errors import APIStatusError

    for status in (408, 409):
        response = httpx.Response(status, request=httpx.Request("POST", "https://x/v1"))
        assert is_retryable(APIStatusError("e", response=response, body=None))


def test_deadline_stops_retrying_before_max_retries(make_client: Any) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers={"retry-after": "30"}))
    client = make_client(server, max_retries=5)
    policy = RetryPolicy(max_retries=5, deadline=10.0, sleep=lambda s: None)
    client.chat.policy = policy

    with pytest.raises(RateLimitError):
        client.chat.complete(REQUEST)

    assert server.count == 1


# --- logging ---------------------------------------------------------------------------------


def test_each_retry_is_logged_at_warning_with_attempt_wait_and_reason(
    make_client: Any, caplog: pytest.LogCaptureFixture, token: str
) -> None:
    server = FakeServer(
        reply(429, LIMIT_BODY, headers={"retry-after": "1"}),
        reply(503, headers={"retry-after": "2"}),
        OK,
    )
    caplog.set_level(logging.DEBUG, logger="modelscope_inference")

    make_client(server).chat.complete(REQUEST)

    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    first, second = (r.getMessage() for r in retries)
    assert "attempt 1" in first
    assert "1.00 s" in first
    assert "RateLimitError" in first
    assert "attempt 2" in second
    assert "2.00 s" in second
    assert "ServiceUnavailableError" in second
    assert all(token not in r.getMessage() for r in caplog.records)


def test_errors_raised_after_retries_are_library_errors(make_client: Any) -> None:
    server = FakeServer(fail(_refuse))

    with pytest.raises(ModelScopeError):
        make_client(server, max_retries=1).chat.complete(REQUEST)


# --- RetryPolicy.call: the first try before tenacity ----------------------------------------


def _flaky(failures: int, attempts: list[int]) -> Any:
    """A call that fails with a connection error ``failures`` times, then answers "ok"."""

    def attempt() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= failures:
            raise _connection_error()
        return "ok"

    return attempt


def test_a_call_that_succeeds_at_once_never_sets_up_tenacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_tenacity(self: RetryPolicy, **_: Any) -> Any:
        raise AssertionError("tenacity was set up for a call that succeeded")

    monkeypatch.setattr(RetryPolicy, "retrying", no_tenacity)
    attempts: list[int] = []

    assert RetryPolicy(max_retries=2).call(_flaky(0, attempts)) == "ok"
    assert attempts == [1]


def test_a_failed_first_try_continues_in_tenacity_as_its_attempt_one() -> None:
    waits: list[float] = []
    attempts: list[int] = []
    policy = RetryPolicy(max_retries=2, sleep=waits.append)

    assert policy.call(_flaky(2, attempts)) == "ok"
    assert attempts == [1, 2, 3]
    assert len(waits) == 2
    assert waits[0] <= BACKOFF_BASE and waits[1] <= BACKOFF_BASE * 2  # attempts 1 and 2


def test_call_stops_after_max_retries_plus_one_and_raises_the_last_error() -> None:
    attempts: list[int] = []
    policy = RetryPolicy(max_retries=2, sleep=lambda s: None)

    with pytest.raises(APIConnectionError):
        policy.call(_flaky(10, attempts))
    assert attempts == [1, 2, 3]


def test_call_raises_a_permanent_error_at_once() -> None:
    attempts: list[int] = []

    def attempt() -> None:
        attempts.append(1)
        raise ConfigurationError("no token")

    with pytest.raises(ConfigurationError):
        RetryPolicy(max_retries=3, sleep=lambda s: None).call(attempt)
    assert attempts == [1]


def test_the_deadline_counts_the_first_try() -> None:
    import time

    attempts: list[int] = []

    def slow_failure() -> None:
        attempts.append(1)
        time.sleep(0.06)
        raise _connection_error()

    policy = RetryPolicy(max_retries=3, deadline=0.05, sleep=lambda s: None)
    with pytest.raises(APIConnectionError):
        policy.call(slow_failure)
    assert attempts == [1]


async def test_acall_replays_a_failed_first_try_into_tenacity() -> None:
    waits: list[float] = []
    attempts: list[int] = []
    flaky = _flaky(1, attempts)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def attempt() -> str:
        return str(flaky())

    assert await RetryPolicy(max_retries=2, async_sleep=sleep).acall(attempt) == "ok"
    assert attempts == [1, 2]
    assert len(waits) == 1
