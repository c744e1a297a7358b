"""The contenders, built against one base URL: ours, the raw SDK, and the peers.

Ours use their defaults. The peers are configured the way their docs show for an
OpenAI-compatible server (``api_key`` + ``base_url``); ``ChatOpenAI`` gets ``max_retries=0`` for
the speed cases (as in the issue), and its default for the quota cases. Imports are local, so a
missing package fails only the variants that need it.

Example:
    >>> llm = chat_modelscope(server.url(n=2000))
    >>> raw = openai_client(server.url(n=2000))
"""

from __future__ import annotations

import importlib
from typing import Any

import openai

from bench.servers import EMBEDDING_MODEL, MODEL

TOKEN = "ms-bench-0123456789"
MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web for a query.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query"],
        },
    },
}


def search(query: str, limit: int = 5) -> str:
    """Search the web for a query."""
    return f"{limit} results for {query}"


CONTENDER_MODULES = (
    "langchain_modelscope",
    "langchain_openai",
    "llama_index_modelscope",
    "llama_index.llms.openai_like",
    "llama_index.core.llms",
    "llama_index.core.tools",
)


def import_all() -> list[str]:
    """Import every contender's package now, in the calling thread, and name those missing.

    The quota cases build contenders in threads, and two threads importing one package at
    once can deadlock or see it half-initialised.
    """
    missing = []
    for name in CONTENDER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


# --- the raw SDK (the baseline) -------------------------------------------------------------


def openai_client(url: str, token: str = TOKEN, **kwargs: Any) -> openai.OpenAI:
    """The raw ``openai.OpenAI`` every ratio is taken against."""
    return openai.OpenAI(api_key=token, base_url=url, **kwargs)


def async_openai_client(url: str, token: str = TOKEN, **kwargs: Any) -> openai.AsyncOpenAI:
    """The raw ``openai.AsyncOpenAI`` (build it inside the loop that will use it)."""
    return openai.AsyncOpenAI(api_key=token, base_url=url, **kwargs)


# --- LangChain ------------------------------------------------------------------------------


def chat_modelscope(url: str, token: str = TOKEN, **kwargs: Any) -> Any:
    """Our LangChain chat model, with its defaults."""
    from langchain_modelscope import ChatModelScope

    return ChatModelScope(model=MODEL, api_key=token, base_url=url, **kwargs)


def chat_openai(url: str, token: str = TOKEN, **kwargs: Any) -> Any:
    """``langchain_openai.ChatOpenAI`` on the same server (``max_retries=0`` unless given)."""
    from langchain_openai import ChatOpenAI

    kwargs.setdefault("max_retries", 0)
    return ChatOpenAI(model=MODEL, api_key=token, base_url=url, **kwargs)


def modelscope_embeddings(url: str, token: str = TOKEN) -> Any:
    """Our LangChain embeddings, with their defaults."""
    from langchain_modelscope import ModelScopeEmbeddings

    return ModelScopeEmbeddings(model=EMBEDDING_MODEL, api_key=token, base_url=url)


def openai_embeddings(url: str, token: str = TOKEN) -> Any:
    """``OpenAIEmbeddings`` as it must be set for a non-OpenAI server: no tiktoken
    pre-tokenising (it sends token ids, and needs a download) and 32 texts per request."""
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=EMBEDDING_MODEL,
        api_key=token,
        base_url=url,
        check_embedding_ctx_length=False,
        chunk_size=32,
        max_retries=0,
    )


# --- LlamaIndex -----------------------------------------------------------------------------


def modelscope_llm(url: str, token: str = TOKEN, **kwargs: Any) -> Any:
    """Our LlamaIndex LLM, with its defaults."""
    from llama_index_modelscope import ModelScopeLLM

    return ModelScopeLLM(model=MODEL, api_key=token, api_base=url, **kwargs)


def openai_like(url: str, token: str = TOKEN, **kwargs: Any) -> Any:
    """``OpenAILike`` as its docs configure a chat server with tool calling."""
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=MODEL,
        api_key=token,
        api_base=url,
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=32_768,
        **kwargs,
    )


def modelscope_embedding(url: str, token: str = TOKEN) -> Any:
    """Our LlamaIndex embedding model, with its defaults."""
    from llama_index_modelscope import ModelScopeEmbedding

    return ModelScopeEmbedding(model_name=EMBEDDING_MODEL, api_key=token, api_base=url)


def li_messages() -> list[Any]:
    """:data:`MESSAGES` as LlamaIndex ``ChatMessage`` objects."""
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role=m["role"], content=m["content"]) for m in MESSAGES]


def li_tool() -> Any:
    """:func:`search` as a LlamaIndex ``FunctionTool``."""
    from llama_index.core.tools import FunctionTool

    return FunctionTool.from_defaults(fn=search)
