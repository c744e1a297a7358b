"""Embeddings: strings in, float vectors out, in order, one request per batch
(user-needs.md test scenario 19)."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import httpx
import pytest

from modelscope_inference import ConfigurationError, InvalidResponseError, QuotaExhaustedError

from .fakes import FakeServer, reply

MODEL = "Qwen/Qwen3-Embedding-0.6B"


def _embedder(request: httpx.Request) -> httpx.Response:
    """Answer with vector [position, len(text)] per input, listed in reverse order."""
    body = json.loads(request.content)
    data = [
        {"object": "embedding", "index": i, "embedding": [float(i), float(len(text))]}
        for i, text in enumerate(body["input"])
    ]
    return httpx.Response(200, json={"object": "list", "data": list(reversed(data))})


def test_one_request_with_strings_and_float_encoding(make_client: Any) -> None:
    server = FakeServer(_embedder)

    vectors = make_client(server).embeddings.embed(["a", "bb", "ccc"], model=MODEL)

    assert server.count == 1
    body = server.bodies[0]
    assert body["input"] == ["a", "bb", "ccc"]
    assert body["encoding_format"] == "float"
    assert body["model"] == MODEL
    assert str(server.requests[0].url).endswith("/v1/embeddings")
    assert vectors == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    assert all(isinstance(x, float) for v in vectors for x in v)


def test_order_is_kept_by_index_not_by_position(make_client: Any) -> None:
    vectors = make_client(FakeServer(_embedder)).embeddings.embed(["x", "yy"], model=MODEL)

    assert [v[1] for v in vectors] == [1.0, 2.0]


def test_one_request_per_batch_and_order_across_batches(make_client: Any) -> None:
    server = FakeServer(_embedder)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]

    vectors = make_client(server).embeddings.embed(texts, model=MODEL, batch_size=2)

    assert server.count == 3
    assert [b["input"] for b in server.bodies] == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert [v[1] for v in vectors] == [1.0, 2.0, 3.0, 4.0, 5.0]


async def test_async_embed_batches_and_orders(make_client: Any) -> None:
    server = FakeServer(_embedder)
    client = make_client(server)

    vectors = await client.embeddings.aembed(["a", "bb", "ccc"], model=MODEL, batch_size=2)

    assert server.count == 2
    assert [v[1] for v in vectors] == [1.0, 2.0, 3.0]


def test_empty_list_returns_empty_without_a_request(make_client: Any) -> None:
    server = FakeServer(_embedder)

    assert make_client(server).embeddings.embed([], model=MODEL) == []
    assert server.count == 0


async def test_async_empty_list_returns_empty_without_a_request(make_client: Any) -> None:
    server = FakeServer(_embedder)

    assert await make_client(server).embeddings.aembed([], model=MODEL) == []
    assert server.count == 0


@pytest.mark.parametrize(
    "texts",
    [["ok", 3], [[1, 2, 3]], "a single string", [None]],
    ids=["int-item", "token-ids", "bare-string", "none-item"],
)
def test_non_string_input_is_refused_before_any_request(make_client: Any, texts: Any) -> None:
    server = FakeServer(_embedder)

    with pytest.raises(ConfigurationError):
        make_client(server).embeddings.embed(texts, model=MODEL)

    assert server.count == 0


def test_dimensions_and_extra_body_are_sent(make_client: Any) -> None:
    server = FakeServer(_embedder)

    make_client(server).embeddings.embed(
        ["a"], model=MODEL, dimensions=256, extra_body={"user": "u1"}
    )

    assert server.bodies[0]["dimensions"] == 256
    assert server.bodies[0]["user"] == "u1"


def test_base64_vectors_are_decoded_if_the_server_ignores_float(make_client: Any) -> None:
    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
    server = FakeServer(reply(200, {"data": [{"index": 0, "embedding": packed}]}))

    assert make_client(server).embeddings.embed(["a"], model=MODEL) == [[0.5, -1.0, 2.0]]


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"index": 0, "embedding": [1.0]}]},
        {"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]},
        {"data": [{"index": 0, "embedding": "not base64!"}, {"index": 1, "embedding": [1.0]}]},
        {"embeddings": [[1.0], [2.0]]},
        {"data": [{"index": 0, "embedding": [1.0, "2.0"]}, {"index": 1, "embedding": [1.0]}]},
        {"data": [{"index": 0, "embedding": [None]}, {"index": 1, "embedding": [1.0]}]},
        {"data": [{"index": 0, "embedding": [[1.0]]}, {"index": 1, "embedding": [1.0]}]},
        {"data": [{"index": 0, "embedding": [10**400]}, {"index": 1, "embedding": [1.0]}]},
    ],
    ids=[
        "missing-vector",
        "duplicate-index",
        "bad-vector",
        "no-data-list",
        "a-string-in-a-vector",
        "a-null-in-a-vector",
        "a-list-in-a-vector",
        "a-number-beyond-float",
    ],
)
def test_incomplete_answers_are_invalid_not_silently_short(make_client: Any, body: Any) -> None:
    server = FakeServer(reply(200, body))

    with pytest.raises(InvalidResponseError, match=MODEL):
        make_client(server).embeddings.embed(["a", "b"], model=MODEL)


def test_embeddings_share_quota_pre_flight(make_client: Any) -> None:
    server = FakeServer(
        reply(
            429,
            {"errors": {"message": "Request limit exceeded."}},
            headers={"modelscope-ratelimit-requests-remaining": "0"},
        )
    )
    client = make_client(server)

    for _ in range(2):
        with pytest.raises(QuotaExhaustedError):
            client.embeddings.embed(["a"], model=MODEL)

    assert server.count == 1


def test_embedding_requests_are_retried_like_chat(make_client: Any) -> None:
    server = FakeServer(reply(503), _embedder)

    assert make_client(server).embeddings.embed(["a"], model=MODEL) == [[0.0, 1.0]]
    assert server.count == 2
