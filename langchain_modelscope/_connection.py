"""What the chat model and the embeddings share: building the core client, and keeping the token
out of errors and pickles. Private; no LangChain types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from modelscope_inference import ConfigurationError, ModelScopeClient


def build_client(
    *,
    api_key: SecretStr | None,
    base_url: str | None,
    timeout: float | None,
    max_retries: int | None,
    default_headers: Mapping[str, str] | None,
    http_client: httpx.Client | None,
    http_async_client: httpx.AsyncClient | None,
) -> ModelScopeClient:
    """The core client for these options; raises :class:`ConfigurationError` without a token."""
    return ModelScopeClient.create(
        api_key=api_key.get_secret_value() if api_key is not None else None,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        default_headers=default_headers,
        http_client=http_client,
        async_http_client=http_async_client,
    )


def configuration_error_in(exc: ValidationError) -> ConfigurationError | None:
    """The core's :class:`ConfigurationError` that pydantic wrapped, if that is all it holds.

    Pydantic turns any ``ValueError`` raised in a validator into a ``ValidationError``; callers
    should get the core's error (whose message names ``MODELSCOPE_API_KEY``) instead.
    """
    errors = exc.errors()
    if len(errors) != 1:
        return None
    cause = (errors[0].get("ctx") or {}).get("error")
    return cause if isinstance(cause, ConfigurationError) else None


def picklable_state(state: dict[Any, Any], fields: Iterable[str]) -> dict[Any, Any]:
    """A pydantic ``__getstate__`` dict with ``fields`` (token, HTTP clients) set to None and the
    core client dropped: a pickle must not carry the token, and locks and sockets cannot be
    pickled. The unpickled object resolves the token from the environment when first used."""
    values = dict(state["__dict__"])
    for name in fields:
        values[name] = None
    private = dict(state.get("__pydantic_private__") or {})
    private["_client"] = None
    return {**state, "__dict__": values, "__pydantic_private__": private}
