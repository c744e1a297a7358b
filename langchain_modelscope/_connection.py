"""What the chat model and the embeddings share: the connection fields, the core client derived
from them (rebuilt when they change: assignment, ``model_copy``), deep copies, and keeping the
token out of errors and pickles. Private; no LangChain types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)
from typing_extensions import Self

from modelscope_inference import ModelScopeClient
from modelscope_inference._lazy import caught
from modelscope_inference.derived_client import DerivedClient, environment_token
from modelscope_inference.quota import DEFAULT_PROBE_INTERVAL

if TYPE_CHECKING:
    from modelscope_inference.errors import ConfigurationError


def configuration_error_in(exc: ValidationError) -> ConfigurationError | None:
    """The core's :class:`ConfigurationError` that pydantic wrapped, if that is all it holds.

    Pydantic turns any ``ValueError`` raised in a validator into a ``ValidationError``; callers
    should get the core's error (whose message names ``MODELSCOPE_API_KEY``) instead.
    """
    errors = exc.errors()
    if len(errors) != 1:
        return None
    cause = (errors[0].get("ctx") or {}).get("error")
    return cause if isinstance(cause, caught.ConfigurationError) else None


def environment_secret() -> SecretStr | None:
    """The environment's token as a ``SecretStr`` (LangChain's ``secret_from_env`` convention)."""
    return environment_token(SecretStr)


class ModelScopeConnection(DerivedClient, BaseModel):
    """The connection fields and the core client, shared by the chat model and the embeddings.

    The client is derived from the connection fields: built at construction (so a missing token
    fails there, with the core's :class:`ConfigurationError` rather than pydantic's wrapper),
    rebuilt, with the same checks, when a field is assigned or changed by ``model_copy``, and
    rebuilt on first use after unpickling, since pickles carry neither the token nor the HTTP
    clients. Rebuilding happens on change, never per call (the rules: :class:`DerivedClient`).

    Example:
        >>> other = llm.model_copy(update={"base_url": "https://api-inference.modelscope.ai/v1"})
        >>> other.invoke("hi")  # sent to the .ai endpoint
    """

    api_key: SecretStr | None = Field(default_factory=environment_secret)
    """The ModelScope token; by default read at construction from ``MODELSCOPE_API_KEY`` (then
    ``MODELSCOPE_SDK_TOKEN``). Never in dumps, ``repr`` or pickles."""
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("base_url", "api_base")
    )
    """The API root (also accepted as ``api_base``, LlamaIndex's name); None reads
    ``MODELSCOPE_BASE_URL``, then uses the ``.cn`` endpoint."""
    timeout: float | None = None
    """Seconds per HTTP request; None uses the core's default (60 s)."""
    max_retries: int = 2
    """Retries of transient failures (never of a spent quota or a started stream)."""
    max_wait: float | None = None
    """Longest single wait between retries, in seconds (a longer ``Retry-After`` is capped)."""
    retry_deadline: float | None = None
    """Total seconds one call may spend retrying; None: bounded by ``max_retries`` only."""
    default_headers: dict[str, str] | None = None
    proxy: str | None = None
    """An ``http://`` or ``https://`` proxy for sync and async calls alike; None follows
    ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``."""
    preflight: bool = True
    """Refuse, without a request, a call to a quota known to be spent (docs/quotas.md)."""
    quota_probe_interval: float = DEFAULT_PROBE_INTERVAL
    """Seconds a spent quota is refused locally before one call asks the service again
    (credits can come back within the day); 0 asks on every call."""
    state: str | None = None
    """Where quota state is shared across processes: ``sqlite:///path`` or
    ``redis://host:port/db``; None reads ``MODELSCOPE_STATE``, else this process only."""
    adaptive_concurrency: bool | None = None
    """Limit the requests in flight per model to what the service's 429s allow, learned and
    shared by every instance in the process; None reads ``MODELSCOPE_ADAPTIVE_CONCURRENCY``
    (on unless ``0``/``false``); False sends every call at once, as before."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """The most requests in flight per model the limiter may learn (default 16)."""
    http_client: httpx.Client | None = Field(default=None, exclude=True)
    """Your own ``httpx.Client``, for sync calls only (``invoke``, ``stream``)."""
    http_async_client: httpx.AsyncClient | None = Field(default=None, exclude=True)
    """Your own ``httpx.AsyncClient``, for async calls only (``ainvoke``, ``astream``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    secret_type: ClassVar[type[SecretStr]] = SecretStr
    handle_fields: ClassVar[tuple[str, ...]] = ("http_client", "http_async_client")

    _client: ModelScopeClient | None = PrivateAttr(default=None)

    if not TYPE_CHECKING:  # type checkers keep pydantic's typed __init__

        def __init__(self, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                cause = configuration_error_in(exc)
                if cause is None:
                    raise
                raise cause from None

    @model_validator(mode="after")
    def _build_modelscope_client(self) -> Self:
        """Resolve token and base URL now, so a missing token fails at construction."""
        self._connect()
        return self

    def _connect(self) -> None:
        """Build the client from the current fields; ``api_key=None`` shows the environment's
        token, so ``api_key`` always names the token that is sent."""
        if self.api_key is None:
            self.__dict__["api_key"] = environment_secret()  # not a change: no rebuild
        self._client = self._create_client()

    def _create_client(self) -> ModelScopeClient:
        return ModelScopeClient.create(
            api_key=self.api_key.get_secret_value() if self.api_key is not None else None,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_wait=self.max_wait,
            deadline=self.retry_deadline,
            preflight=self.preflight,
            quota_probe_interval=self.quota_probe_interval,
            state=self.state,
            default_headers=self.default_headers,
            proxy=self.proxy,
            http_client=self.http_client,
            async_http_client=self.http_async_client,
            adaptive_concurrency=self.adaptive_concurrency,
            max_concurrency=self.max_concurrency,
        )

    @property
    def _core(self) -> ModelScopeClient:
        """The core client (rebuilt after unpickling, which drops it)."""
        client = self._client  # one read: pydantic serves private attributes slowly (~2 µs)
        if client is None:
            client = self._client = self._create_client()
        return client

    def close(self) -> None:
        """Close the connections opened for this configuration (shared by every instance with
        the same token, URL and options; the next call reopens). Your own clients stay open.

        Example:
            >>> with ChatModelScope(model="Qwen/Qwen3-32B") as llm:
            ...     llm.invoke("hi")
        """
        self._core.close()

    async def aclose(self) -> None:
        """Close the running event loop's connections (and the sync ones); see :meth:`close`.

        Example:
            >>> async with ChatModelScope(model="Qwen/Qwen3-32B") as llm:
            ...     await llm.ainvoke("hi")
        """
        await self._core.aclose()

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """The pickle has no token: show the environment's, as at construction (the client is
        built on first use, so a missing token fails there)."""
        super().__setstate__(state)
        if self.api_key is None:
            self.__dict__["api_key"] = environment_secret()


ModelScopeConnection.connection_fields = frozenset(ModelScopeConnection.model_fields)
