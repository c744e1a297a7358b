"""What the LLM and the embedding model share: the connection fields, the core client derived
from them (rebuilt when they change: assignment, ``model_copy``, unpickling), deep copies, and
pickles without the token. Private."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from llama_index.core.bridge.pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)
from typing_extensions import Self

from modelscope_inference.client import ModelScopeClient
from modelscope_inference.derived_client import DerivedClient, environment_token
from modelscope_inference.quota import DEFAULT_PROBE_INTERVAL
from modelscope_inference.settings import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT


def _apply_aliases(values: dict[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """Move each alias (``base_url``) to its field (``api_base``); both, with different
    values, is an error."""
    for alias, name in aliases.items():
        if alias not in values:
            continue
        value = values.pop(alias)
        if values.get(name) not in (None, value):
            raise TypeError(
                f"Both {name}={values[name]!r} and {alias}={value!r} were given; they are the "
                "same option, pass one."
            )
        values[name] = value
    return values


def _environment_secret() -> SecretStr | None:
    """The environment's token (``MODELSCOPE_*`` only), resolved at construction, as
    LlamaIndex's own OpenAI classes resolve their key."""
    return environment_token(SecretStr)


class CoreClientMixin(DerivedClient, BaseModel):
    """Mixed in before the LlamaIndex base class, so its ``__getstate__`` runs first.

    The core client is derived from the connection fields: built at construction, rebuilt (with
    the same checks) when one is assigned or changed by ``model_copy``; never per call (the
    rules: :class:`DerivedClient`).

    Example:
        >>> other = llm.model_copy(update={"api_base": "https://api-inference.modelscope.ai/v1"})
        >>> other.complete("hi")  # sent to the .ai endpoint
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)  # the httpx clients
    secret_type: ClassVar[type[SecretStr]] = SecretStr
    handle_fields: ClassVar[tuple[str, ...]] = ("http_client", "async_http_client")

    api_base: str | None = Field(
        default=None,
        description="API root; None reads MODELSCOPE_BASE_URL, else the .cn endpoint.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="ModelScope token; None reads MODELSCOPE_API_KEY (then MODELSCOPE_SDK_TOKEN) "
        "at construction. Never serialized.",
    )
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0, description="Seconds per request.")
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0, description="Retries per call.")
    max_wait: float | None = Field(
        default=None, ge=0, description="Longest single wait between retries, in seconds."
    )
    retry_deadline: float | None = Field(
        default=None, gt=0, description="Total seconds one call may spend retrying."
    )
    default_headers: dict[str, str] | None = Field(
        default=None, description="Extra HTTP headers for every request."
    )
    proxy: str | None = Field(
        default=None,
        description="http(s) proxy for sync and async calls; None follows HTTPS_PROXY, "
        "HTTP_PROXY, ALL_PROXY and NO_PROXY.",
    )
    preflight: bool = Field(
        default=True,
        description="Refuse, without a request, a call to a quota known to be spent.",
    )
    quota_probe_interval: float = Field(
        default=DEFAULT_PROBE_INTERVAL,
        ge=0,
        description="Seconds a spent quota is refused locally before one call asks the service "
        "again (credits can come back within the day); 0 asks on every call.",
    )
    state: str | None = Field(
        default=None,
        description="Where quota state is shared across processes: sqlite:///path or "
        "redis://host:port/db; None reads MODELSCOPE_STATE, else this process only.",
    )
    adaptive_concurrency: bool | None = Field(
        default=None,
        description="Limit the requests in flight per model to what the service's 429s allow, "
        "learned and shared in the process; None reads MODELSCOPE_ADAPTIVE_CONCURRENCY (on "
        "unless 0/false); False sends every call at once, as before.",
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, description="Most requests in flight per model (default 16)."
    )
    http_client: httpx.Client | None = Field(
        default=None, exclude=True, description="Your own httpx.Client, for sync calls only."
    )
    async_http_client: httpx.AsyncClient | None = Field(
        default=None,
        exclude=True,
        description="Your own httpx.AsyncClient, for async calls only.",
    )

    _client: ModelScopeClient | None = PrivateAttr(default=None)
    _ALIASES: ClassVar[Mapping[str, str]] = {"base_url": "api_base"}
    """Other names accepted for fields (the openai SDK's and LangChain's)."""

    @model_validator(mode="before")
    @classmethod
    def _check_keywords(cls, values: Any) -> Any:
        """``base_url`` is an alias of ``api_base`` (the openai SDK's and LangChain's name); any
        other unknown keyword is an error, never silently dropped: a test suite that points
        ``base_url=`` at a local server must not send its traffic to the real service."""
        if not isinstance(values, dict):
            return values
        values = _apply_aliases(dict(values), cls._ALIASES)
        unknown = sorted(key for key in values if key not in cls.model_fields)
        if unknown:
            raise TypeError(
                f"{cls.__name__} got unexpected keyword argument(s) {', '.join(unknown)}. "
                "Extra request body fields go in additional_kwargs={...}; see "
                f"{cls.__name__}.model_fields for the options."
            )
        return values

    def _connect(self) -> None:
        """Build the client from the current fields; ``api_key=None`` shows the environment's
        token, so ``api_key`` always names the token that is sent."""
        if self.api_key is None:
            self.__dict__["api_key"] = _environment_secret()  # not a change: no rebuild
        self._client = None
        self._client = self._core()

    def _core(self) -> ModelScopeClient:
        """The core client, built on first use after unpickling (a pickle has no token)."""
        client = self._client  # one read: pydantic serves private attributes slowly (~2 µs)
        if client is None:
            client = self._client = ModelScopeClient.create(
                api_key=self.api_key.get_secret_value() if self.api_key else None,
                base_url=self.api_base,
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
                async_http_client=self.async_http_client,
                adaptive_concurrency=self.adaptive_concurrency,
                max_concurrency=self.max_concurrency,
            )
        return client

    def close(self) -> None:
        """Close the connections opened for this configuration (shared by every instance with
        the same token, URL and options; the next call reopens). Your own clients stay open.

        Example:
            >>> with ModelScopeLLM(model="Qwen/Qwen3-32B") as llm:
            ...     llm.complete("hi")
        """
        self._core().close()

    async def aclose(self) -> None:
        """Close the running event loop's connections (and the sync ones); see :meth:`close`.

        Example:
            >>> async with ModelScopeLLM(model="Qwen/Qwen3-32B") as llm:
            ...     await llm.acomplete("hi")
        """
        await self._core().aclose()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; changed connection fields (token, URL, retries, ...) get a client of their
        own, after the same checks as at construction.

        Example:
            >>> llm.model_copy(update={"api_key": "ms-other", "max_retries": 0})
        """
        update = _apply_aliases(dict(update), self._ALIASES) if update else None
        return super().model_copy(update=update, deep=deep)


CoreClientMixin.connection_fields = frozenset(CoreClientMixin.model_fields)
