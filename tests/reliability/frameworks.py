"""One call, four ways (invoke, stream, ainvoke, astream), through three front doors: the core
client, LangChain's ``ChatModelScope`` and LlamaIndex's ``ModelScopeLLM``, with or without a
tool bound. Every run is reduced to the same :class:`Observed` record, so a suite can compare
what each framework delivered.

Example:
    >>> observed = run_call("langchain", "astream", tools=True, base_url=sim.base_url)
    >>> observed.content, observed.tool_calls, observed.error
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelscope_inference import ModelScopeClient
from modelscope_inference.chat import ChatRequest

from .support import CHAT_MODEL, TOKEN

FRAMEWORKS = ("core", "langchain", "llamaindex")
MODES = ("invoke", "stream", "ainvoke", "astream")
PROMPT = "What is the weather in Paris and Rome?"

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny in {city}"


ToolCall = tuple[str, str, Any]  # (id, name, args)


@dataclass
class Observed:
    """What a caller saw: the streamed pieces (in order), the final content and tool calls, and
    the exception that ended the call, if any."""

    pieces: list[str] = field(default_factory=list)
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    invalid_tool_calls: list[Any] = field(default_factory=list)
    error: BaseException | None = None


def run_call(
    framework: str,
    mode: str,
    *,
    tools: bool,
    base_url: str,
    timeout: float = 5.0,
    max_retries: int = 1,
    model: str = CHAT_MODEL,
    api_key: str = TOKEN,
) -> Observed:
    """Make one call and record what came back; exceptions are captured, not raised."""
    observed = Observed()
    caller = _CALLERS[framework](
        model=model, api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
    )
    try:
        if mode.startswith("a"):
            asyncio.run(getattr(caller, mode)(observed, tools))
        else:
            getattr(caller, mode)(observed, tools)
    except Exception as exc:
        observed.error = exc
    return observed


# --- core ---------------------------------------------------------------------------------------


class _Core:
    def __init__(self, *, model: str, **options: Any) -> None:
        self.client = ModelScopeClient.create(
            api_key=options["api_key"],
            base_url=options["base_url"],
            timeout=options["timeout"],
            max_retries=options["max_retries"],
        )
        self.model = model

    def _request(self, tools: bool) -> ChatRequest:
        return ChatRequest(
            model=self.model,
            messages=[{"role": "user", "content": PROMPT}],
            tools=[WEATHER_TOOL] if tools else None,
        )

    @staticmethod
    def _finish(observed: Observed, choice: Any) -> None:
        observed.content = choice.content
        observed.tool_calls = [(c.id, c.name, c.args) for c in choice.tool_calls if c.valid]
        observed.invalid_tool_calls = [c for c in choice.tool_calls if not c.valid]

    def invoke(self, observed: Observed, tools: bool) -> None:
        self._finish(observed, self.client.chat.complete(self._request(tools)).first)

    async def ainvoke(self, observed: Observed, tools: bool) -> None:
        self._finish(observed, (await self.client.chat.acomplete(self._request(tools))).first)

    def _delta(self, observed: Observed, delta: Any) -> None:
        if delta.done:
            observed.content = "".join(observed.pieces)
            calls = delta.tool_calls
            observed.tool_calls = [(c.id, c.name, c.args) for c in calls if c.valid]
            observed.invalid_tool_calls = [c for c in calls if not c.valid]
        else:
            observed.pieces.append(delta.content)

    def stream(self, observed: Observed, tools: bool) -> None:
        for delta in self.client.chat.stream(self._request(tools)):
            self._delta(observed, delta)

    async def astream(self, observed: Observed, tools: bool) -> None:
        async for delta in self.client.chat.astream(self._request(tools)):
            self._delta(observed, delta)


# --- LangChain ----------------------------------------------------------------------------------


class _LangChain:
    def __init__(self, *, model: str, **options: Any) -> None:
        from langchain_modelscope import ChatModelScope

        self.llm = ChatModelScope(model=model, **options)

    def _runnable(self, tools: bool) -> Any:
        return self.llm.bind_tools([WEATHER_TOOL]) if tools else self.llm

    @staticmethod
    def _finish(observed: Observed, message: Any) -> None:
        observed.content = message.content
        observed.tool_calls = [(c["id"], c["name"], c["args"]) for c in message.tool_calls]
        observed.invalid_tool_calls = list(message.invalid_tool_calls)

    def invoke(self, observed: Observed, tools: bool) -> None:
        self._finish(observed, self._runnable(tools).invoke(PROMPT))

    async def ainvoke(self, observed: Observed, tools: bool) -> None:
        self._finish(observed, await self._runnable(tools).ainvoke(PROMPT))

    def stream(self, observed: Observed, tools: bool) -> None:
        total = None
        for chunk in self._runnable(tools).stream(PROMPT):
            observed.pieces.append(chunk.content)
            total = chunk if total is None else total + chunk
        self._finish(observed, total)

    async def astream(self, observed: Observed, tools: bool) -> None:
        total = None
        async for chunk in self._runnable(tools).astream(PROMPT):
            observed.pieces.append(chunk.content)
            total = chunk if total is None else total + chunk
        self._finish(observed, total)


# --- LlamaIndex ---------------------------------------------------------------------------------


class _LlamaIndex:
    def __init__(self, *, model: str, **options: Any) -> None:
        from llama_index_modelscope import ModelScopeLLM

        options["api_base"] = options.pop("base_url")
        self.llm = ModelScopeLLM(model=model, **options)

    @staticmethod
    def _messages() -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role="user", content=PROMPT)]

    @staticmethod
    def _tools() -> list[Any]:
        from llama_index.core.tools import FunctionTool

        return [FunctionTool.from_defaults(fn=get_weather)]

    def _finish(self, observed: Observed, response: Any) -> None:
        observed.content = response.message.content or ""
        selections = self.llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
        observed.tool_calls = [(s.tool_id, s.tool_name, s.tool_kwargs) for s in selections]

    def _with_tools(self, method: str) -> Callable[..., Any]:
        def call() -> Any:
            return getattr(self.llm, f"{method}_with_tools")(
                self._tools(), user_msg=PROMPT, allow_parallel_tool_calls=True
            )

        return call

    def invoke(self, observed: Observed, tools: bool) -> None:
        call = self._with_tools("chat") if tools else lambda: self.llm.chat(self._messages())
        self._finish(observed, call())

    async def ainvoke(self, observed: Observed, tools: bool) -> None:
        call = self._with_tools("achat") if tools else lambda: self.llm.achat(self._messages())
        self._finish(observed, await call())

    def stream(self, observed: Observed, tools: bool) -> None:
        call = (
            self._with_tools("stream_chat")
            if tools
            else lambda: self.llm.stream_chat(self._messages())
        )
        last = None
        for response in call():
            observed.pieces.append(response.delta or "")
            last = response
        self._finish(observed, last)

    async def astream(self, observed: Observed, tools: bool) -> None:
        call = (
            self._with_tools("astream_chat")
            if tools
            else lambda: self.llm.astream_chat(self._messages())
        )
        last = None
        async for response in await call():
            observed.pieces.append(response.delta or "")
            last = response
        self._finish(observed, last)


_CALLERS: dict[str, Callable[..., Any]] = {
    "core": _Core,
    "langchain": _LangChain,
    "llamaindex": _LlamaIndex,
}
