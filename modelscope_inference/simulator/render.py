"""Render a :class:`Completion` as an OpenAI chat completion: one JSON body or SSE events.

Streams follow OpenAI's shape: a role chunk, `reasoning_content` deltas before any `content`
delta (reference: modelscope-api.md §4.2), tool-call deltas (first with index, id, type and
name, then argument fragments with the index only), a finish chunk, an optional usage chunk
with `choices: []` (§4.4), and `data: [DONE]` (§1.2). Stream-shaping faults are applied here.

Events are bytes, built from a per-request prefix so each chunk costs one `json.dumps`.

>>> from modelscope_inference.simulator.brain import Completion
>>> events = stream_events(Completion("Hi there"), "chatcmpl-1", 0, "m", None, StreamShape())
>>> events[-1]
b'data: [DONE]\\n\\n'
"""

from __future__ import annotations

import json
from typing import Any

from .brain import Completion, ToolCallOut
from .faults import StreamShape
from .text import split_words

__all__ = ["DONE", "MALFORMED", "completion_body", "stream_events"]

DONE = b"data: [DONE]\n\n"
MALFORMED = b"data: {not json\n\n"
_OPEN = b"data: "
_END = b"\n\n"
_NO_FINISH = b',"finish_reason":null}]}\n\n'


def completion_body(
    completion: Completion, completion_id: str, created: int, model: str, usage: dict[str, Any]
) -> bytes:
    """The non-stream `chat.completion` JSON body."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.content}
    if completion.reasoning:
        # [INFERRED] reference: modelscope-api.md §4.2, message.reasoning_content not captured.
        message["reasoning_content"] = completion.reasoning
    if completion.tool_calls:
        message["content"] = completion.content or None
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in completion.tool_calls
        ]
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": completion.finish_reason,
        "logprobs": None,
    }
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def stream_events(
    completion: Completion,
    completion_id: str,
    created: int,
    model: str,
    usage: dict[str, Any] | None,
    shape: StreamShape,
) -> list[bytes]:
    """Every SSE event of the stream, `[DONE]` included, with the shape's faults applied."""
    head = json.dumps(
        {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        },
        ensure_ascii=False,
    )[:-1].encode()
    prefix = _OPEN + head + b',"choices":[{"index":0,"delta":'
    events = [prefix + b'{"role":"assistant","content":""}' + _NO_FINISH]
    events += [_OPEN + head + b',"choices":null}' + _END] * shape.null_choices
    events += [prefix + d + _NO_FINISH for d in _reasoning_deltas(completion.reasoning)]
    events += [prefix + d + _NO_FINISH for d in _content_deltas(completion)]
    events += [prefix + d + _NO_FINISH for d in _tool_deltas(completion.tool_calls, shape)]
    finish = json.dumps(completion.finish_reason).encode()
    events.append(prefix + b'{},"finish_reason":' + finish + b"}]}" + _END)
    if usage is not None:
        usage_json = json.dumps(usage).encode()
        events.append(_OPEN + head + b',"choices":[],"usage":' + usage_json + b"}" + _END)
    events.append(DONE)
    if shape.malformed_at is not None:
        events.insert(min(shape.malformed_at, len(events) - 1), MALFORMED)
    return events


def _reasoning_deltas(reasoning: str) -> list[bytes]:
    dumps = json.dumps
    return [
        b'{"reasoning_content":' + dumps(w, ensure_ascii=False).encode() + b"}"
        for w in split_words(reasoning)
    ]


def _content_deltas(completion: Completion) -> list[bytes] | tuple[bytes, ...]:
    if completion.encoded_chunks is not None:
        return completion.encoded_chunks
    chunks = completion.chunks if completion.chunks is not None else split_words(completion.content)
    dumps = json.dumps
    return [b'{"content":' + dumps(c, ensure_ascii=False).encode() + b"}" for c in chunks]


def _tool_deltas(calls: tuple[ToolCallOut, ...], shape: StreamShape) -> list[bytes]:
    deltas = []
    for position, call in enumerate(calls):
        index = 0 if shape.shared_index_zero else position
        first: dict[str, Any] = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        pieces = [first]
        for fragment in _fragments(call.arguments):
            piece: dict[str, Any] = {"index": index, "function": {"arguments": fragment}}
            if not shape.id_first_only:
                piece["id"] = call.id
            pieces.append(piece)
        for piece in pieces:
            if shape.no_index:
                del piece["index"]
            deltas.append(json.dumps({"tool_calls": [piece]}, ensure_ascii=False).encode())
    return deltas


def _fragments(arguments: str) -> list[str]:
    """Split argument JSON into at least two fragments, as real streams do."""
    if len(arguments) < 2:
        return [arguments]
    size = max(1, -(-len(arguments) // 3))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]
