"""Copies tell the truth (issue 15, findings 3, 7 and 10): the client follows the fields.

``model_copy(update=...)``, assignment and ``configurable_fields`` change where a call goes,
with which token and under which retry options, after the same checks as construction; deep
copies work; ``api_key`` holds the environment's token from construction, as in ``ChatOpenAI``.
The simulators' request logs show the token masked to its first four characters, so the two
tokens here differ there.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from langchain_core.load import dumpd, dumps
from langchain_core.runnables import ConfigurableField
from lc_helpers import PLAIN, chat_bodies

from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
from modelscope_inference import APITimeoutError, ConfigurationError, ServiceUnavailableError
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Fault, Simulator

OTHER_TOKEN = "ms-ZZZZ-other-account-0123456789"
REMOTE_HTTP = "http://api.example.com/v1"

Connection = ChatModelScope | ModelScopeEmbeddings


@pytest.fixture(scope="module")
def other_server() -> Iterator[Simulator]:
    """A second server with a second account's token."""
    with Simulator(token=OTHER_TOKEN) as server:
        yield server


@pytest.fixture
def other(other_server: Simulator) -> Iterator[Simulator]:
    """The second server, reset, with the client-side quota memory for it cleared."""
    tracker = tracker_for(OTHER_TOKEN, other_server.base_url)
    other_server.reset()
    tracker.reset()
    yield other_server
    other_server.reset()
    tracker.reset()


def _authorizations(server: Simulator, endpoint: str) -> list[str]:
    return [r.headers["authorization"] for r in server.requests if r.path.endswith(endpoint)]


def _call(model: Connection) -> object:
    """One call of the model's own kind: a chat for the chat model, an embedding otherwise."""
    if isinstance(model, ChatModelScope):
        return model.invoke("hi")
    return model.embed_query("hi")


def _endpoint(model: Connection) -> str:
    return "/chat/completions" if isinstance(model, ChatModelScope) else "/embeddings"


@pytest.fixture(params=["chat", "embeddings"])
def first(request: pytest.FixtureRequest, sim: Simulator) -> Connection:
    """The chat model or the embeddings, pointed at the first server with its token."""
    if request.param == "chat":
        return ChatModelScope(model=PLAIN, api_key=sim.token, base_url=sim.base_url)
    return ModelScopeEmbeddings(api_key=sim.token, base_url=sim.base_url)


# --- finding 3: copies and assignments reach the server they name -----------------------------


def test_model_copy_with_a_new_base_url_and_key_sends_to_the_new_server_with_the_new_token(
    first: Connection, sim: Simulator, other: Simulator
) -> None:
    copied = first.model_copy(update={"base_url": other.base_url, "api_key": other.token})

    _call(copied)
    _call(first)

    assert _authorizations(other, _endpoint(first)) == ["Bearer ms-Z***"]
    assert _authorizations(sim, _endpoint(first)) == ["Bearer ms-s***"]  # the original's
    assert copied.api_key is not None and copied.api_key.get_secret_value() == other.token


def test_assigning_a_new_base_url_and_key_sends_to_the_new_server_with_the_new_token(
    first: Connection, sim: Simulator, other: Simulator
) -> None:
    first.base_url = other.base_url
    first.api_key = other.token  # type: ignore[assignment]  # a plain string, as users write it

    _call(first)

    assert _authorizations(other, _endpoint(first)) == ["Bearer ms-Z***"]
    assert sim.requests == []
    assert OTHER_TOKEN not in repr(first)


def test_model_copy_with_new_max_retries_takes_effect(
    chat: Callable[..., ChatModelScope], sim: Simulator
) -> None:
    retrying = chat(max_retries=0, max_wait=0).model_copy(update={"max_retries": 2})
    sim.inject(Fault.server_error(503), times=2)

    assert retrying.invoke("hi").content
    assert len(chat_bodies(sim)) == 3


def test_assigning_max_retries_takes_effect(
    chat: Callable[..., ChatModelScope], sim: Simulator
) -> None:
    llm = chat(max_retries=2, max_wait=0)
    llm.max_retries = 0
    sim.inject(Fault.server_error(503), times=2)

    with pytest.raises(ServiceUnavailableError):
        llm.invoke("hi")
    assert len(chat_bodies(sim)) == 1


def test_model_copy_with_a_new_timeout_takes_effect(
    chat: Callable[..., ChatModelScope], sim: Simulator
) -> None:
    impatient = chat(max_retries=0).model_copy(update={"timeout": 0.2})
    sim.inject(Fault.latency(2.0))

    with pytest.raises(APITimeoutError):
        impatient.invoke("hi")


def test_model_copy_to_a_plain_http_remote_url_raises_configuration_error(
    first: Connection,
) -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        first.model_copy(update={"base_url": REMOTE_HTTP})


def test_assigning_a_plain_http_remote_url_raises_and_keeps_the_old_url(
    first: Connection, sim: Simulator
) -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        first.base_url = REMOTE_HTTP

    assert first.base_url == sim.base_url
    _call(first)
    assert len(_authorizations(sim, _endpoint(first))) == 1


def test_configurable_fields_switch_the_server_and_the_token(
    chat: Callable[..., ChatModelScope], sim: Simulator, other: Simulator
) -> None:
    configurable = chat().configurable_fields(
        base_url=ConfigurableField(id="base_url"),
        api_key=ConfigurableField(id="api_key"),
    )

    configurable.with_config(
        configurable={"base_url": other.base_url, "api_key": other.token}
    ).invoke("hi")

    assert _authorizations(other, "/chat/completions") == ["Bearer ms-Z***"]
    assert sim.requests == []


def test_configurable_fields_with_a_plain_http_remote_url_raise_configuration_error(
    chat: Callable[..., ChatModelScope], sim: Simulator
) -> None:
    configurable = chat().configurable_fields(base_url=ConfigurableField(id="base_url"))

    with pytest.raises(ConfigurationError, match="plain http"):
        configurable.invoke("hi", config={"configurable": {"base_url": REMOTE_HTTP}})
    assert sim.requests == []


# --- finding 7: deep copies work -----------------------------------------------------------


@pytest.mark.parametrize(
    "deep_copy",
    [copy.deepcopy, lambda model: model.model_copy(deep=True)],
    ids=["copy.deepcopy", "model_copy(deep=True)"],
)
def test_deepcopy_works_and_the_copy_calls_the_same_server(
    first: Connection, sim: Simulator, deep_copy: Callable[[Connection], Connection]
) -> None:
    copied = deep_copy(first)

    _call(copied)

    assert _authorizations(sim, _endpoint(first)) == ["Bearer ms-s***"]
    assert copied.api_key == first.api_key


def test_deepcopy_shares_your_own_http_client(sim: Simulator) -> None:
    with httpx.Client() as own:
        llm = ChatModelScope(model=PLAIN, api_key=sim.token, base_url=sim.base_url, http_client=own)

        copied = copy.deepcopy(llm)

        assert copied.http_client is own
        assert copied.invoke("hi").content
        assert not own.is_closed


def test_deep_copies_pickle_without_the_token(first: Connection) -> None:
    secret = first.api_key.get_secret_value() if first.api_key else ""

    data = pickle.dumps(copy.deepcopy(first))

    assert secret and secret.encode() not in data


def test_a_copy_with_a_new_token_pickles_without_either_token(first: Connection) -> None:
    copied = first.model_copy(update={"api_key": OTHER_TOKEN})

    data = pickle.dumps(copied)

    assert OTHER_TOKEN.encode() not in data
    assert b"ms-simulator" not in data


# --- finding 10: api_key holds the environment's token from construction -------------------


@pytest.mark.parametrize("variable", ["MODELSCOPE_API_KEY", "MODELSCOPE_SDK_TOKEN"])
@pytest.mark.parametrize("cls", [ChatModelScope, ModelScopeEmbeddings])
def test_api_key_from_the_environment_is_a_secret_str_at_construction(
    monkeypatch: pytest.MonkeyPatch, variable: str, cls: type[Connection]
) -> None:
    monkeypatch.setenv(variable, "ms-from-the-environment")

    model = cls(model=PLAIN) if cls is ChatModelScope else cls()

    assert model.api_key is not None
    assert model.api_key.get_secret_value() == "ms-from-the-environment"


@pytest.mark.parametrize("cls", [ChatModelScope, ModelScopeEmbeddings])
def test_api_key_none_also_shows_the_environment_token(
    monkeypatch: pytest.MonkeyPatch, cls: type[Connection]
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", "ms-from-the-environment")

    model = cls(model=PLAIN, api_key=None) if cls is ChatModelScope else cls(api_key=None)

    assert model.api_key is not None
    assert model.api_key.get_secret_value() == "ms-from-the-environment"


def _renderings(model: Connection) -> list[str]:
    texts = [repr(model), str(model), str(model.model_dump()), model.model_dump_json()]
    if isinstance(model, ChatModelScope):
        texts += [dumps(model), json.dumps(dumpd(model))]
    return texts


@pytest.mark.parametrize("cls", [ChatModelScope, ModelScopeEmbeddings])
def test_the_environment_token_is_absent_from_every_dump_and_pickle(
    monkeypatch: pytest.MonkeyPatch, cls: type[Connection]
) -> None:
    token = "ms-ENVIRONMENT-SECRET-0123456789"
    monkeypatch.setenv("MODELSCOPE_API_KEY", token)
    model = cls(model=PLAIN) if cls is ChatModelScope else cls()
    assert model.api_key is not None and model.api_key.get_secret_value() == token

    for text in _renderings(model):
        assert token not in text
    assert token.encode() not in pickle.dumps(model)


def test_dumpd_names_the_environment_variable_for_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", "ms-from-the-environment")

    kwargs: dict[str, Any] = dumpd(ChatModelScope(model=PLAIN))["kwargs"]

    assert kwargs["api_key"] == {"lc": 1, "type": "secret", "id": ["MODELSCOPE_API_KEY"]}
