"""The HTTP side of the simulator: a Starlette app with ModelScope's `/v1` routes.

Answers carry `content-type: application/json; charset=utf-8` and no `x-request-id`: the
request id is in error bodies only (reference: modelscope-api.md §8.1). Counted responses
(successful chat and embedding calls, quota 429s) and the §8.1 errors that had them (400
unserved model, upstream 429) carry the four quota headers (§3.2, §8.1); 401s carry none.
Provider-routed ids (`Org/Model:Provider`, §8.3) are exempt from the free tier: never counted,
never refused for quota, and answered without quota headers.

>>> from modelscope_inference.simulator.state import SimulatorState
>>> app = create_app(SimulatorState())
>>> sorted(r.path for r in app.routes if r.path.startswith("/v1"))[:3]  # then models, tasks
['/v1/chat/completions', '/v1/embeddings', '/v1/images/generations']

The ``/_simulator/...`` routes (:mod:`.control`) steer a simulator from another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from . import errors
from .brain import ChatRequest, Completion, ToolCallOut, respond, usage_of
from .control import control_routes
from .embeddings import embed, encode_base64, normalize
from .errors import ApiError
from .faults import Fault, FaultKind, StreamShape
from .gate import authenticate, loads
from .images import image_routes
from .models import ModelSpec
from .quota import QuotaSnapshot
from .render import completion_body, stream_events
from .script import Reply
from .state import SimulatorState
from .text import count_tokens
from .validation import EmbeddingRequest, parse_chat, parse_embedding

__all__ = ["ConnectionDropped", "create_app"]

# reference: modelscope-api.md §8.1, real answers' content-type
_JSON = "application/json; charset=utf-8"
_BATCH_BYTES = 64 * 1024
Headers = list[tuple[str, str]]


class ConnectionDropped(Exception):
    """Raised after a partial response so the server closes the connection abruptly."""


class _HideDroppedConnections(logging.Filter):
    """Keep uvicorn from logging the deliberate drops of `Fault.drop_after` as errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def install_log_filter() -> None:
    """Attach the drop filter to uvicorn's error logger once."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDroppedConnections) for f in logger.filters):
        logger.addFilter(_HideDroppedConnections())


def create_app(state: SimulatorState) -> Starlette:
    """The Starlette app serving `state`."""

    api = _Api(state)
    routes = [
        Route("/v1/chat/completions", api.chat, methods=["POST"]),
        Route("/v1/embeddings", api.embeddings, methods=["POST"]),
        Route("/v1/models", api.models, methods=["GET"]),
        *image_routes(state, api),
        *control_routes(state),  # /_simulator/...: steer it from another process
    ]
    # reference: modelscope-api.md §1.6, unknown routes answer "404 page not found" [CODE]
    handlers = {404: _not_found, 405: _not_allowed}
    return Starlette(routes=routes, exception_handlers=handlers)


@dataclass(frozen=True)
class _Gate:
    """Per-request facts gathered before the route's own work."""

    rid: str
    body: Any
    faults: list[Fault]
    early: Response | None
    release: Callable[[], None] | None = None
    """Ends the request's count toward its model's concurrency; None when it did not count."""


class _Api:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    async def models(self, request: Request) -> Response:
        # reference: modelscope-api.md §1.5, /v1/models is public (no token; 200 for garbage)
        await self._begin(request)
        data = [spec.listing() for spec in self.state.catalog.values()]
        return _json(200, {"object": "list", "data": data}, [])

    async def chat(self, request: Request) -> Response:
        gate = await self._gate(request, stream_key=True, capped=True)
        return _released(gate, self._chat)

    def _chat(self, gate: _Gate) -> Response:
        if gate.early is not None:
            return gate.early
        parsed = parse_chat(gate.body, self.state.catalog)
        if isinstance(parsed, ApiError):
            return self._refuse(parsed, gate)
        return self._complete(parsed, gate.rid, gate.faults)

    async def embeddings(self, request: Request) -> Response:
        gate = await self._gate(request, stream_key=False, capped=True)
        return _released(gate, self._embeddings)

    def _embeddings(self, gate: _Gate) -> Response:
        if gate.early is not None:
            return gate.early
        parsed = parse_embedding(gate.body, self.state.catalog)
        if isinstance(parsed, ApiError):
            return self._refuse(parsed, gate)
        snap = self._spend(parsed.model)
        if snap is not None and not snap.allowed:
            return _quota_429(gate.rid, self._quota_headers(parsed.model.id, snap))
        payload = _embedding_payload(parsed)
        headers = [] if snap is None else self._quota_headers(parsed.model.id, snap)
        return _maybe_dropped(_json(200, payload, headers), gate.faults)

    def _spend(self, model: ModelSpec) -> QuotaSnapshot | None:
        """Spend one free-tier call (§3.2); None for a provider-routed id, which the free tier
        neither counts nor reports: no quota headers (reference: modelscope-api.md §8.3)."""
        return self.state.quota.consume(model.id) if model.free_tier else None

    def _refuse(self, error: ApiError, gate: _Gate) -> Response:
        """A validation error, with the quota headers when the real one has them (§8.1: the
        400 for an unserved id), and as any failure for a known model (:meth:`_failed`)."""
        response = _error(error, gate.rid, self._unserved_headers(error, gate.body))
        return self._failed(response, gate.body)

    def _unserved_headers(self, error: ApiError, body: Any) -> Headers:
        if not error.quota_headers:
            return []
        model = body.get("model") if isinstance(body, dict) else None
        return self.state.quota.peek(model if isinstance(model, str) else "").headers()

    async def _begin(
        self, request: Request, body: Any = None, concurrency: tuple[int, bool] | None = None
    ) -> str:
        """Give the request an id, record it, and apply the configured latency (not to one
        the concurrency cap refuses: that 429 comes at once)."""
        rid = str(uuid.uuid4())
        headers = request.headers.items()
        self.state.record(request.method, request.url.path, headers, body, rid, concurrency)
        refused = concurrency is not None and not concurrency[1]
        if self.state.latency > 0 and not refused:
            await asyncio.sleep(self.state.latency)
        return rid

    async def _gate(self, request: Request, stream_key: bool, capped: bool = False) -> _Gate:
        """Record, delay, authenticate and take faults; `early` is set to answer right away.
        ``capped`` routes count toward the model's concurrency (and its cap) until answered."""
        body = loads(await request.body())
        model = body.get("model") if isinstance(body, dict) else None
        model_id = model if isinstance(model, str) else ""
        arrival = self.state.concurrency.arrive(model_id) if capped else None
        release = self._leaver(model_id) if arrival is not None and arrival[1] else None
        try:
            return await self._gate_admitted(request, body, model_id, stream_key, arrival, release)
        except BaseException:
            if release is not None:
                release()
            raise

    def _leaver(self, model_id: str) -> Callable[[], None]:
        return lambda: self.state.concurrency.leave(model_id)

    async def _gate_admitted(
        self,
        request: Request,
        body: Any,
        model_id: str,
        stream_key: bool,
        arrival: tuple[int, bool] | None,
        release: Callable[[], None] | None,
    ) -> _Gate:
        rid = await self._begin(request, body, arrival)
        auth = authenticate(request.headers.get("authorization"), self.state.token)
        if auth is not None:
            return _Gate(rid, body, [], _error(auth, rid), release)
        if arrival is not None and not arrival[1]:
            # reference: modelscope-api.md §3.1/§3.3, over the moving concurrency cap: the
            # transient 429 (quota headers showing calls left), counted like any failure (§8.1)
            refusal = self._fault_response(Fault.rate_limit(), rid, model_id)
            return _Gate(rid, body, [], self._failed(refusal, body), None)
        stream = stream_key and isinstance(body, dict) and body.get("stream") is True
        faults = self.state.faults.take(model_id, stream)
        delay = sum(f.seconds for f in faults if f.kind is FaultKind.LATENCY)
        if not stream:
            delay += sum(f.seconds for f in faults if f.kind is FaultKind.SLOW_FIRST_BYTE)
        if delay > 0:
            await asyncio.sleep(delay)
        replacing = next((f for f in faults if f.replaces_response), None)
        if replacing is None:
            return _Gate(rid, body, faults, None, release)
        early = self._fault_response(replacing, rid, model_id)
        if replacing.kind is not FaultKind.REAL_ANSWER:  # a captured answer keeps its headers
            early = self._failed(early, body)
        return _Gate(rid, body, faults, early, release)

    def _quota_headers(self, model_id: str, snap: QuotaSnapshot) -> Headers:
        """The four quota headers, or none for a model set to send none (§8.1: "for some 2026
        models no quota header came at all, on 200 or on 401")."""
        spec = self.state.catalog.get(model_id)
        return snap.headers() if spec is None or spec.quota_headers else []

    def _failed(self, response: Response, body: Any) -> Response:
        """An error answer for a known model carries the quota headers too, and a 4xx spends a
        call when failures count (reference: modelscope-api.md §8.1: 1897 -> 1895 across a 400
        and a 429); a 5xx does not (§8.2: system failures are refunded)."""
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or model not in self.state.catalog:
            return response
        book = self.state.quota
        counted = self.state.count_failures and response.status_code < 500
        snap = book.consume(model) if counted else book.peek(model)
        for name, _ in snap.headers():
            del response.headers[name]
        for name, value in self._quota_headers(model, snap):
            response.headers[name] = value
        return response

    def _fault_response(self, fault: Fault, rid: str, model: str) -> Response:
        headers: Headers = []
        if fault.kind is FaultKind.REAL_ANSWER:
            # reference: modelscope-api.md §8.1, each answer verbatim, headers as captured
            error = errors.REAL_ANSWERS[fault.answer](model)
            return _error(error, rid, self._unserved_headers(error, {"model": model}))
        if fault.kind is FaultKind.RATE_LIMIT:
            # reference: modelscope-api.md §3.3, a transient 429 has the quota body; clients tell
            # it from exhaustion because the remaining headers are > 0.
            headers += self.state.quota.peek(model).headers()
            if fault.retry_after is not None:
                headers.append(("retry-after", _seconds(fault.retry_after)))
            return _error(errors.quota_exceeded(), rid, headers)
        if fault.kind is FaultKind.SERVER_ERROR:
            error = errors.server_error()
            return _raw(fault.status, error.encode(rid), headers, _JSON)
        # reference: modelscope-api.md §2, "400 status code (no body)"
        return _raw(fault.status, b"", headers, None)

    def _complete(self, req: ChatRequest, rid: str, faults: list[Fault]) -> Response:
        before = self.state.quota.peek(req.model.id) if req.model.free_tier else None
        if before is not None and not before.allowed:
            return _quota_429(rid, self._quota_headers(req.model.id, before))
        reply = self.state.scripts.pop()
        if reply is not None and reply.is_error:
            return _scripted_error(reply, rid)
        # reference: modelscope-api.md §3.2, a successful call spends one account and one model call
        snap = self._spend(req.model)
        # reference: modelscope-api.md §8.1, a real 200 has no x-request-id header
        headers = [] if snap is None else self._quota_headers(req.model.id, snap)
        # reference: §8.4, "chatcmpl-" + a uuid4 with dashes; `created` in milliseconds
        completion_id = f"chatcmpl-{rid}"
        created = time.time_ns() // 1_000_000
        if _unserved_json_schema(req, self.state) and reply is None:
            return _null_choices(req, completion_id, created, headers)
        completion = respond(req) if reply is None else _from_script(reply)
        if not req.stream:
            usage = usage_of(req, completion)
            body = completion_body(completion, completion_id, created, req.model.id, usage)
            return _maybe_dropped(_raw(200, body, headers, _JSON), faults)
        usage_or_none = usage_of(req, completion) if req.include_usage else None
        shape = StreamShape.from_faults(faults)
        events = stream_events(
            completion, completion_id, created, req.model.id, usage_or_none, shape
        )
        return _EventStream(events, headers, shape)


def _unserved_json_schema(req: ChatRequest, state: SimulatorState) -> bool:
    fmt = req.response_format
    return fmt is not None and fmt.get("type") == "json_schema" and not state.json_schema_supported


def _null_choices(req: ChatRequest, completion_id: str, created: int, headers: Headers) -> Response:
    """200 with ``"choices": null``: the real answer to ``response_format: json_schema``
    (reference: modelscope-api.md §8.3, modelscope/modelscope#1801). The call is counted.
    [INFERRED] for streams: one chunk with ``choices: null``, then ``[DONE]``."""
    head = {"id": completion_id, "created": created, "model": req.model.id, "choices": None}
    if not req.stream:
        return _json(200, {**head, "object": "chat.completion"}, headers)
    chunk = json.dumps({**head, "object": "chat.completion.chunk"}, ensure_ascii=False)
    events = [f"data: {chunk}\n\n".encode(), b"data: [DONE]\n\n"]
    return _EventStream(events, headers, StreamShape())


def _quota_429(rid: str, quota_headers: Headers) -> Response:
    # reference: modelscope-api.md §3.2/§3.3, quota 429 with the four headers; 0 marks the
    # spent counter (per-model vs account).
    return _error(errors.quota_exceeded(), rid, quota_headers)


def _from_script(reply: Reply) -> Completion:
    calls = tuple(
        ToolCallOut(c.id or f"call_{uuid.uuid4().hex[:24]}", c.name, c.arguments_json)
        for c in reply.tool_calls
    )
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    return Completion(
        content=reply.full_text,
        reasoning=reply.reasoning or "",
        tool_calls=calls,
        finish_reason=finish,
        chunks=reply.stream_chunks(),
        encoded_chunks=reply.encoded_chunks,
        usage=reply.usage,
    )


def _scripted_error(reply: Reply, rid: str) -> Response:
    headers: Headers = list(reply.headers.items())
    body = reply.body
    if body is None:
        return _raw(reply.status, b"", headers, None)
    if isinstance(body, bytes | str):
        data = body.encode() if isinstance(body, str) else body
        return _raw(reply.status, data, headers, "text/plain; charset=utf-8")
    return _raw(reply.status, json.dumps(body, ensure_ascii=False).encode(), headers, _JSON)


def _embedding_payload(req: EmbeddingRequest) -> dict[str, Any]:
    data = []
    for index, text in enumerate(req.inputs):
        vector = embed(text, req.model.dimension)
        if req.dimensions is not None:
            vector = normalize(vector[: req.dimensions])
        encoded: Any = encode_base64(vector) if req.base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(max(count_tokens(t), 1) for t in req.inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": req.model.id, "usage": usage}


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _error(error: ApiError, rid: str, headers: Headers | None = None) -> Response:
    return _raw(error.status, error.encode(rid), headers or [], _JSON)


def _json(status: int, payload: Any, headers: Headers) -> Response:
    return _raw(status, json.dumps(payload, ensure_ascii=False).encode(), headers, _JSON)


def _raw(status: int, body: bytes, headers: Headers, media_type: str | None) -> Response:
    return Response(body, status_code=status, headers=dict(headers), media_type=media_type)


def _maybe_dropped(response: Response, faults: Sequence[Fault]) -> Response:
    drop = next((f for f in faults if f.kind is FaultKind.DROP_AFTER), None)
    return response if drop is None else _DroppedBody(response, drop.count)


def _batches(events: Sequence[bytes]) -> Iterator[bytes]:
    buffer: list[bytes] = []
    size = 0
    for event in events:
        buffer.append(event)
        size += len(event)
        if size >= _BATCH_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


class _EventStream(Response):
    """An SSE response from pre-built events; may stall, or drop the connection mid-stream."""

    def __init__(self, events: list[bytes], headers: Headers, shape: StreamShape) -> None:
        self.status_code = 200
        self.background = None
        self.events = events if shape.drop_after is None else events[: shape.drop_after]
        self.drop = shape.drop_after is not None
        self.delay = shape.first_byte_delay
        raw = [*headers, ("content-type", "text/event-stream; charset=utf-8")]
        raw.append(("cache-control", "no-cache"))
        self.raw_headers = [(k.lower().encode(), v.encode()) for k, v in raw]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        for batch in _batches(self.events):
            await send({"type": "http.response.body", "body": batch, "more_body": True})
        if self.drop:
            raise ConnectionDropped("drop_after fault: closing mid-stream")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _released(gate: _Gate, answer: Callable[[_Gate], Response]) -> Response:
    """``answer(gate)``, releasing the gate's concurrency once the body has been sent."""
    if gate.release is None:
        return answer(gate)
    try:
        return _Releasing(answer(gate), gate.release)
    except BaseException:
        gate.release()
        raise


class _Releasing(Response):
    """A response that counts toward its model's concurrency until it has been sent (a stream
    until its last event)."""

    def __init__(self, inner: Response, release: Callable[[], None]) -> None:
        self.inner = inner
        self.release = release
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = inner.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        released = False

        def release_once() -> None:
            nonlocal released
            if not released:
                released = True
                self.release()

        async def sending(message: Message) -> None:
            # Before the last part goes out: once the client has it, it may send its next
            # request, which must not find this one still counted.
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release_once()
            await send(message)

        try:
            await self.inner(scope, receive, sending)
        finally:
            release_once()


class _DroppedBody(Response):
    """Headers with the full Content-Length, then part of the body, then an abrupt close."""

    def __init__(self, inner: Response, n_chunks: int) -> None:
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = inner.raw_headers
        self.partial = inner.body[: len(inner.body) // 2] if n_chunks > 0 else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        await send(start)
        if self.partial:
            await send({"type": "http.response.body", "body": self.partial, "more_body": True})
        raise ConnectionDropped("drop_after fault: closing before the body is complete")


async def _not_found(request: Request, exc: Exception) -> Response:
    return Response(b"404 page not found", 404, media_type="text/plain")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return Response(b"405 method not allowed", 405, media_type="text/plain")
