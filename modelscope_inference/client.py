"""The client factory: one call turns user options into a ready chat and embeddings client.

Both adapters build their connection through :meth:`ModelScopeClient.create`, so settings,
transport sharing, retry policy and quota tracking are decided in one place.

Example:
    >>> client = ModelScopeClient.create(api_key=None, base_url=None, max_retries=3)
    >>> client.quota_status("Qwen/Qwen3-32B")
    QuotaStatus(model='Qwen/Qwen3-32B', account_limit=None, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from modelscope_inference._lazy import errors
from modelscope_inference.chat import ChatClient
from modelscope_inference.embeddings import EmbeddingClient
from modelscope_inference.images import ImageClient
from modelscope_inference.limiter import ConcurrencyGate
from modelscope_inference.quota import (
    DEFAULT_PROBE_INTERVAL,
    QuotaStatus,
    QuotaTracker,
    check_probe_interval,
)
from modelscope_inference.retry import RetryPolicy
from modelscope_inference.settings import Settings
from modelscope_inference.transport import Transport, get_transport


@dataclass(frozen=True)
class ModelScopeClient:
    """Settings + shared transport + retry policy, with chat, embeddings and images on top.

    Example:
        >>> client = ModelScopeClient.create(api_key="ms-...", timeout=30)
        >>> client.chat.complete(request).content
    """

    settings: Settings
    transport: Transport
    policy: RetryPolicy
    chat: ChatClient
    embeddings: EmbeddingClient
    images: ImageClient

    @classmethod
    def create(
        cls,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_wait: float | None = None,
        deadline: float | None = None,
        preflight: bool = True,
        quota_probe_interval: float = DEFAULT_PROBE_INTERVAL,
        default_headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
        state: str | None = None,
        adaptive_concurrency: bool | None = None,
        max_concurrency: int | None = None,
    ) -> ModelScopeClient:
        """Resolve settings (raising :class:`ConfigurationError` early) and wire the parts.

        ``preflight`` refuses, without a request, a call to a quota scope known to be spent;
        ``quota_probe_interval`` is how many seconds such a refusal lasts before one call asks
        the service again (``0``: every call asks). See docs/quotas.md.

        ``state`` shares that quota state with other processes: ``sqlite:///path`` on one
        machine, ``redis://host:port/db`` across hosts; None reads ``MODELSCOPE_STATE``, else
        keeps it in this process (docs/state.md). A bad URL is a :class:`ConfigurationError`,
        an unreachable store a :class:`StateStoreError`, both here, before any request.
        ``adaptive_concurrency`` (default on; None reads ``MODELSCOPE_ADAPTIVE_CONCURRENCY``)
        limits the requests in flight per model to what the service's 429s allow, learned and
        shared in the process (and through ``state``'s store, across processes), never above
        ``max_concurrency`` (default 16); False sends every call at once, as before the
        limiter existed. See docs/concurrency.md.
        """
        probe_interval = _probe_interval(quota_probe_interval)
        settings = Settings.resolve(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_wait=max_wait,
            deadline=deadline,
            preflight=preflight,
            default_headers=default_headers,
            proxy=proxy,
            state=state,
        )
        transport = get_transport(
            settings, http_client=http_client, async_http_client=async_http_client
        )
        policy = policy or RetryPolicy(
            max_retries=settings.max_retries, max_wait=settings.max_wait, deadline=deadline
        )
        concurrency = ConcurrencyGate.create(
            settings.api_key,
            settings.base_url,
            enabled=adaptive_concurrency,
            max_concurrency=max_concurrency,
            timeout=settings.timeout,
            state=settings.state,
        )
        return cls(
            settings=settings,
            transport=transport,
            policy=policy,
            chat=ChatClient(
                transport,
                policy,
                preflight=preflight,
                probe_interval=probe_interval,
                concurrency=concurrency,
            ),
            embeddings=EmbeddingClient(
                transport,
                policy,
                preflight=preflight,
                probe_interval=probe_interval,
                concurrency=concurrency,
            ),
            images=ImageClient(
                transport,
                policy,
                preflight=preflight,
                probe_interval=probe_interval,
                concurrency=concurrency,
            ),
        )

    @property
    def quota(self) -> QuotaTracker:
        """The quota tracker shared by every client with this token and base URL.

        Example:
            >>> client.quota.status("Qwen/Qwen3-32B").known
            False
        """
        return self.transport.quota

    def quota_status(self, model: str | None = None) -> QuotaStatus:
        """The last-seen quota for the account (and ``model``), shared across instances."""
        return self.transport.quota.status(model)

    def forget_quota(self, model: str | None = None) -> None:
        """Forget what is known about the account's and ``model``'s quota (everything when
        ``model`` is None), refusals included: the next call asks the service.

        Example:
            >>> client.forget_quota("Qwen/Qwen3-32B")  # after buying credits
        """
        self.transport.quota.forget(model)

    def list_models(self) -> list[dict[str, Any]]:
        """The ids served by API-Inference (``GET /v1/models``; needs no valid token)."""
        data = self.transport.get("/models").data.get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    def close(self) -> None:
        """Close the connections this client's transport opened (shared with every instance
        of the same configuration; the next call reopens them). Never closes your own
        ``http_client``.

        Example:
            >>> with ModelScopeClient.create() as client:
            ...     client.list_models()
        """
        self.transport.close()

    async def aclose(self) -> None:
        """Close the running event loop's connections (and the sync ones); see :meth:`close`.

        Example:
            >>> async with ModelScopeClient.create() as client:
            ...     await client.chat.acomplete(request)
        """
        await self.transport.aclose()

    def __enter__(self) -> ModelScopeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> ModelScopeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"ModelScopeClient({self.settings!r})"


def _probe_interval(seconds: float) -> float:
    """``quota_probe_interval`` checked, as the library's :class:`ConfigurationError`."""
    try:
        return check_probe_interval(seconds)
    except (TypeError, ValueError) as exc:
        raise errors.ConfigurationError(str(exc)) from None
