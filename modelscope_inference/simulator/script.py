"""Scripted replies: exact answers queued for the next chat requests.

A :class:`Reply` replaces what the brain would say (content, reasoning, tool calls, usage,
finish reason, the number of stream chunks) or the whole HTTP answer (status, body, headers):

>>> from modelscope_inference.simulator import Reply
>>> Reply(content="Hi there", n_chunks=2).stream_chunks()
('Hi t', 'here')
>>> Reply.error(503, {"errors": {"message": "busy"}}).is_error
True
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .render import encode_content_delta

__all__ = ["Reply", "ScriptQueue", "ScriptedToolCall"]


@dataclass(frozen=True)
class ScriptedToolCall:
    """One tool call a scripted reply makes. `arguments` may be a mapping or a JSON string.

    >>> ScriptedToolCall("add", {"a": 1}).arguments_json
    '{"a": 1}'
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON string OpenAI puts in `function.arguments`."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), ensure_ascii=False)


@dataclass(frozen=True)
class Reply:
    """An exact reply for one chat request.

    Give either `content` (streamed word by word, or in `n_chunks` equal pieces) or `chunks`
    (the exact stream deltas; their concatenation is the non-stream content). A non-200
    `status` makes it an error reply sent verbatim: `body` (dict/list → JSON, str/bytes → raw,
    None → no body) with `headers`.

    >>> Reply(chunks=["a", "b"]).full_text
    'ab'
    >>> Reply.tool_call("add", {"a": 1, "b": 2}).tool_calls[0].name
    'add'
    """

    content: str | None = None
    chunks: Sequence[str] | None = None
    n_chunks: int | None = None
    reasoning: str | None = None
    tool_calls: Sequence[ScriptedToolCall] = ()
    usage: Mapping[str, Any] | None = None
    finish_reason: str | None = None
    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    _encoded: tuple[bytes, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.chunks is not None and self.content is not None:
            raise ValueError("give either content or chunks, not both")
        if self.n_chunks is not None and self.n_chunks > len(self.content or ""):
            raise ValueError("n_chunks cannot exceed the number of characters in content")
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        if self.chunks is not None:
            chunks = tuple(self.chunks)
            object.__setattr__(self, "chunks", chunks)
            # Pre-encode the deltas once so long benchmark streams cost one join per request.
            object.__setattr__(self, "_encoded", _encode_content_deltas(chunks))

    @classmethod
    def text(cls, content: str, **kwargs: Any) -> Reply:
        """A plain text reply.

        >>> Reply.text("ok").content
        'ok'
        """
        return cls(content=content, **kwargs)

    @classmethod
    def tool_call(cls, name: str, arguments: Mapping[str, Any] | str, **kwargs: Any) -> Reply:
        """A reply making one tool call.

        >>> Reply.tool_call("f", "{}").tool_calls[0].arguments_json
        '{}'
        """
        return cls(tool_calls=(ScriptedToolCall(name, arguments),), **kwargs)

    @classmethod
    def error(
        cls, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """An HTTP error answered verbatim.

        >>> Reply.error(400).body is None
        True
        """
        return cls(status=status, body=body, headers=dict(headers or {}))

    @property
    def is_error(self) -> bool:
        """True when the reply is an HTTP error rather than a completion."""
        return self.status != 200

    @property
    def full_text(self) -> str:
        """The full content (the concatenation of `chunks` when chunks are given)."""
        if self.chunks is not None:
            return "".join(self.chunks)
        return self.content or ""

    def stream_chunks(self) -> tuple[str, ...] | None:
        """The exact stream deltas, or None to let the simulator split content by words."""
        if self.chunks is not None:
            return tuple(self.chunks)
        if self.n_chunks is None:
            return None
        return _split_evenly(self.content or "", self.n_chunks)

    @property
    def encoded_chunks(self) -> tuple[bytes, ...] | None:
        """The `{"content": ..., "reasoning_content": ""}` deltas, encoded at construction."""
        return self._encoded


def _encode_content_deltas(chunks: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(encode_content_delta(c) for c in chunks)


def _split_evenly(text: str, n: int) -> tuple[str, ...]:
    size, extra = divmod(len(text), n)
    pieces: list[str] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return tuple(pieces)


@dataclass
class _Entry:
    replies: tuple[Reply, ...]
    remaining: int | None
    position: int = 0


class ScriptQueue:
    """Thread-safe FIFO of scripted replies; each `push` may repeat its group `times` times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[_Entry] = deque()

    def push(self, replies: Sequence[Reply], times: int | None = 1) -> None:
        """Queue `replies` in order, the whole group `times` times (`None`: forever)."""
        if not replies:
            raise ValueError("script() needs at least one Reply")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1, or None to repeat forever")
        with self._lock:
            self._entries.append(_Entry(tuple(replies), times))

    def pop(self) -> Reply | None:
        """The next scripted reply, or None when the script is empty."""
        if not self._entries:
            return None
        with self._lock:
            if not self._entries:
                return None
            entry = self._entries[0]
            reply = entry.replies[entry.position]
            entry.position += 1
            if entry.position == len(entry.replies):
                entry.position = 0
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._entries.popleft()
            return reply

    def clear(self) -> None:
        """Drop every queued reply."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
