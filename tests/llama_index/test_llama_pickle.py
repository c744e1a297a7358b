"""Pickles carry no token, and an unpickled object rebuilds its client from the environment."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from llama_index.core.llms import ChatMessage

from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
from modelscope_inference import ConfigurationError
from modelscope_inference.simulator import Simulator


def test_unpickled_llm_reads_the_token_from_the_environment(
    sim: Simulator, make_llm: Callable[..., ModelScopeLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pickle.dumps(make_llm(model="Qwen/Qwen2.5-7B-Instruct"))
    assert sim.token.encode() not in data

    restored = pickle.loads(data)
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    reply = restored.chat([ChatMessage(role="user", content="hello there")])

    assert reply.message.content


def test_unpickled_llm_without_a_token_raises_configuration_error(
    make_llm: Callable[..., ModelScopeLLM],
) -> None:
    restored = pickle.loads(pickle.dumps(make_llm(model="Qwen/Qwen2.5-7B-Instruct")))

    with pytest.raises(ConfigurationError, match="MODELSCOPE_API_KEY"):
        restored.chat([ChatMessage(role="user", content="hi")])


def test_unpickled_embedding_reads_the_token_from_the_environment(
    sim: Simulator,
    make_embedding: Callable[..., ModelScopeEmbedding],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = pickle.dumps(make_embedding())
    assert sim.token.encode() not in data

    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    vector = pickle.loads(data).get_text_embedding("hello")

    assert len(vector) == 1024
