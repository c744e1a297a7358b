"""The image tool spec (issue 17): a FunctionAgent asked to draw calls it and gives the URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ImageBlock

from llama_index_modelscope import ModelScopeImageToolSpec, ModelScopeLLM
from modelscope_inference.simulator import Simulator

MakeLLM = Callable[..., ModelScopeLLM]
QUESTION = "Please generate an image of 'a golden cat' for me."


def _spec(sim: Simulator) -> ModelScopeImageToolSpec:
    sim.images.duration = 0.0  # done at once: the first poll (after ~1 s) finds it
    return ModelScopeImageToolSpec(api_key=sim.token, api_base=sim.base_url, size="64x64")


def _submits(sim: Simulator) -> list[Any]:
    return [r.body for r in sim.requests if r.path == "/v1/images/generations"]


async def test_function_agent_calls_the_tool_and_answers_with_the_url(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    spec = _spec(sim)
    agent = FunctionAgent(tools=spec.to_tool_list(), llm=make_llm("Qwen/Qwen2.5-7B-Instruct"))
    answer = str(await agent.run(QUESTION))
    assert spec.last_result is not None
    assert spec.last_result.url in answer
    assert spec.last_result.url.startswith(f"{sim.url}/files/images/")
    assert len(_submits(sim)) == 1


async def test_react_agent_calls_the_tool_too(make_llm: MakeLLM, sim: Simulator) -> None:
    spec = _spec(sim)
    agent = ReActAgent(tools=spec.to_tool_list(), llm=make_llm("Qwen/Qwen2.5-7B-Instruct"))
    answer = str(await agent.run(QUESTION))
    assert spec.last_result is not None and spec.last_result.url in answer


def test_the_result_is_available_as_an_image_block(sim: Simulator) -> None:
    spec = _spec(sim)
    url = spec.generate_image("a red fox", seed=3)
    block = spec.image_block()
    assert isinstance(block, ImageBlock) and str(block.url) == url


def test_a_refused_parameter_is_returned_to_the_agent_as_text(sim: Simulator) -> None:
    text = _spec(sim).generate_image("a red fox", size="9999x9999")
    assert text.startswith("Error:") and "64x64 to 1664x1664" in text
    assert _submits(sim) == []
