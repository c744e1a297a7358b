"""LlamaIndex adapter for ModelScope API-Inference: ``ModelScopeLLM`` and ``ModelScopeEmbedding``.

Example:
    >>> from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
    >>> llm = ModelScopeLLM(model="Qwen/Qwen3-32B")  # token from MODELSCOPE_API_KEY
    >>> embed_model = ModelScopeEmbedding()
"""

from llama_index_modelscope.embeddings import ModelScopeEmbedding
from llama_index_modelscope.llms import ModelScopeLLM, ToolArgumentsError

__all__ = ["ModelScopeEmbedding", "ModelScopeLLM", "ToolArgumentsError"]
