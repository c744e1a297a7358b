"""Render a :class:`Completion` as an OpenAI chat completion: one JSON body or SSE events.

Answers follow ModelScope's real 200 (reference: modelscope-api.md §8.4): `created` in
milliseconds, `system_fingerprint: ""`, `message.reasoning_content` always a string (`""` when
the model did not think), `message.function_calls: null`, and an extra all-empty
`choices[0].delta` in non-stream answers.

Streams follow OpenAI's shape: a role chunk, `reasoning_content` deltas before any `content`
delta (§4.2), tool-call deltas (first with index, id, type and name, then argument fragments
with the index only), a finish chunk, an optional usage chunk with `choices: []` (§4.4), and
`data: [DONE]` (§1.2). Every delta carries `content` and `reasoning_content` as strings, `""`
when unused, because ModelScope's own sample code compares both with `''` on every chunk
(§8.4). Stream-shaping faults are applied here.

Events are bytes, built from a per-request prefix so each chunk costs one `json.dumps`.

>>> from modelscope_inference.simulator.brain import Completion
>>> events = stream_events(Completion("Hi there"), "chatcmpl-1", 0, "m", None, StreamShape())
>>> events[-1]
b'data: [DONE]\\n\\n'
>>> json.loads(events[1][6:])["choices"][0]["delta"]
{'content': 'Hi ', 'reasoning_content': ''}
"""

from __future__ import annotations

import json
from typing import Any

from .brain import Completion, ToolCallOut
from .faults import StreamShape
from .text import split_words

__all__ = ["DONE", "MALFORMED", "completion_body", "encode_content_delta", "stream_events"]

DONE = b"data: [DONE]\n\n"
MALFORMED = b"data: {not json\n\n"
_OPEN = b"data: "
_END = b"\n\n"
_NO_FINISH = b',"finish_reason":null}]}\n\n'
# reference: modelscope-api.md §8.4, the non-stream answer's extra, all-empty `delta` object.
_NON_STREAM_DELTA = (
    ("content", ""),
    ("function_calls", None),
    ("reasoning_content", ""),
    ("role", None),
    ("tool_calls", None),
)
# [INFERRED] reference: §8.4, no SSE capture; both text fields are strings on every delta.
_EMPTY_TEXT = b'"content":"","reasoning_content":""'
_NO_REASONING = b',"reasoning_content":""}'


def completion_body(
    completion: Completion, completion_id: str, created: int, model: str, usage: dict[str, Any]
) -> bytes:
    """The non-stream `chat.completion` JSON body, shaped like the real 200 of §8.4."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": completion.content,
        # reference: modelscope-api.md §8.4, "" (not absent, not null) when nothing was thought
        "reasoning_content": completion.reasoning,
        "function_calls": None,  # reference: §8.4, an extra non-OpenAI field, always null
    }
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
        "delta": dict(_NON_STREAM_DELTA),
    }
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage,
        "system_fingerprint": "",  # reference: modelscope-api.md §8.4
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
    events = [prefix + b'{"role":"assistant",' + _EMPTY_TEXT + b"}" + _NO_FINISH]
    events += [_OPEN + head + b',"choices":null}' + _END] * shape.null_choices
    events += [prefix + d + _NO_FINISH for d in _reasoning_deltas(completion.reasoning)]
    events += [prefix + d + _NO_FINISH for d in _content_deltas(completion)]
    events += [prefix + d + _NO_FINISH for d in _tool_deltas(completion.tool_calls, shape)]
    finish = json.dumps(completion.finish_reason).encode()
    events.append(prefix + b"{" + _EMPTY_TEXT + b'},"finish_reason":' + finish + b"}]}" + _END)
    if usage is not None:
        usage_json = json.dumps(usage).encode()
        events.append(_OPEN + head + b',"choices":[],"usage":' + usage_json + b"}" + _END)
    events.append(DONE)
    if shape.malformed_at is not None:
        events.insert(min(shape.malformed_at, len(events) - 1), MALFORMED)
    return events


def encode_content_delta(content: str) -> bytes:
    """One answer delta, with the `reasoning_content: ""` every delta carries (§8.4).

    >>> encode_content_delta("Hi")
    b'{"content":"Hi","reasoning_content":""}'
    """
    return b'{"content":' + json.dumps(content, ensure_ascii=False).encode() + _NO_REASONING


def _reasoning_deltas(reasoning: str) -> list[bytes]:
    dumps = json.dumps
    return [
        b'{"content":"","reasoning_content":' + dumps(w, ensure_ascii=False).encode() + b"}"
        for w in split_words(reasoning)
    ]


def _content_deltas(completion: Completion) -> list[bytes] | tuple[bytes, ...]:
    if completion.encoded_chunks is not None:
        return completion.encoded_chunks
    chunks = completion.chunks if completion.chunks is not None else split_words(completion.content)
    return [encode_content_delta(c) for c in chunks]


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
            delta = {"content": "", "reasoning_content": "", "tool_calls": [piece]}
            deltas.append(json.dumps(delta, ensure_ascii=False).encode())
    return deltas


def _fragments(arguments: str) -> list[str]:
    """Split argument JSON into at least two fragments, as real streams do."""
    if len(arguments) < 2:
        return [arguments]
    size = max(1, -(-len(arguments) // 3))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]
