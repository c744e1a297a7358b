"""The token stays secret, comes only from ModelScope's variables, and nothing needs a network
just to build a model or count tokens."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
import pytest_socket
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps, load
from langchain_core.messages import BaseMessage, HumanMessage
from lc_helpers import EMBEDDING, PLAIN, chat_bodies

from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
from modelscope_inference import AuthenticationError, ConfigurationError
from modelscope_inference.simulator import Simulator

SECRET = "ms-SECRET-0123456789abcdef"


def _model(**options: Any) -> ChatModelScope:
    return ChatModelScope(model=PLAIN, api_key=SECRET, **options)


@pytest.mark.parametrize(
    "render",
    [
        repr,
        str,
        lambda m: str(m.model_dump()),
        lambda m: m.model_dump_json(),
        lambda m: dumps(m),
        lambda m: json.dumps(dumpd(m)),
        lambda m: str(m._identifying_params),
        lambda m: str(m._get_invocation_params()),
        lambda m: str(m._get_ls_params()),
    ],
    ids=[
        "repr",
        "str",
        "model_dump",
        "model_dump_json",
        "dumps",
        "dumpd",
        "identifying",
        "invocation",
        "ls",
    ],
)
def test_the_token_is_absent_from_every_rendering(render: Callable[[Any], str]) -> None:
    assert SECRET not in render(_model())


def test_the_token_is_absent_from_embeddings_renderings() -> None:
    embeddings = ModelScopeEmbeddings(api_key=SECRET)

    for text in (repr(embeddings), str(embeddings), embeddings.model_dump_json()):
        assert SECRET not in text
    assert SECRET.encode() not in pickle.dumps(embeddings)


def test_pickles_carry_no_token_and_reload_it_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, sim: Simulator
) -> None:
    llm = ChatModelScope(model=PLAIN, api_key=SECRET, base_url=sim.base_url, temperature=0.1)

    data = pickle.dumps(llm)
    assert SECRET.encode() not in data

    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    clone = pickle.loads(data)
    assert clone.api_key is not None and clone.api_key.get_secret_value() == sim.token
    assert clone.temperature == 0.1
    assert clone.invoke("hi").content


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
def test_serialized_model_loads_back_with_the_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", "ms-from-env")

    clone = load(
        dumpd(_model(temperature=0.3)),
        valid_namespaces=["langchain_modelscope"],
        allowed_objects=[ChatModelScope],
        secrets_from_env=True,
    )

    assert isinstance(clone, ChatModelScope)
    assert clone.temperature == 0.3
    assert clone.api_key is not None and clone.api_key.get_secret_value() == "ms-from-env"


class _Capture(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self.seen.append(json.dumps([serialized, kwargs], default=str))


def test_callbacks_and_logs_never_see_the_token(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    capture = _Capture()
    llm = ChatModelScope(model=PLAIN, api_key=sim.token, base_url=sim.base_url)

    with caplog.at_level(logging.DEBUG):
        llm.invoke("hi", config={"callbacks": [capture]})

    [seen] = capture.seen
    assert sim.token not in seen
    assert "invocation_params" in seen and PLAIN in seen
    assert sim.token not in caplog.text


def test_an_auth_error_does_not_echo_the_token(sim: Simulator) -> None:
    llm = ChatModelScope(model=PLAIN, api_key=SECRET, base_url=sim.base_url, max_retries=2)

    with pytest.raises(AuthenticationError) as caught:
        llm.invoke("hi")

    assert SECRET not in str(caught.value)
    assert len(chat_bodies(sim)) == 1


# --- environment ----------------------------------------------------------------------------


def test_missing_token_fails_at_construction_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")

    with pytest.raises(ConfigurationError, match="MODELSCOPE_API_KEY"):
        ChatModelScope(model=PLAIN)
    with pytest.raises(ConfigurationError, match="MODELSCOPE_API_KEY"):
        ModelScopeEmbeddings()


def test_openai_variables_are_ignored(monkeypatch: pytest.MonkeyPatch, sim: Simulator) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    monkeypatch.setenv("MODELSCOPE_BASE_URL", sim.base_url)

    result = ChatModelScope(model=PLAIN).invoke("hi")

    assert result.content
    [request] = sim.requests
    assert request.headers["authorization"].startswith("Bearer ms-")


def test_other_validation_errors_stay_pydantic_errors() -> None:
    with pytest.raises(ValueError, match="model"):
        ChatModelScope(api_key="ms-x")  # type: ignore[call-arg]


# --- offline --------------------------------------------------------------------------------


def test_building_and_counting_tokens_needs_no_network() -> None:
    pytest_socket.disable_socket()
    try:
        llm = ChatModelScope(model=PLAIN, api_key="ms-x")
        ModelScopeEmbeddings(model=EMBEDDING, api_key="ms-x")
        count = llm.get_num_tokens("Hello, world! 你好")
        from_messages = llm.get_num_tokens_from_messages([HumanMessage("Hello, world!")])
    finally:
        pytest_socket.enable_socket()

    assert count == 8  # an estimate: Hell, o, ",", worl, d, "!", 你, 好
    assert from_messages > 0


def test_token_ids_are_deterministic_and_custom_ones_win() -> None:
    llm = ChatModelScope(model=PLAIN, api_key="ms-x")
    custom = ChatModelScope(model=PLAIN, api_key="ms-x", custom_get_token_ids=lambda t: [1, 2])

    assert llm.get_token_ids("same text") == llm.get_token_ids("same text")
    assert custom.get_num_tokens("anything at all") == 2
