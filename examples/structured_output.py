"""Structured output: a pydantic object back from the model, in LangChain and in LlamaIndex.

``with_structured_output`` picks a method that works for the model: function calling, or JSON
mode with the schema in the prompt for models that think (thinking mode cannot force a tool
call, and ModelScope does not serve ``json_schema`` output). Run it
with ``python examples/structured_output.py`` (no token: a local simulator fills the schema).
"""

from __future__ import annotations

from _common import modelscope_service
from llama_index.core.prompts import PromptTemplate
from pydantic import BaseModel, Field

from langchain_modelscope import ChatModelScope
from llama_index_modelscope import ModelScopeLLM


class City(BaseModel):
    """Facts about a city."""

    name: str = Field(description="The city's name")
    country: str = Field(description="The country it is in")
    population: int = Field(description="Approximate population")


def main() -> None:
    # LangChain: function calling on an instruct model...
    llm = ChatModelScope(model="Qwen/Qwen2.5-7B-Instruct")
    city = llm.with_structured_output(City).invoke("Tell me about Hangzhou.")
    print("LangChain, function calling:", repr(city))

    # ...and JSON mode on a thinking-only model (chosen automatically).
    thinker = ChatModelScope(model="Qwen/Qwen3-235B-A22B-Thinking-2507")
    result = thinker.with_structured_output(City, include_raw=True).invoke("Tell me about Chengdu.")
    print("LangChain, thinking model:   ", repr(result["parsed"]))
    print(
        "  (reasoning kept apart:",
        len(result["raw"].additional_kwargs.get("reasoning_content", "")),
        "chars)",
    )

    # LlamaIndex: structured_predict fills the pydantic class.
    li_llm = ModelScopeLLM(model="Qwen/Qwen3-32B")
    prompt = PromptTemplate("Give the facts about {city_name}.")
    print(
        "LlamaIndex:                  ",
        repr(li_llm.structured_predict(City, prompt, city_name="Xi'an")),
    )


if __name__ == "__main__":
    with modelscope_service():
        main()
