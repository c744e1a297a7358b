"""The async client used when a proxy may apply: ``httpx_aiohttp.HttpxAiohttpClient`` (httpx's
proxy routing, aiohttp underneath), with its aiohttp sessions built by
:func:`~modelscope_inference.async_http.connector_kwargs`.

Imported on first use only: ``httpx_aiohttp`` imports aiohttp (~100 ms).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from modelscope_inference.async_http import connector_kwargs

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
