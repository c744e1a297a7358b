"""Async HTTP on aiohttp, behind httpx's types: one client per event loop, closed with its loop.

Why aiohttp: httpx's own async pool (httpcore) costs ~8 ms of CPU per request at 200 concurrent
calls, aiohttp's C parser and pool about a tenth of that (``bench/RESULTS.md``, "Choosing the
async transport"). The ``httpx-aiohttp`` package puts aiohttp under ``httpx.AsyncClient``, as
openai-python's ``DefaultAioHttpClient`` does, so the rest of the core sees only httpx.

What this module decides, and why:

- **Routing**: when a proxy could apply (``proxy=`` or a ``*_PROXY`` variable),
  :class:`httpx_aiohttp.HttpxAiohttpClient` routes every request with httpx's own
  ``trust_env`` rules (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), exactly
  as the sync ``httpx.Client`` does. Otherwise there is nothing to route, and non-streamed
  POSTs take :func:`post_bytes` straight on the aiohttp session (~100 µs less per call than
  building httpx requests and responses; bench: concurrency).
- **Certificates**: one ``ssl.SSLContext`` from ``httpx.create_ssl_context`` (``SSL_CERT_FILE``,
  ``SSL_CERT_DIR``, else certifi) serves the sync client and every loop's pool alike.
- **Stale keep-alive connections**: aiohttp resends idempotent requests whose reused
  connection turns out closed, but not POSTs. A server that closed an idle connection never saw
  the request, so :func:`post_bytes` and :func:`send` resend once when the connection was found
  closed while the request was written (aiohttp's "Cannot write to closing transport": the body
  never left) or the server closed it before a single byte of the answer
  (``aiohttp.ServerDisconnectedError``). A reset after the request was sent is not resent: the
  server may have acted on it (RFC 9112 §9.3.1.1).
- **TLS connections closed mid-answer**: aiohttp closes, rather than pools, a connection whose
  answer was not read to its end (a stream left early), and asyncio's TLS close then waits for
  the server's ``close_notify``. If the loop ends first, the socket under the TLS layer stays
  open until the GC reports it ("unclosed transport"). Before CPython 3.12.8/3.13.1 aiohttp
  offers ``enable_cleanup_closed`` for this (it aborts such sockets when the session closes,
  and every 2 s), so every session here is built with it on those versions
  (:func:`~modelscope_inference.aiohttp_sessions.connector_kwargs`), the proxy-routing client's
  too (:class:`~modelscope_inference.aiohttp_sessions.RoutingClient`).
- **Lifecycles**: an aiohttp session belongs to one loop. :class:`LoopPools` keeps one pool per
  running loop and closes it when the loop shuts down its async generators (``asyncio.run``,
  ``asyncio.Runner`` and pytest-asyncio all do), so a script that calls ``asyncio.run`` many
  times keeps a constant number of sockets.

Example:
    >>> pools = LoopPools(lambda: AsyncPool.build(ClientOptions(timeout=httpx.Timeout(60))))
    >>> pool = pools.current()  # inside a running loop
    >>> await pool.client.get("https://api-inference.modelscope.cn/v1/models")
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import urllib.request
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from modelscope_inference.redaction import redacted_dataclass_repr

if TYPE_CHECKING:
    import aiohttp

PROXY_SCHEMES = ("http", "https", "all")  # the getproxies() keys httpx reads (httpx._utils)


@dataclass(frozen=True)
class ClientOptions:
    """What both the sync client and every async pool are built from."""

    timeout: httpx.Timeout
    max_connections: int = 100
    keepalive_expiry: float = 5.0
    proxy: str | None = None
    ssl_context: ssl.SSLContext | None = None

    def limits(self) -> httpx.Limits:
        """httpx's limits for these options (every connection may stay alive)."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_connections,
            keepalive_expiry=self.keepalive_expiry,
        )

    def httpx_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by ``httpx.Client`` and ``httpx.AsyncClient``."""
        return {
            "timeout": self.timeout,
            "limits": self.limits(),
            "proxy": self.proxy,
            "verify": self.ssl_context if self.ssl_context is not None else True,
            # A redirect must never carry the token elsewhere: redirects are not followed.
            "follow_redirects": False,
        }


def proxy_may_apply(proxy: str | None) -> bool:
    """True when httpx could route a request through a proxy: ``proxy`` given, or a proxy
    variable set (read as httpx reads it, with ``urllib.request.getproxies``)."""
    if proxy:
        return True
    found = urllib.request.getproxies()
    return any(found.get(scheme) for scheme in PROXY_SCHEMES)


def aiohttp_timeout(timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
    """httpx's timeouts in aiohttp's terms (as ``httpx-aiohttp`` maps them): ``connect``
    covers waiting for a pooled connection, ``sock_connect`` the TCP/TLS handshake."""
    import aiohttp

    return aiohttp.ClientTimeout(
        total=None, connect=timeout.pool, sock_connect=timeout.connect, sock_read=timeout.read
    )


@dataclass
class AsyncPool:
    """The async HTTP of one event loop: an ``httpx.AsyncClient`` on aiohttp, and the aiohttp
    session itself when requests need no routing (see module docstring).

    Example:
        >>> pool = AsyncPool.build(options)
        >>> pool.session is None  # a proxy may apply: everything goes through pool.client
    """

    client: httpx.AsyncClient
    session: aiohttp.ClientSession | None
    closed: bool = field(default=False)

    @classmethod
    def build(cls, options: ClientOptions) -> AsyncPool:
        """A pool for the running loop (aiohttp binds its connector to it)."""
        import aiohttp
        import httpx_aiohttp

        from modelscope_inference.aiohttp_sessions import RoutingClient, connector_kwargs

        if proxy_may_apply(options.proxy):
            return cls(RoutingClient(**options.httpx_kwargs()), None)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                **connector_kwargs(
                    options.max_connections,
                    options.keepalive_expiry,
                    options.ssl_context if options.ssl_context is not None else True,
                )
            ),
            auto_decompress=False,  # httpx decodes the rare encoded answer, as on every path
            # No cookie jar, as on the prepared path before: nothing here needs cookies.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        transport = httpx_aiohttp.AiohttpTransport(client=session)
        kwargs = options.httpx_kwargs()
        del kwargs["proxy"], kwargs["verify"], kwargs["limits"]  # the session has them
        return cls(httpx.AsyncClient(transport=transport, **kwargs), session)

    async def aclose(self) -> None:
        """Close every connection of this pool (idempotent)."""
        if self.closed:
            return
        self.closed = True
        await self.client.aclose()  # closes the session under it too
        if self.session is not None and not self.session.closed:
            await self.session.close()


@dataclass
class _Entry:
    pool: AsyncPool
    watcher: AsyncGenerator[None, None]


class LoopPools:
    """One :class:`AsyncPool` per running event loop, each closed when its loop shuts down.

    An ``asyncio.run`` (or ``Runner``) ends with ``loop.shutdown_asyncgens()``; each pool is
    watched by a suspended async generator registered with its loop, whose ``finally`` closes
    the pool there, while the loop still runs. Loops that are closed without that step should
    call :meth:`aclose` first.

    Example:
        >>> pools = LoopPools(lambda: AsyncPool.build(options))
        >>> pools.current() is pools.current()  # same loop, same pool
        True
    """

    def __init__(self, build: Callable[[], AsyncPool]) -> None:
        self._build = build
        self._entries: dict[asyncio.AbstractEventLoop, _Entry] = {}
        self._lock = threading.Lock()

    def current(self) -> AsyncPool:
        """The running loop's pool, built on first use."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(loop)
        if entry is not None:
            return entry.pool
        with self._lock:
            self._forget_closed_loops()
            pool = self._build()
            self._entries[loop] = _Entry(pool, self._watch(loop, pool))
        return pool

    def _watch(
        self, loop: asyncio.AbstractEventLoop, pool: AsyncPool
    ) -> AsyncGenerator[None, None]:
        """A suspended async generator that ``loop`` closes at shutdown, closing ``pool``."""

        async def watcher() -> AsyncGenerator[None, None]:
            try:
                yield
            finally:
                if not pool.closed and not loop.is_closed():
                    self._release(loop, pool)
                    await pool.aclose()

        generator = watcher()
        # asend() calls the loop's firstiter hook, which adds the generator to the set the loop
        # closes in shutdown_asyncgens(); send(None) runs it to its yield (no await before it).
        with contextlib.suppress(StopIteration):
            generator.asend(None).send(None)
        return generator

    async def aclose(self) -> None:
        """Close the running loop's pool now (the next call opens a new one)."""
        entry = self._release(asyncio.get_running_loop())
        if entry is not None:
            await entry.pool.aclose()
            await entry.watcher.aclose()

    def close_idle(self) -> None:
        """Close the pools of loops that are not running (from sync code: ``close()``).

        A pool whose loop still runs in another thread is left to that loop.
        """
        with self._lock:
            entries = list(self._entries.items())
        for loop, entry in entries:
            if loop.is_closed() or loop.is_running():
                continue
            self._release(loop)
            loop.run_until_complete(entry.pool.aclose())
            loop.run_until_complete(entry.watcher.aclose())

    def _release(
        self, loop: asyncio.AbstractEventLoop, pool: AsyncPool | None = None
    ) -> _Entry | None:
        """Take ``loop``'s entry out (only if it still holds ``pool``, when given)."""
        with self._lock:
            entry = self._entries.get(loop)
            if entry is None or (pool is not None and entry.pool is not pool):
                return None
            return self._entries.pop(loop)

    def _forget_closed_loops(self) -> None:
        """Drop the pools of loops closed without ``shutdown_asyncgens`` (caller holds the
        lock). Their sockets can no longer be closed through the loop; the GC closes them."""
        for loop in [loop for loop in self._entries if loop.is_closed()]:
            entry = self._entries.pop(loop)
            entry.pool.closed = True
            _finish_without_loop(entry.watcher)

    def __len__(self) -> int:
        return len(self._entries)


def _finish_without_loop(generator: AsyncGenerator[None, None]) -> None:
    """Close a watcher whose pool is already marked closed (its ``finally`` awaits nothing), so
    the GC does not hand it to a closed loop's finalizer."""
    step = generator.aclose()
    with contextlib.suppress(StopIteration, RuntimeError):
        step.send(None)


# -- requests ----------------------------------------------------------------------------------


def disconnected_before_answer(exc: BaseException) -> bool:
    """True when the server cannot have acted on the request: the connection was found closed
    while the request was written, or closed before a byte of the answer. ``exc`` is aiohttp's
    error, or the httpx error ``httpx-aiohttp`` maps it to."""
    import aiohttp

    cause = exc if isinstance(exc, aiohttp.ClientError) else exc.__cause__
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return True
    # reference: aiohttp ClientRequest.write_bytes wraps the writer's own
    # ClientConnectionResetError ("Cannot write to closing transport") in a ClientOSError
    return isinstance(cause, aiohttp.ClientOSError) and isinstance(
        cause.__cause__, aiohttp.ClientConnectionResetError
    )


def is_timeout(exc: BaseException) -> bool:
    """True when ``exc`` (httpx's or aiohttp's) means time ran out. ``httpx-aiohttp`` maps every
    aiohttp connection error to ``httpx.ConnectTimeout``, so there the aiohttp cause decides."""
    if isinstance(exc, httpx.HTTPError):
        cause = exc.__cause__
        if cause is None or not _from_aiohttp(cause):
            return isinstance(exc, httpx.TimeoutException)
        exc = cause
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError))


def _from_aiohttp(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("aiohttp")


@dataclass(frozen=True, repr=False)
class RawAnswer:
    """A whole answer read by :func:`post_bytes`: status, raw headers and undecoded body.

    Its ``repr`` is redacted: the service may echo the token, and tracebacks print locals.
    """

    status: int
    raw_headers: tuple[tuple[bytes, bytes], ...]
    content: bytes

    __repr__ = redacted_dataclass_repr


async def post_bytes(
    session: aiohttp.ClientSession,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
) -> RawAnswer:
    """POST ``content`` on the aiohttp session and read the whole answer; a request the server
    cannot have seen (a stale connection) is resent once (module docstring). Failures are raised as
    httpx errors (``httpx.TimeoutException`` or ``httpx.NetworkError``) caused by aiohttp's."""
    import aiohttp

    try:
        try:
            return await _post_once(session, url, content, headers, timeout)
        except aiohttp.ClientError as exc:
            if not disconnected_before_answer(exc):
                raise
            return await _post_once(session, url, content, headers, timeout)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        raise _as_httpx_error(exc) from exc


def _as_httpx_error(exc: BaseException) -> httpx.TransportError:
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return httpx.TimeoutException(message)
    return httpx.NetworkError(message)


async def _post_once(
    session: aiohttp.ClientSession,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
) -> RawAnswer:
    async with session.post(
        url, data=content, headers=headers, timeout=timeout, allow_redirects=False
    ) as response:
        body = await response.read()
        return RawAnswer(response.status, response.raw_headers, body)


async def send(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool
) -> httpx.Response:
    """``client.send`` without redirects; resent once if the server cannot have seen it (a
    stale connection, module docstring)."""
    try:
        return await client.send(request, stream=stream, follow_redirects=False)
    except httpx.TransportError as exc:
        if not disconnected_before_answer(exc):
            raise
    return await client.send(request, stream=stream, follow_redirects=False)
