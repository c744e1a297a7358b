"""Chat completions: the rules both adapters share, as plain data in and plain data out.

An adapter converts its framework's messages into OpenAI wire dicts, builds a
:class:`ChatRequest`, and converts the :class:`ChatResult` or :class:`ChatDelta` stream back.
Everything ModelScope-specific happens here, once:

- thinking rules (reference: modelscope-api.md §4.1, user-needs.md §A.1–A.4): a non-streaming
  call to a thinking-only model streams internally and aggregates; hybrid models get
  ``enable_thinking: false`` unless thinking was asked for; a forced ``tool_choice`` is never
  sent in thinking mode (§3.3); a thinking-mode 400 teaches the catalog and is corrected once;
- quota pre-flight, and ``fallback_models`` on a model-scoped exhaustion (§A.5–A.7);
- retries (one layer, :mod:`modelscope_inference.retry`), and a stream is retried only before
  its first chunk reached the caller (§C.24).

Example:
    >>> client = ModelScopeClient.create(api_key=None)  # token from MODELSCOPE_API_KEY
    >>> result = client.chat.complete(ChatRequest(model="Qwen/Qwen3-32B",
    ...                                           messages=[{"role": "user", "content": "hi"}]))
    >>> result.content
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard, TypeVar

import httpx

from modelscope_inference import catalog
from modelscope_inference._lazy import caught, errors
from modelscope_inference.limiter import ConcurrencyGate
from modelscope_inference.messages import prepare_messages
from modelscope_inference.quota import (
    DEFAULT_PROBE_INTERVAL,
    USUAL_RESET,
    Admission,
    QuotaStatus,
    next_reset,
)
from modelscope_inference.retry import RetryPolicy
from modelscope_inference.structured import is_json_schema_format
from modelscope_inference.tools import (
    ParsedToolCall,
    ToolCallAccumulator,
    ToolCallChunk,
    parse_tool_calls,
)
from modelscope_inference.transport import EventStream, JSONResponse, Transport
from modelscope_inference.validation import check_request

logger = logging.getLogger("modelscope_inference")
T = TypeVar("T")

CHAT_PATH = "/chat/completions"
_FORCED_CHOICES = ("required", "any")


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    """One chat call, framework-free. ``messages`` are OpenAI wire dicts; ``params`` holds
    sampling options (``temperature``, ``max_tokens``, ``stop``, ``response_format``, …) and
    any extra top-level body fields (``extra_body``).

    Example:
        >>> ChatRequest(model="Qwen/Qwen3-32B", messages=[{"role": "user", "content": "hi"}],
        ...             params={"temperature": 0.2}, enable_thinking=False)
    """

    model: str
    messages: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any] = field(default_factory=dict)
    tools: Sequence[Mapping[str, Any]] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    enable_thinking: bool | None = None
    thinking_budget: int | None = None
    stream_usage: bool = True
    fallback_models: Sequence[str] = ()
    pass_back_reasoning: bool = False


@dataclass(frozen=True)
class Usage:
    """Token counts as the service reported them; ``reasoning_tokens`` when it says so."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None

    @classmethod
    def from_wire(cls, usage: object) -> Usage | None:
        """Parse an OpenAI ``usage`` object; None when absent or unusable."""
        if not _is_mapping(usage):
            return None
        prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
        if prompt is None and completion is None:
            return None
        total = _int(usage.get("total_tokens"))
        details = usage.get("completion_tokens_details")
        prompt_details = usage.get("prompt_tokens_details")
        return cls(
            input_tokens=prompt or 0,
            output_tokens=completion or 0,
            total_tokens=total if total is not None else (prompt or 0) + (completion or 0),
            reasoning_tokens=_int(details.get("reasoning_tokens"))
            if _is_mapping(details)
            else None,
            cached_tokens=_int(prompt_details.get("cached_tokens"))
            if _is_mapping(prompt_details)
            else None,
        )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ChatChoice:
    """One aggregated answer: text, reasoning (never mixed into the text), and tool calls."""

    content: str
    reasoning: str = ""
    tool_calls: list[ParsedToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    index: int = 0


@dataclass(frozen=True)
class ChatResult:
    """A complete answer. ``model`` is the id that answered (a fallback, perhaps).

    Example:
        >>> result.content, result.reasoning, result.usage.output_tokens, result.quota
    """

    choices: list[ChatChoice]
    model: str
    id: str | None = None
    request_id: str | None = None
    usage: Usage | None = None
    quota: QuotaStatus | None = None
    warnings: tuple[str, ...] = ()

    @property
    def first(self) -> ChatChoice:
        """The first choice (the only one unless ``n`` > 1)."""
        return self.choices[0] if self.choices else ChatChoice(content="")

    @property
    def content(self) -> str:
        """The first choice's text."""
        return self.first.content

    @property
    def reasoning(self) -> str:
        """The first choice's reasoning."""
        return self.first.reasoning


@dataclass(frozen=True)
class ChatDelta:
    """One streamed piece. The stream ends with a ``done`` delta carrying the metadata
    (finish reason, usage, model, ids, quota) and the first choice's merged, parsed
    ``tool_calls``, so an adapter need not merge ``tool_call_chunks`` itself."""

    content: str = ""
    reasoning: str = ""
    tool_call_chunks: tuple[ToolCallChunk, ...] = ()
    choice_index: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    request_id: str | None = None
    quota: QuotaStatus | None = None
    done: bool = False
    warnings: tuple[str, ...] = ()
    tool_calls: tuple[ParsedToolCall, ...] = ()


# --- planning (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class CallPlan:
    """What will actually be sent for one model: the body, and whether to stream."""

    model: str
    body: dict[str, Any]
    stream: bool
    warnings: tuple[str, ...] = ()

    @property
    def asks_json_schema(self) -> bool:
        """True when the body asks for ``json_schema`` output, which the service answers with
        ``choices: null`` (reference: modelscope-api.md §8.3)."""
        return is_json_schema_format(self.body.get("response_format"))


def normalize_tool_choice(choice: str | Mapping[str, Any] | None) -> str | dict[str, Any] | None:
    """``"any"`` → ``"required"``; a bare tool name → the OpenAI object form."""
    if choice is None or isinstance(choice, Mapping):
        return dict(choice) if choice is not None else None
    if choice == "any":
        return "required"
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _is_forced(choice: str | dict[str, Any] | None) -> bool:
    return choice in _FORCED_CHOICES or isinstance(choice, dict)


def _thinking_settings(
    info: catalog.ModelInfo, request: ChatRequest, *, want_stream: bool, forced_tools: bool
) -> tuple[bool | None, bool]:
    """Decide the ``enable_thinking`` value to send, and whether to stream."""
    asked = request.enable_thinking
    if asked is None and request.thinking_budget is not None:
        asked = True  # a thinking budget is a request for thinking
    if info.thinking == "always":
        return asked, True
    if info.thinking == "hybrid":
        if asked is True:
            return True, True
        if not want_stream or forced_tools:
            # Hybrid models refuse non-streaming calls, and forced tool_choice, while thinking.
            return False, want_stream
        return asked, True
    return asked, want_stream or asked is True


def plan_call(request: ChatRequest, model: str, *, want_stream: bool) -> CallPlan:
    """Build the request body for ``model`` under ModelScope's thinking rules.

    Example:
        >>> plan_call(ChatRequest(model="Qwen/Qwen3-32B", messages=msgs), "Qwen/Qwen3-32B",
        ...           want_stream=False).body["enable_thinking"]
        False
    """
    info = catalog.lookup(model)
    tool_choice = normalize_tool_choice(request.tool_choice) if request.tools else None
    enable, stream = _thinking_settings(
        info, request, want_stream=want_stream, forced_tools=_is_forced(tool_choice)
    )
    thinking_on = (
        info.thinking == "always"
        or enable is True
        or (enable is None and stream and info.thinking == "hybrid")
    )
    warnings: tuple[str, ...] = ()
    if thinking_on and _is_forced(tool_choice):
        warnings += (
            f"{model} runs in thinking mode, which rejects a forced tool_choice "
            f"({tool_choice!r}); sent tool_choice='auto' instead.",
        )
        tool_choice = "auto"
    body: dict[str, Any] = {
        "model": model,
        "messages": prepare_messages(
            request.messages, pass_back_reasoning=request.pass_back_reasoning
        ),
    }
    body.update({k: v for k, v in request.params.items() if v is not None})
    if request.tools:
        body["tools"] = [dict(t) for t in request.tools]
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    # reference: modelscope-api.md §4.1, the thinking switches are top-level body fields.
    if enable is not None:
        body["enable_thinking"] = enable
    if request.thinking_budget is not None and enable is not False:
        body["thinking_budget"] = request.thinking_budget
    body["stream"] = stream
    if stream and request.stream_usage:
        body["stream_options"] = {"include_usage": True}
    return CallPlan(model=model, body=body, stream=stream, warnings=warnings)


def learn_from_thinking_error(model: str, error: errors.ThinkingModeError) -> bool:
    """Teach the catalog what a thinking-mode 400 revealed; True when a re-plan may succeed."""
    message = str(error).lower()
    current = catalog.lookup(model).thinking
    if "must be set to false" in message and current != "hybrid":
        catalog.learn_thinking(model, "hybrid")
        return True
    if ("stream=false" in message or "stream mode" in message) and current != "always":
        catalog.learn_thinking(model, "always")
        return True
    if "tool_choice" in message and current == "none":
        catalog.learn_thinking(model, "hybrid")
        return True
    return False


# --- parsing (pure) -------------------------------------------------------------------------


def result_from_response(
    response: JSONResponse, model: str, warnings: tuple[str, ...], *, json_schema: bool = False
) -> ChatResult:
    """Turn a non-streamed ``chat.completion`` body into a :class:`ChatResult`.

    ``json_schema``: the request asked for ``json_schema`` output, so an answer without
    choices raises :class:`JSONSchemaUnsupportedError`, which names the fix.
    """
    data = response.data
    raw_choices = data.get("choices")
    if not isinstance(raw_choices, list) or not raw_choices:
        if json_schema:
            raise json_schema_unsupported(model, _http_response(response), data)
        raise _invalid(response, model, "no choices in the answer")
    choices = []
    for position, raw in enumerate(raw_choices):
        message = raw.get("message") if _is_mapping(raw) else None
        if not _is_mapping(message):
            raise _invalid(response, model, "a choice has no message")
        index = raw.get("index") if isinstance(raw.get("index"), int) else position
        choices.append(
            ChatChoice(
                content=_text(message.get("content")),
                reasoning=_reasoning(message),
                tool_calls=parse_tool_calls(message.get("tool_calls")),
                finish_reason=_str(raw.get("finish_reason")),
                index=index,
            )
        )
    return ChatResult(
        choices=choices,
        model=model,
        id=_str(data.get("id")),
        request_id=response.request_id,
        usage=Usage.from_wire(data.get("usage")),
        quota=response.quota,
        warnings=warnings,
    )


def _reasoning(message: Mapping[str, Any]) -> str:
    """The reasoning of a message or delta; ``""`` and null both mean "none".

    ModelScope sends ``reasoning_content: ""`` on every answer and delta that has none
    (reference: modelscope-api.md §8.4), so emptiness, not presence, decides; some servers
    name the field ``reasoning``. The answer's other §8.4 extras (``created`` in ms,
    ``system_fingerprint: ""``, ``function_calls: null``, a non-stream ``delta``) are never read.
    """
    return _text(message.get("reasoning_content") or message.get("reasoning"))


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # some servers answer with content parts
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, Mapping))
    return ""


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, fast for the plain dicts ``json.loads`` makes (an ABC
    check costs about a microsecond, several times per stream chunk)."""
    return type(value) is dict or isinstance(value, Mapping)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _invalid(response: JSONResponse, model: str, what: str) -> errors.InvalidResponseError:
    return errors.InvalidResponseError(
        f"ModelScope's answer could not be read ({what}; model {model!r}).",
        response=_http_response(response),
        body=response.data,
        model=model,
    )


def _http_response(response: JSONResponse) -> httpx.Response:
    return httpx.Response(
        response.status, headers=response.headers, request=httpx.Request("POST", CHAT_PATH)
    )


def json_schema_unsupported(
    model: str, response: httpx.Response, body: object
) -> errors.JSONSchemaUnsupportedError:
    """The error for a ``json_schema`` request answered without choices (§8.3)."""
    return errors.JSONSchemaUnsupportedError(
        f"ModelScope answered a response_format of type 'json_schema' with no choices "
        f"(model {model!r}): the service does not support json_schema output. Use "
        "with_structured_output(..., method='json_mode') or method='function_calling' "
        "(LangChain), structured_predict (LlamaIndex), or response_format="
        "{'type': 'json_object'} with the schema described in the prompt.",
        response=response,
        body=body,
        model=model,
    )


@dataclass
class _ChoiceState:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tools: ToolCallAccumulator = field(default_factory=ToolCallAccumulator)
    finish_reason: str | None = None


class StreamState:
    """Consumes ``chat.completion.chunk`` events; yields deltas and keeps the aggregate.

    Pure (no I/O), shared by the sync and async paths. Tolerates ``choices: []`` or ``null``
    chunks (reference: modelscope-api.md §4.4) and treats ``None`` and ``""`` alike (§A.3).
    """

    def __init__(
        self, model: str, warnings: tuple[str, ...] = (), *, json_schema: bool = False
    ) -> None:
        self.model = model
        self.warnings = warnings
        self.json_schema = json_schema
        self.id: str | None = None
        self.usage: Usage | None = None
        self.choices: dict[int, _ChoiceState] = {}
        self.started = False

    @classmethod
    def for_plan(cls, plan: CallPlan) -> StreamState:
        """The state for streaming ``plan``'s answer."""
        return cls(plan.model, plan.warnings, json_schema=plan.asks_json_schema)

    def consume(self, event: object) -> list[ChatDelta]:
        """Deltas for one event (usually one; none for keep-alives and usage chunks)."""
        if not _is_mapping(event):
            return []
        if self.id is None and isinstance(event.get("id"), str):
            self.id = event["id"]
        raw_usage = event.get("usage")
        if raw_usage is not None:  # most chunks carry none
            usage = Usage.from_wire(raw_usage)
            if usage is not None:
                self.usage = usage
        raw_choices = event.get("choices")
        if not isinstance(raw_choices, list):
            return []
        deltas = []
        for position, raw in enumerate(raw_choices):
            if _is_mapping(raw):
                delta = self._consume_choice(raw, position)
                if delta is not None:
                    deltas.append(delta)
        return deltas

    def _consume_choice(self, raw: Mapping[str, Any], position: int) -> ChatDelta | None:
        raw_index = raw.get("index")
        index = raw_index if isinstance(raw_index, int) else position
        state = self.choices.get(index)
        if state is None:  # not setdefault: that would build a _ChoiceState per chunk
            state = self.choices[index] = _ChoiceState()
        delta = raw.get("delta")
        delta = delta if _is_mapping(delta) else {}
        content = _text(delta.get("content"))
        reasoning = _reasoning(delta)
        raw_tools = delta.get("tool_calls")
        chunks = tuple(state.tools.add(raw_tools)) if isinstance(raw_tools, list) else ()
        finish = _str(raw.get("finish_reason"))
        if finish:
            state.finish_reason = finish
        if content:
            state.content.append(content)
        if reasoning:
            state.reasoning.append(reasoning)
        if not (content or reasoning or chunks):
            return None
        self.started = True
        return ChatDelta(
            content=content,
            reasoning=reasoning,
            tool_call_chunks=chunks,
            choice_index=index,
            model=self.model,
        )

    def _check_answered(self, stream: EventStream) -> None:
        """A ``json_schema`` request whose stream carried no choice gets the typed error."""
        if self.json_schema and not self.choices:
            raise json_schema_unsupported(self.model, stream.response, None)

    def final_delta(self, stream: EventStream) -> ChatDelta:
        """The closing delta: finish reason, usage, ids and quota."""
        self._check_answered(stream)
        first = self.choices.get(0)
        return ChatDelta(
            choice_index=0,
            finish_reason=first.finish_reason if first else None,
            usage=self.usage,
            model=self.model,
            id=self.id,
            request_id=stream.request_id,
            quota=stream.quota,
            done=True,
            warnings=self.warnings,
            tool_calls=tuple(first.tools.calls()) if first else (),
        )

    def result(self, stream: EventStream) -> ChatResult:
        """The aggregate of everything consumed, as one :class:`ChatResult`."""
        self._check_answered(stream)
        choices = [
            ChatChoice(
                content="".join(s.content),
                reasoning="".join(s.reasoning),
                tool_calls=s.tools.calls(),
                finish_reason=s.finish_reason,
                index=i,
            )
            for i, s in sorted(self.choices.items())
        ]
        return ChatResult(
            choices=choices or [ChatChoice(content="")],
            model=self.model,
            id=self.id,
            request_id=stream.request_id,
            usage=self.usage,
            quota=stream.quota,
            warnings=self.warnings,
        )

    def interrupted(self, exc: Exception, request: httpx.Request) -> errors.StreamInterruptedError:
        """The error for a stream that broke after output reached the caller."""
        first = self.choices.get(0, _ChoiceState())
        text, reasoning = "".join(first.content), "".join(first.reasoning)
        return errors.StreamInterruptedError(
            f"The stream from ModelScope broke after output began (model {self.model!r}, "
            f"{len(text)} characters received); not retried, to avoid duplicating text. "
            f"Cause: {exc}",
            request=request,
            model=self.model,
            text=text,
            reasoning=reasoning,
            tool_calls=first.tools.fragments(),
        )


# --- execution ------------------------------------------------------------------------------


def refusal_error(
    transport: Transport, model: str, admission: Admission
) -> errors.QuotaExhaustedError:
    """The error for a call refused locally, without a request: ``admission.refused`` was seen
    spent and is not due for a probe yet (or another call is probing it right now)."""
    scope = admission.refused or "model"
    status = transport.quota.status(model)
    seen = admission.seen_at or status.seen_at or transport.quota.clock()
    url = transport.settings.base_url + CHAT_PATH
    limit = status.account_limit if scope == "account" else status.model_limit
    advice = (
        "Switch to another model (see fallback_models)"
        if scope == "model"
        else "Another token or a paid provider can help meanwhile"
    )
    return errors.QuotaExhaustedError(
        f"ModelScope {scope} quota for {model!r} was seen spent at {seen.isoformat()}; no "
        f"request was sent. {_when_asked_again(admission)} {advice}, or call forget_quota() to "
        f"ask the service now. {USUAL_RESET}, and credits can come back sooner.",
        response=httpx.Response(429, request=httpx.Request("POST", url)),
        body=None,
        scope=scope,
        model=model,
        limit=limit,
        resets_at=next_reset(seen),
    )


def _when_asked_again(admission: Admission) -> str:
    if admission.probe_in_flight:
        return "Another call is asking the service right now whether it came back; retry soon."
    when = admission.next_probe_at.isoformat() if admission.next_probe_at else "soon"
    return f"The next call after {when} asks the service again (quota_probe_interval)."


class quota_gate:  # lower case: callers use it as a function, ``with quota_gate(...):``
    """Refuse a call to a scope known to be spent, without a request; otherwise let it go,
    as the one half-open probe when a spent scope is due (reference: modelscope-api.md §8.2).
    Pure bookkeeping, no I/O: sync and async callers wrap their request in it alike. A class,
    not a generator: it runs around every call, and entering it costs a third as much.

    Example:
        >>> with quota_gate(transport, "Qwen/Qwen3-32B", preflight=True, probe_interval=300):
        ...     transport.post(CHAT_PATH, body, model="Qwen/Qwen3-32B")
    """

    __slots__ = ("_admission", "_model", "_preflight", "_probe_interval", "_transport")

    def __init__(
        self, transport: Transport, model: str, *, preflight: bool, probe_interval: float
    ) -> None:
        self._transport = transport
        self._model = model
        self._preflight = preflight
        self._probe_interval = probe_interval
        self._admission: Admission | None = None

    def __enter__(self) -> None:
        if not self._preflight:
            return
        quota = self._transport.quota
        admission = quota.admit(self._model, probe_interval=self._probe_interval)
        if admission.refused is not None:
            raise refusal_error(self._transport, self._model, admission)
        self._admission = admission

    def __exit__(self, *exc_info: object) -> None:
        if self._admission is not None:
            self._transport.quota.release(self._admission)


def _candidates(request: ChatRequest) -> list[str]:
    seen: list[str] = []
    for model in (request.model, *request.fallback_models):
        if model not in seen:
            seen.append(model)
    return seen


def _should_fall_back(exc: errors.APIStatusError, model: str, remaining: list[str]) -> bool:
    """Move on when this model cannot answer but another may: its own quota is spent, or it is
    not served or retired (reference: modelscope-api.md §8.1: 400 "has no provider supported",
    429 insufficient_balance_error, 404). A spent account: only a provider-routed id
    (``Org/Model:Provider``) is exempt from the free tier (§8.3), so the free candidates before
    it are refused, or sent, and passed over on the way."""
    if not remaining:
        return False
    if (
        isinstance(exc, caught.QuotaExhaustedError)
        and exc.scope != "model"
        and not any(map(catalog.is_provider_routed, remaining))
    ):
        return False
    reason = _failure_reason(exc)
    logger.warning("ModelScope %s for %s; falling back to %s", reason, model, remaining[0])
    return True


def _failure_reason(exc: errors.APIStatusError) -> str:
    """Why a fallback candidate failed, in a few words."""
    if isinstance(exc, caught.QuotaExhaustedError):
        return f"{exc.scope} quota exhausted"
    return "model not served or retired"


def with_attempts(exc: errors.APIStatusError, tried: Sequence[tuple[str, str]]) -> None:
    """Name the fallback candidates that failed before ``exc`` (its own model is in its
    message), so the last error does not read as if only one model was tried."""
    if not tried:
        return
    before = "; ".join(f"{model!r}: {reason}" for model, reason in tried)
    message = f"{exc.args[0] if exc.args else exc} Models tried before it: {before}."
    exc.args = (message, *exc.args[1:])
    exc.message = message  # openai's APIError keeps its own copy


class GatedClient:
    """A client of one API family: a transport, a retry policy, the quota gate
    (``preflight``, ``probe_interval``) its calls pass through, and the concurrency gate each
    request passes through (:mod:`~modelscope_inference.limiter`; on unless turned off). Base
    of the chat, embeddings and images clients."""

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy,
        *,
        preflight: bool = True,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        concurrency: ConcurrencyGate | None = None,
    ):
        self.transport = transport
        self.policy = policy
        self.preflight = preflight
        self.probe_interval = probe_interval
        settings = transport.settings
        self.concurrency = concurrency or ConcurrencyGate.create(
            settings.api_key, settings.base_url, timeout=settings.timeout, state=settings.state
        )

    def _gate(self, model: str) -> AbstractContextManager[None]:
        return quota_gate(
            self.transport, model, preflight=self.preflight, probe_interval=self.probe_interval
        )

    def _limited(self, model: str, send: Callable[[], T]) -> Callable[[], T]:
        """``send`` holding a concurrency slot: one attempt, not the retry waits around it
        (``send`` itself when the limiter is off: no wrapper on the hot path)."""
        if not self.concurrency.enabled:
            return send

        def attempt() -> T:
            with self.concurrency.hold(model):
                return send()

        return attempt

    def _alimited(self, model: str, send: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """Async twin of :meth:`_limited`."""
        if not self.concurrency.enabled:
            return send

        async def attempt() -> T:
            async with self.concurrency.ahold(model):
                return await send()

        return attempt


class ChatClient(GatedClient):
    """Runs :class:`ChatRequest` s against one transport with one retry policy.

    Example:
        >>> for delta in client.chat.stream(request):
        ...     print(delta.content, end="")
    """

    # -- complete ----------------------------------------------------------------------------

    def complete(self, request: ChatRequest) -> ChatResult:
        """One answer, falling back across ``fallback_models`` on model-scoped exhaustion."""
        check_request(request, stream=False)
        candidates = _candidates(request)
        tried: list[tuple[str, str]] = []
        for position, model in enumerate(candidates):
            try:
                return self._complete_model(request, model)
            except (caught.QuotaExhaustedError, caught.ModelNotSupportedError) as exc:
                if not _should_fall_back(exc, model, candidates[position + 1 :]):
                    with_attempts(exc, tried)
                    raise
                tried.append((model, _failure_reason(exc)))
        raise AssertionError("unreachable")  # pragma: no cover

    async def acomplete(self, request: ChatRequest) -> ChatResult:
        """Async twin of :meth:`complete`."""
        check_request(request, stream=False)
        candidates = _candidates(request)
        tried: list[tuple[str, str]] = []
        for position, model in enumerate(candidates):
            try:
                return await self._acomplete_model(request, model)
            except (caught.QuotaExhaustedError, caught.ModelNotSupportedError) as exc:
                if not _should_fall_back(exc, model, candidates[position + 1 :]):
                    with_attempts(exc, tried)
                    raise
                tried.append((model, _failure_reason(exc)))
        raise AssertionError("unreachable")  # pragma: no cover

    def _complete_model(self, request: ChatRequest, model: str) -> ChatResult:
        with self._gate(model):
            try:
                return self._complete_plan(plan_call(request, model, want_stream=False))
            except caught.ThinkingModeError as exc:
                if not learn_from_thinking_error(model, exc):
                    raise
                return self._complete_plan(plan_call(request, model, want_stream=False))

    async def _acomplete_model(self, request: ChatRequest, model: str) -> ChatResult:
        with self._gate(model):
            try:
                return await self._acomplete_plan(plan_call(request, model, want_stream=False))
            except caught.ThinkingModeError as exc:
                if not learn_from_thinking_error(model, exc):
                    raise
                return await self._acomplete_plan(plan_call(request, model, want_stream=False))

    def _complete_plan(self, plan: CallPlan) -> ChatResult:
        _warn(plan.warnings)
        return self.policy.call(self._limited(plan.model, lambda: self._complete_once(plan)))

    def _complete_once(self, plan: CallPlan) -> ChatResult:
        if not plan.stream:
            reply = self.transport.post(CHAT_PATH, plan.body, model=plan.model)
            return result_from_response(
                reply, plan.model, plan.warnings, json_schema=plan.asks_json_schema
            )
        # Nothing reaches the caller until the end, so a broken internal stream is safe to retry.
        with self.transport.stream(CHAT_PATH, plan.body, model=plan.model) as events:
            state = StreamState.for_plan(plan)
            for event in events:
                state.consume(event)
            return state.result(events)

    async def _acomplete_plan(self, plan: CallPlan) -> ChatResult:
        _warn(plan.warnings)
        return await self.policy.acall(
            self._alimited(plan.model, lambda: self._acomplete_once(plan))
        )

    async def _acomplete_once(self, plan: CallPlan) -> ChatResult:
        if not plan.stream:
            reply = await self.transport.apost(CHAT_PATH, plan.body, model=plan.model)
            return result_from_response(
                reply, plan.model, plan.warnings, json_schema=plan.asks_json_schema
            )
        async with self.transport.astream(CHAT_PATH, plan.body, model=plan.model) as events:
            state = StreamState.for_plan(plan)
            async for event in events:
                state.consume(event)
            return state.result(events)

    # -- stream ------------------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        """Deltas as they arrive, then one ``done`` delta. Retried only before the first
        output; a later break raises :class:`StreamInterruptedError` with the partial text."""
        check_request(request, stream=True)
        candidates = _candidates(request)
        tried: list[tuple[str, str]] = []
        for position, model in enumerate(candidates):
            try:
                yield from self._stream_model(request, model)
                return
            except (caught.QuotaExhaustedError, caught.ModelNotSupportedError) as exc:
                if not _should_fall_back(exc, model, candidates[position + 1 :]):
                    with_attempts(exc, tried)
                    raise
                tried.append((model, _failure_reason(exc)))

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Async twin of :meth:`stream`."""
        check_request(request, stream=True)
        candidates = _candidates(request)
        tried: list[tuple[str, str]] = []
        for position, model in enumerate(candidates):
            try:
                async for delta in self._astream_model(request, model):
                    yield delta
                return
            except (caught.QuotaExhaustedError, caught.ModelNotSupportedError) as exc:
                if not _should_fall_back(exc, model, candidates[position + 1 :]):
                    with_attempts(exc, tried)
                    raise
                tried.append((model, _failure_reason(exc)))

    def _stream_model(self, request: ChatRequest, model: str) -> Iterator[ChatDelta]:
        with ExitStack() as stack:
            with self._gate(model):  # a probe ends once the stream has opened
                plan = plan_call(request, model, want_stream=True)
                _warn(plan.warnings)
                try:
                    events, state, first, iterator = self._open_stream(plan, stack)
                except caught.ThinkingModeError as exc:
                    if not learn_from_thinking_error(model, exc):
                        raise
                    plan = plan_call(request, model, want_stream=True)
                    events, state, first, iterator = self._open_stream(plan, stack)
            yield from first
            try:
                for event in iterator:
                    yield from state.consume(event)
            except (
                caught.APIConnectionError,
                caught.APIStatusError,
                caught.InvalidResponseError,
            ) as exc:
                raise state.interrupted(exc, events.response.request) from exc
            yield state.final_delta(events)

    def _open_stream(
        self, plan: CallPlan, stack: ExitStack
    ) -> tuple[EventStream, StreamState, list[ChatDelta], Iterator[Any]]:
        """Open the stream and read up to the first output, retrying failures until then
        (through :meth:`RetryPolicy.call`, so the header-less 429 rule applies to streams too)."""

        def open_once() -> tuple[EventStream, StreamState, list[ChatDelta], Iterator[Any]]:
            inner = ExitStack()
            try:
                # The slot is held until the stream ends or is closed (``inner`` joins ``stack``).
                accepted = inner.enter_context(self.concurrency.hold(plan.model))
                events = inner.enter_context(
                    self.transport.stream(CHAT_PATH, plan.body, model=plan.model)
                )
                accepted()  # the stream opened: its concurrency level works
                state = StreamState.for_plan(plan)
                iterator = iter(events)
                first = _read_until_output(iterator, state)
            except BaseException as exc:
                # With the error, not close(): the concurrency slot learns from how it ended.
                inner.__exit__(type(exc), exc, exc.__traceback__)
                raise
            stack.push(inner)
            return events, state, first, iterator

        return self.policy.call(open_once)

    async def _astream_model(self, request: ChatRequest, model: str) -> AsyncIterator[ChatDelta]:
        async with AsyncExitStack() as stack:
            with self._gate(model):  # a probe ends once the stream has opened
                plan = plan_call(request, model, want_stream=True)
                _warn(plan.warnings)
                try:
                    events, state, first, it = await self._aopen_stream(plan, stack)
                except caught.ThinkingModeError as exc:
                    if not learn_from_thinking_error(model, exc):
                        raise
                    plan = plan_call(request, model, want_stream=True)
                    events, state, first, it = await self._aopen_stream(plan, stack)
            for delta in first:
                yield delta
            try:
                async for event in it:
                    for delta in state.consume(event):
                        yield delta
            except (
                caught.APIConnectionError,
                caught.APIStatusError,
                caught.InvalidResponseError,
            ) as exc:
                raise state.interrupted(exc, events.response.request) from exc
            yield state.final_delta(events)

    async def _aopen_stream(
        self, plan: CallPlan, stack: AsyncExitStack
    ) -> tuple[EventStream, StreamState, list[ChatDelta], AsyncIterator[Any]]:
        async def open_once() -> tuple[
            EventStream, StreamState, list[ChatDelta], AsyncIterator[Any]
        ]:
            inner = AsyncExitStack()
            try:
                accepted = await inner.enter_async_context(self.concurrency.ahold(plan.model))
                events = await inner.enter_async_context(
                    self.transport.astream(CHAT_PATH, plan.body, model=plan.model)
                )
                accepted()  # the stream opened: its concurrency level works
                state = StreamState.for_plan(plan)
                iterator = events.__aiter__()
                inner.push_async_callback(iterator.aclose)  # closed, not left to the GC
                first = await _aread_until_output(iterator, state)
            except BaseException as exc:
                await inner.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            stack.push_async_exit(inner)
            return events, state, first, iterator

        return await self.policy.acall(open_once)


def _read_until_output(events: Iterator[Any], state: StreamState) -> list[ChatDelta]:
    """Consume events until one produces output (or the stream ends)."""
    for event in events:
        deltas = state.consume(event)
        if deltas:
            return deltas
    return []


async def _aread_until_output(events: AsyncIterator[Any], state: StreamState) -> list[ChatDelta]:
    async for event in events:
        deltas = state.consume(event)
        if deltas:
            return deltas
    return []


def _warn(warnings: tuple[str, ...]) -> None:
    for message in warnings:
        logger.warning(message)


def with_model(request: ChatRequest, model: str) -> ChatRequest:
    """A copy of ``request`` for another model (used by adapters' ``with_fallbacks`` helpers)."""
    return replace(request, model=model)
