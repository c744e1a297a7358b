"""A small asyncio HTTP/1.1 transport for ``httpx`` with an O(1) keep-alive pool.

Why it exists: 200 concurrent async calls on a pool of 100 connections cost ~1 ms of client CPU
each, and took ~270 ms where the network allowed 100 ms. A profile put most of it in httpcore's
pool, which rescans every connection and polls each idle socket whenever a request starts or
ends, and in h11; ``httpx.AsyncClient.post`` itself costs ~70 µs. So this module replaces only
the pool and the wire: a LIFO stack of idle connections per origin, a FIFO queue of waiting
requests, and one small :class:`asyncio.Protocol` per socket. httpx's ``Request``/``Response``,
its timeouts (``request.extensions["timeout"]``) and its exception types stay as they were.

Prepared requests (:meth:`AsyncHTTP11Transport.send_prepared`, small JSON POSTs) go further:
the protocol reads a plain answer (a ``Content-Length`` body) as its bytes arrive, and a freed
connection carries the next waiting prepared request at once, before any task runs; anything
else in the answer (an interim 1xx, a chunked or unframed body, an error) is left to the
general reader.

Scope: ``http`` and ``https``, HTTP/1.1 (and 1.0 answers), no proxies, no HTTP/2. A request
on a reused connection that the server closes at that very moment fails (RemoteProtocolError)
rather than being retried, as with httpcore; the retry policy above decides.

Example:
    >>> transport = AsyncHTTP11Transport(httpx.Limits(max_connections=100))
    >>> async with httpx.AsyncClient(transport=transport) as client:
    ...     reply = await client.get("https://example.org/")
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, cast

import httpx

_Origin = tuple[bytes, bytes, int]  # (scheme, host, port)
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # (status, headers, body)
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_MAX_LINE = 64 * 1024  # a response head, or a chunk-size/trailer line, longer than this is refused
_PAUSE_ABOVE = 256 * 1024  # unread bytes at which the socket stops reading (a slow consumer)
_COALESCE_BELOW = 64 * 1024  # bodies smaller than this go out in the same write as the head
_UNTIL_CLOSE = -1  # body framings besides a Content-Length
_CHUNKED = -2
_CLOSED = "This AsyncHTTP11Transport was closed; create a new one to send requests."


class _Timeout(Exception):
    """Set on a waiter future when its deadline passes (TimeoutError would look like an OSError)."""


class _Exchange:
    """A prepared request on the wire. The protocol sets ``answer`` as the bytes complete it,
    releases the connection, and wakes the owner through ``future``; ``future`` gets None
    when the answer is left to the general reader."""

    __slots__ = ("answer", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[Answer | None] = loop.create_future()
        self.answer: Answer | None = None


class _Prepared:
    """A prepared request waiting for a connection; ``exchange`` is set if it was sent as a
    connection was handed over to it."""

    __slots__ = ("exchange", "method", "payload")

    def __init__(self, method: bytes, payload: bytes) -> None:
        self.method = method
        self.payload = payload
        self.exchange: _Exchange | None = None


def _answered(exchange: _Exchange | None) -> bool:
    """Whether the protocol read this answer, and so already released its connection."""
    return exchange is not None and exchange.answer is not None


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(_Timeout())


class _Connection(asyncio.Protocol):
    """One socket: buffers what arrives and wakes the one task waiting on it.

    A Protocol rather than asyncio streams: it skips a StreamReader's locks and copies.
    """

    transport: asyncio.Transport  # set by connection_made, before create_connection returns

    def __init__(
        self, origin: _Origin, loop: asyncio.AbstractEventLoop, pool: AsyncHTTP11Transport
    ) -> None:
        self.origin = origin
        self.loop = loop
        self.pool = pool
        self.buffer = bytearray()
        self.eof = False  # the peer closed, or the socket broke (then `error` says how)
        self.error: Exception | None = None
        self.expires_at: float | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self.pending: _Exchange | None = None  # a prepared request's answer, read here
        self._method = b""
        self._head: tuple[int, int, list[tuple[bytes, bytes]], int, bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a socket's: it has pause_reading

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.pending is not None:
            self._read_answer()  # the whole answer is kept, as its reader would keep it
        elif len(self.buffer) > _PAUSE_ABOVE and not self._reading_paused:
            self._reading_paused = True  # bounded memory for a slow consumer of a fast stream
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> None:
        self.eof = True  # returning None lets the transport close the socket
        self._leave_to_reader()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._leave_to_reader()
        self._wake()

    # -- prepared requests: the answer is read in the protocol --------------------------------

    def begin(self, method: bytes, payload: bytes) -> _Exchange:
        """Send a prepared request whose answer this protocol reads as it arrives.

        The answer then completes in ``data_received``, and a reusable connection goes back to
        the pool at once, where it may carry the next waiting request before any task runs:
        under load the event loop can be milliseconds behind its sockets (bench: concurrency).
        """
        self.write(payload)
        self._method = method
        self._head = None
        self.pending = _Exchange(self.loop)
        return self.pending

    async def answer(self, exchange: _Exchange, timeout: float | None) -> Answer | None:
        """The answer to :meth:`begin`'s request, the connection already released; or None:
        the answer is not a plain one (an interim 1xx, a chunked or unframed body, a malformed
        head, a closed socket) and is left in the buffer for the general reader."""
        future = exchange.future
        handle = None if timeout is None else self.loop.call_later(timeout, _expire, future)
        try:
            return await future
        except _Timeout:
            raise httpx.ReadTimeout("Timed out waiting for the response.") from None
        finally:
            if handle is not None:
                handle.cancel()

    def _read_answer(self) -> None:
        buffer = self.buffer
        exchange = self.pending
        if exchange is None or exchange.future.done():
            return  # timed out or cancelled: its owner closes the connection
        if self._head is None:
            end = _find_head_end(buffer)
            if end < 0:
                if len(buffer) > _MAX_LINE:
                    self._leave_to_reader()  # the general reader refuses it
                return
            try:
                version, status, _, headers = _parse_head(bytes(buffer[:end]))
                length, keep_alive = _body_framing(self._method, status, version, headers)
            except httpx.RemoteProtocolError:
                self._leave_to_reader()  # the general reader raises the same error
                return
            if status < 200 or length < 0:
                self._leave_to_reader()
                return
            self._head = (end, status, headers, length, keep_alive)
        end, status, headers, length, keep_alive = self._head
        if len(buffer) < end + length:
            return
        exchange.answer = (status, headers, bytes(buffer[end : end + length]))
        del buffer[: end + length]
        self.pending = None
        exchange.future.set_result(exchange.answer)
        # An answer that came before the whole request left (say a 413) ends the connection.
        if keep_alive and not buffer and not self.transport.get_write_buffer_size():
            self.pool._return(self)
        else:
            self.pool._discard(self)

    def _leave_to_reader(self) -> None:
        """Wake the owner at once, to read what is in the buffer the general way."""
        exchange, self.pending = self.pending, None
        if exchange is not None and not exchange.future.done():
            exchange.future.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until bytes arrive, the peer closes, or writing resumes; `_Timeout` after `timeout`."""
        if self._reading_paused:  # the consumer wants more, so the socket must read again
            self._reading_paused = False
            self.transport.resume_reading()
        waiter = self._waiter = self.loop.create_future()
        handle = None if timeout is None else self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    def write(self, data: bytes) -> None:
        if self.eof or self.transport.is_closing():
            raise httpx.WriteError("The connection was closed while the request was being sent.")
        self.transport.write(data)

    async def drain(self, timeout: float | None) -> None:
        """Wait while the kernel's send buffer is full, so a large body is not held in memory."""
        while self._writing_paused and not self.eof:
            try:
                await self.wait(timeout)
            except _Timeout:
                raise httpx.WriteTimeout("Timed out while sending the request.") from None
        if self.error is not None:
            raise httpx.WriteError(self.describe_error())

    def take(self, limit: int) -> bytes:
        """Consume up to `limit` buffered bytes (all of them when `limit` < 0)."""
        buffer = self.buffer
        if limit < 0 or limit >= len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:limit])
            del buffer[:limit]  # O(1): a bytearray drops its head by moving a start offset
        return data

    def is_fresh(self, now: float) -> bool:
        """Safe to reuse: open, silent while idle, and not past its keep-alive expiry."""
        expired = self.expires_at is not None and now >= self.expires_at
        return not (self.eof or self.buffer or expired)

    def describe_error(self) -> str:
        return str(self.error) or repr(self.error)

    def close(self) -> None:
        self.eof = True
        self._leave_to_reader()  # an owner still waiting reads the closed socket, and says so
        self.transport.close()


# A request waiting for a connection: its origin, what it is handed, and maybe its bytes.
_Waiter = tuple[_Origin, "asyncio.Future[_Connection | None]", "_Prepared | None"]


# --- the wire format (RFC 9112) -----------------------------------------------------------------


def _origin_of(url: httpx.URL) -> _Origin:
    scheme = url.raw_scheme
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None or not url.raw_host:
        raise httpx.UnsupportedProtocol(f"Only http:// and https:// URLs are supported: {url}")
    return scheme, url.raw_host, url.port or default_port


def _request_head(request: httpx.Request, streamed: bool) -> tuple[bytes, bool, bool]:
    """The request line and headers as httpx built them (with Host and Content-Length),
    whether the body goes chunked, and whether the request asks to close the connection."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    names = set()
    asks_close = False
    for name, value in request.headers.raw:  # one pass: Headers lookups cost ~2 µs each
        lowered = name.lower()
        names.add(lowered)
        if lowered == b"connection":
            asks_close = b"close" in value.lower()
        lines.append(b"%s: %s" % (name, value))
    if b"host" not in names:
        lines.insert(1, b"Host: " + request.url.netloc)
    chunked = streamed and b"content-length" not in names
    if chunked and b"transfer-encoding" not in names:
        lines.append(b"Transfer-Encoding: chunked")
    lines.append(b"\r\n")
    head = b"\r\n".join(lines)
    # One CR and one LF per line, or a header value smuggled in another header or request.
    if head.count(b"\n") != len(lines) or head.count(b"\r") != len(lines):
        raise httpx.LocalProtocolError("A request header contains a CR or LF character.")
    return head, chunked, asks_close


def head_prefix(method: str, url: httpx.URL, headers: Mapping[str, str]) -> bytes:
    r"""The request line and headers of a body-carrying request, built and checked once, to be
    completed per request by :func:`prefix_with_length` (see ``send_prepared``).

    Example:
        >>> head_prefix("POST", httpx.URL("http://h/v1/x"), {"Accept": "application/json"})
        b'POST /v1/x HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\n'
    """
    template = httpx.Request(method, url, headers=headers)
    head, _, _ = _request_head(template, streamed=False)
    lines = head.split(b"\r\n")[:-2]  # without the closing blank line
    kept = [line for line in lines if not line.lower().startswith(b"content-length:")]
    return b"\r\n".join(kept) + b"\r\n"


def prefix_with_length(prefix: bytes, length: int) -> bytes:
    """A :func:`head_prefix` completed with the body's length and the blank line."""
    return b"%sContent-Length: %d\r\n\r\n" % (prefix, length)


def _find_head_end(buffer: bytearray) -> int:
    """The index just past the blank line ending a head, or -1; bare LF is tolerated, as h11."""
    end = buffer.find(b"\r\n\r\n")
    bare = buffer.find(b"\n\n", 0, end if end >= 0 else len(buffer))
    if bare >= 0:
        return bare + 2
    return end + 4 if end >= 0 else -1


def _parse_head(block: bytes) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    """(version, status, reason, headers) of a response head; raises on anything malformed."""
    lines = block.rstrip(b"\r\n").split(b"\n")
    status_line = lines[0].rstrip(b"\r")
    version, _, rest = status_line.partition(b" ")
    code, _, reason = rest.partition(b" ")  # the reason phrase is optional
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise httpx.RemoteProtocolError(f"Malformed status line: {status_line[:100]!r}.")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        # a name starting with whitespace is obsolete line folding (RFC 9112 §5.2): refused
        if not colon or not name or name[0] in b" \t" or name[-1] in b" \t":
            raise httpx.RemoteProtocolError(f"Malformed header line: {line[:100]!r}.")
        headers.append((name, value.strip(b" \t")))
    return version, int(code), reason.strip(), headers


def _body_framing(
    method: bytes, status: int, version: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bool]:
    """(Content-Length, or _CHUNKED / _UNTIL_CLOSE) and whether the server keeps the connection.

    reference: RFC 9112 §6.3 (message body length) and §9.3 (persistence).
    """
    length: int | None = None
    transfer_coding: bytes | None = None
    tokens = b""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                raise httpx.RemoteProtocolError(f"Invalid Content-Length: {value[:40]!r}.")
            length = int(value)
        elif lowered == b"transfer-encoding":
            transfer_coding = value.rsplit(b",", 1)[-1].strip().lower()
        elif lowered == b"connection":
            tokens += b"," + value.lower()
    keep_alive = b"close" not in tokens and (version == b"HTTP/1.1" or b"keep-alive" in tokens)
    if method == b"HEAD" or status in (204, 304) or status < 200:
        return 0, keep_alive and status != 101
    if transfer_coding is not None:
        return (_CHUNKED, keep_alive) if transfer_coding == b"chunked" else (_UNTIL_CLOSE, False)
    if length is not None:
        return length, keep_alive
    return _UNTIL_CLOSE, False


def _chunk_size(line: bytes) -> int:
    token = line.split(b";", 1)[0].strip()  # ";..." is a chunk extension: ignored
    if not token or token.strip(b"0123456789abcdefABCDEF"):
        raise httpx.RemoteProtocolError(f"Malformed chunk size line: {line[:100]!r}.")
    return int(token, 16)


class _ChunkedDecoder:
    """Decodes ``Transfer-Encoding: chunked`` from a buffer as bytes arrive (RFC 9112 §7.1)."""

    def __init__(self) -> None:
        self.done = False
        self._remaining = 0  # data bytes left in the current chunk
        self._after_data = False  # the CRLF ending a chunk's data is due
        self._in_trailers = False

    def decode(self, buffer: bytearray) -> bytes:
        """Consume everything decodable from `buffer`; return the body bytes it held."""
        out = []
        while not self.done:
            if self._remaining:
                if not buffer:
                    break
                piece = bytes(buffer[: self._remaining])
                del buffer[: len(piece)]
                self._remaining -= len(piece)
                self._after_data = not self._remaining
                out.append(piece)
                continue
            line = self._next_line(buffer)
            if line is None:
                break
            if self._after_data:
                if line:
                    raise httpx.RemoteProtocolError("Chunk data is not followed by CRLF.")
                self._after_data = False
            elif self._in_trailers:
                self.done = not line  # trailer fields are read and dropped, as httpcore does
            else:
                self._remaining = _chunk_size(line)
                self._in_trailers = not self._remaining
        return b"".join(out)

    @staticmethod
    def _next_line(buffer: bytearray) -> bytes | None:
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > _MAX_LINE:
                raise httpx.RemoteProtocolError("A chunk-size or trailer line is too long.")
            return None
        line = bytes(buffer[:end]).rstrip(b"\r")
        del buffer[: end + 1]
        return line


async def _send_request(conn: _Connection, request: httpx.Request, timeout: float | None) -> bool:
    """Write the request; return whether it asked the server to close the connection."""
    try:
        body: bytes | None = request.content
    except httpx.RequestNotRead:  # a streamed body: an async iterator
        body = None
    head, chunked, asks_close = _request_head(request, streamed=body is None)
    if body is not None:
        if len(body) < _COALESCE_BELOW:
            conn.write(head + body)  # one write, one packet for the usual small JSON body
        else:
            conn.write(head)
            conn.write(body)
        await conn.drain(timeout)
        return asks_close
    if not isinstance(request.stream, httpx.AsyncByteStream):
        raise RuntimeError("Attempted to send a sync request with an AsyncHTTP11Transport.")
    conn.write(head)
    async for part in request.stream:
        if part:
            conn.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await conn.drain(timeout)
    if chunked:
        conn.write(b"0\r\n\r\n")
    await conn.drain(timeout)
    return asks_close


async def _read_head_block(conn: _Connection, timeout: float | None) -> bytes:
    buffer = conn.buffer
    while True:
        end = _find_head_end(buffer) if buffer else -1
        if end >= 0:
            return conn.take(end)
        if len(buffer) > _MAX_LINE:
            raise httpx.RemoteProtocolError("The response head is too large.")
        if conn.eof:
            if conn.error is not None:
                raise httpx.ReadError(conn.describe_error())
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        try:
            await conn.wait(timeout)
        except _Timeout:
            raise httpx.ReadTimeout("Timed out waiting for the response.") from None


# --- the response body ---------------------------------------------------------------------------


class _ResponseStream(httpx.AsyncByteStream):
    """The body as it arrives; the connection goes back to the pool the moment it is complete."""

    def __init__(
        self,
        pool: AsyncHTTP11Transport,
        conn: _Connection,
        length: int,
        reusable: bool,
        timeout: float | None,
    ) -> None:
        self._pool: AsyncHTTP11Transport | None = pool
        self._conn = conn
        self._remaining = length
        self._reusable = reusable
        self._timeout = timeout
        self._chunked = _ChunkedDecoder() if length == _CHUNKED else None
        self._complete = False
        if length == 0:
            self._complete_with(b"")  # no body (HEAD, 204, 304): pooled at once

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._complete:
            raise StopAsyncIteration
        if self._pool is None:
            raise httpx.StreamClosed()
        try:
            piece = await self._next_piece()
        except BaseException:
            self._release(reusable=False)
            raise
        if not piece:
            raise StopAsyncIteration
        return piece

    async def _next_piece(self) -> bytes:
        conn = self._conn
        while True:
            if self._chunked is not None:
                piece = self._chunked.decode(conn.buffer)
                if self._chunked.done:
                    return self._complete_with(piece)
            else:
                piece = conn.take(self._remaining)
                if self._remaining > 0:
                    self._remaining -= len(piece)
                    if not self._remaining:
                        return self._complete_with(piece)
            if piece:
                return piece  # yielded at once: this is what carries a token stream
            if conn.eof:
                if self._remaining == _UNTIL_CLOSE and conn.error is None:
                    return self._complete_with(b"")
                if conn.error is not None:
                    raise httpx.ReadError(conn.describe_error())
                raise httpx.RemoteProtocolError("Server disconnected in the middle of the body.")
            try:
                await conn.wait(self._timeout)
            except _Timeout:
                raise httpx.ReadTimeout("Timed out reading the response body.") from None

    def _complete_with(self, piece: bytes) -> bytes:
        """Hand the connection back before the caller sees the last bytes (no aclose needed)."""
        self._complete = True
        self._release(self._reusable)
        return piece

    def _release(self, reusable: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            conn = self._conn
            if reusable and not conn.buffer and not conn.eof:
                pool._return(conn)
            else:
                pool._discard(conn)

    async def aclose(self) -> None:
        self._release(reusable=False)  # a no-op once the body was read: it is already pooled


# --- the pool ------------------------------------------------------------------------------------


class AsyncHTTP11Transport(httpx.AsyncBaseTransport):
    """An ``httpx`` async transport: HTTP/1.1 over asyncio sockets with an O(1) keep-alive pool.

    Per origin a LIFO stack of idle connections; at ``max_connections`` requests wait in FIFO
    order, each up to its pool timeout (``httpx.PoolTimeout``). A connection that expired or
    that the server closed is dropped, never reused; one in an unknown state (an error, a
    cancelled task, an unread body) is closed.

    Example:
        >>> transport = AsyncHTTP11Transport(httpx.Limits(max_connections=100))
        >>> client = httpx.AsyncClient(transport=transport, base_url="https://example.org")
    """

    def __init__(
        self, limits: httpx.Limits = _DEFAULT_LIMITS, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._max = limits.max_connections or sys.maxsize
        keepalive = limits.max_keepalive_connections
        self._max_idle = self._max if keepalive is None else keepalive
        self._expiry = limits.keepalive_expiry
        self._ssl = ssl_context or httpx.create_ssl_context()  # once: building one takes ms
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._idle_total = 0
        self._total = 0  # slots taken: connections open, connecting, or handed to a waiter
        self._waiters: deque[_Waiter] = deque()
        self._open: set[_Connection] = set()
        self._closed = False

    @property
    def connection_count(self) -> int:
        """Connections open or being opened (idle ones included)."""
        return self._total

    @property
    def idle_count(self) -> int:
        """Connections waiting in the pool for a request."""
        return self._idle_total

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        status, headers, stream, extensions = await self._exchange(
            _origin_of(request.url),
            request.method.encode(),
            lambda conn: _send_request(conn, request, timeouts.get("write")),
            timeouts,
        )
        return httpx.Response(status, headers=headers, stream=stream, extensions=extensions)

    async def send_prepared(
        self, url: httpx.URL, method: bytes, head: bytes, body: bytes, timeouts: Mapping[str, Any]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """A request whose head the caller built once with :func:`head_prefix`, answered in full:
        ``(status, headers, body)``; the body as sent (content-encoded if the server chose).

        The hot path of small JSON calls: no ``httpx.Request`` or ``Response`` is built (a
        quarter of a call's CPU before the request leaves). Raises what
        :meth:`handle_async_request` raises, without a ``request`` on the exception.

        Example:
            >>> prefix = head_prefix("POST", url, {"Content-Type": "application/json"})
            >>> await pool.send_prepared(url, b"POST", prefix, b"{}", {"read": 60.0})
        """
        payload = prefix_with_length(head, len(body)) + body
        origin = _origin_of(url)
        if self._closed:
            raise RuntimeError(_CLOSED)
        prepared = _Prepared(method, payload)
        conn = await self._acquire(origin, timeouts.get("pool"), prepared)
        # Sent already if the connection's previous user handed it over (see _return).
        exchange, asks_close = prepared.exchange, False
        try:
            if conn is None:
                conn = await self._connect(origin, timeouts.get("connect"))
            if exchange is None:
                try:
                    exchange = conn.begin(method, payload)
                except httpx.WriteError:
                    if not conn.buffer:  # else the server answered early (say 413): read that
                        raise
                    asks_close = True
            if exchange is not None:
                if exchange.answer is None:  # once answered, the connection is not ours
                    try:
                        await conn.drain(timeouts.get("write"))
                    except httpx.WriteError:
                        if not exchange.future.done():  # else answered early, or left to
                            raise  # the general reader below
                answer = await conn.answer(exchange, timeouts.get("read"))
                if answer is not None:
                    return answer
        except BaseException:
            if not _answered(exchange):  # else the connection is already someone else's
                self._discard(conn)
            raise
        return await self._read_whole(conn, method, asks_close, timeouts)

    async def _read_whole(
        self, conn: _Connection, method: bytes, asks_close: bool, timeouts: Mapping[str, Any]
    ) -> Answer:
        """The general reader, for an answer the protocol left in the buffer."""
        status, headers, stream, _ = await self._read_head(conn, method, asks_close, timeouts)
        try:
            content = b"".join([piece async for piece in stream])
        finally:
            await stream.aclose()
        return status, headers, content

    async def _exchange(
        self,
        origin: _Origin,
        method: bytes,
        send: Callable[[_Connection], Awaitable[bool]],
        timeouts: Mapping[str, Any],
    ) -> tuple[int, list[tuple[bytes, bytes]], _ResponseStream, dict[str, Any]]:
        """Send on a pooled connection and read the answer's head; the body is left to stream.
        ``send`` writes the request and says whether it asked to close the connection."""
        if self._closed:
            raise RuntimeError(_CLOSED)
        conn = await self._acquire(origin, timeouts.get("pool"))
        try:
            if conn is None:
                conn = await self._connect(origin, timeouts.get("connect"))
            try:
                asks_close = await send(conn)
            except httpx.WriteError:
                if not conn.buffer:  # else the server answered early (say 413): read that
                    raise
                asks_close = True
        except BaseException:  # cancelled or failed: the connection's state is unknown
            self._discard(conn)
            raise
        return await self._read_head(conn, method, asks_close, timeouts)

    async def _read_head(
        self, conn: _Connection, method: bytes, asks_close: bool, timeouts: Mapping[str, Any]
    ) -> tuple[int, list[tuple[bytes, bytes]], _ResponseStream, dict[str, Any]]:
        """The answer's head, and its body as a stream that pools the connection at its end."""
        try:
            version, status, reason, headers = await self._receive_head(conn, timeouts.get("read"))
            length, keep_alive = _body_framing(method, status, version, headers)
        except BaseException:  # cancelled or failed: the connection's state is unknown
            self._discard(conn)
            raise
        reusable = keep_alive and not asks_close
        stream = _ResponseStream(self, conn, length, reusable, timeouts.get("read"))
        return status, headers, stream, {"http_version": version, "reason_phrase": reason}

    async def _receive_head(
        self, conn: _Connection, timeout: float | None
    ) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
        while True:
            version, status, reason, headers = _parse_head(await _read_head_block(conn, timeout))
            if not 100 <= status < 200 or status == 101:
                return version, status, reason, headers
            # an interim answer (100 Continue, 103 Early Hints): the final one follows

    async def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        tls = scheme == b"https"
        loop = asyncio.get_running_loop()
        connecting = loop.create_connection(
            lambda: _Connection(origin, loop, self),
            host,
            port,
            ssl=self._ssl if tls else None,
            server_hostname=host if tls else None,
        )
        try:
            _, conn = await asyncio.wait_for(connecting, timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"Timed out connecting to {host}:{port}.") from None
        except OSError as exc:  # refused, unreachable, DNS, and ssl.SSLError (a subclass)
            raise httpx.ConnectError(f"Cannot connect to {host}:{port}: {exc}") from exc
        self._open.add(conn)
        return conn

    # -- slots: O(1) acquire and release ---------------------------------------------------------

    async def _acquire(
        self, origin: _Origin, timeout: float | None, prepared: _Prepared | None = None
    ) -> _Connection | None:
        """An idle connection to `origin`, or None: a slot to open a new one. A `prepared`
        request may be sent on the connection as it is handed over (see ``_return``)."""
        stack = self._idle.get(origin)
        while stack:
            conn = stack.pop()  # LIFO: the most recently used is the least likely to be stale
            self._idle_total -= 1
            if conn.is_fresh(conn.loop.time()):
                return conn
            self._discard(conn)
        if self._total < self._max:
            self._total += 1
            return None
        if self._idle_total and self._evict_idle():
            return None  # an idle connection to another origin gave us its slot
        return await self._wait_for_slot(origin, timeout, prepared)

    def _evict_idle(self) -> bool:
        for stack in self._idle.values():
            if stack:
                self._idle_total -= 1
                self._drop(stack.pop(0))
                return True
        return False

    async def _wait_for_slot(
        self, origin: _Origin, timeout: float | None, prepared: _Prepared | None
    ) -> _Connection | None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append((origin, waiter, prepared))
        handle = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            conn = await waiter
        except _Timeout:
            raise httpx.PoolTimeout("Timed out waiting for a connection from the pool.") from None
        except BaseException:
            # cancelled just after being handed a connection or a slot: pass it on
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                elif prepared is not None and prepared.exchange is not None:
                    if not _answered(prepared.exchange):
                        self._discard(handed)  # our request is on it: its answer is unread
                else:
                    self._return(handed)
            raise
        finally:
            if handle is not None:
                handle.cancel()
        sent = prepared is not None and prepared.exchange is not None
        if conn is not None and not sent and not conn.is_fresh(loop.time()):
            self._drop(conn)  # closed while handed over: keep its slot, open a new one
            return None
        return conn

    def _return(self, conn: _Connection) -> None:
        """Pool a connection whose exchange ended cleanly (or hand it to the first waiter)."""
        if self._closed:
            conn.close()
            return
        while self._waiters:
            origin, waiter, prepared = self._waiters.popleft()
            if waiter.done():
                continue  # timed out or cancelled
            if origin != conn.origin:
                self._drop(conn)  # its slot goes to a request for another origin
                waiter.set_result(None)
                return
            if prepared is not None and conn.is_fresh(conn.loop.time()):
                # Sent now, not when the waiting task next runs (see _Connection.begin).
                with contextlib.suppress(httpx.WriteError):  # its owner then sees the error
                    prepared.exchange = conn.begin(prepared.method, prepared.payload)
            waiter.set_result(conn)
            return
        if self._idle_total >= self._max_idle:
            self._discard(conn)
            return
        now = conn.loop.time()
        conn.expires_at = None if self._expiry is None else now + self._expiry
        stack = self._idle.setdefault(conn.origin, [])
        stack.append(conn)
        self._idle_total += 1
        if not stack[0].is_fresh(now):  # the oldest would never be popped while newer ones turn
            self._idle_total -= 1
            self._discard(stack.pop(0))

    def _discard(self, conn: _Connection | None) -> None:
        """Close `conn` (None: a connect that failed) and free its slot."""
        if conn is not None:
            self._drop(conn)
        if not self._closed:
            self._free_slot()

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    def _free_slot(self) -> None:
        while self._waiters:
            _, waiter, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight on: no barging
                return
        self._total -= 1

    async def aclose(self) -> None:
        """Close every connection; the transport refuses requests afterwards."""
        self._closed = True
        for conn in self._open:
            conn.close()
        self._open.clear()
        self._idle.clear()
        self._idle_total = self._total = 0
        while self._waiters:
            _, waiter, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError(_CLOSED))
        await asyncio.sleep(0)  # let the sockets' connection_lost callbacks run
