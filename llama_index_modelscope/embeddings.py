"""ModelScope API-Inference embeddings for LlamaIndex: type conversion only.

Batching, float encoding, retries and quota live in the core's
:class:`~modelscope_inference.embeddings.EmbeddingClient`; this class maps LlamaIndex's
``BaseEmbedding`` hooks onto it.

Example:
    >>> from llama_index_modelscope import ModelScopeEmbedding
    >>> embed = ModelScopeEmbedding()  # Qwen/Qwen3-Embedding-0.6B, token from MODELSCOPE_API_KEY
    >>> len(embed.get_text_embedding("hello"))
    1024
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field

from llama_index_modelscope._connection import CoreClientMixin
from modelscope_inference.embeddings import DEFAULT_BATCH_SIZE, batch_size_for
from modelscope_inference.quota import QuotaStatus

DEFAULT_EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"


class ModelScopeEmbedding(CoreClientMixin, BaseEmbedding):
    """Text embeddings from ModelScope API-Inference, for indexes and retrievers.

    The token is read from ``api_key`` or ``MODELSCOPE_API_KEY`` and never serialized.

    Example:
        >>> embed = ModelScopeEmbedding(model_name="Qwen/Qwen3-Embedding-0.6B", embed_batch_size=16)
        >>> vectors = embed.get_text_embedding_batch(["a", "b", "c"])
    """

    model_name: str = Field(
        default=DEFAULT_EMBEDDING_MODEL, description="The ModelScope embedding model id."
    )
    embed_batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE,
        gt=0,
        le=2048,
        description="Texts per request; when not given, the model's from the catalog.",
    )
    dimensions: int | None = Field(
        default=None, gt=0, description="Output size, for models that support it."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra top-level request body fields."
    )

    # ``model`` as in LlamaIndex's OpenAIEmbedding.
    _ALIASES: ClassVar[Mapping[str, str]] = {"base_url": "api_base", "model": "model_name"}

    def __init__(self, **data: Any) -> None:
        """Validate the fields, then resolve the token and base URL, so a bad configuration
        raises :class:`ConfigurationError` here (pydantic would wrap it in a post-init hook)."""
        super().__init__(**data)
        if "embed_batch_size" not in data:
            # the catalog's size for this model; not a change of configuration: no rebuild
            self.__dict__["embed_batch_size"] = batch_size_for(self.model_name, None)
        self._connect()

    @classmethod
    def class_name(cls) -> str:
        return "ModelScopeEmbedding"

    @property
    def quota_status(self) -> QuotaStatus:
        """The last-seen daily quota for the account and this model."""
        return self._core().quota_status(self.model_name)

    def forget_quota(self) -> None:
        """Forget what is known about the account's and this model's quota, refusals
        included: the next call asks the service (after buying credits, say).

        Example:
            >>> embed_model.forget_quota()
        """
        self._core().forget_quota(self.model_name)

    def _options(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "batch_size": self.embed_batch_size,
            "dimensions": self.dimensions,
            "extra_body": self.additional_kwargs or None,
        }

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._core().embeddings.embed(texts, **self._options())

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._core().embeddings.aembed(texts, **self._options())

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._aget_text_embedding(query)
