"""ModelScope API-Inference embeddings for LangChain: strings in, float vectors out.

Batching, order, ``encoding_format="float"``, retries and quota are the core's
(:class:`modelscope_inference.embeddings.EmbeddingClient`); this module only holds the options.
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.embeddings import Embeddings
from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
)

from langchain_modelscope._connection import ModelScopeConnection
from modelscope_inference import QuotaStatus

DEFAULT_EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"


class ModelScopeEmbeddings(ModelScopeConnection, Embeddings):
    """ModelScope API-Inference embedding models for LangChain.

    Setup:
        Set ``MODELSCOPE_API_KEY``; ``OPENAI_API_KEY`` is never read.

    Key init args:
        model: str
            An embedding model id (default ``Qwen/Qwen3-Embedding-0.6B``).
        batch_size: int
            Texts per request (also accepted as ``chunk_size``); order is kept.
        dimensions: int | None
            Output size, for models that support it.
        api_key, base_url, timeout, max_retries (default 2), default_headers, http_client,
        http_async_client: as for :class:`~langchain_modelscope.ChatModelScope`.

    Instantiate and embed:
        .. code-block:: python

            from langchain_modelscope import ModelScopeEmbeddings

            embeddings = ModelScopeEmbeddings()
            vectors = embeddings.embed_documents(["hello", "world"])
            query = embeddings.embed_query("hello")

    Texts are sent as strings (never token ids) with ``encoding_format="float"``; no tiktoken.
    Pickles carry no token: an unpickled object reads ``MODELSCOPE_API_KEY`` when first used.
    """

    model: str = DEFAULT_EMBEDDING_MODEL
    """The embedding model id."""
    batch_size: int | None = Field(
        default=None,
        ge=1,
        validation_alias=AliasChoices("batch_size", "chunk_size"),
    )
    """Texts per request (also accepted as ``chunk_size``); None: the model's from the catalog
    (32 for Qwen3-Embedding)."""
    dimensions: int | None = None
    """Vector size for models that can shorten their output; None for the model's own."""
    progress: Callable[[int, int], None] | None = Field(default=None, exclude=True)
    """Called with ``(texts_done, texts_total)`` after each batch of a bulk call, e.g. to
    move a progress bar: ``ModelScopeEmbeddings(progress=lambda d, t: print(d, "/", t))``."""

    model_config = ConfigDict(
        populate_by_name=True,
        arbitrary_types_allowed=True,
        extra="forbid",
        protected_namespaces=(),
    )

    @property
    def quota_status(self) -> QuotaStatus:
        """The daily quota the service last reported for this token and model."""
        return self._core.quota_status(self.model)

    def forget_quota(self) -> None:
        """Forget what is known about the account's and this model's quota, refusals
        included: the next call asks the service (after buying credits, say).

        Example:
            >>> embeddings.forget_quota()
        """
        self._core.forget_quota(self.model)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; ``[]`` (and no request) for no texts.

        Example:
            >>> ModelScopeEmbeddings().embed_documents(["a", "b"])
        """
        return self._core.embeddings.embed(
            texts,
            model=self.model,
            batch_size=self.batch_size,
            dimensions=self.dimensions,
            progress=self.progress,
        )

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents`."""
        return await self._core.embeddings.aembed(
            texts,
            model=self.model,
            batch_size=self.batch_size,
            dimensions=self.dimensions,
            progress=self.progress,
        )

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        return (await self.aembed_documents([text]))[0]
