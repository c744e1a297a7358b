"""What the LLM and the embedding model share: the core client, built from their connection
fields and rebuilt after unpickling, and pickles without the token. Private."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelscope_inference.client import ModelScopeClient

if TYPE_CHECKING:
    from pydantic import SecretStr


class CoreClientMixin:
    """Mixed in before the LlamaIndex base class, so its ``__getstate__`` runs first."""

    if TYPE_CHECKING:
        api_key: SecretStr | None
        api_base: str | None
        timeout: float
        max_retries: int
        max_wait: float | None
        retry_deadline: float | None
        default_headers: dict[str, str] | None
        _client: ModelScopeClient | None

        def __getstate__(self) -> dict[Any, Any]: ...

    def _core(self) -> ModelScopeClient:
        """The core client, built on first use after unpickling (a pickle has no token)."""
        if self._client is None:
            self._client = ModelScopeClient.create(
                api_key=self.api_key.get_secret_value() if self.api_key else None,
                base_url=self.api_base,
                timeout=self.timeout,
                max_retries=self.max_retries,
                max_wait=self.max_wait,
                deadline=self.retry_deadline,
                default_headers=self.default_headers,
            )
        return self._client

    if not TYPE_CHECKING:

        def __getstate__(self) -> dict[Any, Any]:
            """A pickle carries no token (user-needs.md §D.27): unpickling reads
            ``MODELSCOPE_API_KEY``."""
            state = super().__getstate__()
            state["__dict__"] = {**state["__dict__"], "api_key": None}
            private = state.get("__pydantic_private__") or {}
            state["__pydantic_private__"] = {**private, "_client": None}
            return state
