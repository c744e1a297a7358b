"""LlamaIndex adapter for ModelScope API-Inference: ``ModelScopeLLM`` and ``ModelScopeEmbedding``.

Example:
    >>> from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
    >>> llm = ModelScopeLLM(model="Qwen/Qwen3-32B")  # token from MODELSCOPE_API_KEY
    >>> embed_model = ModelScopeEmbedding()
"""

from typing import TYPE_CHECKING, Any

from llama_index_modelscope.embeddings import ModelScopeEmbedding
from llama_index_modelscope.images import ModelScopeImageToolSpec
from llama_index_modelscope.llms import ModelScopeLLM
from modelscope_inference._lazy import errors

if TYPE_CHECKING:
    from modelscope_inference.errors import ToolArgumentsError

__all__ = ["ModelScopeEmbedding", "ModelScopeImageToolSpec", "ModelScopeLLM", "ToolArgumentsError"]


if not TYPE_CHECKING:  # type checkers see the import above, and no catch-all attribute

    def __getattr__(name: str) -> Any:
        """``ToolArgumentsError``, re-exported on first use (its module imports ``openai``)."""
        if name == "ToolArgumentsError":
            return errors.ToolArgumentsError
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
