"""A minimal instant HTTP/1.1 server, to measure what a *client* costs and nothing else.

It speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` request bodies, chunked stream
answers) on a raw :class:`asyncio.Protocol`, and answers from pre-encoded bytes: no parsing of
chat requests beyond a substring test for ``"stream": true``, no JSON encoding per request.
It runs in a subprocess so that its work never competes with the client for the GIL.

The scenario is the first path segment of the base URL, so one server serves every case::

    http://127.0.0.1:PORT/kind=text,n=2000,ms=0,fault=none,tag=r1/v1/chat/completions

- ``kind``: ``text`` or ``tools`` (what a chat answer holds);
- ``n``: the number of content chunks in a streamed answer;
- ``ms``: latency added before each answer;
- ``fault``: ``none``, ``exhausted`` (always 429 with ``requests-remaining: 0``) or
  ``transient`` (the first request per ``tag`` is a 429 with ``Retry-After: 1``);
- ``tag``: a label whose requests are counted (``GET /_stats/<tag>``).

Example:
    >>> with InstantServer() as server:
    ...     base_url = server.url(kind="text", n=2000)
    ...     server.requests("r1")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import httpx

MODEL = "Qwen/Qwen2.5-7B-Instruct"  # served by the simulator too; not a thinking model
EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"
EMBEDDING_DIM = 1024
TOOL_NAME = "search"
REPO_ROOT = Path(__file__).resolve().parent.parent

_QUOTA_OK = (
    b"modelscope-ratelimit-requests-limit: 2000\r\n"
    b"modelscope-ratelimit-requests-remaining: 1999\r\n"
    b"modelscope-ratelimit-model-requests-limit: 500\r\n"
    b"modelscope-ratelimit-model-requests-remaining: 499\r\n"
)
_LIMIT_BODY = b'{"errors":{"message":"Request limit exceeded.","request_id":"bench-429"}}'


# --- scenarios ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """What the server answers for one base URL (see the module docstring)."""

    kind: str = "text"
    n: int = 10
    ms: int = 0
    fault: str = "none"
    tag: str = ""

    def segment(self) -> str:
        """The path segment that names this scenario."""
        return f"kind={self.kind},n={self.n},ms={self.ms},fault={self.fault},tag={self.tag}"


@cache
def parse_segment(segment: str) -> Scenario:
    """The scenario a path segment names (cached: a segment is parsed once per process)."""
    fields = dict(part.split("=", 1) for part in segment.split(",") if "=" in part)
    return Scenario(
        kind=fields.get("kind", "text"),
        n=int(fields.get("n", "10")),
        ms=int(fields.get("ms", "0")),
        fault=fields.get("fault", "none"),
        tag=fields.get("tag", ""),
    )


# --- canned bodies (built once, then served as bytes) ---------------------------------------


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _response(status: bytes, content_type: bytes, body: bytes, extra: bytes = b"") -> bytes:
    head = (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"x-request-id: bench-request\r\n" + extra + b"\r\n"
    )
    return head + body


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}


def _tool_call(index: int, arguments: str) -> dict[str, object]:
    function = {"name": TOOL_NAME, "arguments": arguments}
    return {"index": index, "id": f"call_bench_{index}", "type": "function", "function": function}


def _completion_body(kind: str) -> bytes:
    message: dict[str, object] = {"role": "assistant", "content": "Hello! " * 20}
    finish = "stop"
    if kind == "tools":
        calls = [_tool_call(i, json.dumps({"query": f"topic {i}", "limit": 5})) for i in range(2)]
        message = {"role": "assistant", "content": "", "tool_calls": calls}
        finish = "tool_calls"
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": MODEL,
        "choices": [choice],
        "usage": _usage(),
    }
    return _dumps(body)


def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_764_000_000,
        "model": MODEL,
        "choices": [choice],
    }


def _stream_events(kind: str, n: int) -> list[dict[str, object]]:
    """``n`` content (or tool-argument) chunks between a role chunk and a finish chunk."""
    if kind == "tools":
        pieces = ['{"query": "', *(["abcd"] * max(n - 2, 0)), '", "limit": 5}']
        first = _tool_call(0, "")
        events = [_chunk({"role": "assistant", "content": None, "tool_calls": [first]})]
        events += [
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces
        ]
        finish = "tool_calls"
    else:
        events = [_chunk({"role": "assistant", "content": ""})]
        events += [_chunk({"content": f"tok{i % 10} "}) for i in range(n)]
        finish = "stop"
    events.append(_chunk({}, finish))
    usage = _chunk({})
    usage["choices"], usage["usage"] = [], _usage()
    events.append(usage)
    return events


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@cache
def chat_response(kind: str, stream: bool) -> bytes:
    """A complete non-streamed 200 answer (``stream`` False) or the head of a streamed one."""
    if not stream:
        return _response(b"200 OK", b"application/json", _completion_body(kind), _QUOTA_OK)
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\nx-request-id: bench-request\r\n" + _QUOTA_OK + b"\r\n"
    )


@cache
def stream_body(kind: str, n: int) -> bytes:
    """The chunked body of a streamed answer: one HTTP chunk per SSE event, as servers flush."""
    events = [b"data: " + _dumps(e) + b"\n\n" for e in _stream_events(kind, n)]
    events.append(b"data: [DONE]\n\n")
    return b"".join(_http_chunk(e) for e in events) + b"0\r\n\r\n"


@cache
def embedding_response(count: int) -> bytes:
    """A 200 answer with ``count`` float vectors of :data:`EMBEDDING_DIM` values."""
    vector = [round(((i * 7919) % 1000) / 1000.0 - 0.5, 6) for i in range(EMBEDDING_DIM)]
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(count)]
    usage = {"prompt_tokens": count * 8, "total_tokens": count * 8}
    body = {"object": "list", "model": EMBEDDING_MODEL, "data": data, "usage": usage}
    return _response(b"200 OK", b"application/json", _dumps(body), _QUOTA_OK)


def limit_response(transient: bool) -> bytes:
    """A 429: a spent daily quota, or a transient limit asking for a one-second pause."""
    if transient:
        extra = b"retry-after: 1\r\nmodelscope-ratelimit-requests-remaining: 1500\r\n"
    else:
        extra = (
            b"modelscope-ratelimit-requests-limit: 2000\r\n"
            b"modelscope-ratelimit-requests-remaining: 0\r\n"
        )
    return _response(b"429 Too Many Requests", b"application/json", _LIMIT_BODY, extra)


NOT_FOUND = _response(b"404 Not Found", b"application/json", b'{"error":"not found"}')


# --- the protocol ---------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection: frame requests, answer each from canned bytes."""

    counts: ClassVar[Counter[str]] = Counter()  # per tag, shared by every connection

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := self._next_request()) is not None:
            self._answer(*request)

    def _next_request(self) -> tuple[bytes, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        length = 0
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            stop = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : stop if stop >= 0 else None])
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        return bytes(head.split(b" ", 2)[1]), body

    def _answer(self, target: bytes, body: bytes) -> None:
        parts = target.decode().split("/")
        if len(parts) > 2 and parts[1] == "_stats":
            payload = _dumps({"requests": self.counts[parts[2]]})
            self._send(_response(b"200 OK", b"application/json", payload), 0)
            return
        scenario = parse_segment(parts[1]) if len(parts) > 1 else Scenario()
        self.counts[scenario.tag] += 1
        self._send(self._payload(scenario, parts[-1], body), scenario.ms)

    def _payload(self, scenario: Scenario, endpoint: str, body: bytes) -> bytes:
        if scenario.fault == "exhausted":
            return limit_response(transient=False)
        if scenario.fault == "transient" and self.counts[scenario.tag] == 1:
            return limit_response(transient=True)
        if endpoint == "completions":
            if b'"stream":true' in body or b'"stream": true' in body:
                return chat_response(scenario.kind, True) + stream_body(scenario.kind, scenario.n)
            return chat_response(scenario.kind, False)
        if endpoint == "embeddings":
            return embedding_response(len(json.loads(body)["input"]))
        return NOT_FOUND

    def _send(self, payload: bytes, ms: int) -> None:
        if self.transport is None:
            return
        if ms:
            asyncio.get_running_loop().call_later(ms / 1000, self._write, payload)
        else:
            self.transport.write(payload)

    def _write(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    """Serve forever, printing ``LISTENING <port>`` once the socket is bound."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"LISTENING {bound}", flush=True)
    async with server:
        await server.serve_forever()


# --- the handle the bench uses --------------------------------------------------------------


class InstantServer:
    """Start the server in a subprocess; build scenario URLs; read request counts.

    Example:
        >>> with InstantServer() as server:
        ...     openai.OpenAI(base_url=server.url(n=2000), api_key="x")
    """

    _tags = itertools.count(1)

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> InstantServer:
        command = [sys.executable, "-m", "bench.servers", "--host", self.host, "--port", "0"]
        self._process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("LISTENING "):
            self._stop()
            raise RuntimeError(f"the instant server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        """Stop the subprocess (killed if it does not exit on SIGTERM) and close its pipe."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        finally:
            if process.stdout is not None:
                process.stdout.close()

    @classmethod
    def new_tag(cls, prefix: str) -> str:
        """A tag no earlier request used (so its count starts at zero)."""
        return f"{prefix}{next(cls._tags)}"

    def url(self, **fields: object) -> str:
        """The ``/v1`` base URL of a scenario (``kind``, ``n``, ``ms``, ``fault``, ``tag``)."""
        segment = Scenario(**fields).segment()  # type: ignore[arg-type]
        return f"http://{self.host}:{self.port}/{segment}/v1"

    def requests(self, tag: str) -> int:
        """How many requests the server received for ``tag``."""
        reply = httpx.get(f"http://{self.host}:{self.port}/_stats/{tag}")
        return int(reply.json()["requests"])


def main() -> None:
    """``python -m bench.servers [--port N]``: run the server in the foreground."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
