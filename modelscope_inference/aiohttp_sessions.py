"""How every aiohttp session of ours is built (:func:`connector_kwargs`), and the async client
used when a proxy may apply: ``httpx_aiohttp.HttpxAiohttpClient`` (httpx's proxy routing,
aiohttp underneath) whose sessions are built the same way.

Imported on first use only: ``httpx_aiohttp`` imports aiohttp (~100 ms).
"""

from __future__ import annotations

import ssl
import sys
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

# reference: aiohttp.connector.NEEDS_CLEANUP_CLOSED, copied: aiohttp ignores the option (and
# warns) from CPython 3.12.8 and 3.13.1, where it counts the leak fixed (python/cpython#118960).
CLEANUP_CLOSED_TLS = sys.version_info < (3, 12, 8) or (3, 13, 0) <= sys.version_info < (3, 13, 1)


def connector_kwargs(
    limit: int, keepalive_timeout: float | None, ssl_option: ssl.SSLContext | bool
) -> dict[str, Any]:
    """``aiohttp.TCPConnector`` arguments; TLS sockets closed mid-answer are aborted when the
    session closes, where asyncio would leave them open (see :mod:`.async_http`)."""
    kwargs: dict[str, Any] = {
        "limit": limit,
        "keepalive_timeout": keepalive_timeout,
        "ssl": ssl_option,
    }
    if CLEANUP_CLOSED_TLS:
        kwargs["enable_cleanup_closed"] = True
    return kwargs


# httpx_aiohttp's own default when max_connections is None (AiohttpTransport.get_client)
_DEFAULT_LIMIT = 100


class RoutingClient(HttpxAiohttpClient):
    """``HttpxAiohttpClient`` whose transports build their session with
    :func:`connector_kwargs`: the ``TCPConnector`` that ``AiohttpTransport.get_client`` builds
    would leave TLS sockets closed mid-answer open when the loop ends (see
    :mod:`~modelscope_inference.async_http`).

    Example:
        >>> client = RoutingClient(proxy="http://proxy.example:3128")  # sessions made lazily
    """

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.AsyncBaseTransport:
        return _with_cleanup(super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> httpx.AsyncBaseTransport:
        return _with_cleanup(super()._init_proxy_transport(*args, **kwargs))


def _with_cleanup(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """``transport``, building its session with :func:`session_for` when it first sends (a
    session belongs to the loop it is made in)."""
    if isinstance(transport, AiohttpTransport) and transport.client is None:
        transport.client = lambda: session_for(transport)
    return transport


def session_for(transport: AiohttpTransport) -> aiohttp.ClientSession:
    """The session ``AiohttpTransport.get_client`` would build for ``transport`` (same limit,
    keep-alive and SSL context; its requests carry the proxy), plus :func:`connector_kwargs`."""
    limits = transport.limits
    limit = limits.max_connections if limits.max_connections is not None else _DEFAULT_LIMIT
    connector = aiohttp.TCPConnector(
        **connector_kwargs(limit, limits.keepalive_expiry, transport.ssl_context)
    )
    return aiohttp.ClientSession(connector=connector)
