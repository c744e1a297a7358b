"""ModelScopeEmbeddings: strings in (never token ids), float vectors out, in order, batched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from lc_helpers import EMBEDDING

from langchain_modelscope import ModelScopeEmbeddings
from modelscope_inference import QuotaExhaustedError
from modelscope_inference.simulator import Simulator

Embed = Callable[..., ModelScopeEmbeddings]


def _embedding_bodies(sim: Simulator) -> list[dict[str, object]]:
    return [r.body for r in sim.requests if r.path.endswith("/embeddings")]


def test_documents_are_sent_as_strings_with_float_encoding(
    embeddings: Embed, sim: Simulator
) -> None:
    vectors = embeddings().embed_documents(["a", "b", "c"])

    [body] = _embedding_bodies(sim)
    assert body == {"model": EMBEDDING, "input": ["a", "b", "c"], "encoding_format": "float"}
    assert len(vectors) == 3
    assert all(isinstance(x, float) for v in vectors for x in v)


def test_batches_keep_the_order(embeddings: Embed, sim: Simulator) -> None:
    texts = [f"text number {i}" for i in range(5)]

    batched = embeddings(chunk_size=2).embed_documents(texts)
    single = [embeddings().embed_query(text) for text in texts]

    assert [b["input"] for b in _embedding_bodies(sim)[:3]] == [texts[:2], texts[2:4], texts[4:]]
    assert batched == single


def test_no_texts_means_no_request(embeddings: Embed, sim: Simulator) -> None:
    assert embeddings().embed_documents([]) == []
    assert _embedding_bodies(sim) == []


def test_dimensions_are_sent_when_set(embeddings: Embed, sim: Simulator) -> None:
    vector = embeddings(dimensions=256).embed_query("hello")

    assert len(vector) == 256
    assert _embedding_bodies(sim)[0]["dimensions"] == 256


async def test_async_embeddings_match_sync(embeddings: Embed) -> None:
    model = embeddings(batch_size=2)

    assert await model.aembed_documents(["x", "y", "z"]) == model.embed_documents(["x", "y", "z"])
    assert await model.aembed_query("x") == model.embed_query("x")


def test_spent_quota_fails_fast(embeddings: Embed, sim: Simulator) -> None:
    sim.set_quota(model_limits={EMBEDDING: 0})
    model = embeddings(max_retries=2)

    with pytest.raises(QuotaExhaustedError):
        model.embed_query("hello")
    assert len(_embedding_bodies(sim)) == 1
    assert model.quota_status.model_remaining == 0


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ModelScopeEmbeddings(api_key="ms-x", batch_size=0)


def test_a_progress_callback_hears_each_batch(embeddings: Embed, sim: Simulator) -> None:
    seen: list[tuple[int, int]] = []

    embeddings(
        chunk_size=2, progress=lambda done, total: seen.append((done, total))
    ).embed_documents(["a", "b", "c", "d", "e"])

    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_async_progress_reaches_the_total(embeddings: Embed, sim: Simulator) -> None:
    seen: list[tuple[int, int]] = []
    model = embeddings(chunk_size=2, progress=lambda done, total: seen.append((done, total)))

    asyncio.run(model.aembed_documents(["a", "b", "c", "d", "e"]))

    # Batches may end in any order; the count is cumulative either way.
    assert len(seen) == 3
    assert seen[-1] == (5, 5)
