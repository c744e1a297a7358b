"""AsyncHTTP11Transport against tiny local servers that script the exact bytes they answer."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelscope_inference.http11 import AsyncHTTP11Transport

pytestmark = pytest.mark.timeout(10)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ok(body: bytes = b"", extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    """A complete HTTP/1.1 answer with a Content-Length body."""
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """(head, body) of the next request on a connection, or None once the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    if b"transfer-encoding: chunked" in head.lower():
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
        return head, body
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    return head, await reader.readexactly(int(length[1])) if length else b""


async def until_client_closes(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


def answering(*answers: bytes, close: bool = False) -> Handler:
    """Answer each request on a connection with the next of `answers` (the last repeats)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = 0
        while await read_request(reader) is not None:
            writer.write(answers[min(count, len(answers) - 1)])
            await writer.drain()
            count += 1
            if close:
                return

    return handle


class ScriptedServer:
    """A TCP server on 127.0.0.1 that counts the connections it accepts and holds at once."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.accepted = 0
        self.open_now = 0
        self.most_open = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        self.accepted += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await self.handler(reader, writer)
        finally:
            self.open_now -= 1
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[ScriptedServer]]]:
    servers: list[ScriptedServer] = []

    async def start(handler: Handler, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(await ScriptedServer(handler).start(tls))
        return servers[-1]

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., tuple[httpx.AsyncClient, Any]]]:
    clients: list[httpx.AsyncClient] = []

    def make(
        timeout: httpx.Timeout | float = 2.0, **options: Any
    ) -> tuple[httpx.AsyncClient, AsyncHTTP11Transport]:
        ssl_context = options.pop("ssl_context", None)
        transport = AsyncHTTP11Transport(httpx.Limits(**options), ssl_context=ssl_context)
        clients.append(httpx.AsyncClient(transport=transport, timeout=timeout))
        return clients[-1], transport

    yield make
    for client in clients:
        await client.aclose()


class Lane:
    """One way to send a request on a pool: httpx's (``handle_async_request``, a GET) or the
    prepared lane (``send_prepared``, a POST), whose plain answers the protocol reads."""

    def __init__(self, send: Callable[[str], Awaitable[bytes]], pool: AsyncHTTP11Transport):
        self.send = send
        self.pool = pool


@pytest.fixture(params=["httpx", "prepared"])
def lane(request: pytest.FixtureRequest, make_client: Any, prepared_pool: Any) -> Lane:
    if request.param == "httpx":
        client, transport = make_client()

        async def get(url: str) -> bytes:
            return (await client.get(url)).content

        return Lane(get, transport)
    pool = prepared_pool()

    async def post(url: str) -> bytes:
        return (await post_prepared(pool, url))[2]

    return Lane(post, pool)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- response framing ---------------------------------------------------------------------------


async def test_content_length_body_is_read_exactly(serve: Any, make_client: Any) -> None:
    server = await serve(answering(ok(b"hello", b"X-Case: Kept\r\n") + b"trailing garbage"))
    client, _ = make_client()

    reply = await client.get(server.url())

    assert (reply.status_code, reply.content) == (200, b"hello")
    assert (b"X-Case", b"Kept") in reply.headers.raw
    assert reply.reason_phrase == "OK" and reply.http_version == "HTTP/1.1"


async def test_chunked_body_with_extensions_and_trailers_is_decoded(
    serve: Any, make_client: Any
) -> None:
    body = b"5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
    server = await serve(answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body))
    client, transport = make_client()

    reply = await client.get(server.url())

    assert reply.content == b"hello 0123456789"
    assert transport.idle_count == 1  # fully framed, so the connection was kept


async def test_close_delimited_body_is_read_until_the_server_closes(
    serve: Any, make_client: Any
) -> None:
    server = await serve(answering(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close=True))
    client, transport = make_client()

    reply = await client.get(server.url())

    assert reply.content == b"until the end"
    assert transport.connection_count == 0  # it cannot be reused


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),  # a length, but no body
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"),
    ],
    ids=["HEAD", "204", "304"],
)
async def test_no_body_answers_leave_the_connection_reusable(
    serve: Any, make_client: Any, method: str, answer: bytes
) -> None:
    server = await serve(answering(answer, ok(b"next")))
    client, _ = make_client()

    first = await client.request(method, server.url())
    second = await client.get(server.url())

    assert first.content == b"" and second.content == b"next"
    assert server.accepted == 1


async def test_interim_100_continue_is_skipped(serve: Any, make_client: Any) -> None:
    server = await serve(answering(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final")))
    client, _ = make_client()

    reply = await client.post(server.url(), content=b"x", headers={"Expect": "100-continue"})

    assert (reply.status_code, reply.content) == (200, b"final")


# --- keep-alive and the pool --------------------------------------------------------------------


async def test_sequential_requests_reuse_one_connection(serve: Any, make_client: Any) -> None:
    server = await serve(answering(ok(b"x")))
    client, transport = make_client()

    for _ in range(5):
        assert (await client.get(server.url())).content == b"x"

    assert server.accepted == 1
    assert (transport.connection_count, transport.idle_count) == (1, 1)


@pytest.mark.parametrize(
    "answer",
    [ok(b"x", b"Connection: close\r\n"), b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"],
    ids=["connection-close", "http-1.0"],
)
async def test_a_connection_the_server_closes_is_not_reused(
    serve: Any, make_client: Any, answer: bytes
) -> None:
    server = await serve(answering(answer))
    client, transport = make_client()

    await client.get(server.url())
    await client.get(server.url())

    assert server.accepted == 2
    assert transport.connection_count == 0


async def test_a_fully_read_body_returns_the_connection_before_aclose(
    serve: Any, make_client: Any
) -> None:
    server = await serve(answering(ok(b"body")))
    client, transport = make_client(max_connections=1)

    async with client.stream("GET", server.url()) as reply:
        assert [part async for part in reply.aiter_raw()] == [b"body"]
        assert transport.idle_count == 1


async def test_the_pool_never_opens_more_than_max_connections(serve: Any, make_client: Any) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            await asyncio.sleep(0.05)
            writer.write(ok(b"done"))

    server = await serve(slow)
    client, _ = make_client(max_connections=2)

    replies = await asyncio.gather(*(client.get(server.url()) for _ in range(6)))

    assert [r.content for r in replies] == [b"done"] * 6
    assert server.most_open == 2 and server.accepted == 2


async def test_idle_connections_beyond_max_keepalive_are_closed(
    serve: Any, make_client: Any
) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            await asyncio.sleep(0.02)
            writer.write(ok())

    server = await serve(slow)
    client, transport = make_client(max_connections=3, max_keepalive_connections=1)

    await asyncio.gather(*(client.get(server.url()) for _ in range(3)))

    assert server.accepted == 3
    assert (transport.connection_count, transport.idle_count) == (1, 1)


async def test_a_full_pool_closes_an_idle_connection_to_serve_another_origin(
    serve: Any, make_client: Any
) -> None:
    first, second = await serve(answering(ok(b"1"))), await serve(answering(ok(b"2")))
    client, transport = make_client(httpx.Timeout(2.0, pool=0.1), max_connections=1)

    await client.get(first.url())
    reply = await client.get(second.url())

    assert reply.content == b"2"
    assert (transport.connection_count, transport.idle_count) == (1, 1)


async def test_waiting_requests_are_served_in_arrival_order(serve: Any, make_client: Any) -> None:
    paths: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            paths.append(request[0].split()[1])
            writer.write(ok())

    server = await serve(record)
    client, _ = make_client(max_connections=1)

    await asyncio.gather(*(client.get(server.url(f"/{i}")) for i in range(4)))

    assert paths == [b"/0", b"/1", b"/2", b"/3"]


async def test_pool_timeout_when_every_connection_is_busy(serve: Any, make_client: Any) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await until_client_closes(reader)

    server = await serve(hang)
    client, transport = make_client(httpx.Timeout(2.0, pool=0.05), max_connections=2)
    busy = [asyncio.create_task(client.get(server.url())) for _ in range(2)]
    await asyncio.sleep(0.05)

    with pytest.raises(httpx.PoolTimeout):
        await client.get(server.url())

    for task in busy:
        task.cancel()
    await asyncio.gather(*busy, return_exceptions=True)
    assert transport.connection_count == 0


async def test_a_stale_idle_connection_is_not_reused(serve: Any, make_client: Any) -> None:
    server = await serve(answering(ok(b"x"), close=True))  # closes silently after answering
    client, _ = make_client()

    await client.get(server.url())
    await asyncio.sleep(0.05)  # the server's FIN reaches the idle connection
    reply = await client.get(server.url())

    assert reply.content == b"x" and server.accepted == 2


async def test_an_idle_connection_past_keepalive_expiry_is_not_reused(
    serve: Any, make_client: Any
) -> None:
    server = await serve(answering(ok(b"x")))
    client, _ = make_client(keepalive_expiry=0.05)

    await client.get(server.url())
    await asyncio.sleep(0.1)
    await client.get(server.url())

    assert server.accepted == 2


# --- streaming and flow control -----------------------------------------------------------------


async def test_a_streamed_body_arrives_piece_by_piece(serve: Any, make_client: Any) -> None:
    release = asyncio.Event()

    async def two_parts(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\npart1\r\n")
        await release.wait()
        writer.write(b"5\r\npart2\r\n0\r\n\r\n")
        await until_client_closes(reader)

    server = await serve(two_parts)
    client, _ = make_client()

    async with client.stream("GET", server.url()) as reply:
        parts = reply.aiter_raw()
        first = await asyncio.wait_for(parts.__anext__(), 1)
        assert not release.is_set()
        release.set()
        rest = [part async for part in parts]

    assert (first, rest) == (b"part1", [b"part2"])


async def test_a_slow_consumer_pauses_the_socket_instead_of_buffering(
    serve: Any, make_client: Any
) -> None:
    size = 16 * 1024 * 1024

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        with contextlib.suppress(ConnectionError):
            for _ in range(size // 65536):
                writer.write(b"x" * 65536)
                await writer.drain()

    server = await serve(flood)
    client, transport = make_client()

    async with client.stream("GET", server.url()) as reply:
        parts = reply.aiter_raw()
        received = len(await parts.__anext__())
        await asyncio.sleep(0.3)  # a consumer busy elsewhere while the server keeps sending
        buffered = max(len(conn.buffer) for conn in transport._open)  # white-box: unread bytes
        async for part in parts:
            received += len(part)

    assert buffered <= 1024 * 1024
    assert received == size


# --- errors -------------------------------------------------------------------------------------


async def test_a_closed_port_is_a_connect_error(make_client: Any) -> None:
    client, transport = make_client()

    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{free_port()}/")

    assert transport.connection_count == 0


async def test_a_full_accept_queue_is_a_connect_timeout(make_client: Any) -> None:
    client, transport = make_client(httpx.Timeout(2.0, connect=0.2))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepts: once its queue is full, Linux drops new SYNs
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
        try:
            with pytest.raises(httpx.ConnectTimeout):
                await client.get(f"http://127.0.0.1:{listener.getsockname()[1]}/")
        except pytest.fail.Exception:
            pytest.skip("this kernel accepted the connection despite a full backlog")
        finally:
            for filler in fillers:
                filler.close()

    assert transport.connection_count == 0


async def test_a_server_that_never_answers_is_a_read_timeout(serve: Any, make_client: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await until_client_closes(reader)

    server = await serve(silent)
    client, transport = make_client(httpx.Timeout(2.0, read=0.1))

    with pytest.raises(httpx.ReadTimeout):
        await client.get(server.url())

    assert transport.connection_count == 0


@pytest.mark.parametrize(
    "answer",
    [
        b"HTCPCP/1.0 418 I'm a teapot\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["status-line", "status-code", "folding", "no-colon", "two-lengths", "chunk-size"],
)
async def test_a_malformed_answer_is_a_remote_protocol_error(
    serve: Any, lane: Lane, answer: bytes
) -> None:
    server = await serve(answering(answer))

    with pytest.raises(httpx.RemoteProtocolError):
        await lane.send(server.url())

    assert lane.pool.connection_count == 0


async def test_a_server_closing_before_answering_is_a_remote_protocol_error(
    serve: Any, lane: Lane
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    server = await serve(hang_up)

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await lane.send(server.url())

    assert lane.pool.connection_count == 0


async def test_a_server_closing_mid_body_is_a_remote_protocol_error(serve: Any, lane: Lane) -> None:
    server = await serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close=True))

    with pytest.raises(httpx.RemoteProtocolError):
        await lane.send(server.url())

    assert lane.pool.connection_count == 0


async def test_only_http_and_https_are_supported() -> None:
    transport = AsyncHTTP11Transport()

    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))


async def test_a_closed_transport_refuses_requests(serve: Any) -> None:
    server = await serve(answering(ok()))
    transport = AsyncHTTP11Transport()
    await transport.handle_async_request(httpx.Request("GET", server.url()))

    await transport.aclose()

    assert transport.connection_count == 0
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", server.url()))


# --- cancellation -------------------------------------------------------------------------------


def first_connection(special: Handler, later: Handler) -> Handler:
    """`special` serves the first connection; every later one is served by `later`."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await (special if connections == 1 else later)(reader, writer)

    return handle


def hanging_once(got_request: asyncio.Event, closed: asyncio.Event, first: bytes) -> Handler:
    """The first connection sends `first`, then waits for the client to close it; later ones
    answer normally."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(first)
        got_request.set()
        await until_client_closes(reader)
        closed.set()

    return first_connection(handle, answering(ok(b"after")))


@pytest.mark.parametrize(
    "first",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"],
    ids=["waiting-for-headers", "mid-body"],
)
async def test_a_cancelled_request_closes_its_connection_and_frees_its_slot(
    serve: Any, make_client: Any, first: bytes
) -> None:
    got_request, closed = asyncio.Event(), asyncio.Event()
    server = await serve(hanging_once(got_request, closed, first))
    client, transport = make_client(max_connections=1)

    async def read_everything() -> None:
        async with client.stream("GET", server.url()) as reply:
            async for _ in reply.aiter_raw():
                pass

    task = asyncio.create_task(read_everything())
    await asyncio.wait_for(got_request.wait(), 1)
    await asyncio.sleep(0.02)  # the client is now inside the transport, awaiting bytes
    task.cancel()

    await asyncio.wait_for(closed.wait(), 1)
    assert transport.connection_count == 0
    assert (await client.get(server.url())).content == b"after"


@pytest.mark.parametrize("when", ["while-waiting", "handed-a-slot", "handed-a-connection"])
async def test_a_cancelled_waiter_gives_back_what_it_was_handed(
    serve: Any, make_client: Any, when: str
) -> None:
    server = await serve(answering(ok(b"x")))
    client, transport = make_client(httpx.Timeout(2.0, pool=0.2), max_connections=1)
    holder = client.stream("GET", server.url())
    reply = await holder.__aenter__()  # holds the only connection
    waiter = asyncio.create_task(client.get(server.url()))
    await asyncio.sleep(0.02)

    if when == "handed-a-connection":
        await reply.aread()  # the body is complete: the connection passes to the waiter
    if when != "while-waiting":
        await holder.__aexit__(None, None, None)  # closed unread: its slot passes on
    waiter.cancel()  # before the waiter could run
    await asyncio.gather(waiter, return_exceptions=True)
    if when == "while-waiting":
        await holder.__aexit__(None, None, None)

    assert waiter.cancelled()
    assert (await client.get(server.url())).content == b"x"  # no slot leaked: no PoolTimeout
    assert transport.connection_count == 1
    assert server.accepted == (1 if when == "handed-a-connection" else 2)


# --- request bodies -----------------------------------------------------------------------------


def echo() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            head, body = request
            chunked = b"transfer-encoding: chunked" in head.lower()
            writer.write(ok(body, b"X-Chunked: %d\r\n" % chunked))

    return handle


@pytest.mark.parametrize("size", [256, 200_000], ids=["small", "large"])
async def test_a_post_body_is_sent_exactly(serve: Any, make_client: Any, size: int) -> None:
    server = await serve(echo())
    client, _ = make_client()
    body = bytes(range(256)) * (size // 256)

    reply = await client.post(server.url(), content=body)

    assert reply.content == body and reply.headers["x-chunked"] == "0"


async def test_a_streamed_request_body_is_sent_chunked(serve: Any, make_client: Any) -> None:
    server = await serve(echo())
    client, _ = make_client()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"ab", b"", b"cd" * 1000):
            yield part

    reply = await client.post(server.url(), content=parts())

    assert reply.content == b"ab" + b"cd" * 1000 and reply.headers["x-chunked"] == "1"


async def test_a_header_value_with_a_newline_is_refused(serve: Any, make_client: Any) -> None:
    server = await serve(echo())
    client, transport = make_client()
    request = client.build_request("GET", server.url())
    request.headers["X-Evil"] = "a\r\nX-Injected: 1"  # httpx itself lets this through

    with pytest.raises(httpx.LocalProtocolError):
        await client.send(request)

    assert transport.connection_count == 0


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    command += " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    args = [*command.split(), "-keyout", str(key), "-out", str(cert)]
    subprocess.run(args, check=True, capture_output=True)
    return cert, key


async def test_https_with_a_trusted_certificate(
    serve: Any, make_client: Any, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = await serve(answering(ok(b"secure")), tls)
    client, _ = make_client(ssl_context=ssl.create_default_context(cafile=str(cert)))

    replies = [await client.get(server.url(scheme="https")) for _ in range(2)]

    assert [r.content for r in replies] == [b"secure"] * 2 and server.accepted == 1


async def test_https_with_an_untrusted_certificate_is_a_connect_error(
    serve: Any, make_client: Any, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = await serve(answering(ok(b"secure")), tls)
    client, transport = make_client()

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await client.get(server.url(scheme="https"))

    assert transport.connection_count == 0


# --- prepared requests (send_prepared, head_prefix) --------------------------------------------


def test_head_prefix_is_the_head_httpx_would_send_without_its_length() -> None:
    from modelscope_inference.http11 import head_prefix, prefix_with_length

    url = httpx.URL("http://127.0.0.1:8080/v1/chat/completions")
    prefix = head_prefix("POST", url, {"Authorization": "Bearer t", "Accept": "application/json"})

    assert prefix_with_length(prefix, 2) == (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
        b"Authorization: Bearer t\r\nAccept: application/json\r\nContent-Length: 2\r\n\r\n"
    )


def test_head_prefix_refuses_a_header_value_with_a_line_break() -> None:
    from modelscope_inference.http11 import head_prefix

    with pytest.raises(httpx.LocalProtocolError):
        head_prefix("POST", httpx.URL("http://h/x"), {"X-Note": "a\r\nX-Injected: 1"})


async def test_send_prepared_sends_the_exact_bytes_and_pools_the_connection(
    serve: Callable[..., Awaitable[ScriptedServer]],
) -> None:
    from modelscope_inference.http11 import head_prefix

    seen: list[tuple[bytes, bytes]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            seen.append(request)
            writer.write(ok(request[1], b"X-Seen: yes\r\n"))
            await writer.drain()

    server = await serve(echo)
    url = httpx.URL(server.url("/v1/echo"))
    pool = AsyncHTTP11Transport()
    prefix = head_prefix("POST", url, {"Content-Type": "application/json"})

    answers = [
        await pool.send_prepared(url, b"POST", prefix, b'{"n": %d}' % i, {"read": 5.0})
        for i in range(3)
    ]

    assert [body for _, _, body in answers] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert all(status == 200 and (b"X-Seen", b"yes") in headers for status, headers, _ in answers)
    assert [body for _, body in seen] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert seen[0][0].startswith(b"POST /v1/echo HTTP/1.1\r\n")
    assert server.accepted == 1 and pool.idle_count == 1
    await pool.aclose()


async def test_send_prepared_times_out_and_frees_its_slot(
    serve: Callable[..., Awaitable[ScriptedServer]],
) -> None:
    from modelscope_inference.http11 import head_prefix

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await until_client_closes(reader)

    server = await serve(silent)
    url = httpx.URL(server.url("/slow"))
    pool = AsyncHTTP11Transport()

    with pytest.raises(httpx.ReadTimeout):
        await pool.send_prepared(url, b"POST", head_prefix("POST", url, {}), b"{}", {"read": 0.1})

    assert pool.connection_count == 0
    await pool.aclose()


# --- the prepared lane reads plain answers in the protocol ---------------------------------------


async def post_prepared(
    pool: AsyncHTTP11Transport, url: str, body: bytes = b"{}", read: float = 2.0
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    from modelscope_inference.http11 import head_prefix

    target = httpx.URL(url)
    prefix = head_prefix("POST", target, {})
    return await pool.send_prepared(target, b"POST", prefix, body, {"read": read, "pool": 2.0})


@pytest.fixture
async def prepared_pool() -> AsyncIterator[Callable[..., AsyncHTTP11Transport]]:
    pools: list[AsyncHTTP11Transport] = []

    def make(**limits: Any) -> AsyncHTTP11Transport:
        pools.append(AsyncHTTP11Transport(httpx.Limits(**limits)))
        return pools[-1]

    yield make
    for pool in pools:
        await pool.aclose()


@pytest.mark.parametrize(
    ("answer", "body", "kept"),
    [
        (ok(b"hello") + b"trailing garbage", b"hello", False),
        (ok(b"hello", b"Connection: close\r\n"), b"hello", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", b"x", False),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"hello",
            True,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"), b"final", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"", True),
    ],
    ids=["trailing-bytes", "connection-close", "http-1.0", "chunked", "interim-100", "204"],
)
async def test_send_prepared_reads_every_framing(
    serve: Any, prepared_pool: Any, answer: bytes, body: bytes, kept: bool
) -> None:
    server = await serve(answering(answer))
    pool = prepared_pool()

    status, _, content = await post_prepared(pool, server.url())

    assert content == body and status in (200, 204)
    assert pool.idle_count == (1 if kept else 0)
    assert pool.connection_count == pool.idle_count  # nothing left half-open


async def test_send_prepared_reads_an_answer_that_arrives_in_pieces(
    serve: Any, prepared_pool: Any
) -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            for piece in (b"HTTP/1.1 200 OK\r\nContent-", b"Length: 6\r\n\r\nab", b"cd", b"ef"):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.01)

    server = await serve(dribble)
    pool = prepared_pool()

    answers = [await post_prepared(pool, server.url()) for _ in range(2)]

    assert [content for _, _, content in answers] == [b"abcdef", b"abcdef"]
    assert server.accepted == 1


def threaded_echo_server(arrivals: list[tuple[bytes, float]]) -> tuple[socket.socket, int]:
    """A server in its own thread (so a blocked event loop does not stop it) that records when
    each request arrives and echoes its body."""
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))

    def serve_one(conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                arrivals.append((body, time.monotonic()))
                conn.sendall(ok(body))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, listener.getsockname()[1]


async def test_a_waiting_prepared_request_leaves_as_the_connection_frees_not_when_its_task_runs(
    prepared_pool: Any,
) -> None:
    """Under load the loop runs behind its sockets; the freed connection carries the next
    request at once (from the protocol), not after the work queued ahead of its task."""
    import time

    arrivals: list[tuple[bytes, float]] = []
    listener, port = threaded_echo_server(arrivals)
    pool = prepared_pool(max_connections=1)
    url = f"http://127.0.0.1:{port}/v1/x"
    answered_at = 0.0

    async def first_then_busy() -> bytes:
        nonlocal answered_at
        _, _, content = await post_prepared(pool, url, b"A")
        answered_at = time.monotonic()
        time.sleep(0.3)  # the loop is busy: no other task runs meanwhile
        return content

    try:
        results = await asyncio.gather(first_then_busy(), post_prepared(pool, url, b"B"))
    finally:
        listener.close()

    assert results[0] == b"A" and results[1][2] == b"B"
    arrived = dict(arrivals)
    assert arrived[b"B"] < answered_at + 0.1  # not after the 0.3 s the loop was busy


async def test_a_request_sent_at_hand_over_then_cancelled_does_not_leak_its_answer(
    serve: Any, prepared_pool: Any
) -> None:
    seen: list[bytes] = []

    async def echo_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            seen.append(request[1])
            await asyncio.sleep(0.05)
            writer.write(ok(request[1]))

    server = await serve(echo_slowly)
    pool = prepared_pool(max_connections=1)
    first = asyncio.create_task(post_prepared(pool, server.url(), b"A"))
    second = asyncio.create_task(post_prepared(pool, server.url(), b"B"))
    await asyncio.sleep(0.01)  # B waits for the only connection

    await first  # A's answer handed the connection over, with B's request written on it
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    _, _, third = await post_prepared(pool, server.url(), b"C")

    assert second.cancelled()
    assert third == b"C"  # B's answer, still on its way, went to nobody
    assert seen[:2] == [b"A", b"B"]
    assert pool.connection_count == 1 and server.accepted == 2


async def test_a_request_sent_at_hand_over_times_out_and_frees_its_slot(
    serve: Any, prepared_pool: Any
) -> None:
    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(ok(b"A"))
        await until_client_closes(reader)

    server = await serve(answer_once)
    pool = prepared_pool(max_connections=1)

    first, second = await asyncio.gather(
        post_prepared(pool, server.url(), b"A"),
        post_prepared(pool, server.url(), b"B", read=0.1),
        return_exceptions=True,
    )

    assert isinstance(first, tuple) and first[2] == b"A"
    assert isinstance(second, httpx.ReadTimeout)
    assert pool.connection_count == 0


async def test_an_answer_before_the_whole_request_left_ends_the_connection(
    serve: Any, prepared_pool: Any
) -> None:
    refused = asyncio.Event()

    async def refuse_early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the head only: the body is never read
        writer.write(ok(b"too large", status=b"413 Content Too Large"))
        await writer.drain()
        refused.set()
        await asyncio.sleep(1)

    server = await serve(first_connection(refuse_early, answering(ok(b"next"))))
    pool = prepared_pool()
    big = asyncio.create_task(post_prepared(pool, server.url(), b"x" * 20_000_000))
    await asyncio.wait_for(refused.wait(), 2)
    await asyncio.sleep(0.05)  # the 413 has reached the client; much of the body has not left

    _, _, after = await post_prepared(pool, server.url(), read=0.5)
    status, _, content = await big

    assert (status, content) == (413, b"too large")
    assert after == b"next"  # on a new connection: the first one still had our body to send
    assert server.accepted == 2


async def test_every_prepared_request_gets_its_own_answer_under_load(
    prepared_pool: Any,
) -> None:
    """A fast server and a busy loop: answers come back before their owners run, and freed
    connections are handed over again and again; no answer may reach another request."""
    import random
    import time

    arrivals: list[tuple[bytes, float]] = []
    listener, port = threaded_echo_server(arrivals)
    pool = prepared_pool(max_connections=3)
    url = f"http://127.0.0.1:{port}/v1/x"
    chance = random.Random(7)

    async def call(number: int) -> bytes:
        _, _, content = await post_prepared(pool, url, b"request %d" % number)
        if chance.random() < 0.3:
            time.sleep(0.002)  # the loop is busy while answers keep arriving
        return content

    try:
        answers = await asyncio.gather(*(call(n) for n in range(300)))
    finally:
        listener.close()

    assert answers == [b"request %d" % n for n in range(300)]
    assert len(arrivals) == 300  # each request sent once
