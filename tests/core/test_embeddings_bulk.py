"""Embeddings in bulk (issue 18): batch size from the catalog, order across batches, partial
failure with the failed indices and the vectors that came back, and progress."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from modelscope_inference import AuthenticationError, EmbeddingBatchError
from modelscope_inference.embeddings import batch_size_for

from .fakes import FakeServer

MODEL = "Qwen/Qwen3-Embedding-0.6B"
UNAUTHORIZED = {
    "errors": {
        "message": "Authentication failed, please make sure that a valid "
        "ModelScope token is supplied.",
        "request_id": "r",
    }
}


def _embedder(request: httpx.Request) -> httpx.Response:
    """Vector [number in the text] per input: the order is visible in the answer."""
    body = json.loads(request.content)
    data = [
        {"object": "embedding", "index": i, "embedding": [float(text[1:])]}
        for i, text in enumerate(body["input"])
    ]
    return httpx.Response(200, json={"object": "list", "data": data})


def _failing_from(second_batch_on: bool) -> Any:
    calls = []

    def respond(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if second_batch_on and len(calls) >= 2:
            return httpx.Response(401, json=UNAUTHORIZED)
        return _embedder(request)

    return respond


def _texts(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


def test_the_batch_size_comes_from_the_catalog_unless_given() -> None:
    assert batch_size_for(MODEL, None) == 32
    assert batch_size_for(MODEL, 5) == 5
    assert batch_size_for("someone/unknown-embedder", None) == 32


def test_order_is_kept_across_batches(make_client: Any) -> None:
    server = FakeServer(_embedder)
    vectors = make_client(server).embeddings.embed(_texts(70), model=MODEL)
    assert server.count == 3  # 32 + 32 + 6: the catalog's batch size
    assert vectors == [[float(i)] for i in range(70)]


def test_async_order_is_kept_across_concurrent_batches(make_client: Any) -> None:
    server = FakeServer(_embedder)
    client = make_client(server)
    vectors = asyncio.run(client.embeddings.aembed(_texts(50), model=MODEL, batch_size=4))
    assert vectors == [[float(i)] for i in range(50)]


def test_a_later_failed_batch_reports_failed_indices_and_the_good_vectors(
    make_client: Any,
) -> None:
    server = FakeServer(_failing_from(True))

    with pytest.raises(EmbeddingBatchError) as info:
        make_client(server).embeddings.embed(_texts(7), model=MODEL, batch_size=3)

    error = info.value
    assert error.failed_indices == [3, 4, 5, 6]  # the failed batch, and the one not sent
    assert error.vectors[:3] == [[0.0], [1.0], [2.0]]
    assert error.vectors[3:] == [None] * 4
    assert isinstance(error.__cause__, AuthenticationError)
    assert server.count == 2  # no request after the failure
    assert "failed_indices" in str(error)


def test_a_failure_with_nothing_embedded_raises_the_error_itself(make_client: Any) -> None:
    server = FakeServer(lambda request: httpx.Response(401, json=UNAUTHORIZED))
    with pytest.raises(AuthenticationError):
        make_client(server).embeddings.embed(_texts(7), model=MODEL, batch_size=3)


def test_progress_is_reported_after_each_batch(make_client: Any) -> None:
    seen: list[tuple[int, int]] = []
    make_client(FakeServer(_embedder)).embeddings.embed(
        _texts(7),
        model=MODEL,
        batch_size=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(3, 7), (6, 7), (7, 7)]
