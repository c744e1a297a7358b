"""ModelScopeLLM against the 2026 service (reference §8.3): structured output without
json_schema, images as image_url parts, and constructor keywords never silently dropped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    VideoBlock,
)
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel, Field

from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
from modelscope_inference import JSONSchemaUnsupportedError
from modelscope_inference.simulator import Simulator

MakeLLM = Callable[..., ModelScopeLLM]
Bodies = Callable[[], list[dict[str, Any]]]
THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
HYBRID = "Qwen/Qwen3-32B"
PLAIN = "Qwen/Qwen2.5-7B-Instruct"
VISION = "Qwen/Qwen3-VL-8B-Instruct"
PROMPT = PromptTemplate("Give the facts about {city}.")
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


class City(BaseModel):
    """Facts about a city."""

    name: str = Field(description="The city's name")
    country: str = Field(description="The country it is in")
    population: int = Field(description="Approximate population")


HANGZHOU = City(name="Hangzhou", country="China", population=12_500_000)


# --- structured output ------------------------------------------------------------------------


def test_structured_predict_on_a_thinking_only_model_uses_json_mode(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    city = make_llm(THINKING).structured_predict(City, PROMPT, city="Hangzhou")

    assert city == HANGZHOU
    [body] = chat_bodies()
    assert body["response_format"] == {"type": "json_object"}
    assert "tools" not in body and body["stream"] is True
    assert '"population"' in body["messages"][-1]["content"]  # the schema, in the prompt


def test_structured_predict_on_a_hybrid_model_uses_function_calling(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    city = make_llm(HYBRID).structured_predict(City, PROMPT, city="Hangzhou")

    assert city == HANGZHOU
    [body] = chat_bodies()
    assert body["tool_choice"] == "required" and body["enable_thinking"] is False
    assert "response_format" not in body


def test_structured_predict_on_a_hybrid_model_asked_to_think_uses_json_mode(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    llm = make_llm(HYBRID, enable_thinking=True)

    assert llm.structured_predict(City, PROMPT, city="Hangzhou") == HANGZHOU
    assert chat_bodies()[0]["response_format"] == {"type": "json_object"}
    assert llm.pydantic_program_mode is PydanticProgramMode.DEFAULT  # the LLM is not changed


async def test_astructured_predict_on_a_thinking_only_model(make_llm: MakeLLM) -> None:
    assert await make_llm(THINKING).astructured_predict(City, PROMPT, city="Hangzhou") == HANGZHOU


@pytest.mark.parametrize("model", [THINKING, HYBRID])
def test_as_structured_llm_gives_the_object(make_llm: MakeLLM, model: str) -> None:
    structured = make_llm(model).as_structured_llm(City)

    response = structured.chat([ChatMessage(role="user", content="Tell me about Hangzhou.")])

    assert response.raw == HANGZHOU


def test_stream_structured_predict_on_a_thinking_only_model(make_llm: MakeLLM) -> None:
    parts = list(make_llm(THINKING).stream_structured_predict(City, PROMPT, city="Hangzhou"))

    assert City.model_validate(parts[-1].model_dump()) == HANGZHOU


async def test_astream_structured_predict_on_a_thinking_only_model(make_llm: MakeLLM) -> None:
    stream = await make_llm(THINKING).astream_structured_predict(City, PROMPT, city="Hangzhou")
    parts = [part async for part in stream]

    assert City.model_validate(parts[-1].model_dump()) == HANGZHOU


def test_an_explicit_function_mode_is_respected(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    llm = make_llm(PLAIN, pydantic_program_mode=PydanticProgramMode.FUNCTION)

    assert llm.structured_predict(City, PROMPT, city="Hangzhou") == HANGZHOU
    assert "response_format" not in chat_bodies()[0]


def test_a_json_schema_response_format_raises_a_typed_error(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "City", "schema": {}}}
    llm = make_llm(PLAIN, max_retries=3, additional_kwargs={"response_format": schema})

    with pytest.raises(JSONSchemaUnsupportedError, match="json_object"):
        llm.complete("Tell me about Hangzhou.")

    assert len(chat_bodies()) == 1


# --- images and video -------------------------------------------------------------------------


def _ask(llm: ModelScopeLLM, block: ImageBlock | VideoBlock) -> str:
    message = ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="What is it?"), block])
    return str(llm.chat([message]).message.content)


def test_an_image_block_with_a_url_goes_out_as_an_image_url_part(
    make_llm: MakeLLM, chat_bodies: Bodies
) -> None:
    answer = _ask(make_llm(VISION), ImageBlock(url="https://example.com/cat.png"))

    assert "1 image" in answer
    part = chat_bodies()[0]["messages"][0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


def test_image_blocks_from_bytes_and_path_go_out_as_data_urls(
    make_llm: MakeLLM, chat_bodies: Bodies, tmp_path: Path
) -> None:
    path = tmp_path / "pixel"  # no suffix: the type is read from the data
    path.write_bytes(PNG)
    llm = make_llm(VISION)

    _ask(llm, ImageBlock(image=PNG))
    _ask(llm, ImageBlock(path=path))

    for body in chat_bodies():
        part = body["messages"][0]["content"][1]
        assert part["type"] == "image_url"
        assert part["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")


def test_a_video_block_goes_out_as_a_video_url_part(make_llm: MakeLLM, chat_bodies: Bodies) -> None:
    _ask(make_llm(VISION), VideoBlock(url="https://example.com/cat.mp4"))

    part = chat_bodies()[0]["messages"][0]["content"][1]
    assert part == {"type": "video_url", "video_url": {"url": "https://example.com/cat.mp4"}}


# --- constructor keywords -------------------------------------------------------------------


def test_base_url_is_an_alias_of_api_base(sim: Simulator) -> None:
    llm = ModelScopeLLM(model=PLAIN, api_key=sim.token, base_url=sim.base_url)

    llm.complete("hi")

    assert llm.api_base == sim.base_url
    assert len(sim.requests) == 1


def test_the_embedding_takes_base_url_and_model_too(sim: Simulator) -> None:
    model = "Qwen/Qwen3-Embedding-8B"
    embedding = ModelScopeEmbedding(model=model, api_key=sim.token, base_url=sim.base_url)

    assert len(embedding.get_text_embedding("hello")) == 4096
    assert [r.model for r in sim.requests] == [model]


@pytest.mark.parametrize("cls", [ModelScopeLLM, ModelScopeEmbedding])
def test_an_unknown_keyword_is_an_error_naming_it(cls: type[Any], sim: Simulator) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument\\(s\\) temprature"):
        cls(model=PLAIN, api_key=sim.token, api_base=sim.base_url, temprature=0.1)


def test_api_base_and_a_different_base_url_together_are_an_error(sim: Simulator) -> None:
    with pytest.raises(TypeError, match="same option"):
        ModelScopeLLM(
            model=PLAIN, api_key=sim.token, api_base=sim.base_url, base_url="http://other/v1"
        )
