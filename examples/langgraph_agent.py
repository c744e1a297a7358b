"""A LangGraph agent (``langchain.agents.create_agent``) with two tools and conversation memory.

The agent loop runs on LangGraph; an in-memory checkpointer keeps the conversation per
``thread_id``, so the second question can refer to the first. Run it with
``python examples/langgraph_agent.py`` (no token: a local simulator answers).
"""

from __future__ import annotations

from _common import modelscope_service
from langchain.agents import create_agent
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_modelscope import ChatModelScope

MODEL = "Qwen/Qwen3-32B"


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny and 24 °C in {city}."


@tool
def get_population(city: str) -> int:
    """The population of a city."""
    return {"Hangzhou": 12_500_000, "Chengdu": 21_400_000}.get(city, 1_000_000)


def main() -> None:
    llm = ChatModelScope(model=MODEL, max_retries=2)
    agent = create_agent(llm, [get_weather, get_population], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "demo"}}

    for question in (
        "What is the weather in Hangzhou?",
        "And what is the population of Hangzhou?",
    ):
        state = agent.invoke({"messages": [("user", question)]}, config)
        for message in state["messages"][-3:]:
            for call in getattr(message, "tool_calls", None) or []:
                print(f"  tool call: {call['name']}({call['args']})")
        print(f"Q: {question}\nA: {state['messages'][-1].content}\n")

    print("Messages kept for thread 'demo':", len(state["messages"]))
    print("Quota left for", MODEL, "->", llm.quota_status.model_remaining)


if __name__ == "__main__":
    with modelscope_service():
        main()
