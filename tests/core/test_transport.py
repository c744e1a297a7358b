"""The HTTP layer: SSE decoding, broken streams, headers, sharing, redirects, timeouts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from modelscope_inference import (
    APIConnectionError,
    APITimeoutError,
    InvalidResponseError,
    QuotaExhaustedError,
    Settings,
)
from modelscope_inference.errors import APIStatusError
from modelscope_inference.transport import (
    USER_AGENT,
    MalformedEventError,
    SSEDecoder,
    Transport,
    get_transport,
)

from .fakes import ChunkedStream, FakeServer, chat_completion, chunk, reply, sse, sse_bytes

MODEL = "Qwen/Qwen2.5-7B-Instruct"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}

# --- SSEDecoder ------------------------------------------------------------------------------


def test_decoder_yields_parsed_data_events_and_stops_at_done() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n')

    assert events == [{"a": 1}, {"b": 2}]
    assert decoder.done


def test_decoder_handles_events_split_across_chunk_boundaries() -> None:
    raw = sse_bytes([{"text": "héllo wörld"}, {"n": 2}])
    decoder = SSEDecoder()

    events = []
    for i in range(len(raw)):
        events.extend(decoder.feed(raw[i : i + 1]))

    assert events == [{"text": "héllo wörld"}, {"n": 2}]
    assert decoder.done


def test_decoder_skips_comments_blank_lines_and_other_fields() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(
        b': keep-alive\n\nevent: message\nid: 7\nretry: 1000\ndata: {"a": 1}\n\n: ping\n'
    )

    assert events == [{"a": 1}]
    assert not decoder.done


def test_decoder_accepts_crlf_and_no_space_after_colon() -> None:
    decoder = SSEDecoder()

    events = decoder.feed(b'data:{"a": 1}\r\n\r\ndata: [DONE]\r\n\r\n')

    assert events == [{"a": 1}]
    assert decoder.done


def test_decoder_ignores_anything_after_done() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(b"data: [DONE]\n\ndata: not json\n\n") == []


def test_decoder_flushes_a_last_line_without_newline() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(b'data: {"a": 1}') == []
    assert decoder.flush() == [{"a": 1}]
    assert decoder.flush() == []


def test_malformed_data_line_raises_a_typed_error() -> None:
    decoder = SSEDecoder()

    with pytest.raises(MalformedEventError, match="not json"):
        decoder.feed(b"data: {not json\n\n")


# --- event streams over HTTP -----------------------------------------------------------------


def _stream_events(make_client: Any, responder: Any) -> list[Any]:
    client = make_client(FakeServer(responder), max_retries=0)
    with client.transport.stream("/chat/completions", BODY, model=MODEL) as events:
        return list(events)


def test_stream_in_many_pieces_is_decoded_in_order(make_client: Any) -> None:
    raw = sse_bytes([chunk("a"), chunk("b"), chunk("c")])
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=ChunkedStream(pieces))

    events = _stream_events(make_client, respond)

    assert [e["choices"][0]["delta"]["content"] for e in events] == ["a", "b", "c"]


def test_stream_ending_without_done_raises_connection_error(make_client: Any) -> None:
    with pytest.raises(APIConnectionError, match=r"\[DONE\]"):
        _stream_events(make_client, sse(chunk("a"), done=False))


def test_stream_dropped_by_the_network_raises_connection_error(make_client: Any) -> None:
    with pytest.raises(APIConnectionError):
        _stream_events(make_client, sse(chunk("a"), break_with=httpx.ReadError))


def test_stream_read_timeout_raises_timeout_error(make_client: Any) -> None:
    with pytest.raises(APITimeoutError):
        _stream_events(make_client, sse(chunk("a"), break_with=httpx.ReadTimeout))


def test_malformed_stream_line_raises_invalid_response(make_client: Any) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"data: {oops\n\ndata: [DONE]\n\n")

    with pytest.raises(InvalidResponseError, match=MODEL):
        _stream_events(make_client, respond)


def test_stream_error_status_is_classified_with_its_body(make_client: Any) -> None:
    responder = reply(
        429,
        {"errors": {"message": "Request limit exceeded."}},
        headers={"modelscope-ratelimit-model-requests-remaining": "0"},
    )

    with pytest.raises(QuotaExhaustedError) as caught:
        _stream_events(make_client, responder)

    assert caught.value.scope == "model"
    assert "Request limit exceeded." in str(caught.value)


async def test_async_stream_ending_without_done_raises_connection_error(make_client: Any) -> None:
    client = make_client(FakeServer(sse(chunk("a"), done=False)))

    with pytest.raises(APIConnectionError):
        async with client.transport.astream("/chat/completions", BODY, model=MODEL) as events:
            async for _ in events:
                pass


async def test_async_stream_decodes_events(make_client: Any) -> None:
    client = make_client(FakeServer(sse(chunk("a"), chunk("b"))))

    async with client.transport.astream("/chat/completions", BODY, model=MODEL) as events:
        received = [e async for e in events]

    assert len(received) == 2


# --- headers and parsed answers --------------------------------------------------------------


def test_requests_carry_bearer_token_json_and_a_user_agent_naming_the_package(
    make_client: Any, token: str
) -> None:
    server = FakeServer(reply(200, chat_completion()))
    client = make_client(server)

    client.transport.post("/chat/completions", BODY, model=MODEL)

    sent = server.requests[0]
    assert sent.headers["user-agent"].startswith("modelscope-inference/")
    assert sent.headers["user-agent"] == USER_AGENT
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert sent.headers["content-type"] == "application/json"
    assert str(sent.url) == "https://api-inference.modelscope.cn/v1/chat/completions"
    assert json.loads(sent.content) == BODY


def test_default_headers_are_sent(make_client: Any) -> None:
    server = FakeServer(reply(200, chat_completion()))
    client = make_client(server, default_headers={"X-Team": "search"})

    client.transport.post("/chat/completions", BODY, model=MODEL)

    assert server.requests[0].headers["x-team"] == "search"


def test_openai_client_shares_auth_user_agent_and_has_retries_off(make_client: Any) -> None:
    server = FakeServer(reply(200, {"object": "list", "data": []}))
    client = make_client(server)

    sdk = client.transport.openai_client()
    sdk.models.list()

    assert sdk.max_retries == 0
    assert server.requests[0].headers["user-agent"] == USER_AGENT


def test_non_ascii_is_sent_as_utf8(make_client: Any) -> None:
    server = FakeServer(reply(200, chat_completion()))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "用python写一下快排"}]}

    make_client(server).transport.post("/chat/completions", body, model=MODEL)

    assert "用python写一下快排".encode() in server.requests[0].content


def test_parsed_answer_carries_quota_and_request_id(make_client: Any) -> None:
    headers = {"x-request-id": "rid-9", "modelscope-ratelimit-requests-remaining": "99"}
    client = make_client(FakeServer(reply(200, chat_completion(), headers=headers)))

    answer = client.transport.post("/chat/completions", BODY, model=MODEL)

    assert answer.request_id == "rid-9"
    assert answer.quota is not None
    assert answer.quota.account_remaining == 99
    assert answer.data["choices"][0]["message"]["content"] == "Hello"


def test_json_array_body_is_invalid_response(make_client: Any) -> None:
    client = make_client(FakeServer(reply(200, content=b"[1, 2]")))

    with pytest.raises(InvalidResponseError):
        client.transport.post("/chat/completions", BODY, model=MODEL)


# --- sharing ---------------------------------------------------------------------------------


def test_equal_settings_share_one_transport(token: str) -> None:
    def settings(**options: Any) -> Settings:
        return Settings.resolve(api_key=options.pop("api_key", token), environ={}, **options)

    shared = get_transport(settings())

    assert get_transport(settings()) is shared
    assert get_transport(settings(api_key=token + "-other")) is not shared
    assert get_transport(settings(timeout=5)) is not shared
    assert get_transport(settings(base_url="https://api-inference.modelscope.ai/v1")) is not shared
    assert get_transport(settings(default_headers={"X-A": "1"})) is not shared
    assert shared.http_client is get_transport(settings()).http_client


def test_custom_http_client_gets_its_own_transport(token: str) -> None:
    settings = Settings.resolve(api_key=token, environ={})
    mine = httpx.Client(transport=httpx.MockTransport(FakeServer(reply(200, {}))))

    transport = get_transport(settings, http_client=mine)

    assert transport is not get_transport(settings)
    assert transport.http_client is mine
    assert transport.quota is get_transport(settings).quota


# --- redirects and timeouts ------------------------------------------------------------------


def _redirect_to_other_host(request: httpx.Request) -> httpx.Response:
    if request.url.host == "evil.example":
        return httpx.Response(200, json=chat_completion("stolen"))
    return httpx.Response(302, headers={"location": "https://evil.example/v1/chat/completions"})


def test_redirect_is_not_followed_even_by_a_redirect_following_client(token: str) -> None:
    server = FakeServer(_redirect_to_other_host)
    settings = Settings.resolve(api_key=token, environ={})
    client = httpx.Client(transport=httpx.MockTransport(server), follow_redirects=True)
    transport = Transport(settings, http_client=client)

    with pytest.raises(APIStatusError) as caught:
        transport.post("/chat/completions", BODY, model=MODEL)

    assert caught.value.status_code == 302
    assert [r.url.host for r in server.requests] == ["api-inference.modelscope.cn"]


def test_redirect_is_not_followed_by_the_default_client(token: str) -> None:
    base = "https://redirect-check.modelscope.example/v1"
    transport = get_transport(Settings.resolve(api_key=token, base_url=base, environ={}))

    with respx.mock(assert_all_called=False) as router:
        origin = router.post(f"{base}/chat/completions").mock(
            return_value=httpx.Response(
                302, headers={"location": "https://evil.example/v1/chat/completions"}
            )
        )
        evil = router.route(host="evil.example").mock(return_value=httpx.Response(200, json={}))

        with pytest.raises(APIStatusError):
            transport.post("/chat/completions", BODY, model=MODEL)

    assert origin.call_count == 1
    assert evil.call_count == 0
    assert transport.http_client.follow_redirects is False


def test_a_timeout_is_always_set_even_on_a_client_without_one(token: str) -> None:
    server = FakeServer(reply(200, chat_completion()))
    settings = Settings.resolve(api_key=token, timeout=12, environ={})
    client = httpx.Client(transport=httpx.MockTransport(server), timeout=None)

    Transport(settings, http_client=client).post("/chat/completions", BODY, model=MODEL)

    timeout = server.requests[0].extensions["timeout"]
    assert set(timeout) == {"connect", "read", "write", "pool"}
    assert timeout["read"] == 12.0
    assert all(value is not None and value > 0 for value in timeout.values())


def test_default_client_has_a_timeout(token: str) -> None:
    transport = get_transport(Settings.resolve(api_key=token, environ={}))

    timeout = transport.http_client.timeout

    assert timeout.read == 60.0
    assert timeout.connect is not None and timeout.connect <= 10.0
