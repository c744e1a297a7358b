"""One operation per contender, as zero-argument calls the timer can repeat.

Each builder returns the :class:`~bench.timing.Variant` list of one case, the raw ``openai`` SDK
first (the baseline). The same operation runs on ours and on the peer of each framework, so a
builder names three functions: one for the raw SDK, one for a LangChain chat model, one for a
LlamaIndex LLM. A contender whose package is missing is left out and named in :data:`MISSING`.

Example:
    >>> variants = invoke_variants(server.url())
    >>> [v.name for v in variants]
    ['openai', 'httpx floor', 'core ChatClient', 'ChatModelScope', 'ChatOpenAI', ...]
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import openai

from bench import clients
from bench.servers import EMBEDDING_MODEL, MODEL
from bench.timing import Variant

MISSING: set[str] = set()
CHAT_BODY: dict[str, Any] = {"model": MODEL, "messages": clients.MESSAGES}
_USAGE = {"include_usage": True}

Op = Callable[[Any], Any]


def build(name: str, factory: Callable[[], Any]) -> Any | None:
    """The contender's client, or None (and a note in MISSING) when its package is absent."""
    try:
        return factory()
    except ImportError:
        MISSING.add(name)
        return None


@dataclass
class Contenders:
    """The raw SDK client, and ours and the peer's model for each framework, on one URL."""

    raw: Any
    lc: Any
    lc_peer: Any
    li: Any
    li_peer: Any

    @classmethod
    def on(cls, url: str, token: str = clients.TOKEN, *, aio: bool = False) -> Contenders:
        """Every contender against ``url`` (the raw SDK async when ``aio``)."""
        raw_factory = clients.async_openai_client if aio else clients.openai_client
        return cls(
            raw=raw_factory(url, token),
            lc=build("ChatModelScope", lambda: clients.chat_modelscope(url, token)),
            lc_peer=build("ChatOpenAI", lambda: clients.chat_openai(url, token)),
            li=build("ModelScopeLLM", lambda: clients.modelscope_llm(url, token)),
            li_peer=build("OpenAILike", lambda: clients.openai_like(url, token)),
        )

    def variants(self, raw: Op, lc: Op, li: Op, *, aio: bool = False) -> list[Variant]:
        """``raw`` on the SDK client, ``lc`` on both LangChain models, ``li`` on both LlamaIndex."""
        pairs = [
            ("openai", raw, self.raw),
            ("ChatModelScope", lc, self.lc),
            ("ChatOpenAI", lc, self.lc_peer),
            ("ModelScopeLLM", li, self.li),
            ("OpenAILike", li, self.li_peer),
        ]
        return [Variant(name, partial(op, obj), aio) for name, op, obj in pairs if obj is not None]

    def bind_tools(self) -> Contenders:
        """A copy whose LangChain models have the benchmark tool bound."""
        schema = [clients.TOOL_SCHEMA]
        return Contenders(
            self.raw,
            self.lc.bind_tools(schema) if self.lc is not None else None,
            self.lc_peer.bind_tools(schema) if self.lc_peer is not None else None,
            self.li,
            self.li_peer,
        )


# --- one chat call --------------------------------------------------------------------------


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def httpx_invoke(url: str, token: str = clients.TOKEN) -> Variant:
    """The floor: a raw POST plus ``json.loads``, no types, no validation."""
    client, body = httpx.Client(), json.dumps(CHAT_BODY).encode()
    target, headers = url + "/chat/completions", _headers(token)
    return Variant(
        "httpx floor",
        lambda: json.loads(client.post(target, content=body, headers=headers).content),
    )


def core_variant(url: str, token: str, op: Callable[[Any, Any], Any]) -> Variant:
    """Our core alone (``ModelScopeClient.chat``), to tell its cost from an adapter's."""
    from modelscope_inference import ChatRequest, ModelScopeClient

    chat = ModelScopeClient.create(api_key=token, base_url=url).chat
    request = ChatRequest(model=MODEL, messages=clients.MESSAGES)
    return Variant("core ChatClient", lambda: op(chat, request))


def invoke_variants(url: str, token: str = clients.TOKEN) -> list[Variant]:
    """One non-streamed chat call per contender, plus the raw-httpx floor and our core alone."""
    messages = clients.li_messages()
    variants = Contenders.on(url, token).variants(
        raw=lambda c: c.chat.completions.create(**CHAT_BODY),
        lc=lambda m: m.invoke("hi"),
        li=lambda m: m.chat(messages),
    )
    core = core_variant(url, token, lambda chat, request: chat.complete(request))
    return [variants[0], httpx_invoke(url, token), core, *variants[1:]]


def ainvoke_variants(url: str, count: int) -> list[Variant]:
    """``count`` concurrent async chat calls per contender (one ``gather``)."""
    messages = clients.li_messages()

    def fan_out(one: Op) -> Op:
        return lambda c: asyncio.gather(*(one(c) for _ in range(count)))

    return Contenders.on(url, aio=True).variants(
        raw=fan_out(lambda c: c.chat.completions.create(**CHAT_BODY)),
        lc=fan_out(lambda m: m.ainvoke("hi")),
        li=fan_out(lambda m: m.achat(messages)),
        aio=True,
    )


# --- streams --------------------------------------------------------------------------------


def _drain(iterable: Any) -> None:
    for _ in iterable:
        pass


def _drain_openai(client: openai.OpenAI) -> None:
    for chunk in client.chat.completions.create(**CHAT_BODY, stream=True, stream_options=_USAGE):
        if chunk.choices:
            _ = chunk.choices[0].delta.content


def httpx_stream(url: str, token: str = clients.TOKEN) -> Variant:
    """The floor: raw SSE lines plus ``json.loads``."""
    client, body = httpx.Client(), json.dumps({**CHAT_BODY, "stream": True}).encode()
    target, headers = url + "/chat/completions", _headers(token)

    def call() -> None:
        with client.stream("POST", target, content=body, headers=headers) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])

    return Variant("httpx floor", call)


def stream_variants(url: str, token: str = clients.TOKEN) -> list[Variant]:
    """One streamed chat answer per contender, read to the end, plus the raw-SSE floor and
    our core alone."""
    messages = clients.li_messages()
    variants = Contenders.on(url, token).variants(
        raw=_drain_openai,
        lc=lambda m: _drain(m.stream("hi")),
        li=lambda m: _drain(m.stream_chat(messages)),
    )
    core = core_variant(url, token, lambda chat, request: _drain(chat.stream(request)))
    return [variants[0], httpx_stream(url, token), core, *variants[1:]]


async def _adrain(iterable: Any) -> None:
    async for _ in iterable:
        pass


async def _adrain_openai(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(**CHAT_BODY, stream=True, stream_options=_USAGE)
    async for chunk in stream:
        if chunk.choices:
            _ = chunk.choices[0].delta.content


async def _adrain_li(llm: Any, messages: list[Any]) -> None:
    await _adrain(await llm.astream_chat(messages))


def astream_variants(url: str) -> list[Variant]:
    """One streamed chat answer per contender, read to the end with ``async for``."""
    messages = clients.li_messages()
    return Contenders.on(url, aio=True).variants(
        raw=_adrain_openai,
        lc=lambda m: _adrain(m.astream("hi")),
        li=lambda m: _adrain_li(m, messages),
        aio=True,
    )


# --- tool calls -----------------------------------------------------------------------------


def _openai_tools(client: openai.OpenAI) -> list[Any]:
    reply = client.chat.completions.create(**CHAT_BODY, tools=[clients.TOOL_SCHEMA])
    calls = reply.choices[0].message.tool_calls or []
    return [json.loads(c.function.arguments) for c in calls]  # type: ignore[union-attr]


def _openai_tool_stream(client: openai.OpenAI) -> list[Any]:
    arguments: dict[int, list[str]] = {}
    stream = client.chat.completions.create(**CHAT_BODY, tools=[clients.TOOL_SCHEMA], stream=True)
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function and call.function.arguments:
                arguments.setdefault(call.index, []).append(call.function.arguments)
    return [json.loads("".join(parts)) for parts in arguments.values()]


def _lc_tool_stream(llm: Any) -> list[Any]:
    """The documented way to get tool calls from a LangChain stream: add the chunks up."""
    total = None
    for chunk in llm.stream("hi"):
        total = chunk if total is None else total + chunk
    return list(total.tool_calls) if total is not None else []


def _li_tools(llm: Any, tool: Any) -> list[Any]:
    response = llm.chat_with_tools([tool], user_msg="hi")
    return list(llm.get_tool_calls_from_response(response, error_on_no_tool_call=False))


def _li_tool_stream(llm: Any, tool: Any) -> list[Any]:
    last = None
    for last in llm.stream_chat_with_tools([tool], user_msg="hi"):  # noqa: B007
        pass
    return list(llm.get_tool_calls_from_response(last, error_on_no_tool_call=False))


def tool_variants(url: str) -> list[Variant]:
    """A non-streamed answer with two tool calls, parsed to argument dicts."""
    tool = clients.li_tool()
    return (
        Contenders.on(url)
        .bind_tools()
        .variants(
            raw=_openai_tools,
            lc=lambda m: m.invoke("hi").tool_calls,
            li=lambda m: _li_tools(m, tool),
        )
    )


def tool_stream_variants(url: str) -> list[Variant]:
    """A streamed tool call (many argument fragments), merged and parsed."""
    tool = clients.li_tool()
    return (
        Contenders.on(url)
        .bind_tools()
        .variants(
            raw=_openai_tool_stream,
            lc=_lc_tool_stream,
            li=lambda m: _li_tool_stream(m, tool),
        )
    )


# --- embeddings -----------------------------------------------------------------------------


def _openai_embed(client: openai.OpenAI, texts: list[str], size: int) -> list[list[float]]:
    vectors: list[list[float]] = []
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        reply = client.embeddings.create(
            model=EMBEDDING_MODEL, input=batch, encoding_format="float"
        )
        vectors.extend(item.embedding for item in reply.data)
    return vectors


EMBEDDERS: dict[str, Callable[[str], Any]] = {
    "ModelScopeEmbeddings": clients.modelscope_embeddings,
    "OpenAIEmbeddings": clients.openai_embeddings,
    "ModelScopeEmbedding": clients.modelscope_embedding,
}


def _embed_documents(model: Any, texts: list[str]) -> Any:
    if hasattr(model, "embed_documents"):  # LangChain
        return model.embed_documents(texts)
    return model.get_text_embedding_batch(texts)  # LlamaIndex


def embed_variants(urls: dict[str, str], texts: list[str]) -> list[Variant]:
    """Every text embedded, in each contender's default batches (32 for the raw SDK).

    ``urls`` maps each contender's name to its own base URL, so requests count per contender.
    """
    raw = clients.openai_client(urls["openai"])
    variants = [Variant("openai", lambda: _openai_embed(raw, texts, 32))]
    for name, factory in EMBEDDERS.items():
        model = build(name, partial(factory, urls[name]))
        if model is not None:
            variants.append(Variant(name, partial(_embed_documents, model, texts)))
    return variants
