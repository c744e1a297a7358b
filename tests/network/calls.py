"""The eight call forms a user meets: LangChain invoke/stream/ainvoke/astream and LlamaIndex
chat/stream_chat/achat/astream_chat, each run as a user would (async ones in ``asyncio.run``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from llama_index.core.llms import ChatMessage

from modelscope_inference.simulator import Simulator

from .conftest import langchain_model, llama_index_model

Factory = Callable[[], Any]


def _messages() -> list[ChatMessage]:
    return [ChatMessage(role="user", content="hi")]


async def _aclose_user_client(model: Any) -> None:
    """A user's own async client is theirs to close, in the loop that used it."""
    client = getattr(model, "http_async_client", None) or getattr(model, "async_http_client", None)
    if client is not None:
        await client.aclose()


@dataclass(frozen=True)
class CallForm:
    """One way to call a model; ``run`` builds the model (inside the loop, for async forms),
    calls it and returns the answer's text."""

    name: str
    framework: str
    sync_body: Callable[[Any], str] | None = None
    async_body: Callable[[Any], Awaitable[str]] | None = None

    @property
    def is_async(self) -> bool:
        return self.async_body is not None

    def model(self, sim: Simulator, **options: Any) -> Any:
        build = langchain_model if self.framework == "langchain" else llama_index_model
        return build(sim, **options)

    def run(self, make: Factory) -> str:
        if self.sync_body is not None:
            model = make()
            try:
                return self.sync_body(model)
            finally:
                model.close()  # our pooled connections: a server must not stop with them open
                client = getattr(model, "http_client", None)
                if client is not None:
                    client.close()
        assert self.async_body is not None
        body = self.async_body

        async def main() -> str:
            model = make()
            try:
                return await body(model)
            finally:
                await model.aclose()
                await _aclose_user_client(model)

        return asyncio.run(main())

    def __str__(self) -> str:
        return self.name


def _lc_invoke(llm: Any) -> str:
    return str(llm.invoke("hi").content)


def _lc_stream(llm: Any) -> str:
    return "".join(str(chunk.content) for chunk in llm.stream("hi"))


async def _lc_ainvoke(llm: Any) -> str:
    return str((await llm.ainvoke("hi")).content)


async def _lc_astream(llm: Any) -> str:
    return "".join([str(chunk.content) async for chunk in llm.astream("hi")])


def _li_chat(llm: Any) -> str:
    return str(llm.chat(_messages()).message.content)


def _li_stream_chat(llm: Any) -> str:
    return "".join(r.delta or "" for r in llm.stream_chat(_messages()))


async def _li_achat(llm: Any) -> str:
    return str((await llm.achat(_messages())).message.content)


async def _li_astream_chat(llm: Any) -> str:
    return "".join([r.delta or "" async for r in await llm.astream_chat(_messages())])


FORMS = [
    CallForm("langchain-invoke", "langchain", sync_body=_lc_invoke),
    CallForm("langchain-stream", "langchain", sync_body=_lc_stream),
    CallForm("langchain-ainvoke", "langchain", async_body=_lc_ainvoke),
    CallForm("langchain-astream", "langchain", async_body=_lc_astream),
    CallForm("llamaindex-chat", "llama_index", sync_body=_li_chat),
    CallForm("llamaindex-stream_chat", "llama_index", sync_body=_li_stream_chat),
    CallForm("llamaindex-achat", "llama_index", async_body=_li_achat),
    CallForm("llamaindex-astream_chat", "llama_index", async_body=_li_astream_chat),
]
