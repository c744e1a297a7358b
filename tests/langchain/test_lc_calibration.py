"""ChatModelScope against the 2026 service (reference §8.3): structured output without
json_schema, images as image_url parts, and constructor keywords never silently dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from lc_helpers import HYBRID, PLAIN, THINKING, VISION, chat_bodies, tiny_png_base64
from pydantic import BaseModel, Field

from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
from modelscope_inference import JSONSchemaUnsupportedError
from modelscope_inference.simulator import Simulator

Chat = Callable[..., ChatModelScope]


class City(BaseModel):
    """Facts about a city."""

    name: str = Field(description="The city's name")
    country: str = Field(description="The country it is in")
    population: int = Field(description="Approximate population")


HANGZHOU = City(name="Hangzhou", country="China", population=12_500_000)
JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "City", "schema": City.model_json_schema()},
}


# --- structured output: the default method per model ---------------------------------------


def test_a_thinking_only_model_gives_a_parsed_object_by_json_mode(
    chat: Chat, sim: Simulator
) -> None:
    city = chat(THINKING).with_structured_output(City).invoke("Tell me about Hangzhou.")

    assert city == HANGZHOU
    [body] = chat_bodies(sim)
    assert body["stream"] is True  # thinking-only: streamed internally
    assert body["response_format"] == {"type": "json_object"}
    assert "tools" not in body


def test_a_hybrid_model_gives_a_parsed_object_by_function_calling(
    chat: Chat, sim: Simulator
) -> None:
    city = chat(HYBRID).with_structured_output(City).invoke("Tell me about Hangzhou.")

    assert city == HANGZHOU
    [body] = chat_bodies(sim)
    assert body["enable_thinking"] is False
    assert body["tool_choice"] == {"type": "function", "function": {"name": "City"}}
    assert "response_format" not in body


def test_a_hybrid_model_asked_to_think_uses_json_mode(chat: Chat, sim: Simulator) -> None:
    llm = chat(HYBRID, enable_thinking=True)

    city = llm.with_structured_output(City).invoke("Tell me about Hangzhou.")

    assert city == HANGZHOU
    [body] = chat_bodies(sim)
    assert body["enable_thinking"] is True and "tool_choice" not in body
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("model", [THINKING, HYBRID])
def test_include_raw_gives_the_message_and_the_parsed_object(chat: Chat, model: str) -> None:
    llm = chat(model).with_structured_output(City, include_raw=True)

    result = llm.invoke("Tell me about Hangzhou.")

    assert isinstance(result, dict)
    assert isinstance(result["raw"], AIMessage)
    assert result["parsed"] == HANGZHOU
    assert result["parsing_error"] is None


def test_include_raw_on_a_thinking_model_keeps_reasoning_out_of_the_json(chat: Chat) -> None:
    llm = chat(THINKING).with_structured_output(City, include_raw=True)

    result = llm.invoke("Tell me about Hangzhou.")

    assert isinstance(result, dict)
    assert result["raw"].additional_kwargs["reasoning_content"]
    assert result["raw"].content.startswith("{")


def test_the_schema_is_written_into_an_existing_system_message(chat: Chat, sim: Simulator) -> None:
    llm = chat(THINKING).with_structured_output(City)

    llm.invoke([("system", "You are a geographer."), ("user", "Tell me about Hangzhou.")])

    [body] = chat_bodies(sim)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    system = body["messages"][0]["content"]
    assert system.startswith("You are a geographer.\n\n")
    assert '"population"' in system


def test_structured_output_streams_on_a_thinking_model(chat: Chat) -> None:
    chunks = list(chat(THINKING).with_structured_output(City).stream("Tell me about Hangzhou."))

    assert chunks[-1] == HANGZHOU


async def test_structured_output_async_on_a_thinking_model(chat: Chat) -> None:
    llm = chat(THINKING).with_structured_output(City)

    assert await llm.ainvoke("Tell me about Hangzhou.") == HANGZHOU


# --- a json_schema request still sent: the typed error ---------------------------------------


def test_a_bound_json_schema_response_format_raises_a_typed_error_naming_the_fix(
    chat: Chat, sim: Simulator
) -> None:
    llm = chat(PLAIN, max_retries=3).bind(response_format=JSON_SCHEMA)

    with pytest.raises(JSONSchemaUnsupportedError, match="method='json_mode'") as info:
        llm.invoke("Tell me about Hangzhou.")

    assert info.value.model == PLAIN
    assert len(chat_bodies(sim)) == 1  # not retried: the same request gets the same answer


@pytest.mark.parametrize("model", [THINKING, PLAIN])
def test_a_json_schema_request_answered_in_a_stream_raises_the_typed_error(
    chat: Chat, model: str
) -> None:
    llm = chat(model, model_kwargs={"response_format": JSON_SCHEMA})

    with pytest.raises(JSONSchemaUnsupportedError):
        list(llm.stream("Tell me about Hangzhou."))


def test_a_pydantic_class_as_response_format_runs_as_json_mode(chat: Chat, sim: Simulator) -> None:
    message = chat(PLAIN).invoke("Tell me about Hangzhou.", response_format=City)

    assert City.model_validate_json(str(message.content)) == HANGZHOU
    assert chat_bodies(sim)[0]["response_format"] == {"type": "json_object"}


# --- images ---------------------------------------------------------------------------------

PNG = tiny_png_base64()
DATA_URL = f"data:image/png;base64,{PNG}"
URL = "https://example.com/cat.png"


@pytest.mark.parametrize(
    ("block", "url"),
    [
        ({"type": "image", "url": URL}, URL),
        ({"type": "image", "base64": PNG, "mime_type": "image/png"}, DATA_URL),
        ({"type": "image", "source_type": "url", "url": URL}, URL),
        (
            {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
            DATA_URL,
        ),
        ({"type": "image_url", "image_url": URL}, URL),
        ({"type": "image_url", "image_url": {"url": DATA_URL}}, DATA_URL),
    ],
    ids=["url", "base64", "source-url", "source-base64", "str", "dict"],
)
def test_image_blocks_reach_the_service_as_image_url_parts(
    chat: Chat, sim: Simulator, block: dict[str, Any], url: str
) -> None:
    message = HumanMessage(content=[{"type": "text", "text": "What is this?"}, block])

    answer = chat(VISION).invoke([message])

    assert "1 image" in str(answer.content)
    [body] = chat_bodies(sim)
    assert body["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": url}}


def test_a_video_url_part_passes_through(chat: Chat, sim: Simulator) -> None:
    part = {"type": "video_url", "video_url": {"url": "https://example.com/cat.mp4"}}
    message = HumanMessage(content=[{"type": "text", "text": "What happens?"}, part])

    chat(VISION).invoke([message])

    assert chat_bodies(sim)[0]["messages"][0]["content"][1] == part


def test_an_image_by_file_id_is_refused_before_any_request(chat: Chat, sim: Simulator) -> None:
    message = HumanMessage(content=[{"type": "image", "file_id": "file-123"}])

    with pytest.raises(ValueError, match="http\\(s\\) URL or base64"):
        chat(VISION).invoke([message])

    assert sim.requests == []


# --- constructor keywords -------------------------------------------------------------------


def test_api_base_is_an_alias_of_base_url(sim: Simulator) -> None:
    llm = ChatModelScope(model=PLAIN, api_key=sim.token, api_base=sim.base_url)

    llm.invoke("hi")

    assert llm.base_url == sim.base_url
    assert len(chat_bodies(sim)) == 1


def test_an_unknown_keyword_goes_into_model_kwargs_with_a_warning_naming_it(
    sim: Simulator,
) -> None:
    with pytest.warns(UserWarning, match="top_k was transferred to model_kwargs"):
        llm = ChatModelScope(model=PLAIN, api_key=sim.token, base_url=sim.base_url, top_k=5)

    llm.invoke("hi")

    assert llm.model_kwargs == {"top_k": 5}
    assert chat_bodies(sim)[0]["top_k"] == 5


def test_known_aliases_are_not_moved_to_model_kwargs(sim: Simulator) -> None:
    llm = ChatModelScope(
        model_name=PLAIN, api_key=sim.token, base_url=sim.base_url, stop_sequences=["."]
    )

    assert llm.model_kwargs == {} and llm.stop == ["."] and llm.model_name == PLAIN


def test_embeddings_take_api_base_and_refuse_unknown_keywords(sim: Simulator) -> None:
    embeddings = ModelScopeEmbeddings(api_key=sim.token, api_base=sim.base_url)

    assert len(embeddings.embed_query("hello")) == 1024
    with pytest.raises(ValueError, match="bogus"):
        ModelScopeEmbeddings(api_key=sim.token, base_url=sim.base_url, bogus=1)
