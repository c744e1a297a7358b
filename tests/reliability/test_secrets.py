"""Secret hygiene: the token never shows up anywhere a user, a log or a tracer can see it.

One distinctive token (:data:`support.TOKEN`), accepted by the simulator so that real calls
succeed, is checked against every surface: ``repr``/``str``, ``model_dump``, LangChain
``dumps``/``dumpd``, pickles, LlamaIndex ``to_dict``/``to_json``, DEBUG log records (including
``httpx``, ``httpcore`` and ``openai``), every error class's message and args, LangChain
callbacks and traces, LlamaIndex instrumentation events and spans, results, and the simulator's
request log. The number of surfaces checked is printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import pickle
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool
from pydantic import Field

from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
from llama_index_modelscope import ModelScopeLLM
from llama_index_modelscope.embeddings import ModelScopeEmbedding
from modelscope_inference import ImageRequest, ModelScopeClient, Settings
from modelscope_inference.chat import ChatRequest
from modelscope_inference.errors import ConfigurationError, ModelScopeError
from modelscope_inference.limiter import forget_limits, limiter_for
from modelscope_inference.quota import tracker_for
from modelscope_inference.redaction import redact
from modelscope_inference.simulator import Fault, Reply, Simulator

from .frameworks import FRAMEWORKS, MODES, get_weather, run_call
from .support import CHAT_MODEL, COUNTS, EMBED_MODEL, TOKEN

MARKERS = (TOKEN, TOKEN.removeprefix("ms-"), "LEAKCHECK-7f3a9c2e", "123456789abc", TOKEN[-8:])
SURFACES: set[str] = set()


def assert_clean(surface: str, *values: Any) -> None:
    """Fail if any rendering of ``values`` contains the token (or a recognisable part)."""
    text = "\n".join(_render(value) for value in values)
    for marker in MARKERS:
        assert marker not in text, f"the token leaked through {surface}"
    SURFACES.add(surface)
    COUNTS["secret surfaces"] = len(SURFACES)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value
    parts = [repr(value), str(value)]
    with contextlib.suppress(TypeError, ValueError):
        parts.append(json.dumps(value, default=repr))
    return "\n".join(parts)


# --- the objects --------------------------------------------------------------------------------


def _objects(base_url: str) -> dict[str, Any]:
    return {
        "ChatModelScope": ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url=base_url),
        "ModelScopeEmbeddings": ModelScopeEmbeddings(
            model=EMBED_MODEL, api_key=TOKEN, base_url=base_url
        ),
        "ModelScopeLLM": ModelScopeLLM(model=CHAT_MODEL, api_key=TOKEN, api_base=base_url),
        "ModelScopeEmbedding": ModelScopeEmbedding(
            model_name=EMBED_MODEL, api_key=TOKEN, api_base=base_url
        ),
        "ModelScopeClient": ModelScopeClient.create(api_key=TOKEN, base_url=base_url),
        "Settings": Settings.resolve(api_key=TOKEN, base_url=base_url),
    }


OBJECT_NAMES = [
    "ChatModelScope",
    "ModelScopeEmbeddings",
    "ModelScopeLLM",
    "ModelScopeEmbedding",
    "ModelScopeClient",
    "Settings",
]


def _serializations(name: str, obj: Any) -> dict[str, Callable[[], Any]]:
    """Every way the object can be printed, dumped or serialized."""
    ways: dict[str, Callable[[], Any]] = {"repr": lambda: repr(obj), "str": lambda: str(obj)}
    if hasattr(obj, "model_dump"):
        ways["model_dump"] = obj.model_dump
        ways["model_dump_json"] = obj.model_dump_json
        ways["model_dump(mode=json)"] = lambda: obj.model_dump(mode="json")
        ways["model_copy repr"] = lambda: repr(obj.model_copy())
    if name in ("ChatModelScope", "ModelScopeEmbeddings", "ModelScopeLLM", "ModelScopeEmbedding"):
        ways["pickle"] = lambda: pickle.dumps(obj)
    if name in ("ChatModelScope", "ModelScopeEmbeddings"):
        ways["langchain dumps"] = lambda: dumps(obj)
        ways["langchain dumps(pretty)"] = lambda: dumps(obj, pretty=True)
        ways["langchain dumpd"] = lambda: dumpd(obj)
    if name == "ChatModelScope":
        ways["to_json"] = obj.to_json
        ways["identifying params"] = lambda: obj._identifying_params
        ways["invocation params"] = lambda: obj._get_invocation_params()
        ways["ls params"] = lambda: obj._get_ls_params()
        ways["bound runnable"] = lambda: repr(obj.bind_tools([_weather_tool()]))
    if name in ("ModelScopeLLM", "ModelScopeEmbedding"):
        ways["llamaindex to_dict"] = obj.to_dict
        ways["llamaindex to_json"] = obj.to_json
    if name == "ModelScopeLLM":
        ways["metadata"] = lambda: obj.metadata
    if name == "ModelScopeClient":
        ways["transport repr"] = lambda: repr(obj.transport)
        ways["openai client repr"] = lambda: repr(obj.transport.openai_client())
    return ways


def _weather_tool() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }


@pytest.mark.parametrize("source", ["argument", "environment"])
@pytest.mark.parametrize("name", OBJECT_NAMES)
def test_objects_print_dump_and_pickle_without_the_token(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, name: str, source: str
) -> None:
    if source == "environment":
        monkeypatch.setenv("MODELSCOPE_API_KEY", TOKEN)
    obj = _objects_from(source, sim.base_url)[name]
    for way, render in _serializations(name, obj).items():
        assert_clean(f"{name} {way}", render())


def _objects_from(source: str, base_url: str) -> dict[str, Any]:
    if source == "argument":
        return _objects(base_url)
    return {
        "ChatModelScope": ChatModelScope(model=CHAT_MODEL, base_url=base_url),
        "ModelScopeEmbeddings": ModelScopeEmbeddings(model=EMBED_MODEL, base_url=base_url),
        "ModelScopeLLM": ModelScopeLLM(model=CHAT_MODEL, api_base=base_url),
        "ModelScopeEmbedding": ModelScopeEmbedding(model_name=EMBED_MODEL, api_base=base_url),
        "ModelScopeClient": ModelScopeClient.create(base_url=base_url),
        "Settings": Settings.resolve(base_url=base_url),
    }


def test_langchain_serialization_names_the_secret_instead_of_holding_it(sim: Simulator) -> None:
    llm = ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url=sim.base_url)
    secret = {"lc": 1, "type": "secret", "id": ["MODELSCOPE_API_KEY"]}
    assert dumpd(llm)["kwargs"]["api_key"] == secret
    embeddings = ModelScopeEmbeddings(model=EMBED_MODEL, api_key=TOKEN, base_url=sim.base_url)
    assert_clean("ModelScopeEmbeddings dumpd", dumpd(embeddings))


@pytest.mark.parametrize("name", ["ChatModelScope", "ModelScopeLLM", "ModelScopeEmbedding"])
def test_an_unpickled_model_reads_the_token_from_the_environment(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    data = pickle.dumps(_objects(sim.base_url)[name])
    assert_clean(f"{name} pickle", data)
    monkeypatch.setenv("MODELSCOPE_API_KEY", TOKEN)
    restored = pickle.loads(data)
    if name == "ChatModelScope":
        assert restored.invoke("hi").content
    elif name == "ModelScopeLLM":
        assert restored.chat([ChatMessage(role="user", content="hi")]).message.content
    else:
        assert len(restored.get_text_embedding("hi")) > 0
    assert_clean(f"{name} unpickled repr", repr(restored))


# --- logs ---------------------------------------------------------------------------------------

LOGGERS = ("", "httpx", "httpcore", "openai", "modelscope_inference", "langchain", "llama_index")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def test_debug_logs_of_real_calls_carry_no_token(
    sim: Simulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    sim.inject(Fault.rate_limit(), times=1)  # one retry, logged at WARNING with its reason
    for framework in FRAMEWORKS:
        for mode in MODES:
            observed = run_call(framework, mode, tools=mode == "stream", base_url=sim.base_url)
            assert observed.error is None, observed.error
    sim.script(Reply.error(401, {"errors": {"message": f"bad token {TOKEN}"}}))
    assert run_call("core", "invoke", tools=False, base_url=sim.base_url).error is not None
    client = ModelScopeClient.create(api_key=TOKEN, base_url=sim.base_url)
    client.transport.openai_client().models.list()  # the openai SDK's own DEBUG logging
    client.embeddings.embed(["hello"], model=EMBED_MODEL)

    records = debug_logs.records
    names = {record.name.split(".")[0] for record in records}
    assert {"httpx", "httpcore", "openai", "modelscope_inference"} <= names, names
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        assert_clean(
            f"log records ({record.name.split('.')[0]})",
            formatter.format(record),
            record.getMessage(),
            record.args,
            record.__dict__,
        )
    assert_clean("captured log text", debug_logs.text)


# --- exceptions ---------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raised(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except ModelScopeError as exc:
        return exc
    raise AssertionError("no error was raised")


def _client(base_url: str, **options: Any) -> ModelScopeClient:
    return ModelScopeClient.create(api_key=TOKEN, base_url=base_url, max_retries=1, **options)


def _request(model: str = CHAT_MODEL) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}])


def _force_every_error(sim: Simulator) -> list[BaseException]:
    """One instance of every error class, from realistic causes; the server echoes the token
    back where a careless server might."""
    url = sim.base_url
    errors: list[BaseException] = []

    def fresh() -> None:
        sim.reset()
        tracker_for(TOKEN, url).reset()

    def complete(model: str = CHAT_MODEL, **options: Any) -> Callable[[], Any]:
        return lambda: _client(url, **options).chat.complete(_request(model))

    def stream() -> Callable[[], Any]:
        return lambda: list(_client(url).chat.stream(_request()))

    def scripted(
        status: int, body: Any, headers: dict[str, str] | None = None, retries: int = 1
    ) -> BaseException:
        fresh()
        sim.script(Reply.error(status, body, headers), times=None)
        client = ModelScopeClient.create(api_key=TOKEN, base_url=url, max_retries=retries)
        return _raised(lambda: client.chat.complete(_request()))

    def injected(fault: Fault, call: Callable[[], Any]) -> BaseException:
        fresh()
        sim.inject(fault, times=None)
        return _raised(call)

    def bad_tool_arguments() -> BaseException:
        fresh()
        sim.script(Reply.tool_call("get_weather", '{"city": "Par'))
        llm = ModelScopeLLM(model=CHAT_MODEL, api_key=TOKEN, api_base=url)
        response = llm.chat_with_tools([FunctionTool.from_defaults(fn=get_weather)], "hi")
        return _raised(lambda: llm.get_tool_calls_from_response(response))

    echo = f"token {TOKEN} (Authorization: Bearer {TOKEN})"
    errors.append(_raised(lambda: ModelScopeClient.create(api_key=TOKEN, base_url="http://x.io")))
    errors.append(
        _raised(lambda: ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url="ftp://x"))
    )
    # a shared state store that cannot be reached (nothing listens on port 1)
    unreachable = "redis://:secret@127.0.0.1:1/0"
    errors.append(
        _raised(lambda: ModelScopeClient.create(api_key=TOKEN, base_url=url, state=unreachable))
    )
    errors.append(scripted(401, {"errors": {"message": f"Authenticaton failed, {echo}"}}))
    errors.append(
        scripted(401, {"error": {"message": f"Please bind your Alibaba Cloud account. {echo}"}})
    )
    errors.append(
        scripted(400, {"error": {"message": f"enable_thinking must be set to false {echo}"}})
    )
    errors.append(scripted(400, {"error": {"message": f"bad parameter {echo}"}}))
    errors.append(scripted(404, f"404 page not found {echo}"))
    errors.append(scripted(418, f"teapot {echo}"))
    errors.append(scripted(503, {"errors": {"message": f"overloaded {echo}"}}))
    errors.append(scripted(429, {"errors": {"message": f"Request limit exceeded {echo}"}}))
    # reference: modelscope-api.md §8.1: calls left make a 429 transient; without headers the
    # "Request limit exceeded." is ambiguous (raised as is when no retry is allowed).
    calls_left = {"modelscope-ratelimit-requests-remaining": "1897"}
    errors.append(scripted(429, {"errors": {"message": f"busy {echo}"}}, calls_left))
    errors.append(
        scripted(429, {"errors": {"message": f"Request limit exceeded. {echo}"}}, retries=0)
    )
    retired = {"http_code": "429", "message": f"insufficient balance (1008) {echo}"}
    errors.append(scripted(429, {"error": {**retired, "type": "insufficient_balance_error"}}))
    errors.append(injected(Fault.slow_first_byte(2.0), complete(timeout=0.2)))
    errors.append(injected(Fault.drop_after(3), stream()))
    errors.append(injected(Fault.malformed_chunk(at=1), stream()))
    errors.append(bad_tool_arguments())
    # A message that cannot be encoded (a lone surrogate) next to a pasted token: refused
    # before any request, and the token is not in the error or its chain.
    unsendable = ChatRequest(
        model=CHAT_MODEL, messages=[{"role": "user", "content": f"{echo} \ud800"}]
    )
    errors.append(_raised(lambda: _client(url).chat.complete(unsendable)))
    fresh()
    # reference §8.3: a json_schema request is answered 200 with "choices": null
    schema = {"type": "json_schema", "json_schema": {"name": "A", "schema": {"type": "object"}}}
    json_schema = ChatRequest(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": echo}],
        params={"response_format": schema},
    )
    errors.append(_raised(lambda: _client(url).chat.complete(json_schema)))
    fresh()
    sim.set_quota(account_limit=0)
    errors.append(_raised(complete()))
    errors.append(_raised(complete()))  # known spent: raised before any request
    errors.extend(_image_errors(sim, echo))
    errors.extend(_limiter_errors(sim, echo))
    fresh()
    closed = f"http://127.0.0.1:{_closed_port()}/v1"
    errors.append(
        _raised(
            lambda: ModelScopeClient.create(
                api_key=TOKEN, base_url=closed, max_retries=0
            ).chat.complete(_request())
        )
    )
    return errors


def _image_errors(sim: Simulator, echo: str) -> list[BaseException]:
    """The image errors (issue 17): a refused parameter, a FAILED task whose reason echoes
    the token, an unknown task, a timeout, and a submit answer without a task_id."""
    sim.reset()
    tracker_for(TOKEN, sim.base_url).reset()
    images = _client(sim.base_url).images
    found = [_raised(lambda: images.submit(ImageRequest(prompt=echo, steps=0)))]
    sim.images.duration = 0.0
    sim.images.fail_next(message=f"failed {echo}")
    found.append(_raised(lambda: images.generate(ImageRequest(prompt=echo, size="64x64"))))
    found.append(_raised(lambda: images.wait(f"no-task {TOKEN}")))
    sim.images.stall()
    found.append(_raised(lambda: images.generate(ImageRequest(prompt="a cat"), timeout=0.2)))
    odd = httpx.MockTransport(lambda request: httpx.Response(200, json={"echo": echo}))
    client = ModelScopeClient.create(
        api_key=TOKEN, base_url="https://example.com/v1", http_client=httpx.Client(transport=odd)
    )
    found.append(_raised(lambda: client.images.submit(ImageRequest(prompt="a cat"))))
    return found


def _limiter_errors(sim: Simulator, echo: str) -> list[BaseException]:
    """The bulk and concurrency errors (issue 18): an embeddings call whose second batch is
    refused with the token echoed, and a call that found no free concurrency slot in time."""
    answers = iter([None])

    def embedder(request: httpx.Request) -> httpx.Response:
        if next(answers, "refuse") == "refuse":
            return httpx.Response(401, json={"errors": {"message": f"Authentication {echo}"}})
        vectors = [{"index": i, "embedding": [0.5]} for i in range(2)]
        return httpx.Response(200, json={"data": vectors})

    odd = httpx.MockTransport(embedder)
    client = ModelScopeClient.create(
        api_key=TOKEN, base_url="https://example.com/v1", http_client=httpx.Client(transport=odd)
    )
    embed = client.embeddings
    found = [_raised(lambda: embed.embed([echo] * 4, model=EMBED_MODEL, batch_size=2))]
    forget_limits()
    held = limiter_for(TOKEN, sim.base_url, CHAT_MODEL).acquire(bound=1, timeout=5)
    waiting = ModelScopeClient.create(api_key=TOKEN, base_url=sim.base_url, timeout=0.1)
    found.append(_raised(lambda: waiting.chat.complete(_request())))
    limiter_for(TOKEN, sim.base_url, CHAT_MODEL).release(held, rate_limited=False, succeeded=False)
    return found


def _all_error_classes() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    todo: list[type[BaseException]] = [ModelScopeError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("modelscope_inference") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_error_class_keeps_the_token_out_of_its_message_and_args(sim: Simulator) -> None:
    errors = _force_every_error(sim)
    assert {type(e) for e in errors} >= _all_error_classes()
    for error in errors:
        name = type(error).__name__
        chain = []
        cause: BaseException | None = error
        while cause is not None:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        assert_clean(
            f"{name} message, args and traceback",
            str(error),
            repr(error),
            error.args,
            getattr(error, "message", ""),
            "".join(traceback.format_exception(error)),
            [str(c) for c in chain],
        )
        for attribute in ("request", "response"):
            value = getattr(error, attribute, None)
            if value is not None:
                assert_clean(f"{name} .{attribute} repr", repr(value))
        if TOKEN in str(getattr(error, "body", "")):
            assert "***" in str(error)  # the server echoed the token: the message masks it


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("mode", MODES)
def test_errors_through_the_adapters_keep_the_token_out(
    sim: Simulator, framework: str, mode: str
) -> None:
    sim.script(Reply.error(401, {"errors": {"message": f"bad token {TOKEN}"}}), times=None)
    observed = run_call(framework, mode, tools=False, base_url=sim.base_url)
    assert observed.error is not None
    assert_clean(
        f"{framework} error message",
        str(observed.error),
        observed.error.args,
        "".join(traceback.format_exception(observed.error)),
    )


# --- LangChain callbacks and traces -------------------------------------------------------------


class RecordingHandler(BaseCallbackHandler):
    """Keeps every payload LangChain hands to a callback handler."""

    def __init__(self) -> None:
        self.payloads: list[tuple[str, Any]] = []

    def _keep(self, hook: str, *args: Any, **kwargs: Any) -> None:
        self.payloads.append((hook, (args, kwargs)))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self._keep("on_chat_model_start", serialized, messages, **kwargs)

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self._keep("on_llm_new_token", token, **kwargs)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self._keep("on_llm_end", response, **kwargs)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self._keep("on_llm_error", error, **kwargs)


class RecordingTracer(BaseTracer):
    """A tracer (as LangSmith is) that keeps every finished run."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.runs.append(run)

    def _on_run_update(self, run: Run) -> None:
        self.runs.append(run)


def test_langchain_callbacks_and_traces_carry_no_token(sim: Simulator) -> None:
    handler, tracer = RecordingHandler(), RecordingTracer()
    config = {"callbacks": [handler, tracer], "metadata": {"user": "u1"}, "tags": ["t"]}
    llm = ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url=sim.base_url, max_retries=0)
    llm.invoke("hi", config=config)
    list(llm.bind_tools([_weather_tool()]).stream("hi", config=config))
    asyncio.run(llm.ainvoke("hi", config=config))

    async def events() -> list[Any]:
        return [event async for event in llm.astream_events("hi", config=config, version="v2")]

    assert_clean("langchain astream_events", asyncio.run(events()))
    sim.inject(Fault.empty_4xx(401))
    with pytest.raises(ModelScopeError):
        llm.invoke("hi", config=config)

    starts = [p for hook, p in handler.payloads if hook == "on_chat_model_start"]
    assert starts, "no on_chat_model_start payload recorded"
    (serialized, _messages), kwargs = starts[0]
    assert kwargs["invocation_params"]["model_name"] == CHAT_MODEL
    assert kwargs["metadata"]["ls_provider"] == "modelscope"
    assert_clean("langchain on_chat_model_start serialized", serialized)
    assert_clean("langchain invocation_params", [p[1].get("invocation_params") for p in starts])
    assert_clean("langchain ls_* metadata", [p[1].get("metadata") for p in starts])
    assert_clean("langchain callback payloads", handler.payloads)
    assert tracer.runs
    assert_clean("langchain tracer runs", [run.model_dump() for run in tracer.runs])


# --- LlamaIndex instrumentation -----------------------------------------------------------------


class RecordingEventHandler(BaseEventHandler):
    events: list[Any] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "RecordingEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        self.events.append(event)


class RecordingSpanHandler(BaseSpanHandler[SimpleSpan]):
    """Keeps what tracing integrations read: bound arguments, the instance, results, errors."""

    seen: list[Any] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "RecordingSpanHandler"

    def _keep(self, bound_args: inspect.BoundArguments, instance: Any, extra: Any) -> None:
        self.seen.append((repr(bound_args.arguments), repr(instance), repr(extra)))

    def new_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any = None,
        parent_span_id: str | None = None,
        tags: Any = None,
        **kwargs: Any,
    ) -> SimpleSpan:
        self._keep(bound_args, instance, tags)
        return SimpleSpan(id_=id_, parent_id=parent_span_id, tags=tags or {})

    def prepare_to_exit_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any = None,
        result: Any = None,
        **kwargs: Any,
    ) -> SimpleSpan:
        self._keep(bound_args, instance, result)
        return self.open_spans.get(id_) or SimpleSpan(id_=id_)

    def prepare_to_drop_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> SimpleSpan:
        self._keep(bound_args, instance, err)
        return self.open_spans.get(id_) or SimpleSpan(id_=id_)


@pytest.fixture
def llamaindex_instrumentation() -> Iterator[tuple[RecordingEventHandler, RecordingSpanHandler]]:
    dispatcher = get_dispatcher()
    events, spans = RecordingEventHandler(), RecordingSpanHandler()
    dispatcher.add_event_handler(events)
    dispatcher.add_span_handler(spans)
    yield events, spans
    dispatcher.event_handlers.remove(events)
    dispatcher.span_handlers.remove(spans)


def test_llamaindex_events_spans_and_callbacks_carry_no_token(
    sim: Simulator, llamaindex_instrumentation: tuple[RecordingEventHandler, RecordingSpanHandler]
) -> None:
    events, spans = llamaindex_instrumentation
    debug = LlamaDebugHandler()
    llm = ModelScopeLLM(model=CHAT_MODEL, api_key=TOKEN, api_base=sim.base_url, max_retries=0)
    llm.callback_manager = CallbackManager([debug])
    messages = [ChatMessage(role="user", content="hi")]
    llm.chat(messages)
    list(llm.stream_chat(messages))
    asyncio.run(llm.achat(messages))
    llm.complete("hi")
    embedding = ModelScopeEmbedding(model_name=EMBED_MODEL, api_key=TOKEN, api_base=sim.base_url)
    embedding.get_text_embedding("hi")
    sim.inject(Fault.empty_4xx(401))
    with pytest.raises(ModelScopeError):
        llm.chat(messages)

    assert events.events and spans.seen
    assert_clean("llamaindex instrumentation events", [e.model_dump() for e in events.events])
    assert_clean("llamaindex instrumentation event reprs", [repr(e) for e in events.events])
    assert_clean("llamaindex span bound args, instances and results", spans.seen)
    pairs = debug.get_event_pairs()
    assert pairs
    assert_clean("llamaindex callback payloads", [[e.payload for e in pair] for pair in pairs])


# --- results and the simulator's log ------------------------------------------------------------


def test_results_and_quota_status_carry_no_token(sim: Simulator) -> None:
    chat = ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url=sim.base_url)
    message = chat.invoke("hi")
    assert_clean("langchain AIMessage", message.model_dump(), chat.quota_status)
    llm = ModelScopeLLM(model=CHAT_MODEL, api_key=TOKEN, api_base=sim.base_url)
    response = llm.chat([ChatMessage(role="user", content="hi")])
    assert_clean("llamaindex ChatResponse", response.model_dump(), response.raw, llm.quota_status)
    client = _client(sim.base_url)
    result = client.chat.complete(_request())
    assert_clean("core ChatResult", result, client.quota_status(CHAT_MODEL))


def test_the_simulator_request_log_masks_the_token(sim: Simulator) -> None:
    for framework in FRAMEWORKS:
        assert run_call(framework, "stream", tools=True, base_url=sim.base_url).error is None
    ModelScopeEmbeddings(model=EMBED_MODEL, api_key=TOKEN, base_url=sim.base_url).embed_query("x")
    assert sim.requests
    assert all(r.headers.get("authorization", "").endswith("***") for r in sim.requests)
    assert_clean("simulator request log", sim.requests)


def test_the_http_requests_themselves_carry_the_token_only_in_authorization() -> None:
    """The token goes in exactly one place on the wire: the Authorization header."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    transport = httpx.MockTransport(handler)
    client = ModelScopeClient.create(
        api_key=TOKEN,
        base_url="https://api-inference.modelscope.cn/v1",
        http_client=httpx.Client(transport=transport),
    )
    client.chat.complete(_request())
    (request,) = seen
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    others = {k: v for k, v in request.headers.items() if k != "authorization"}
    assert_clean("request URL, body and other headers", str(request.url), request.content, others)


# --- issue 15: an echoing service, a mistyped token, credentials in the URL --------------------

ECHO_BODY = {"errors": {"message": f"Authentication failed for token {TOKEN}"}}
ECHO_HEADERS = {"x-echo": f"Bearer {TOKEN}", "x-token": TOKEN, "x-request-id": TOKEN}


def _locals_dump(error: BaseException) -> str:
    """What ``capture_locals`` tracebacks (and so error trackers) print: every local's repr."""
    dump = traceback.TracebackException.from_exception(error, capture_locals=True)
    return "".join(dump.format())


def _read_back(error: BaseException) -> list[Any]:
    """What frameworks and users read from the exception's answer and request."""
    response = error.response  # type: ignore[attr-defined]
    return [
        response.text,
        response.content,
        response.json(),
        dict(response.headers),
        dict(response.request.headers),
        error.body,  # type: ignore[attr-defined]
        _locals_dump(error),
    ]


def _langchain_calls(llm: ChatModelScope, config: Any) -> dict[str, Callable[[], Any]]:
    async def astream() -> list[Any]:
        return [chunk async for chunk in llm.astream("hi", config=config)]

    async def events() -> list[Any]:
        seen: list[Any] = []
        try:
            async for event in llm.astream_events("hi", config=config, version="v2"):
                seen.append(event)
        finally:
            assert_clean("langchain astream_events of an echoing error", seen)
        return seen

    return {
        "invoke": lambda: llm.invoke("hi", config=config),
        "stream": lambda: list(llm.stream("hi", config=config)),
        "ainvoke": lambda: asyncio.run(llm.ainvoke("hi", config=config)),
        "astream": lambda: asyncio.run(astream()),
        "astream_events": lambda: asyncio.run(events()),
    }


def _llamaindex_calls(llm: ModelScopeLLM) -> dict[str, Callable[[], Any]]:
    messages = [ChatMessage(role="user", content="hi")]

    async def astream_chat() -> list[Any]:
        return [r async for r in await llm.astream_chat(messages)]

    return {
        "chat": lambda: llm.chat(messages),
        "stream_chat": lambda: list(llm.stream_chat(messages)),
        "achat": lambda: asyncio.run(llm.achat(messages)),
        "astream_chat": lambda: asyncio.run(astream_chat()),
    }


def test_finding_1_an_echoed_token_reaches_no_callback_trace_event_log_or_traceback(
    sim: Simulator,
    debug_logs: pytest.LogCaptureFixture,
    llamaindex_instrumentation: tuple[RecordingEventHandler, RecordingSpanHandler],
) -> None:
    sim.script(Reply.error(401, ECHO_BODY, ECHO_HEADERS), times=None)
    handler, tracer = RecordingHandler(), RecordingTracer()
    config = {"callbacks": [handler, tracer]}
    chat = ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url=sim.base_url, max_retries=0)
    llm = ModelScopeLLM(model=CHAT_MODEL, api_key=TOKEN, api_base=sim.base_url, max_retries=0)
    calls = {
        **{f"langchain {k}": v for k, v in _langchain_calls(chat, config).items()},
        **{f"llamaindex {k}": v for k, v in _llamaindex_calls(llm).items()},
    }

    for name, call in calls.items():
        error = _raised(call)
        assert "***" in error.response.text, name  # type: ignore[attr-defined]
        assert_clean(f"{name}: the echoing error's response, request and locals", _read_back(error))

    assert len(sim.requests) == len(calls)
    errors_seen = [p for hook, p in handler.payloads if hook == "on_llm_error"]
    assert len(errors_seen) == 5  # invoke, stream, ainvoke, astream, astream_events
    assert_clean("langchain on_llm_error payloads (response=...)", handler.payloads)
    runs = [json.loads(run.model_dump_json()) for run in tracer.runs]  # as LangSmith uploads them
    assert any(run.get("error") for run in runs)
    assert_clean("langchain tracer run JSON of an echoing error", runs)
    events, spans = llamaindex_instrumentation
    assert events.events and spans.seen
    assert_clean("llamaindex events of an echoing error", [e.model_dump() for e in events.events])
    assert_clean("llamaindex spans of an echoing error", spans.seen)
    assert_clean("DEBUG logs of an echoing error", debug_logs.text, debug_logs.records)


def test_finding_1_a_successful_answer_echoing_the_token_in_headers_keeps_it_out_of_metadata() -> (
    None
):
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"id": "c1", "choices": [{"index": 0, "message": {"content": "ok"}}]}
        return httpx.Response(200, json=body, headers=ECHO_HEADERS)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    chat = ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, http_client=client)
    llm = ModelScopeLLM(model=CHAT_MODEL, api_key=TOKEN, http_client=client)

    message = chat.invoke("hi")
    response = llm.chat([ChatMessage(role="user", content="hi")])

    assert message.response_metadata["request_id"] == "***"
    assert_clean("langchain metadata of an echoing answer", message.model_dump())
    assert_clean("llamaindex metadata of an echoing answer", response.model_dump(), response.raw)


# Each cannot be sent in an HTTP header; a paste brings them in.
BAD_TOKENS = {
    "zero-width space": TOKEN[:20] + "\u200b" + TOKEN[20:],
    "trailing zero-width space": TOKEN + "\u200b",
    "line break inside": TOKEN[:20] + "\n" + TOKEN[20:],
    "space inside": TOKEN[:20] + " " + TOKEN[20:],
    "accented letter": TOKEN[:-1] + "é",
}


def _build(name: str, base_url: str, **options: Any) -> Any:
    """One of the four adapter classes or the core client, from ``options``."""
    if name == "ChatModelScope":
        return ChatModelScope(model=CHAT_MODEL, base_url=base_url, **options)
    if name == "ModelScopeEmbeddings":
        return ModelScopeEmbeddings(model=EMBED_MODEL, base_url=base_url, **options)
    if name == "ModelScopeLLM":
        return ModelScopeLLM(model=CHAT_MODEL, api_base=base_url, **options)
    if name == "ModelScopeEmbedding":
        return ModelScopeEmbedding(model_name=EMBED_MODEL, api_base=base_url, **options)
    return ModelScopeClient.create(base_url=base_url, **options)


BUILT = OBJECT_NAMES[:5]


@pytest.mark.parametrize("source", ["argument", "environment"])
@pytest.mark.parametrize("bad", list(BAD_TOKENS))
@pytest.mark.parametrize("name", BUILT)
def test_finding_2_a_token_that_cannot_be_sent_is_refused_at_construction(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, name: str, bad: str, source: str
) -> None:
    token = BAD_TOKENS[bad]
    options = {"api_key": token} if source == "argument" else {}
    if source == "environment":
        monkeypatch.setenv("MODELSCOPE_API_KEY", token)

    with pytest.raises(ConfigurationError) as caught:
        _build(name, sim.base_url, **options)

    error = caught.value
    shown = "\n".join([str(error), repr(error), *map(str, error.args)])
    assert "printable ASCII" in shown and "U+" in shown
    assert ("MODELSCOPE_API_KEY" if source == "environment" else "api_key") in shown
    assert token[3:-2] not in shown and TOKEN[3:12] not in shown and TOKEN[-8:] not in shown
    assert not sim.requests


@pytest.mark.parametrize("name", BUILT)
def test_finding_2_whitespace_around_the_token_is_stripped_and_the_call_works(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", f" {TOKEN}\n")  # echo "$TOKEN" > .env, etc.

    built = _build(name, sim.base_url)

    core = built if isinstance(built, ModelScopeClient) else built._core
    assert (core if isinstance(core, ModelScopeClient) else core()).settings.api_key == TOKEN
    if name == "ChatModelScope":
        assert built.invoke("hi").content


PASSWORD = "hunter2-secret-pw"


@pytest.mark.parametrize("source", ["argument", "environment"])
@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{PASSWORD}@127.0.0.1:8000/v1",
        f"https://user:{PASSWORD}@api-inference.modelscope.cn/v1",
        f"https://{PASSWORD}@api-inference.modelscope.cn/v1/chat/completions",
        f"ftp://user:{PASSWORD}@example.com/v1",
    ],
)
@pytest.mark.parametrize("name", BUILT)
def test_finding_8_credentials_in_base_url_are_refused_without_echoing_the_password(
    monkeypatch: pytest.MonkeyPatch, name: str, url: str, source: str
) -> None:
    if source == "environment":
        monkeypatch.setenv("MODELSCOPE_BASE_URL", url)
    monkeypatch.setenv("MODELSCOPE_API_KEY", TOKEN)

    with pytest.raises(ConfigurationError) as caught:
        _build(name, url if source == "argument" else None)  # type: ignore[arg-type]

    error = caught.value
    shown = "\n".join([str(error), repr(error), *map(str, error.args)])
    assert "***@" in shown and PASSWORD not in shown
    if url.startswith("http") and url.endswith("/v1"):
        assert "credentials" in shown  # otherwise another problem is named first, masked


def test_finding_8_a_proxy_with_credentials_is_still_allowed_and_masked(sim: Simulator) -> None:
    proxy = f"http://user:{PASSWORD}@proxy.example:3128"

    chat = ChatModelScope(model=CHAT_MODEL, api_key=TOKEN, base_url=sim.base_url, proxy=proxy)
    client = ModelScopeClient.create(api_key=TOKEN, base_url=sim.base_url, proxy=proxy)

    assert PASSWORD not in repr(client) and PASSWORD not in repr(client.settings)
    assert redact(f"via {proxy}") == "via http://user:***@proxy.example:3128"
    assert chat.proxy == proxy  # the user's own field, as given
