"""Tool calls: merging streamed deltas, and parsing arguments without ever inventing ``{}``.

OpenAI-compatible servers differ in how they stream tool calls (user-needs.md §B.16): ``index``
may be missing, the ``id`` may come only on the first delta (or never), and two parallel calls
may share ``index: 0`` with different ids. :class:`ToolCallAccumulator` normalises all of these
into chunks with a stable index per call, before a framework merges them.

Arguments that do not parse to a JSON object are reported as invalid with the raw string kept
(§B.17); the one repair is a doubly encoded string (``"{\\"a\\": 1}"``). ``NaN`` and
``Infinity`` are not JSON (RFC 8259), though ``json.loads`` accepts them: they make arguments
invalid, as any other JSON parser would find them.

Example:
    >>> acc = ToolCallAccumulator()
    >>> first = {"index": 0, "id": "call_1", "function": {"name": "add", "arguments": '{"a"'}}
    >>> acc.add([first])
    [ToolCallChunk(index=0, id='call_1', name='add', arguments='{"a"')]
    >>> acc.add([{"index": 0, "function": {"arguments": ": 1}"}}])
    [ToolCallChunk(index=0, id=None, name=None, arguments=': 1}')]
    >>> acc.calls()[0].args
    {'a': 1}
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCallChunk:
    """One normalised streamed piece of a tool call; ``index`` is stable per call."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class ParsedToolCall:
    """A complete tool call. ``args`` is None and ``error`` says why when arguments are invalid;
    ``raw_arguments`` is always the exact string the model produced.

    Example:
        >>> call = parse_tool_calls([{"id": "c1", "function": {"name": "f", "arguments": "{"}}])[0]
        >>> call.valid, call.raw_arguments
        (False, '{')
    """

    id: str
    name: str
    args: dict[str, Any] | None
    raw_arguments: str
    error: str | None = None

    @property
    def valid(self) -> bool:
        """True when the arguments parsed to a JSON object."""
        return self.args is not None


def _reject_constant(name: str) -> Any:
    """``json.loads`` hook for ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON."""
    raise ValueError(f"{name} is not a JSON value")


_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_strict_loads = _STRICT_DECODER.decode


def parse_arguments(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a tool-call argument string into ``(args, None)`` or ``(None, error)``.

    An empty string means a tool without parameters and gives ``{}``; anything else must be a
    JSON object, possibly encoded twice.

    Example:
        >>> parse_arguments('{"city": "Par')
        (None, 'arguments are not valid JSON: ...')
    """
    if not raw.strip():
        return {}, None
    try:
        value = _strict_loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        return None, f"arguments are not valid JSON: {exc}"
    if isinstance(value, str):
        try:
            value = _strict_loads(value)
        except (ValueError, RecursionError):
            return None, "arguments are a JSON string, not an object"
    if not isinstance(value, dict):
        return None, f"arguments are a JSON {type(value).__name__}, not an object"
    return value, None


def parse_call(name: str | None, raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """A complete tool call's verdict, ``(args, None)`` or ``(None, error)``: the arguments as
    :func:`parse_arguments` reads them, and invalid without a function name. Streamed calls
    (once the stream ends) and non-streamed ones are judged by this one rule.

    Example:
        >>> parse_call("add", '{"a": 1}')
        ({'a': 1}, None)
    """
    if not name:
        return None, "the tool call has no function name"
    return parse_arguments(raw)


@dataclass
class _Call:
    id: str | None
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    source_index: int | None = None


def _function_part(delta: Mapping[str, Any]) -> tuple[str | None, str]:
    function = delta.get("function")
    if not isinstance(function, Mapping):
        return None, ""
    name = function.get("name")
    arguments = function.get("arguments")
    if isinstance(arguments, (dict, list)):
        # Some servers send already-decoded arguments; keep them as the JSON text they mean.
        arguments = json.dumps(arguments)
    return (
        name if isinstance(name, str) and name else None,
        arguments if isinstance(arguments, str) else "",
    )


class ToolCallAccumulator:
    """Merge streamed ``delta.tool_calls`` into calls, tolerating missing and shared indices.

    Feed every delta's ``tool_calls`` list to :meth:`add`; read :meth:`calls` at the end.
    """

    def __init__(self) -> None:
        self._calls: list[_Call] = []
        self._by_id: dict[str, int] = {}
        self._by_source_index: dict[int, int] = {}

    def add(self, deltas: Iterable[object]) -> list[ToolCallChunk]:
        """Add one delta's tool-call entries; returns them normalised, in order."""
        chunks: list[ToolCallChunk] = []
        for delta in deltas:
            if isinstance(delta, Mapping):
                chunks.append(self._add_one(delta))
        return chunks

    def _slot_for(self, source_index: int | None, call_id: str | None) -> tuple[int, bool]:
        """Which call a delta belongs to, and whether it starts a new call."""
        if call_id is not None and call_id in self._by_id:
            return self._by_id[call_id], False
        if source_index is not None and source_index in self._by_source_index:
            slot = self._by_source_index[source_index]
            existing = self._calls[slot].id
            # Two parallel calls sharing index 0 with different ids (LibreChat-AI/agents#260).
            if call_id is None or existing is None:
                return slot, False
            return len(self._calls), True
        if source_index is None and call_id is None and self._calls:
            return len(self._calls) - 1, False
        return len(self._calls), True

    def _add_one(self, delta: Mapping[str, Any]) -> ToolCallChunk:
        raw_index = delta.get("index")
        source_index = raw_index if isinstance(raw_index, int) else None
        raw_id = delta.get("id")
        call_id = raw_id if isinstance(raw_id, str) and raw_id else None
        name, arguments = _function_part(delta)
        slot, is_new = self._slot_for(source_index, call_id)
        if is_new:
            self._calls.append(_Call(id=None, source_index=source_index))
        call = self._calls[slot]
        first_id = None
        if call.id is None and call_id:
            call.id = first_id = call_id
        if call_id:
            self._by_id[call_id] = slot
        if source_index is not None:
            self._by_source_index[source_index] = slot
        new_name = name if name and not call.name else None
        if new_name:
            call.name = new_name
        if arguments:
            call.arguments.append(arguments)
        return ToolCallChunk(index=slot, id=first_id, name=new_name, arguments=arguments)

    def calls(self) -> list[ParsedToolCall]:
        """The complete calls, with ids synthesised where the server gave none."""
        result = []
        for call in self._calls:
            raw = "".join(call.arguments)
            args, error = parse_call(call.name, raw)
            if call.id is None:
                call.id = f"call_{uuid.uuid4().hex[:24]}"
            result.append(ParsedToolCall(call.id, call.name, args, raw, error))
        return result

    def fragments(self) -> list[dict[str, Any]]:
        """What arrived so far, as plain dicts (for an interrupted stream's report)."""
        return [
            {"index": i, "id": c.id, "name": c.name, "arguments": "".join(c.arguments)}
            for i, c in enumerate(self._calls)
        ]

    def __bool__(self) -> bool:
        return bool(self._calls)


def parse_tool_calls(message_tool_calls: object) -> list[ParsedToolCall]:
    """Parse a non-streamed ``message.tool_calls`` list, with the same rules as streams."""
    if not isinstance(message_tool_calls, list):
        return []
    accumulator = ToolCallAccumulator()
    for position, call in enumerate(message_tool_calls):
        if isinstance(call, Mapping):
            accumulator.add([{**call, "index": position}])
    return accumulator.calls()


def tool_call_to_openai(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """The OpenAI wire form of an assistant tool call, for sending histories back."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
