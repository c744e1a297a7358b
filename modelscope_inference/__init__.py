"""modelscope-inference: ModelScope API-Inference as a first-class LangChain/LlamaIndex provider.

This is the framework-free core. The adapters live in ``langchain_modelscope`` and
``llama_index_modelscope``.

Example:
    >>> from modelscope_inference import ModelScopeClient, ChatRequest
    >>> client = ModelScopeClient.create()  # token from MODELSCOPE_API_KEY
    >>> client.chat.complete(ChatRequest(model="Qwen/Qwen3-32B",
    ...                                  messages=[{"role": "user", "content": "hi"}])).content
"""

from modelscope_inference.catalog import ModelInfo, lookup
from modelscope_inference.chat import ChatDelta, ChatRequest, ChatResult, Usage
from modelscope_inference.client import ModelScopeClient
from modelscope_inference.errors import (
    AccountBindingError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    ModelNotSupportedError,
    ModelScopeError,
    QuotaExhaustedError,
    RateLimitError,
    ServiceUnavailableError,
    StreamInterruptedError,
    ThinkingModeError,
    ToolArgumentsError,
)
from modelscope_inference.quota import QuotaStatus
from modelscope_inference.retry import RetryPolicy
from modelscope_inference.settings import DEFAULT_BASE_URL, INTERNATIONAL_BASE_URL, Settings

__all__ = [
    "DEFAULT_BASE_URL",
    "INTERNATIONAL_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AccountBindingError",
    "AuthenticationError",
    "BadRequestError",
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "ConfigurationError",
    "InvalidResponseError",
    "ModelInfo",
    "ModelNotSupportedError",
    "ModelScopeClient",
    "ModelScopeError",
    "QuotaExhaustedError",
    "QuotaStatus",
    "RateLimitError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "Settings",
    "StreamInterruptedError",
    "ThinkingModeError",
    "ToolArgumentsError",
    "Usage",
    "lookup",
]
