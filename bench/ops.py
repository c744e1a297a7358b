"""One operation per contender, as zero-argument calls the timer can repeat.

Each builder returns the :class:`~bench.timing.Variant` list of one case, the raw ``openai`` SDK
first (the baseline). The same operation runs on ours and on the peer of each framework, so a
builder names three functions: one for the raw SDK, one for a LangChain chat model, one for a
LlamaIndex LLM. A contender whose package is missing is left out and named in :data:`MISSING`.

Example:
    >>> variants = invoke_variants(server.url())
    >>> [v.name for v in variants]
    ['openai', 'httpx floor', 'core ChatClient', 'ChatModelScope', 'ChatOpenAI', ...]

Async clients that bind to an event loop (aiohttp sessions) are built on first use inside the
loop that runs the case (:class:`InLoop`) and closed there by the variant's ``aclose``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import httpx
import openai

from bench import clients
from bench.servers import EMBEDDING_MODEL, MODEL
from bench.timing import Variant

MISSING: set[str] = set()
CHAT_BODY: dict[str, Any] = {"model": MODEL, "messages": clients.MESSAGES}
_USAGE = {"include_usage": True}

Op = Callable[[Any], Any]
T = TypeVar("T")
AIOHTTP_FLOOR = "aiohttp floor"
# The concurrency case measures how many calls the transport carries at once, so our classes
# run with the adaptive limiter off: on (the default) it holds a model's calls in flight to what
# the service's 429s allow, starting at 1 and never above max_concurrency (16), by design
# (ModelScope aims to serve one call at a time); bench/adaptive.py measures the limiter itself.
UNLIMITED: dict[str, Any] = {"adaptive_concurrency": False}


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
    def on(
        cls,
        url: str,
        token: str = clients.TOKEN,
        *,
        aio: bool = False,
        ours: Mapping[str, Any] | None = None,
    ) -> Contenders:
        """Every contender against ``url`` (the raw SDK async when ``aio``); ``ours`` are
        options for our two classes only."""
        raw_factory = clients.async_openai_client if aio else clients.openai_client
        options = dict(ours or {})
        return cls(
            raw=raw_factory(url, token),
            lc=build("ChatModelScope", lambda: clients.chat_modelscope(url, token, **options)),
            lc_peer=build("ChatOpenAI", lambda: clients.chat_openai(url, token)),
            li=build("ModelScopeLLM", lambda: clients.modelscope_llm(url, token, **options)),
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
        variants = [
            Variant(name, partial(op, obj), aio) for name, op, obj in pairs if obj is not None
        ]
        if aio:
            variants[0].aclose = self.raw.close  # AsyncOpenAI: its pool, closed in its loop
        return variants

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


def _json_headers(token: str) -> dict[str, str]:
    """The kind of headers the core sends (auth, JSON in and out, a user agent)."""
    return {
        **_headers(token),
        "Accept": "application/json",
        "User-Agent": "modelscope-inference-bench",
    }


def httpx_invoke(url: str, token: str = clients.TOKEN) -> Variant:
    """The floor: a raw POST plus ``json.loads``, no types, no validation."""
    client, body = httpx.Client(), json.dumps(CHAT_BODY).encode()
    target, headers = url + "/chat/completions", _headers(token)
    return Variant(
        "httpx floor",
        lambda: json.loads(client.post(target, content=body, headers=headers).content),
    )


def core_variant(
    url: str, token: str, op: Callable[[Any, Any], Any], *, aio: bool = False, **options: Any
) -> Variant:
    """Our core alone (``ModelScopeClient.chat``), to tell its cost from an adapter's; async
    ones close the loop's pool in the loop (``ModelScopeClient.aclose``)."""
    from modelscope_inference import ChatRequest, ModelScopeClient

    client = ModelScopeClient.create(api_key=token, base_url=url, **options)
    chat, request = client.chat, ChatRequest(model=MODEL, messages=clients.MESSAGES)
    return Variant(
        "core ChatClient", lambda: op(chat, request), aio, aclose=client.aclose if aio else None
    )


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


def _fan_out(one: Op, count: int) -> Op:
    """``one`` called ``count`` times at once, in one ``gather``."""
    return lambda c: asyncio.gather(*(one(c) for _ in range(count)))


def ainvoke_variants(url: str, count: int, token: str = clients.TOKEN) -> list[Variant]:
    """``count`` concurrent async chat calls per contender (one ``gather``), plus the raw
    aiohttp floor and our core alone."""
    messages = clients.li_messages()
    variants = Contenders.on(url, token, aio=True, ours=UNLIMITED).variants(
        raw=_fan_out(lambda c: c.chat.completions.create(**CHAT_BODY), count),
        lc=_fan_out(lambda m: m.ainvoke("hi"), count),
        li=_fan_out(lambda m: m.achat(messages), count),
        aio=True,
    )

    def acomplete_all(chat: Any, request: Any) -> Any:
        return asyncio.gather(*(chat.acomplete(request) for _ in range(count)))

    core = core_variant(url, token, acomplete_all, aio=True, **UNLIMITED)
    return [variants[0], aiohttp_floor(url, count, token), core, *variants[1:]]


# --- async transports, side by side ---------------------------------------------------------


class InLoop(Generic[T]):
    """A client built on first use inside the running event loop (an aiohttp session binds to
    its loop), and closed in that loop by :meth:`aclose`.

    Example:
        >>> session = InLoop(aiohttp.ClientSession, lambda s: s.close())
        >>> Variant("x", lambda: use(session.get()), aio=True, aclose=session.aclose)
    """

    def __init__(self, build: Callable[[], T], close: Callable[[T], Awaitable[Any]]) -> None:
        self._build, self._close = build, close
        self._value: T | None = None

    def get(self) -> T:
        """The client, built now if this is the first use."""
        if self._value is None:
            self._value = self._build()
        return self._value

    async def aclose(self) -> None:
        """Close the client, if it was built (idempotent)."""
        value, self._value = self._value, None
        if value is not None:
            await self._close(value)


def _pool() -> int:
    """The pool every candidate gets: the core's own (``transport.MAX_CONNECTIONS``)."""
    from modelscope_inference.transport import MAX_CONNECTIONS

    return MAX_CONNECTIONS


def _aiohttp_session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=_pool()))


def _httpx_limits() -> httpx.Limits:
    return httpx.Limits(max_connections=_pool(), max_keepalive_connections=_pool())


def _chat_target(url: str, token: str) -> tuple[str, bytes, dict[str, str]]:
    """The URL, JSON bytes and headers every raw contender posts (the core's kind of request)."""
    return url + "/chat/completions", json.dumps(CHAT_BODY).encode(), _json_headers(token)


def aiohttp_floor(url: str, count: int, token: str = clients.TOKEN) -> Variant:
    """The floor: one ``aiohttp.ClientSession`` (pool as ours) posting the same bytes, each
    answer read and ``json.loads``-ed, ``count`` at once in one ``gather``."""
    target, body, headers = _chat_target(url, token)
    session: InLoop[Any] = InLoop(_aiohttp_session, lambda s: s.close())

    async def one(client: Any) -> Any:
        async with client.post(target, data=body, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            return json.loads(await response.read())

    async def call() -> Any:
        client = session.get()
        return await asyncio.gather(*(one(client) for _ in range(count)))

    return Variant(AIOHTTP_FLOOR, call, aio=True, aclose=session.aclose)


def _httpx_fan_out(
    name: str,
    build: Callable[[], httpx.AsyncClient],
    url: str,
    count: int,
    token: str,
    *,
    send: bool,
) -> Variant:
    """``count`` concurrent POSTs on an ``httpx.AsyncClient`` built in the loop: with
    ``client.send(client.build_request(...))`` (as the core's stream path) or ``client.post``."""
    target, body, headers = _chat_target(url, token)
    holder: InLoop[httpx.AsyncClient] = InLoop(build, lambda c: c.aclose())

    async def one(client: httpx.AsyncClient) -> Any:
        if send:
            request = client.build_request("POST", target, content=body, headers=headers)
            response = await client.send(request)
        else:
            response = await client.post(target, content=body, headers=headers)
        response.raise_for_status()
        return json.loads(response.content)

    async def call() -> Any:
        client = holder.get()
        return await asyncio.gather(*(one(client) for _ in range(count)))

    return Variant(name, call, aio=True, aclose=holder.aclose)


def _httpx_aiohttp_client() -> httpx.AsyncClient:
    import httpx_aiohttp

    return httpx_aiohttp.HttpxAiohttpClient(limits=_httpx_limits(), timeout=60)


def _httpx_on_aiohttp_transport() -> httpx.AsyncClient:
    """As the core's pool builds it: an aiohttp session under ``AiohttpTransport``."""
    import httpx_aiohttp

    transport = httpx_aiohttp.AiohttpTransport(client=_aiohttp_session())
    return httpx.AsyncClient(transport=transport, timeout=60)


def _httpx_default() -> httpx.AsyncClient:
    return httpx.AsyncClient(limits=_httpx_limits(), timeout=60)


def core_apost(url: str, count: int, token: str = clients.TOKEN) -> Variant:
    """Our ``Transport.apost`` (the direct aiohttp lane when no proxy applies), parsed to a
    dict, ``count`` at once."""
    from modelscope_inference import ModelScopeClient

    client = ModelScopeClient.create(api_key=token, base_url=url, **UNLIMITED)
    transport = client.transport

    def call() -> Any:
        posts = (transport.apost("/chat/completions", CHAT_BODY, model=MODEL) for _ in range(count))
        return asyncio.gather(*posts)

    return Variant("core Transport.apost", call, aio=True, aclose=client.aclose)


def transport_variants(
    url: str, count: int, token: str = clients.TOKEN, *, slow_every: int = 3
) -> list[Variant]:
    """The async transport candidates, each ``count`` concurrent POSTs parsed with
    ``json.loads``, pool as ours: raw aiohttp (the floor), httpx on aiohttp three ways,
    httpx's default transport (httpcore; run every ``slow_every``-th round, it is ~10× slower)
    and our core's ``Transport.apost``."""
    variants = [
        aiohttp_floor(url, count, token),
        _httpx_fan_out(
            "HttpxAiohttpClient.send", _httpx_aiohttp_client, url, count, token, send=True
        ),
        _httpx_fan_out(
            "HttpxAiohttpClient.post", _httpx_aiohttp_client, url, count, token, send=False
        ),
        _httpx_fan_out(
            "httpx on AiohttpTransport", _httpx_on_aiohttp_transport, url, count, token, send=True
        ),
        _httpx_fan_out("httpx default", _httpx_default, url, count, token, send=True),
        core_apost(url, count, token),
    ]
    variants[4].every = slow_every
    return variants


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
