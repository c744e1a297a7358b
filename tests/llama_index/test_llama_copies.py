"""Copies tell the truth (issue 15, findings 3, 7 and 10), LlamaIndex side.

``model_copy(update=...)`` and assignment change where a call goes, with which token and under
which retry options, after the same checks as construction; deep copies work; ``api_key``
holds the environment's token from construction, as LlamaIndex's ``OpenAI`` does. The
simulators' request logs show the token masked to its first four characters, so the two tokens
here differ there.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterator

import httpx
import pytest

from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
from modelscope_inference import APITimeoutError, ConfigurationError, ServiceUnavailableError
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Fault, Simulator

PLAIN = "Qwen/Qwen2.5-7B-Instruct"
OTHER_TOKEN = "ms-ZZZZ-other-account-0123456789"
REMOTE_HTTP = "http://api.example.com/v1"

Connection = ModelScopeLLM | ModelScopeEmbedding


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
    """One call of the model's own kind: a completion for the LLM, an embedding otherwise."""
    if isinstance(model, ModelScopeLLM):
        return model.complete("hi")
    return model.get_text_embedding("hi")


def _endpoint(model: Connection) -> str:
    return "/chat/completions" if isinstance(model, ModelScopeLLM) else "/embeddings"


@pytest.fixture(params=["llm", "embedding"])
def first(request: pytest.FixtureRequest, sim: Simulator) -> Connection:
    """The LLM or the embedding model, pointed at the first server with its token."""
    if request.param == "llm":
        return ModelScopeLLM(model=PLAIN, api_key=sim.token, api_base=sim.base_url)
    return ModelScopeEmbedding(api_key=sim.token, api_base=sim.base_url)


# --- finding 3: copies and assignments reach the server they name -----------------------------


@pytest.mark.parametrize("url_field", ["api_base", "base_url"])
def test_model_copy_with_a_new_base_url_and_key_sends_to_the_new_server_with_the_new_token(
    first: Connection, sim: Simulator, other: Simulator, url_field: str
) -> None:
    copied = first.model_copy(update={url_field: other.base_url, "api_key": other.token})

    _call(copied)
    _call(first)

    assert _authorizations(other, _endpoint(first)) == ["Bearer ms-Z***"]
    assert _authorizations(sim, _endpoint(first)) == ["Bearer ms-s***"]  # the original's
    assert copied.api_base == other.base_url
    assert copied.api_key is not None and copied.api_key.get_secret_value() == other.token


def test_assigning_a_new_base_url_and_key_sends_to_the_new_server_with_the_new_token(
    first: Connection, sim: Simulator, other: Simulator
) -> None:
    first.api_base = other.base_url
    first.api_key = other.token  # type: ignore[assignment]  # a plain string, as users write it

    _call(first)

    assert _authorizations(other, _endpoint(first)) == ["Bearer ms-Z***"]
    assert sim.requests == []
    assert OTHER_TOKEN not in repr(first)


def test_model_copy_with_new_max_retries_takes_effect(
    make_llm: Callable[..., ModelScopeLLM], sim: Simulator
) -> None:
    retrying = make_llm(PLAIN, max_retries=0, max_wait=0).model_copy(update={"max_retries": 2})
    sim.inject(Fault.server_error(503), times=2)

    assert retrying.complete("hi").text
    assert len(_authorizations(sim, "/chat/completions")) == 3


def test_assigning_max_retries_takes_effect(
    make_llm: Callable[..., ModelScopeLLM], sim: Simulator
) -> None:
    llm = make_llm(PLAIN, max_retries=2, max_wait=0)
    llm.max_retries = 0
    sim.inject(Fault.server_error(503), times=2)

    with pytest.raises(ServiceUnavailableError):
        llm.complete("hi")
    assert len(_authorizations(sim, "/chat/completions")) == 1


def test_model_copy_with_a_new_timeout_takes_effect(
    make_llm: Callable[..., ModelScopeLLM], sim: Simulator
) -> None:
    impatient = make_llm(PLAIN, max_retries=0).model_copy(update={"timeout": 0.2})
    sim.inject(Fault.latency(2.0))

    with pytest.raises(APITimeoutError):
        impatient.complete("hi")


def test_model_copy_to_a_plain_http_remote_url_raises_configuration_error(
    first: Connection,
) -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        first.model_copy(update={"api_base": REMOTE_HTTP})


def test_assigning_a_plain_http_remote_url_raises_and_keeps_the_old_url(
    first: Connection, sim: Simulator
) -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        first.api_base = REMOTE_HTTP

    assert first.api_base == sim.base_url
    _call(first)
    assert len(_authorizations(sim, _endpoint(first))) == 1


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
        llm = ModelScopeLLM(model=PLAIN, api_key=sim.token, api_base=sim.base_url, http_client=own)

        copied = copy.deepcopy(llm)

        assert copied.http_client is own
        assert copied.complete("hi").text
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


def _build(cls: type[Connection], **fields: object) -> Connection:
    return cls(model=PLAIN, **fields) if cls is ModelScopeLLM else cls(**fields)


@pytest.mark.parametrize("variable", ["MODELSCOPE_API_KEY", "MODELSCOPE_SDK_TOKEN"])
@pytest.mark.parametrize("cls", [ModelScopeLLM, ModelScopeEmbedding])
def test_api_key_from_the_environment_is_a_secret_str_at_construction(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, variable: str, cls: type[Connection]
) -> None:
    monkeypatch.setenv(variable, "ms-from-the-environment")

    model = _build(cls)

    assert model.api_key is not None
    assert model.api_key.get_secret_value() == "ms-from-the-environment"


@pytest.mark.parametrize("cls", [ModelScopeLLM, ModelScopeEmbedding])
def test_the_environment_token_is_absent_from_every_dump_and_pickle(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, cls: type[Connection]
) -> None:
    token = "ms-ENVIRONMENT-SECRET-0123456789"
    monkeypatch.setenv("MODELSCOPE_API_KEY", token)
    model = _build(cls)
    assert model.api_key is not None and model.api_key.get_secret_value() == token

    for text in (repr(model), str(model.model_dump()), model.to_json(), model.model_dump_json()):
        assert token not in text
    assert token.encode() not in pickle.dumps(model)


@pytest.mark.parametrize("cls", [ModelScopeLLM, ModelScopeEmbedding])
def test_an_unpickled_model_shows_the_environment_token(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, cls: type[Connection]
) -> None:
    data = pickle.dumps(_build(cls, api_key=sim.token, api_base=sim.base_url))
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)

    restored = pickle.loads(data)

    assert restored.api_key is not None and restored.api_key.get_secret_value() == sim.token
