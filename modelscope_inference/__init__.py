"""modelscope-inference: ModelScope API-Inference as a first-class LangChain/LlamaIndex provider.

This is the framework-free core. The adapters live in ``langchain_modelscope`` and
``llama_index_modelscope``.

Example:
    >>> from modelscope_inference import ModelScopeClient, ChatRequest
    >>> client = ModelScopeClient.create()  # token from MODELSCOPE_API_KEY
    >>> client.chat.complete(ChatRequest(model="Qwen/Qwen3-32B",
    ...                                  messages=[{"role": "user", "content": "hi"}])).content
"""

import importlib
from typing import TYPE_CHECKING, Any

from modelscope_inference.catalog import ModelInfo, lookup
from modelscope_inference.chat import ChatDelta, ChatRequest, ChatResult, Usage
from modelscope_inference.client import ModelScopeClient
from modelscope_inference.images import ImageRequest, ImageResult
from modelscope_inference.quota import QuotaStatus
from modelscope_inference.retry import RetryPolicy
from modelscope_inference.settings import DEFAULT_BASE_URL, INTERNATIONAL_BASE_URL, Settings

if TYPE_CHECKING:
    from modelscope_inference.errors import (
        AccountBindingError,
        AmbiguousRateLimitError,
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConcurrencyTimeoutError,
        ConfigurationError,
        EmbeddingBatchError,
        ImageParameterError,
        ImageTaskError,
        ImageTaskFailedError,
        ImageTaskNotFoundError,
        ImageTaskTimeoutError,
        InvalidResponseError,
        JSONSchemaUnsupportedError,
        ModelNotSupportedError,
        ModelRetiredError,
        ModelScopeError,
        QuotaExhaustedError,
        RateLimitError,
        RequestValidationError,
        ServiceUnavailableError,
        StateStoreError,
        StreamInterruptedError,
        ThinkingModeError,
        ToolArgumentsError,
    )

__all__ = [
    "DEFAULT_BASE_URL",
    "INTERNATIONAL_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AccountBindingError",
    "AmbiguousRateLimitError",
    "AuthenticationError",
    "BadRequestError",
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "ConcurrencyTimeoutError",
    "ConfigurationError",
    "EmbeddingBatchError",
    "ImageParameterError",
    "ImageRequest",
    "ImageResult",
    "ImageTaskError",
    "ImageTaskFailedError",
    "ImageTaskNotFoundError",
    "ImageTaskTimeoutError",
    "InvalidResponseError",
    "JSONSchemaUnsupportedError",
    "ModelInfo",
    "ModelNotSupportedError",
    "ModelRetiredError",
    "ModelScopeClient",
    "ModelScopeError",
    "QuotaExhaustedError",
    "QuotaStatus",
    "RateLimitError",
    "RequestValidationError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "Settings",
    "StateStoreError",
    "StreamInterruptedError",
    "ThinkingModeError",
    "ToolArgumentsError",
    "Usage",
    "lookup",
]


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all attribute

    def __getattr__(name: str) -> Any:
        """The error classes: the names of ``__all__`` not imported above, served from
        :mod:`modelscope_inference.errors` on first use (PEP 562). They subclass ``openai``'s
        exceptions, and importing ``openai`` would double the import time of the library."""
        if name in __all__:
            return getattr(importlib.import_module("modelscope_inference.errors"), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
