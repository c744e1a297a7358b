"""LangChain integration for ModelScope API-Inference.

Example:
    >>> from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
    >>> ChatModelScope(model="Qwen/Qwen3-32B").invoke("hi").content  # MODELSCOPE_API_KEY set
"""

from langchain_modelscope.chat_models import ChatModelScope
from langchain_modelscope.embeddings import ModelScopeEmbeddings
from langchain_modelscope.images import ModelScopeImageTool

__all__ = ["ChatModelScope", "ModelScopeEmbeddings", "ModelScopeImageTool"]
