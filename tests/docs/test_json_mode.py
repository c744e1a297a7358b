"""JSON mode (``response_format={"type": "json_object"}``, the schema in the prompt), which the
docs recommend for models that think, works on the simulator for an instruct, a hybrid and a
thinking-only model, in both frameworks, with plausible values taken from the prompt."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel, Field

from langchain_modelscope import ChatModelScope
from llama_index_modelscope import ModelScopeLLM
from modelscope_inference.simulator import Simulator

MODELS = {
    "instruct": "Qwen/Qwen2.5-7B-Instruct",
    "hybrid": "Qwen/Qwen3-32B",
    "thinking": "Qwen/Qwen3-235B-A22B-Thinking-2507",
}
QUESTION = "Tell me about Hangzhou, China, a city of 12 million people."


class City(BaseModel):
    """A city."""

    name: str = Field(description="the city's name")
    country: str = Field(description="the country it is in")
    population: int = Field(description="how many people live there")


EXPECTED = City(name="Hangzhou", country="China", population=12_000_000)


def _chat_bodies(sim: Simulator) -> list[Any]:
    return [r.body for r in sim.requests if r.path == "/v1/chat/completions"]


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_langchain_json_mode_gives_the_object(model: str, sim: Simulator) -> None:
    llm = ChatModelScope(model=model, api_key=sim.token, base_url=sim.base_url)

    city = llm.with_structured_output(City, method="json_mode").invoke(QUESTION)

    assert city == EXPECTED
    [body] = _chat_bodies(sim)
    assert body["response_format"] == {"type": "json_object"}
    assert "tools" not in body


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_llama_index_json_mode_gives_the_object(model: str, sim: Simulator) -> None:
    # LlamaIndex's JSON mode: the LLM program (schema in the prompt), sent as json_object
    llm = ModelScopeLLM(
        model=model,
        api_key=sim.token,
        api_base=sim.base_url,
        pydantic_program_mode=PydanticProgramMode.LLM,
    )

    city = llm.structured_predict(City, PromptTemplate("{question}"), question=QUESTION)

    assert city == EXPECTED
    [body] = _chat_bodies(sim)
    assert body["response_format"] == {"type": "json_object"}
    assert "tools" not in body
