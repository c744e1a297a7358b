"""Embeddings: raw strings in, float vectors out, in order, batched, with the same retry and quota.

``OpenAIEmbeddings`` pre-tokenises with tiktoken and sends token ids, and the SDK defaults to
base64; both break non-OpenAI servers (user-needs.md §B.19). Here the input is always a list of
strings and ``encoding_format`` is ``"float"``.

Example:
    >>> vectors = client.embeddings.embed(["a", "b"], model="Qwen/Qwen3-Embedding-0.6B")
    >>> len(vectors)
    2
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import httpx

from modelscope_inference._lazy import errors
from modelscope_inference.chat import GatedClient
from modelscope_inference.transport import JSONResponse

EMBEDDINGS_PATH = "/embeddings"
DEFAULT_BATCH_SIZE = 32


def batches(texts: Sequence[str], size: int) -> list[list[str]]:
    """Split ``texts`` into consecutive batches of at most ``size``."""
    if size < 1:
        raise errors.ConfigurationError(f"batch_size must be >= 1, got {size}.")
    return [list(texts[i : i + size]) for i in range(0, len(texts), size)]


def check_texts(texts: object) -> list[str]:
    """Refuse anything but a list of strings (token-id lists included), with a clear message."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise errors.ConfigurationError(
            "Embeddings take a list of strings; wrap a single text in []."
        )
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise errors.ConfigurationError(
            f"Embeddings take strings only; items {bad[:5]} are not (token ids are not accepted)."
        )
    return list(texts)


def _decode_vector(value: object) -> list[float] | None:
    if isinstance(value, list) and all(isinstance(x, (int, float)) for x in value):
        return [float(x) for x in value]
    if isinstance(value, str):  # a server that ignored encoding_format="float"
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            return None
        if len(raw) % 4:
            return None
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return None


def vectors_from_response(response: JSONResponse, model: str, expected: int) -> list[list[float]]:
    """The vectors of one answer, ordered by ``index``; every input must have one."""
    data = response.data.get("data")
    if not isinstance(data, list):
        raise _invalid(response, model, "no 'data' list")
    by_index: dict[int, list[float]] = {}
    for position, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise _invalid(response, model, "an item is not an object")
        raw_index = item.get("index")
        index = raw_index if isinstance(raw_index, int) else position
        vector = _decode_vector(item.get("embedding"))
        if vector is None:
            raise _invalid(response, model, f"item {index} has no usable embedding")
        by_index[index] = vector
    if sorted(by_index) != list(range(expected)):
        raise _invalid(response, model, f"expected {expected} vectors, got {len(by_index)}")
    return [by_index[i] for i in range(expected)]


def _invalid(response: JSONResponse, model: str, what: str) -> errors.InvalidResponseError:
    return errors.InvalidResponseError(
        f"ModelScope's embeddings answer could not be read ({what}; model {model!r}).",
        response=httpx.Response(
            response.status,
            headers=response.headers,
            request=httpx.Request("POST", EMBEDDINGS_PATH),
        ),
        body=response.data,
        model=model,
    )


def embedding_body(
    texts: list[str], model: str, dimensions: int | None, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The request body for one batch."""
    body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
    if dimensions is not None:
        body["dimensions"] = dimensions
    if extra:
        body.update(extra)
    return body


class EmbeddingClient(GatedClient):
    """Embeds text batches over a transport, with the shared retry policy and quota pre-flight.

    Example:
        >>> client.embeddings.embed(["hello"], model="Qwen/Qwen3-Embedding-0.6B")[0][:3]
    """

    def embed(
        self,
        texts: Sequence[str],
        *,
        model: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dimensions: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> list[list[float]]:
        """Vectors for ``texts``, in order; ``[]`` for no texts (and no request)."""
        vectors: list[list[float]] = []
        for batch in batches(check_texts(texts), batch_size):
            body = embedding_body(batch, model, dimensions, extra_body)
            with self._gate(model):
                reply = self.policy.call(
                    partial(self.transport.post, EMBEDDINGS_PATH, body, model=model)
                )
            vectors.extend(vectors_from_response(reply, model, len(batch)))
        return vectors

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        model: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dimensions: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> list[list[float]]:
        """Async twin of :meth:`embed`."""
        vectors: list[list[float]] = []
        for batch in batches(check_texts(texts), batch_size):
            body = embedding_body(batch, model, dimensions, extra_body)
            post = partial(self.transport.apost, EMBEDDINGS_PATH, body, model=model)
            with self._gate(model):
                reply = await self.policy.acall(post)
            vectors.extend(vectors_from_response(reply, model, len(batch)))
        return vectors
