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

import asyncio
import base64
import struct
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import httpx

from modelscope_inference import catalog
from modelscope_inference._lazy import errors
from modelscope_inference.chat import GatedClient
from modelscope_inference.redaction import redact
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
    if isinstance(value, list):
        try:  # in C: a check per item in Python cost ~0.4 s per 1,000 vectors of 1,024
            return array("d", value).tolist()  # numbers only: a str, None or list is refused
        except (TypeError, OverflowError):
            return None
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


Progress = Callable[[int, int], None]
"""A bulk call's progress callback: ``(texts_done, texts_total)`` after each batch."""


def batch_size_for(model: str, batch_size: int | None) -> int:
    """``batch_size`` when given, else the catalog's for ``model``, else the library default.

    Example:
        >>> batch_size_for("Qwen/Qwen3-Embedding-0.6B", None), batch_size_for("x/y", 8)
        (32, 8)
    """
    if batch_size is not None:
        return batch_size
    return catalog.lookup(model).embedding_batch or DEFAULT_BATCH_SIZE


@dataclass
class BulkResult:
    """What the batches of one call gave: a slot per text, and the failed batches' errors.
    Pure bookkeeping shared by :meth:`EmbeddingClient.embed` and its async twin."""

    total: int
    progress: Progress | None
    vectors: list[list[float] | None] = field(default_factory=list)
    failures: list[tuple[int, int, BaseException]] = field(default_factory=list)
    done: int = 0

    def __post_init__(self) -> None:
        self.vectors = [None] * self.total

    def succeeded(self, start: int, batch_vectors: list[list[float]]) -> None:
        self.vectors[start : start + len(batch_vectors)] = batch_vectors
        self.done += len(batch_vectors)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def failed(self, start: int, size: int, exc: BaseException) -> None:
        self.failures.append((start, size, exc))

    def result(self) -> list[list[float]]:
        """The vectors in order; the error when a batch failed (see :func:`_bulk_error`)."""
        if not self.failures:
            return cast(list[list[float]], self.vectors)
        self.failures.sort(key=lambda failure: failure[0])
        if self.done == 0:
            raise self.failures[0][2]  # nothing to salvage: the error as a single call raises it
        raise _bulk_error(self) from self.failures[0][2]


def _bulk_error(bulk: BulkResult) -> errors.EmbeddingBatchError:
    failed = [i for start, size, _ in bulk.failures for i in range(start, start + size)]
    first = bulk.failures[0][2]
    # redact: the first error's text may quote an answer that echoed the token
    return errors.EmbeddingBatchError(
        redact(
            f"{len(failed)} of {bulk.total} texts got no vector (indices {failed[:10]}"
            f"{'...' if len(failed) > 10 else ''}; first error: {type(first).__name__}: {first}). "
            "The others are in .vectors (None where failed); embed the texts at .failed_indices "
            "again once the cause is fixed."
        ),
        failed_indices=failed,
        vectors=bulk.vectors,
        errors=[exc for _, _, exc in bulk.failures],
    )


class EmbeddingClient(GatedClient):
    """Embeds text batches over a transport, with the shared retry policy, quota pre-flight
    and concurrency limit. Async batches run concurrently under the adaptive limiter (one at a
    time when it is turned off, as before it existed).

    Example:
        >>> client.embeddings.embed(["hello"], model="Qwen/Qwen3-Embedding-0.6B")[0][:3]
    """

    def embed(
        self,
        texts: Sequence[str],
        *,
        model: str,
        batch_size: int | None = None,
        dimensions: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> list[list[float]]:
        """Vectors for ``texts``, in order; ``[]`` for no texts (and no request). A failed
        batch stops the call (later ones would likely fail alike and cost quota); if earlier
        batches succeeded, :class:`EmbeddingBatchError` carries their vectors."""
        texts = check_texts(texts)
        bulk = BulkResult(len(texts), progress)
        start = 0
        for batch in batches(texts, batch_size_for(model, batch_size)):
            if bulk.failures:
                bulk.failed(start, len(batch), bulk.failures[0][2])
            else:
                self._embed_batch(bulk, start, batch, model, dimensions, extra_body)
            start += len(batch)
        return bulk.result()

    def _embed_batch(
        self,
        bulk: BulkResult,
        start: int,
        batch: list[str],
        model: str,
        dimensions: int | None,
        extra_body: Mapping[str, Any] | None,
    ) -> None:
        body = embedding_body(batch, model, dimensions, extra_body)
        post = partial(self.transport.post, EMBEDDINGS_PATH, body, model=model)
        try:
            with self._gate(model):
                reply = self.policy.call(self._limited(model, post))
            bulk.succeeded(start, vectors_from_response(reply, model, len(batch)))
        except Exception as exc:  # recorded; bulk.result() raises it
            bulk.failed(start, len(batch), exc)

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        model: str,
        batch_size: int | None = None,
        dimensions: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> list[list[float]]:
        """Async twin of :meth:`embed`; batches go concurrently when the limiter is on."""
        texts = check_texts(texts)
        bulk = BulkResult(len(texts), progress)
        jobs = []
        start = 0
        for batch in batches(texts, batch_size_for(model, batch_size)):
            job = self._aembed_batch(bulk, start, batch, model, dimensions, extra_body)
            start += len(batch)
            if self.concurrency.enabled:
                jobs.append(job)
            else:
                await job  # no limiter: one batch at a time, as before it existed
        if jobs:
            await asyncio.gather(*jobs)
        return bulk.result()

    async def _aembed_batch(
        self,
        bulk: BulkResult,
        start: int,
        batch: list[str],
        model: str,
        dimensions: int | None,
        extra_body: Mapping[str, Any] | None,
    ) -> None:
        if bulk.failures:  # an earlier batch failed: spend no more on this call
            bulk.failed(start, len(batch), bulk.failures[0][2])
            return
        body = embedding_body(batch, model, dimensions, extra_body)
        post = partial(self.transport.apost, EMBEDDINGS_PATH, body, model=model)
        try:
            with self._gate(model):
                reply = await self.policy.acall(self._alimited(model, post))
            bulk.succeeded(start, vectors_from_response(reply, model, len(batch)))
        except Exception as exc:  # recorded; bulk.result() raises it
            bulk.failed(start, len(batch), exc)
