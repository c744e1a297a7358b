"""ModelScopeEmbedding against the simulator: batching, order, async, errors, secrets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llama_index_modelscope import ModelScopeEmbedding
from modelscope_inference import ConfigurationError, QuotaExhaustedError
from modelscope_inference.simulator import Fault, Simulator

MakeEmbedding = Callable[..., ModelScopeEmbedding]
TEXTS = ["cats purr softly", "the stock market fell", "rain in Spain", "hello world", "tea"]


def embedding_requests(sim: Simulator) -> list[dict[str, object]]:
    return [r.body for r in sim.requests if r.path.endswith("/embeddings")]


def test_defaults_follow_the_catalog_and_llama_index_names(make_embedding: MakeEmbedding) -> None:
    embed = make_embedding()
    assert embed.model_name == "Qwen/Qwen3-Embedding-0.6B"
    assert ModelScopeEmbedding.class_name() == "ModelScopeEmbedding"
    assert len(embed.get_text_embedding("hello")) == 1024


def test_batch_sends_raw_strings_as_floats_in_batches_and_keeps_order(
    make_embedding: MakeEmbedding, sim: Simulator
) -> None:
    vectors = make_embedding(embed_batch_size=2).get_text_embedding_batch(TEXTS)
    bodies = embedding_requests(sim)
    assert [b["input"] for b in bodies] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:]]
    assert all(b["encoding_format"] == "float" for b in bodies)
    singles = [make_embedding().get_text_embedding(t) for t in TEXTS]
    assert vectors == singles


def test_query_embedding_is_one_request(make_embedding: MakeEmbedding, sim: Simulator) -> None:
    vector = make_embedding().get_query_embedding("what purrs?")
    assert len(vector) == 1024
    assert [b["input"] for b in embedding_requests(sim)] == [["what purrs?"]]


def test_dimensions_are_sent_only_when_set(make_embedding: MakeEmbedding, sim: Simulator) -> None:
    make_embedding().get_text_embedding("hi")
    assert len(make_embedding(dimensions=256).get_text_embedding("hi")) == 256
    first, second = embedding_requests(sim)
    assert "dimensions" not in first
    assert second["dimensions"] == 256


async def test_async_twins(make_embedding: MakeEmbedding, sim: Simulator) -> None:
    embed = make_embedding(embed_batch_size=3)
    batch = await embed.aget_text_embedding_batch(TEXTS)
    query = await embed.aget_query_embedding(TEXTS[0])
    text = await embed.aget_text_embedding(TEXTS[1])
    assert (batch[0], batch[1]) == (query, text)
    assert len(embedding_requests(sim)) == 4


def test_transient_errors_are_retried(make_embedding: MakeEmbedding, sim: Simulator) -> None:
    sim.inject(Fault.server_error(502))
    assert make_embedding(max_retries=1).get_text_embedding("hi")
    assert len(embedding_requests(sim)) == 2


def test_quota_exhaustion_raises_fast(make_embedding: MakeEmbedding, sim: Simulator) -> None:
    sim.set_quota(account_limit=0)
    embed = make_embedding(max_retries=5)
    with pytest.raises(QuotaExhaustedError):
        embed.get_text_embedding("hi")
    assert len(sim.requests) == 1
    assert embed.quota_status.account_remaining == 0


def test_missing_token_fails_at_construction(sim: Simulator) -> None:
    with pytest.raises(ConfigurationError, match="MODELSCOPE_API_KEY"):
        ModelScopeEmbedding(api_base=sim.base_url)


def test_token_is_absent_from_serialization_and_repr(
    make_embedding: MakeEmbedding, sim: Simulator
) -> None:
    embed = make_embedding()
    for text in (embed.to_json(), str(embed.to_dict()), str(embed.model_dump()), repr(embed)):
        assert sim.token not in text
