"""The token never appears in an error message, a log record, or a repr, even when the server
echoes it back (user-needs.md test scenario 16)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from modelscope_inference import (
    DEFAULT_BASE_URL,
    ChatRequest,
    ConfigurationError,
    ModelScopeError,
    Settings,
)
from modelscope_inference.async_http import RawAnswer
from modelscope_inference.quota import tracker_for
from modelscope_inference.redaction import redact
from modelscope_inference.transport import JSONResponse

from .fakes import SECRET, FakeServer, chat_completion, chunk, fail, reply, sse

LOGGERS = ("modelscope_inference", "httpx", "httpcore", "openai")
MODEL = "Qwen/Qwen2.5-7B-Instruct"
REQUEST = ChatRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}])
ECHO = f"token {SECRET} was refused (Authorization: Bearer {SECRET})"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)
    tracker_for(SECRET, DEFAULT_BASE_URL).reset()
    yield caplog
    tracker_for(SECRET, DEFAULT_BASE_URL).reset()


def _assert_clean(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET not in str(exc)
    assert SECRET not in repr(exc)
    assert all(SECRET not in str(arg) for arg in exc.args)
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.getMessage()
    assert SECRET not in caplog.text


def _refuse(request: httpx.Request) -> Exception:
    return httpx.ConnectError(f"cannot connect with {SECRET}", request=request)


def _stall(request: httpx.Request) -> Exception:
    return httpx.ReadTimeout(f"timed out, Bearer {SECRET}", request=request)


ERROR_CASES = {
    "authentication": reply(401, {"errors": {"message": ECHO}, "request_id": "r"}),
    "binding": reply(401, {"error": {"message": f"Please bind your Alibaba Cloud account {ECHO}"}}),
    "forbidden": reply(403, content=ECHO.encode()),
    "quota": reply(
        429,
        {"errors": {"message": ECHO}},
        headers={"modelscope-ratelimit-requests-remaining": "0"},
    ),
    "rate-limit": reply(429, {"errors": {"message": ECHO}}),
    "bad-request": reply(400, {"error": {"message": ECHO}}),
    "thinking": reply(400, {"error": {"message": f"enable thinking: stream mode only. {ECHO}"}}),
    "not-found": reply(404, content=ECHO.encode()),
    "server-error": reply(500, {"error": {"message": ECHO}}),
    "invalid-response": reply(200, content=ECHO.encode()),
    "connection": fail(_refuse),
    "timeout": fail(_stall),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_token_absent_from_every_error_and_log(
    make_client: Any, logs: pytest.LogCaptureFixture, case: str
) -> None:
    server = FakeServer(ERROR_CASES[case])
    client = make_client(server, api_key=SECRET, max_retries=1)

    with pytest.raises(ModelScopeError) as caught:
        client.chat.complete(REQUEST)

    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert logs.records, "nothing was captured; the check would be vacuous"
    _assert_clean(caught.value, logs)


def test_token_absent_from_pre_flight_quota_error(
    make_client: Any, logs: pytest.LogCaptureFixture
) -> None:
    server = FakeServer(ERROR_CASES["quota"])
    client = make_client(server, api_key=SECRET)
    with pytest.raises(ModelScopeError):
        client.chat.complete(REQUEST)

    with pytest.raises(ModelScopeError) as caught:
        client.chat.complete(REQUEST)

    assert server.count == 1
    _assert_clean(caught.value, logs)


def test_token_absent_from_stream_interruption(
    make_client: Any, logs: pytest.LogCaptureFixture
) -> None:
    server = FakeServer(sse(chunk(f"echo {SECRET}"), break_with=httpx.ReadError))
    client = make_client(server, api_key=SECRET)

    with pytest.raises(ModelScopeError) as caught:
        list(client.chat.stream(REQUEST))

    _assert_clean(caught.value, logs)


def test_token_absent_from_configuration_errors() -> None:
    for url in ("http://evil.example/v1", "https://x.example/v1/chat/completions"):
        with pytest.raises(ConfigurationError) as caught:
            Settings.resolve(api_key=SECRET, base_url=url)
        assert SECRET not in str(caught.value)


def test_token_absent_from_reprs(make_client: Any) -> None:
    client = make_client(FakeServer(reply(200, chat_completion())), api_key=SECRET)

    for text in (
        repr(client),
        str(client),
        repr(client.settings),
        str(client.settings),
        repr(client.transport),
        repr(client.policy),
    ):
        assert SECRET not in text
    assert client.settings.masked_token == "ms-SE***"


@pytest.mark.parametrize("name", [*LOGGERS, "httpcore.http11", "openai._base_client"])
def test_a_token_logged_by_the_http_stack_is_redacted(
    make_client: Any, logs: pytest.LogCaptureFixture, name: str
) -> None:
    make_client(FakeServer(reply(200, chat_completion())), api_key=SECRET)  # installs filters

    logging.getLogger(name).debug("headers: %s", {"authorization": f"Bearer {SECRET}"})
    logging.getLogger(name).warning(f"raw {SECRET}")

    messages = [r.getMessage() for r in logs.records if r.name == name]
    assert len(messages) == 2
    assert all(SECRET not in m for m in messages)
    assert "***" in messages[0]


def test_unregistered_ms_tokens_and_bearer_values_are_redacted() -> None:
    text = redact("other token ms-a1b2c3d4-e5f6 and Authorization: Bearer sk-anything-at-all")

    assert "ms-a1b2c3d4-e5f6" not in text
    assert "sk-anything-at-all" not in text
    assert text == "other token *** and Authorization: Bearer ***"


def test_bare_uuid_token_is_redacted_once_known() -> None:
    bare = "7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d"
    Settings.resolve(api_key=bare, environ={})

    assert bare not in redact(f"the server said {bare} is invalid")


def test_openai_client_debug_logs_do_not_carry_the_token(
    make_client: Any, logs: pytest.LogCaptureFixture
) -> None:
    server = FakeServer(reply(200, {"object": "list", "data": []}))
    client = make_client(server, api_key=SECRET)

    client.transport.openai_client().models.list()

    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert any(r.name.startswith("openai") for r in logs.records)
    assert SECRET not in logs.text


# --- issue 15, finding 1: what frameworks read from an exception is a redacted copy -----------

ECHO_HEADERS = {"x-echo": f"Bearer {SECRET}", "x-request-id": SECRET}
ECHOING_CASES = {
    "status": reply(401, {"errors": {"message": ECHO}}, headers=ECHO_HEADERS),
    "text-body": reply(503, content=ECHO.encode(), headers=ECHO_HEADERS),
    "invalid-response": reply(200, content=ECHO.encode(), headers=ECHO_HEADERS),
    "stream-error-event": sse({"error": {"message": ECHO, "code": 500}}),
    # The HTTP stack's own messages never hold the token; its requests and frames do.
    "connection": fail(lambda request: httpx.ConnectError("refused", request=request)),
    "timeout": fail(lambda request: httpx.ReadTimeout("timed out", request=request)),
}


def _what_frameworks_read(exc: BaseException) -> list[object]:
    """Everything LangChain, LlamaIndex, tracers and error trackers read from an exception."""
    seen: list[object] = [
        "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    ]
    cause: BaseException | None = exc
    while cause is not None:
        request = getattr(cause, "_request", None) or getattr(cause, "request", None)
        if isinstance(request, httpx.Request):
            seen += [dict(request.headers), str(request.url), request.content]
        cause = cause.__cause__ or cause.__context__
    response = getattr(exc, "response", None)
    if response is not None:
        seen += [response.text, response.content, dict(response.headers)]
        seen += [dict(response.request.headers), getattr(exc, "request_id", None)]
        with contextlib.suppress(ValueError):
            seen.append(response.json())
    return seen


def _capture(call: Callable[[], object]) -> BaseException:
    """The error ``call`` raises, caught in a frame whose locals hold no token."""
    try:
        call()
    except ModelScopeError as exc:
        return exc
    raise AssertionError("no error was raised")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", list(ECHOING_CASES))
def test_finding_1_an_error_carries_only_redacted_copies_of_the_answer_and_request(
    make_client: Any, case: str, mode: str
) -> None:
    server = FakeServer(ECHOING_CASES[case])
    client = make_client(server, api_key=SECRET, max_retries=0)
    stream = case.startswith("stream")
    if mode == "sync":
        error = _capture(
            (lambda: list(client.chat.stream(REQUEST)))
            if stream
            else (lambda: client.chat.complete(REQUEST))
        )
    else:

        async def call() -> object:
            if stream:
                return [delta async for delta in client.chat.astream(REQUEST)]
            return await client.chat.acomplete(REQUEST)

        error = _capture(lambda: asyncio.run(call()))

    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    for value in _what_frameworks_read(error):
        assert SECRET not in str(value) and SECRET[-8:] not in str(value), value
    response = getattr(error, "response", None)
    if response is not None and case != "stream-error-event":
        assert "***" in response.text  # the body is there, masked: not dropped
        assert response.request.headers["authorization"] == "Bearer ***"


def test_finding_1_a_successful_answer_carries_no_echoed_token_in_its_metadata(
    make_client: Any,
) -> None:
    server = FakeServer(reply(200, chat_completion(), headers=ECHO_HEADERS))
    client = make_client(server, api_key=SECRET)

    result = client.chat.complete(REQUEST)

    assert result.request_id == "***"
    assert SECRET not in repr(result)


def test_finding_1_request_headers_and_raw_answers_repr_without_the_token(
    make_client: Any,
) -> None:
    client = make_client(FakeServer(reply(200, chat_completion())), api_key=SECRET)
    answer = RawAnswer(401, ((b"x-echo", f"Bearer {SECRET}".encode()),), SECRET.encode())
    parsed = JSONResponse({"echo": SECRET}, {"x-echo": SECRET}, 200, None, None)

    for held in (client.transport._headers, answer, parsed):
        assert SECRET not in repr(held) and "***" in repr(held)
