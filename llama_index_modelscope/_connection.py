"""What the LLM and the embedding model share: the connection fields, the core client built
from them (and rebuilt after unpickling), and pickles without the token. Private."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr, SecretStr

from modelscope_inference.client import ModelScopeClient
from modelscope_inference.settings import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT


class CoreClientMixin(BaseModel):
    """Mixed in before the LlamaIndex base class, so its ``__getstate__`` runs first."""

    api_base: str | None = Field(
        default=None,
        description="API root; None reads MODELSCOPE_BASE_URL, else the .cn endpoint.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="ModelScope token; None reads MODELSCOPE_API_KEY. Never serialized.",
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

    _client: ModelScopeClient | None = PrivateAttr(default=None)

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
                default_headers=self.default_headers,
            )
        return client

    if not TYPE_CHECKING:

        def __getstate__(self) -> dict[Any, Any]:
            """A pickle carries no token (user-needs.md §D.27): unpickling reads
            ``MODELSCOPE_API_KEY``."""
            state = super().__getstate__()
            state["__dict__"] = {**state["__dict__"], "api_key": None}
            private = state.get("__pydantic_private__") or {}
            state["__pydantic_private__"] = {**private, "_client": None}
            return state
