"""Transport.apost on its own aiohttp session (the direct lane) against a real local socket.

The unit tests in test_transport.py give the client its own httpx transport, which takes the
plain httpx path; these check that the lane used by default answers the same way.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from modelscope_inference import (
    APITimeoutError,
    InvalidResponseError,
    RateLimitError,
    Settings,
)
from modelscope_inference.transport import Transport

pytestmark = pytest.mark.timeout(10)
MODEL = "Qwen/Qwen2.5-7B-Instruct"
QUOTA = (
    b"modelscope-ratelimit-requests-limit: 2000\r\n"
    b"modelscope-ratelimit-requests-remaining: 1500\r\n"
)

Answer = Callable[[bytes], bytes]


def http(status: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


@pytest.fixture
async def transport_for() -> AsyncIterator[Callable[[Answer], Awaitable[Transport]]]:
    """A Transport on a fresh token whose server answers each request body with ``answer``."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []
    transports: list[Transport] = []

    async def start(answer: Answer) -> Transport:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    reply = answer(await reader.readexactly(length))
                    if reply:
                        writer.write(reply)
                        await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        settings = Settings.resolve(
            api_key=f"ms-{uuid.uuid4()}", base_url=f"http://127.0.0.1:{port}/v1", timeout=0.5
        )
        transports.append(Transport(settings))
        return transports[-1]

    yield start
    for transport in transports:
        await transport.aclose()
    for server in servers:
        server.close()
    for writer in writers:
        writer.close()
    await asyncio.gather(*(writer.wait_closed() for writer in writers), return_exceptions=True)


async def test_a_json_answer_is_parsed_with_its_quota_and_request_id(
    transport_for: Callable[[Answer], Awaitable[Transport]],
) -> None:
    def answer(body: bytes) -> bytes:
        sent = json.loads(body)
        reply = json.dumps({"id": "c1", "echo": sent["messages"][0]["content"]}).encode()
        return http(b"200 OK", reply, QUOTA + b"x-request-id: req-9\r\n")

    transport = await transport_for(answer)

    reply = await transport.apost(
        "/chat/completions", {"messages": [{"content": "héllo"}]}, model=MODEL
    )

    assert reply.data == {"id": "c1", "echo": "héllo"}
    assert reply.request_id == "req-9"
    assert reply.quota is not None and reply.quota.account_remaining == 1500
    assert reply.headers["x-request-id"] == "req-9"


async def test_headers_are_read_by_lower_case_name_as_httpx_reads_them(
    transport_for: Callable[[Answer], Awaitable[Transport]],
) -> None:
    extra = (
        b"X-Request-Id: req-7\r\n"
        b"MODELSCOPE-RATELIMIT-REQUESTS-REMAINING: 12\r\n"
        b"Via: a\r\nvia: b\r\n"
        b"X-Note: caf\xc3\xa9\r\nX-Legacy: caf\xe9\r\n"
    )
    transport = await transport_for(lambda body: http(b"200 OK", b'{"id": "c2"}', extra))

    reply = await transport.apost("/chat/completions", {}, model=MODEL)

    assert reply.request_id == "req-7"
    assert reply.quota is not None and reply.quota.account_remaining == 12
    assert reply.headers["via"] == httpx.Headers([("via", "a"), ("via", "b")])["via"] == "a, b"
    assert reply.headers["x-note"] == "café"  # UTF-8
    assert reply.headers["x-legacy"] == "café"  # not UTF-8: read as Latin-1


async def test_a_content_encoded_answer_is_decoded(
    transport_for: Callable[[Answer], Awaitable[Transport]],
) -> None:
    packed = gzip.compress(b'{"ok": true}')
    transport = await transport_for(
        lambda body: http(b"200 OK", packed, b"content-encoding: gzip\r\n")
    )

    reply = await transport.apost("/chat/completions", {}, model=MODEL)

    assert reply.data == {"ok": True}


async def test_an_error_status_is_classified_with_its_body_and_request(
    transport_for: Callable[[Answer], Awaitable[Transport]],
) -> None:
    body = b'{"errors": {"message": "Too many requests, slow down."}}'
    transport = await transport_for(
        lambda _: http(b"429 Too Many Requests", body, b"retry-after: 1\r\n" + QUOTA)
    )

    with pytest.raises(RateLimitError) as caught:
        await transport.apost("/chat/completions", {"n": 1}, model=MODEL)

    assert caught.value.retry_after == 1.0
    assert caught.value.response.request.content == b'{"n": 1}'
    assert "slow down" in str(caught.value)


async def test_a_body_that_is_not_a_json_object_is_an_invalid_response(
    transport_for: Callable[[Answer], Awaitable[Transport]],
) -> None:
    transport = await transport_for(lambda _: http(b"200 OK", b"[1, 2]"))

    with pytest.raises(InvalidResponseError):
        await transport.apost("/chat/completions", {}, model=MODEL)


async def test_no_answer_in_time_is_a_timeout_naming_the_request(
    transport_for: Callable[[Answer], Awaitable[Transport]],
) -> None:
    transport = await transport_for(lambda _: b"")

    with pytest.raises(APITimeoutError) as caught:
        await transport.apost("/chat/completions", {"n": 2}, model=MODEL)

    assert caught.value.request.url.path == "/v1/chat/completions"
    assert caught.value.request.content == b'{"n": 2}'
