"""Fuzzing: whatever the service sends, only our typed errors come out.

Every property feeds fuzzed bytes through the real client (``httpx.MockTransport`` under
``ModelScopeClient``) or through the pure parsers, and accepts exactly two outcomes: a result,
or a :class:`~modelscope_inference.errors.ModelScopeError`. A ``KeyError``, ``TypeError``,
``ValueError`` (other than ``ConfigurationError``), ``RecursionError``, ``OverflowError``... is
a bug. Where the input is well formed, the output must also be exactly right.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelscope_inference.errors import (
    AmbiguousRateLimitError,
    APIConnectionError,
    APIStatusError,
    InvalidResponseError,
    ModelScopeError,
    QuotaExhaustedError,
    RateLimitError,
    StreamInterruptedError,
    classify_error,
    error_message_from_body,
    parse_body,
    request_id_from,
)
from modelscope_inference.quota import QUOTA_HEADERS, parse_quota_headers, utc_now
from modelscope_inference.retry import RetryPolicy, is_retryable, retry_after_seconds
from modelscope_inference.tools import ToolCallAccumulator, parse_arguments, parse_tool_calls
from modelscope_inference.transport import SSEDecoder

from .support import (
    BASE_URL,
    CHAT_MODEL,
    COUNTS,
    EMBED_MODEL,
    THINKING_MODEL,
    PiecewiseStream,
    chat_request,
    completion,
    mock_client,
    split_at,
    sse_body,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=False,
)
SUITE = "fuzz examples"
DEEP = b"[" * 3000 + b"]" * 3000  # deeper than json's recursion limit

# --- strategies -------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Keys a chat / embeddings parser looks for, so random objects hit the real code paths.
wire_keys = st.sampled_from(
    [
        "choices", "message", "delta", "content", "reasoning_content", "tool_calls", "index",
        "id", "function", "name", "arguments", "finish_reason", "usage", "prompt_tokens",
        "completion_tokens", "data", "embedding", "error", "errors", "request_id", "type",
    ]
)  # fmt: skip
wire_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(wire_keys, inner, max_size=4),
    max_leaves=14,
)


def _mutated_completion(draw: st.DrawFn) -> object:
    """A well-formed completion with one part replaced by a random value."""
    body: dict[str, Any] = completion("hello", tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ])  # fmt: skip
    path = draw(
        st.sampled_from(
            [
                ("choices",), ("choices", 0), ("choices", 0, "message"),
                ("choices", 0, "message", "content"), ("choices", 0, "message", "tool_calls"),
                ("choices", 0, "message", "tool_calls", 0),
                ("choices", 0, "message", "tool_calls", 0, "function"),
                ("choices", 0, "message", "tool_calls", 0, "function", "arguments"),
                ("choices", 0, "index"), ("usage",), ("usage", "prompt_tokens"),
            ]
        )
    )  # fmt: skip
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = draw(wire_values)
    return body


@st.composite
def chat_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "wire", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "wire":
        return json.dumps(draw(wire_values)).encode()
    return json.dumps(_mutated_completion(draw)).encode()


@st.composite
def embedding_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "wire", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "wire":
        return json.dumps(draw(wire_values)).encode()
    items: list[Any] = [{"index": i, "embedding": [0.1 * i, 0.2]} for i in range(2)]
    position = draw(st.integers(0, 2))
    if position < 2:
        items[position][draw(st.sampled_from(["index", "embedding"]))] = draw(wire_values)
    else:
        items.append(draw(wire_values))
    return json.dumps({"data": items}).encode()


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30)
numberish = st.one_of(
    header_text,
    st.integers(-(10**6), 10**6).map(str),
    st.floats().map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "9" * 5000, " 5 ", "0x10"]),
)
http_dates = st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT"))


@st.composite
def header_sets(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    names = [*QUOTA_HEADERS, "retry-after", "retry-after-ms", "x-request-id"]
    chosen = draw(st.lists(st.sampled_from(names), max_size=5, unique=True))
    headers = []
    for name in chosen:
        value = draw(numberish | http_dates) if name != "x-request-id" else draw(header_text)
        headers.append((name.encode(), value.strip().encode("latin-1")))
    return headers


# --- helpers ----------------------------------------------------------------------------------


def _respond(status: int, content: bytes, headers: list[tuple[bytes, bytes]] | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers or [])

    return handler


def _typed_or_result(call) -> object:
    """Run ``call``; return its result or the ModelScopeError it raised (anything else fails)."""
    try:
        return call()
    except ModelScopeError as exc:
        return exc


def _run(coro_factory) -> object:
    async def main():
        try:
            return await coro_factory()
        except ModelScopeError as exc:
            return exc

    return asyncio.run(main())


async def _collect(aiterator) -> list[Any]:
    return [item async for item in aiterator]


# --- chat, non-streamed -----------------------------------------------------------------------


@FUZZ
@given(body=chat_bodies(), use_async=st.booleans())
@example(body=DEEP, use_async=False)
@example(body=b'{"choices": [{"message": {"content": "x"}}]}' + b" " * 3, use_async=True)
def test_any_chat_body_gives_a_result_or_a_typed_error(body: bytes, use_async: bool) -> None:
    COUNTS[SUITE] += 1
    client = mock_client(_respond(200, body))
    request = chat_request()
    if use_async:
        outcome = _run(lambda: client.chat.acomplete(request))
    else:
        outcome = _typed_or_result(lambda: client.chat.complete(request))
    if isinstance(outcome, ModelScopeError):
        assert isinstance(outcome, InvalidResponseError)
        assert CHAT_MODEL in str(outcome)
    else:
        assert isinstance(outcome.content, str)
        for call in outcome.first.tool_calls:
            assert (call.args is None) == (call.error is not None)


# --- embeddings -------------------------------------------------------------------------------


@FUZZ
@given(body=embedding_bodies(), use_async=st.booleans())
@example(body=DEEP, use_async=True)
@example(
    body=b'{"data": [{"index": 0, "embedding": "AAAA"}, {"index": 1, "embedding": "A"}]}',
    use_async=False,
)
def test_any_embeddings_body_gives_vectors_or_a_typed_error(body: bytes, use_async: bool) -> None:
    COUNTS[SUITE] += 1
    client = mock_client(_respond(200, body))
    if use_async:
        outcome = _run(lambda: client.embeddings.aembed(["a", "b"], model=EMBED_MODEL))
    else:
        outcome = _typed_or_result(lambda: client.embeddings.embed(["a", "b"], model=EMBED_MODEL))
    if isinstance(outcome, ModelScopeError):
        assert isinstance(outcome, InvalidResponseError)
        assert EMBED_MODEL in str(outcome)
    else:
        assert len(outcome) == 2
        assert all(isinstance(x, float) for vector in outcome for x in vector)


# --- SSE streams, cut or garbled ---------------------------------------------------------------


@st.composite
def stream_cases(draw: st.DrawFn) -> dict[str, Any]:
    chunks = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=5))
    body = sse_body(chunks)
    mutation = draw(st.sampled_from(["none", "cut", "drop", "garble", "insert"]))
    at = draw(st.integers(0, len(body)))
    if mutation in ("cut", "drop"):
        body = body[:at]
    elif mutation == "garble":
        body = body[:at] + draw(st.binary(min_size=1, max_size=3)) + body[at + 1 :]
    elif mutation == "insert":
        body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    cuts = draw(st.lists(st.integers(0, len(body)), max_size=6))
    return {
        "full": "".join(chunks),
        "pieces": split_at(body, cuts),
        "mutation": mutation,
        "break": mutation == "drop",
        "intact": mutation == "none",
    }


def _stream_handler(case: dict[str, Any], requests: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        stream = PiecewiseStream(case["pieces"], break_at_end=case["break"])
        return httpx.Response(200, stream=stream, headers={"content-type": "text/event-stream"})

    return handler


@FUZZ
@given(case=stream_cases(), use_async=st.booleans())
def test_a_cut_or_garbled_stream_never_duplicates_and_fails_typed(
    case: dict[str, Any], use_async: bool
) -> None:
    COUNTS[SUITE] += 1
    requests: list[httpx.Request] = []
    client = mock_client(_stream_handler(case, requests), max_retries=1)
    received: list[str] = []

    def consume() -> None:
        for delta in client.chat.stream(chat_request()):
            received.append(delta.content)

    async def aconsume() -> None:
        async for delta in client.chat.astream(chat_request()):
            received.append(delta.content)

    outcome = _run(aconsume) if use_async else _typed_or_result(consume)
    text = "".join(received)
    if case["intact"]:
        assert outcome is None
        assert text == case["full"]
        assert len(requests) == 1
    if isinstance(outcome, StreamInterruptedError):
        assert outcome.text == text  # what the caller saw, no more, no less
        assert len(requests) == 1  # output began: never retried
        assert CHAT_MODEL in str(outcome)
    elif isinstance(outcome, ModelScopeError):
        assert text == ""  # failed before any output
        assert isinstance(outcome, (APIConnectionError, InvalidResponseError))
    if case["mutation"] in ("cut", "drop") and outcome is None:
        assert text == case["full"]  # a stream that ended cleanly was complete


@FUZZ
@given(case=stream_cases(), use_async=st.booleans())
def test_a_cut_or_garbled_internal_stream_gives_all_or_a_typed_error(
    case: dict[str, Any], use_async: bool
) -> None:
    """A thinking model's non-streamed call streams internally: all text, or a typed error."""
    COUNTS[SUITE] += 1
    requests: list[httpx.Request] = []
    client = mock_client(_stream_handler(case, requests), max_retries=1)
    request = chat_request(THINKING_MODEL)
    if use_async:
        outcome = _run(lambda: client.chat.acomplete(request))
    else:
        outcome = _typed_or_result(lambda: client.chat.complete(request))
    if case["intact"]:
        assert not isinstance(outcome, Exception)
        assert outcome.content == case["full"]
    if isinstance(outcome, ModelScopeError):
        assert isinstance(outcome, (APIConnectionError, InvalidResponseError))
        assert not isinstance(outcome, StreamInterruptedError)  # nothing reached the caller
    elif case["mutation"] in ("cut", "drop"):
        assert outcome.content == case["full"]


@FUZZ
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
@example(data=b"data: " + DEEP + b"\n", cuts=[])
def test_the_sse_decoder_only_raises_its_malformed_event_error(
    data: bytes, cuts: list[int]
) -> None:
    COUNTS[SUITE] += 1
    decoder = SSEDecoder()
    try:
        for piece in split_at(data, cuts):
            decoder.feed(piece)
        decoder.flush()
    except ValueError as exc:
        assert type(exc).__name__ == "MalformedEventError"


@FUZZ
@given(
    chunks=st.lists(st.text(max_size=6), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_the_sse_decoder_is_independent_of_chunk_boundaries(
    chunks: list[str], cuts: list[int]
) -> None:
    COUNTS[SUITE] += 1
    body = sse_body(chunks)
    whole, pieces = SSEDecoder(), SSEDecoder()
    expected = whole.feed(body)
    got = [event for piece in split_at(body, cuts) for event in pieces.feed(piece)]
    assert got == expected
    assert pieces.done and whole.done


@FUZZ
@given(
    chunks=st.lists(st.text(max_size=6), min_size=1, max_size=6),
    bad_at=st.integers(0, 12),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_events_before_a_malformed_line_arrive_whatever_the_chunking(
    chunks: list[str], bad_at: int, cuts: list[int]
) -> None:
    """The good events ahead of a malformed line are delivered, then the error; how the network
    split the bytes must not change what the caller sees."""
    COUNTS[SUITE] += 1
    events = sse_body(chunks).split(b"\n\n")[:-2]  # the data events, without [DONE]
    bad_at = min(bad_at, len(events))
    lines = [*events[:bad_at], b"data: {not json", *events[bad_at:], b"data: [DONE]", b""]
    body = b"\n\n".join(lines)
    expected = [json.loads(e[len(b"data: ") :]) for e in events[:bad_at]]
    decoder, got = SSEDecoder(), []
    with pytest.raises(ValueError, match="not json"):
        for piece in split_at(body, cuts):
            got += decoder.feed(piece)
        got += decoder.flush()
    assert got == expected


# --- tool-call arguments ----------------------------------------------------------------------

# Finite numbers only: NaN and Infinity are not JSON (RFC 8259), so arguments holding them are
# invalid (issue 15), although json.dumps writes them.
objects = st.dictionaries(
    st.text(max_size=6),
    json_scalars.filter(lambda v: not isinstance(v, float) or math.isfinite(v)),
    max_size=4,
)


@FUZZ
@given(raw=st.text(max_size=60) | objects.map(json.dumps) | json_values.map(json.dumps))
@example(raw='{"city": "Par')
@example(raw='"just a string"')
@example(raw='{"a":1}}')
@example(raw=json.dumps(json.dumps({"a": 1})))
@example(raw="[" * 5000 + "]" * 5000)
@example(raw=json.dumps("[" * 5000 + "]" * 5000))
def test_tool_arguments_parse_to_an_object_or_an_error_never_to_empty(raw: str) -> None:
    COUNTS[SUITE] += 1
    args, error = parse_arguments(raw)
    assert (args is None) != (error is None)
    if raw.strip() and args == {}:
        decoded = json.loads(raw)
        assert decoded == {} or json.loads(decoded) == {}  # only a real empty object is {}


@FUZZ
@given(args=objects, cuts=st.lists(st.integers(0, 80), max_size=6), with_index=st.booleans())
def test_split_tool_arguments_merge_back_exactly(
    args: dict[str, Any], cuts: list[int], with_index: bool
) -> None:
    COUNTS[SUITE] += 1
    raw = json.dumps(args)
    pieces = [raw[a:b] for a, b in _pairs(raw, cuts)]
    accumulator = ToolCallAccumulator()
    for position, piece in enumerate(pieces or [""]):
        delta: dict[str, Any] = {"function": {"arguments": piece}}
        if position == 0:
            delta.update(id="call_1", function={"name": "f", "arguments": piece})
        if with_index:
            delta["index"] = 0
        accumulator.add([delta])
    (call,) = accumulator.calls()
    assert call.raw_arguments == raw
    assert call.args == args
    assert call.id == "call_1"


def _pairs(text: str, cuts: list[int]) -> list[tuple[int, int]]:
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    return list(itertools.pairwise(points))


@FUZZ
@given(deltas=st.lists(wire_values, max_size=6), message_calls=wire_values)
def test_any_tool_call_deltas_merge_without_crashing(deltas: list[Any], message_calls: Any) -> None:
    COUNTS[SUITE] += 1
    accumulator = ToolCallAccumulator()
    for delta in deltas:
        accumulator.add(delta if isinstance(delta, list) else [delta])
    for call in [*accumulator.calls(), *parse_tool_calls(message_calls)]:
        assert call.id and isinstance(call.name, str)
        assert (call.args is None) == (call.error is not None)
    accumulator.fragments()


# --- error answers ------------------------------------------------------------------------------

statuses = st.integers(300, 599)
error_bodies = st.one_of(
    st.binary(max_size=100),
    wire_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda key, msg, rid: json.dumps({key: {"message": msg, "request_id": rid}}).encode(),
        st.sampled_from(["error", "errors"]),
        json_scalars,
        json_scalars,
    ),
    st.sampled_from(
        [
            b"",
            b'{"errors":{"message":"Request limit exceeded."},"request_id":"r"}',
            b'{"error":{"message":"Please bind your Alibaba Cloud account before use."}}',
            b'{"error":{"message":"You exceeded your current quota"}}',
            b'{"error":{"message":"enable_thinking must be set to false"}}',
            b"<html>502 Bad Gateway</html>",
            DEEP,
        ]
    ),
)


@FUZZ
@given(status=statuses, body=error_bodies, headers=header_sets())
def test_classify_error_maps_every_answer_to_a_typed_error_naming_status_and_model(
    status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    COUNTS[SUITE] += 1
    request = httpx.Request("POST", BASE_URL + "/chat/completions")
    response = httpx.Response(status, content=body, headers=headers, request=request)
    error = classify_error(response, model=CHAT_MODEL)
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert f"HTTP {status}" in str(error) and CHAT_MODEL in str(error)
    assert isinstance(is_retryable(error), bool)
    parsed = parse_body(body)
    error_message_from_body(parsed)
    request_id_from(parsed, response.headers)


@FUZZ
@given(
    status=statuses,
    body=error_bodies,
    headers=header_sets(),
    call=st.sampled_from(["complete", "acomplete", "stream", "astream", "embed", "aembed"]),
)
@example(
    status=429,
    body=b"",
    headers=[(b"retry-after", b"nan")],
    call="complete",
)
@example(
    status=200,
    body=b"",
    headers=[(b"modelscope-ratelimit-requests-remaining", b"1e400")],
    call="complete",
)
def test_any_error_answer_through_the_transport_raises_a_typed_error(
    status: int, body: bytes, headers: list[tuple[bytes, bytes]], call: str
) -> None:
    COUNTS[SUITE] += 1
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, content=body, headers=headers)

    client = mock_client(handler, max_retries=1)
    request = chat_request()
    runners = {
        "complete": lambda: client.chat.complete(request),
        "stream": lambda: list(client.chat.stream(request)),
        "embed": lambda: client.embeddings.embed(["a"], model=EMBED_MODEL),
    }
    async_runners = {
        "acomplete": lambda: client.chat.acomplete(request),
        "astream": lambda: _collect(client.chat.astream(request)),
        "aembed": lambda: client.embeddings.aembed(["a"], model=EMBED_MODEL),
    }
    outcome = _typed_or_result(runners[call]) if call in runners else _run(async_runners[call])
    if 200 <= status < 300:
        return  # fuzzed 2xx bodies are covered above; here only "no untyped error" matters
    assert isinstance(outcome, APIStatusError)
    assert outcome.status_code == status
    # reference: modelscope-api.md §8.1: the header-less "Request limit exceeded." 429 is
    # retried once and then raised as the model's spent quota (AmbiguousRateLimitError).
    settled = isinstance(outcome.__cause__, AmbiguousRateLimitError)
    retried = settled or is_retryable(outcome)
    assert len(requests) == (2 if retried else 1)
    if isinstance(outcome, QuotaExhaustedError) and not settled:
        assert len(requests) == 1


# --- header values ----------------------------------------------------------------------------


@FUZZ
@given(headers=header_sets())
@example(headers=[(b"retry-after", b"nan")])
@example(headers=[(b"retry-after-ms", b"NaN")])
@example(headers=[(b"modelscope-ratelimit-requests-remaining", b"inf")])
@example(headers=[(b"modelscope-ratelimit-model-requests-limit", b"9" * 5000)])
def test_header_values_parse_to_sane_numbers_or_none(headers: list[tuple[bytes, bytes]]) -> None:
    COUNTS[SUITE] += 1
    parsed = httpx.Headers(headers)
    wait = retry_after_seconds(parsed)
    assert wait is None or ((math.isfinite(wait) or wait == math.inf) and wait >= 0)
    assert wait is None or not math.isnan(wait)
    status = parse_quota_headers(parsed, model=CHAT_MODEL, now=utc_now())
    if status is not None:
        for value in (
            status.account_limit,
            status.account_remaining,
            status.model_limit,
            status.model_remaining,
        ):
            assert value is None or (isinstance(value, int) and value >= 0)


@FUZZ
@given(headers=header_sets(), use_async=st.booleans())
@example(headers=[(b"retry-after", b"nan")], use_async=False)
@example(headers=[(b"retry-after", b"nan")], use_async=True)
def test_a_429_with_any_headers_is_retried_with_a_sane_wait_then_typed(
    headers: list[tuple[bytes, bytes]], use_async: bool
) -> None:
    """Through a real tenacity policy, with real ``time.sleep``-like validation of the wait."""
    COUNTS[SUITE] += 1
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        if not (isinstance(seconds, (int, float)) and seconds >= 0 and not math.isnan(seconds)):
            raise AssertionError(f"asked to sleep {seconds!r}")
        waits.append(seconds)

    async def async_sleep(seconds: float) -> None:
        sleep(seconds)

    client = mock_client(_respond(429, b"", headers), max_retries=1)
    policy = RetryPolicy(max_retries=1, max_wait=30, sleep=sleep, async_sleep=async_sleep)
    object.__setattr__(client.chat, "policy", policy)
    request = chat_request()
    if use_async:
        outcome = _run(lambda: client.chat.acomplete(request))
    else:
        outcome = _typed_or_result(lambda: client.chat.complete(request))
    assert isinstance(outcome, (RateLimitError, QuotaExhaustedError))
    assert all(0 <= w <= 30 for w in waits)


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-3", "9" * 5000])
def test_quota_headers_with_extreme_numbers_do_not_break_a_successful_call(value: str) -> None:
    COUNTS[SUITE] += 1
    headers = [(name.encode(), value.encode()) for name in QUOTA_HEADERS]
    client = mock_client(
        lambda request: httpx.Response(200, json=completion("ok"), headers=headers)
    )
    assert client.chat.complete(chat_request()).content == "ok"
