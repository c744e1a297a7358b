"""The control API: tell a simulator running in another process what to do, over HTTP.

Everything the in-process :class:`~modelscope_inference.simulator.Simulator` offers, under
``/_simulator/`` (the real service has no such prefix, so it cannot clash with an API route).
The routes ask for the same bearer token as the API: whoever may call the simulated service
may steer it, and nobody else.

==============================  ======  ==================================================
route                           method  does
==============================  ======  ==================================================
``/_simulator/quota``           GET     the counters (``?model=ID``), spending nothing
``/_simulator/quota``           POST    ``{"account_limit", "model_limits", "default_model_limit"}``
``/_simulator/quota/restore``   POST    ``{"model", "calls"}``: give spent calls back
``/_simulator/script``          POST    ``{"replies": [reply, ...], "times": 1}``
``/_simulator/fault``           POST    ``{"fault": {"kind", ...}, "times": 1, "model": null}``
``/_simulator/requests``        GET     the request log, oldest first (tokens masked)
``/_simulator/reset``           POST    back to the start state (added models stay)
``/_simulator/models``          POST    ``{"id", "kind"}``: serve one more model
``/_simulator/settings``        POST    ``{"latency", "json_schema_supported", "count_failures"}``
``/_simulator/clock``           POST    ``{"now": "2025-01-01T23:59:00+08:00"}`` or ``null``
==============================  ======  ==================================================

Answers are JSON; a bad request gets 400 ``{"error": {"message": ...}}`` saying what to fix.

>>> [r.path for r in control_routes(SimulatorState())][:2]
['/_simulator/quota', '/_simulator/quota/restore']
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .state import SimulatorState
from .wire import (
    WireError,
    fault_from_json,
    model_from_json,
    model_to_json,
    quota_to_json,
    reply_from_json,
    request_to_json,
)

__all__ = ["CONTROL_PREFIX", "control_routes"]

CONTROL_PREFIX = "/_simulator"
_JSON = "application/json; charset=utf-8"
Handler = Callable[[SimulatorState, Any, Request], Any]


def control_routes(state: SimulatorState) -> list[Route]:
    """The ``/_simulator/...`` routes acting on ``state``."""
    table: list[tuple[str, str, Handler]] = [
        ("/quota", "GET", _read_quota),
        ("/quota", "POST", _set_quota),
        ("/quota/restore", "POST", _restore_quota),
        ("/script", "POST", _script),
        ("/fault", "POST", _fault),
        ("/requests", "GET", _requests),
        ("/reset", "POST", _reset),
        ("/models", "POST", _add_model),
        ("/settings", "POST", _settings),
        ("/clock", "POST", _clock),
    ]
    by_path: dict[str, dict[str, Handler]] = {}
    for path, method, handler in table:
        by_path.setdefault(path, {})[method] = handler
    return [
        Route(CONTROL_PREFIX + path, _endpoint(state, handlers), methods=list(handlers))
        for path, handlers in by_path.items()
    ]


def _endpoint(
    state: SimulatorState, handlers: Mapping[str, Handler]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if not _authorized(request, state.token):
            return _answer(401, _message("give the simulator's token: Authorization: Bearer ..."))
        try:
            body = await _body(request)
            return _answer(200, handlers[request.method](state, body, request))
        except WireError as exc:
            return _answer(400, _message(str(exc)))

    return endpoint


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and given.strip() == token


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise WireError(f"the body is not JSON: {exc}") from exc


def _message(text: str) -> dict[str, Any]:
    return {"error": {"message": text}}


def _answer(status: int, payload: Any) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=_JSON)


def _fields(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WireError("the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise WireError(f"unknown fields {sorted(unknown)}; known: {sorted(allowed)}")
    return body


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WireError(f'"{name}" must be a whole number >= 0, got {value!r}')
    return value


def _times(value: Any) -> int | None:
    """``times``: 1 by default, ``null`` for every request from now on."""
    times = _int_or_none(value, "times")
    if times == 0:
        raise WireError('"times" must be >= 1, or null for every request')
    return times


# --- handlers -------------------------------------------------------------------------------


def _read_quota(state: SimulatorState, body: Any, request: Request) -> Any:
    return quota_to_json(state.quota.peek(request.query_params.get("model", "")))


def _set_quota(state: SimulatorState, body: Any, request: Request) -> Any:
    fields = _fields(body, {"account_limit", "model_limits", "default_model_limit"})
    limits = fields.get("model_limits")
    if limits is not None and not isinstance(limits, dict):
        raise WireError('"model_limits" must be an object of model id -> daily calls')
    model_limits: dict[str, int] = {}
    for model, limit in (limits or {}).items():
        calls = _int_or_none(limit, f"model_limits.{model}")
        if calls is None:  # null would otherwise read as 0 and spend the quota by surprise
            raise WireError(f'"model_limits.{model}" must be a whole number >= 0, not null')
        model_limits[str(model)] = calls
    state.quota.configure(
        _int_or_none(fields.get("account_limit"), "account_limit"),
        model_limits or None,
        _int_or_none(fields.get("default_model_limit"), "default_model_limit"),
    )
    return {"ok": True}


def _restore_quota(state: SimulatorState, body: Any, request: Request) -> Any:
    fields = _fields(body, {"model", "calls"})
    model = fields.get("model")
    if model is not None and not isinstance(model, str):
        raise WireError('"model" must be a model id or null')
    state.quota.restore(model, _int_or_none(fields.get("calls"), "calls"))
    return {"ok": True}


def _script(state: SimulatorState, body: Any, request: Request) -> Any:
    fields = _fields(body, {"replies", "times"})
    replies = fields.get("replies")
    if not isinstance(replies, list) or not replies:
        raise WireError('"replies" must be a non-empty list of replies')
    state.scripts.push([reply_from_json(r) for r in replies], _times(fields.get("times", 1)))
    return {"ok": True, "queued": len(replies)}


def _fault(state: SimulatorState, body: Any, request: Request) -> Any:
    fields = _fields(body, {"fault", "times", "model"})
    model = fields.get("model")
    if model is not None and not isinstance(model, str):
        raise WireError('"model" must be a model id or null')
    state.faults.arm(fault_from_json(fields.get("fault")), _times(fields.get("times", 1)), model)
    return {"ok": True}


def _requests(state: SimulatorState, body: Any, request: Request) -> Any:
    return {"requests": [request_to_json(r) for r in state.requests]}


def _reset(state: SimulatorState, body: Any, request: Request) -> Any:
    state.reset()
    return {"ok": True}


def _add_model(state: SimulatorState, body: Any, request: Request) -> Any:
    spec, guessed = model_from_json(body)
    # One dict assignment: atomic under the GIL, so requests in flight see old or new catalog.
    state.catalog[spec.id] = spec
    return {**model_to_json(spec), "guessed": guessed}


def _settings(state: SimulatorState, body: Any, request: Request) -> Any:
    fields = _fields(body, {"latency", "json_schema_supported", "count_failures"})
    if "latency" in fields:
        latency = fields["latency"]
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise WireError(f'"latency" must be seconds >= 0, got {latency!r}')
        state.latency = float(latency)
    for flag in ("json_schema_supported", "count_failures"):
        if flag in fields:
            if not isinstance(fields[flag], bool):
                raise WireError(f'"{flag}" must be true or false')
            setattr(state, flag, fields[flag])
    return {"ok": True}


def _clock(state: SimulatorState, body: Any, request: Request) -> Any:
    now = _fields(body, {"now"}).get("now")
    if now is None:
        state.quota.set_clock(None)
        return {"ok": True}
    try:
        moment = datetime.fromisoformat(str(now))
    except ValueError as exc:
        raise WireError(f'"now" must be an ISO 8601 time: {exc}') from exc
    if moment.tzinfo is None:
        raise WireError('"now" needs a UTC offset, e.g. "2025-01-01T23:59:00+08:00"')
    state.quota.set_clock(moment)
    return {"ok": True}
