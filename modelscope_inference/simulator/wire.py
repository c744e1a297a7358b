"""JSON forms of the simulator's control values, shared by the control routes and the client.

A simulator in another process is told what to do over HTTP (:mod:`.control`,
:mod:`.remote`); these functions turn :class:`Reply`, :class:`Fault`, :class:`ModelSpec`,
:class:`QuotaSnapshot` and :class:`RecordedRequest` into plain JSON data and back. They import
no web framework, so a client needs only httpx.

>>> fault_from_json(fault_to_json(Fault.rate_limit(retry_after=2))) == Fault.rate_limit(2)
True
>>> reply_from_json({"content": "hi"}).content
'hi'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from .faults import Fault, FaultKind
from .models import ModelKind, ModelSpec, classify_model_id
from .quota import QuotaSnapshot
from .script import Reply, ScriptedToolCall
from .state import RecordedRequest

__all__ = [
    "WireError",
    "fault_from_json",
    "fault_to_json",
    "model_from_json",
    "model_to_json",
    "quota_to_json",
    "reply_from_json",
    "reply_to_json",
    "request_to_json",
]

_REPLY_FIELDS = (
    "content",
    "chunks",
    "n_chunks",
    "reasoning",
    "usage",
    "finish_reason",
    "status",
    "body",
    "headers",
)


class WireError(ValueError):
    """A control request whose JSON does not describe a valid value; the message says why."""


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise WireError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


# --- replies --------------------------------------------------------------------------------


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """A :class:`Reply` as JSON data; fields left at their defaults are omitted.

    >>> reply_to_json(Reply.text("ok"))
    {'content': 'ok'}
    """
    if isinstance(reply.body, bytes):
        raise WireError("a scripted body sent to another process must be str, dict or list")
    default = Reply()
    data = {
        name: list(value) if name == "chunks" and value is not None else value
        for name in _REPLY_FIELDS
        if (value := getattr(reply, name)) != getattr(default, name)
    }
    if reply.tool_calls:
        data["tool_calls"] = [asdict(call) for call in reply.tool_calls]
    return data


def reply_from_json(data: Any) -> Reply:
    """The :class:`Reply` that ``data`` describes (see :func:`reply_to_json`).

    >>> reply_from_json({"tool_calls": [{"name": "add", "arguments": {"a": 1}}]}).tool_calls[0].name
    'add'
    """
    fields = _object(data, "a reply")
    unknown = set(fields) - {*_REPLY_FIELDS, "tool_calls"}
    if unknown:
        raise WireError(f"unknown reply fields {sorted(unknown)}; known: {sorted(_REPLY_FIELDS)}")
    calls = [_tool_call(call) for call in fields.get("tool_calls") or ()]
    kwargs = {name: fields[name] for name in _REPLY_FIELDS if name in fields}
    try:
        return Reply(tool_calls=calls, **kwargs)
    except (TypeError, ValueError) as exc:
        raise WireError(f"not a valid reply: {exc}") from exc


def _tool_call(data: Any) -> ScriptedToolCall:
    call = _object(data, "a tool call")
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise WireError('a tool call needs a "name"')
    arguments = call.get("arguments", {})
    if not isinstance(arguments, Mapping | str):
        raise WireError(f'the "arguments" of tool call {name!r} must be an object or a string')
    call_id = call.get("id")
    return ScriptedToolCall(name, arguments, call_id if isinstance(call_id, str) else None)


# --- faults ---------------------------------------------------------------------------------


def fault_to_json(fault: Fault) -> dict[str, Any]:
    """A :class:`Fault` as JSON data: its kind and the fields its constructor takes.

    >>> fault_to_json(Fault.server_error(503))
    {'kind': 'server_error', 'status': 503}
    """
    data: dict[str, Any] = {"kind": fault.kind.value}
    default = Fault(fault.kind)
    for name in ("status", "seconds", "count", "retry_after", "answer"):
        value = getattr(fault, name)
        if value != getattr(default, name):
            data[name] = value
    return data


# Each kind is rebuilt by its named constructor, so a fault sent over HTTP is checked the same
# way as one built in-process (a 5xx status for server_error, a known real answer, ...).
_FAULT_BUILDERS: dict[FaultKind, Callable[[Mapping[str, Any]], Fault]] = {
    FaultKind.RATE_LIMIT: lambda d: Fault.rate_limit(d.get("retry_after")),
    FaultKind.SERVER_ERROR: lambda d: Fault.server_error(int(d.get("status", 500))),
    FaultKind.EMPTY_4XX: lambda d: Fault.empty_4xx(int(d.get("status", 400))),
    FaultKind.SLOW_FIRST_BYTE: lambda d: Fault.slow_first_byte(float(d.get("seconds", 1.0))),
    FaultKind.LATENCY: lambda d: Fault.latency(float(d.get("seconds", 1.0))),
    FaultKind.DROP_AFTER: lambda d: Fault.drop_after(int(d.get("count", 0))),
    FaultKind.MALFORMED_CHUNK: lambda d: Fault.malformed_chunk(int(d.get("count", 1))),
    FaultKind.NULL_CHOICES: lambda d: Fault.null_choices(int(d.get("count", 1))),
    FaultKind.TOOL_DELTA_NO_INDEX: lambda d: Fault.tool_delta_no_index(),
    FaultKind.TOOL_DELTA_ID_FIRST_ONLY: lambda d: Fault.tool_delta_id_first_only(),
    FaultKind.SHARED_INDEX_ZERO: lambda d: Fault.shared_index_zero(),
    FaultKind.REAL_ANSWER: lambda d: Fault.real_answer(str(d.get("answer", ""))),
}

FAULT_KINDS = tuple(kind.value for kind in FaultKind)


def fault_from_json(data: Any) -> Fault:
    """The :class:`Fault` that ``data`` describes, built by the kind's named constructor.

    >>> fault_from_json({"kind": "drop_after", "count": 3}).count
    3
    """
    fields = _object(data, "a fault")
    try:
        kind = FaultKind(fields.get("kind"))
    except ValueError:
        raise WireError(
            f"unknown fault kind {fields.get('kind')!r}; known: {', '.join(FAULT_KINDS)}"
        ) from None
    try:
        return _FAULT_BUILDERS[kind](fields)
    except (TypeError, ValueError) as exc:
        raise WireError(f"not a valid {kind.value} fault: {exc}") from exc


# --- models, quota, requests ----------------------------------------------------------------


def model_to_json(spec: ModelSpec) -> dict[str, Any]:
    """A served model's id, kind and (for embeddings) dimension.

    >>> model_to_json(ModelSpec("Org/M", ModelKind.HYBRID))
    {'id': 'Org/M', 'kind': 'hybrid', 'dimension': 0}
    """
    return {"id": spec.id, "kind": spec.kind.value, "dimension": spec.dimension}


def model_from_json(data: Any) -> tuple[ModelSpec, bool]:
    """The model to add, and whether its kind was guessed from the id (no ``kind`` given).

    >>> model_from_json({"id": "Acme/NewThinker-Thinking"})[0].kind.value
    'thinking'
    """
    fields = _object(data, "a model")
    model_id, kind = fields.get("id"), fields.get("kind")
    if not isinstance(model_id, str) or not model_id.strip():
        raise WireError('a model needs an "id", e.g. "Acme/My-Model-7B"')
    dimension = int(fields.get("dimension") or 1024)
    guessed = classify_model_id(model_id, dimension)
    if kind is None:
        return guessed, True
    try:
        chosen = ModelKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in ModelKind)
        raise WireError(f"unknown model kind {kind!r}; known: {known}") from None
    embedding_dimension = dimension if chosen is ModelKind.EMBEDDING else 0
    return ModelSpec(model_id, chosen, dimension=embedding_dimension), False


def quota_to_json(snapshot: QuotaSnapshot) -> dict[str, Any]:
    """The counters of one model and the account, as JSON data.

    >>> quota_to_json(QuotaSnapshot(True, 10, 9, 5, 4))["model_remaining"]
    4
    """
    return asdict(snapshot)


def request_to_json(request: RecordedRequest) -> dict[str, Any]:
    """One recorded request (secret headers already masked by the recorder).

    >>> request_to_json(RecordedRequest("GET", "/v1/models", {}, None, None, False, "r"))["path"]
    '/v1/models'
    """
    data = asdict(request)
    data["headers"] = dict(request.headers)
    return data
