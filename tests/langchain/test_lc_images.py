"""The image tool (issue 17): an agent asked to draw calls it and answers with the URL."""

from __future__ import annotations

from collections.abc import Callable

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from lc_helpers import PLAIN

from langchain_modelscope import ChatModelScope, ModelScopeImageTool
from modelscope_inference import ImageResult
from modelscope_inference.simulator import Simulator

Chat = Callable[..., ChatModelScope]
QUESTION = "Please generate an image of 'a golden cat' for me."


def _tool(sim: Simulator, **options: object) -> ModelScopeImageTool:
    sim.images.duration = 0.0  # done at once: the first poll (after ~1 s) finds it
    return ModelScopeImageTool(api_key=sim.token, base_url=sim.base_url, size="64x64", **options)


def _png(sim: Simulator) -> list[str]:
    return [r.path for r in sim.requests if r.path == "/v1/images/generations"]


def test_create_agent_calls_the_tool_and_answers_with_the_url(chat: Chat, sim: Simulator) -> None:
    agent = create_agent(chat(PLAIN), tools=[_tool(sim)])
    messages = agent.invoke({"messages": [("user", QUESTION)]})["messages"]
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in results] == ["generate_image"]
    url = results[0].content
    assert isinstance(url, str) and url.startswith(f"{sim.url}/files/images/")
    assert results[0].artifact["task_id"] in url
    final = messages[-1]
    assert isinstance(final, AIMessage) and url in final.text
    assert len(_png(sim)) == 1


async def test_the_tool_runs_async_with_content_and_artifact(sim: Simulator) -> None:
    call = {"name": "generate_image", "args": {"prompt": "a fox"}, "id": "c1", "type": "tool_call"}
    message = await _tool(sim).ainvoke(call)
    assert isinstance(message, ToolMessage)
    assert message.content == message.artifact["images"][0]
    assert message.artifact["status"] == "SUCCEED"


def test_a_refused_parameter_comes_back_as_the_tool_error(sim: Simulator) -> None:
    call = {"name": "generate_image", "args": {"prompt": "a fox", "size": "9999x9999"}, "id": "c2"}
    message = _tool(sim).invoke({**call, "type": "tool_call"})
    assert message.status == "error" and "64x64 to 1664x1664" in message.content
    assert _png(sim) == []


def test_the_runnable_form_takes_a_prompt_and_gives_the_result(sim: Simulator) -> None:
    chain = ChatPromptTemplate.from_template("a poster of {topic}") | _tool(sim).as_runnable()
    result = chain.invoke({"topic": "green tea"})
    assert isinstance(result, ImageResult) and result.images
    body = next(r.body for r in sim.requests if r.method == "POST")
    assert "a poster of green tea" in body["prompt"]
