"""The AIGC task API: submit an image task, poll it, fetch its PNG (reference: §1.6).

``POST /v1/images/generations`` (with ``X-ModelScope-Async-Mode: true``) answers a
``task_id``; ``GET /v1/tasks/{task_id}`` (with ``X-ModelScope-Task-Type: image_generation``)
answers ``task_status`` ``PENDING`` then ``RUNNING`` then ``SUCCEED`` (with ``output_images``)
or ``FAILED``. Intermediate names are [INFERRED]: only the last two are documented. A poll
without the task-type header, or for an unknown id, gets the §3.3 "task not found" answer.
Images are real PNGs, deterministic from prompt, seed and size, served by the simulator at
``/files/images/...`` without a token, as object-storage URLs are.

Tasks run on :attr:`ImageTasks.clock` (``time.monotonic`` by default; tests give a fake one
and advance it), for :attr:`ImageTasks.duration` seconds. Image models draw on an AIGC budget
of their own (a :class:`~.quota.QuotaBook`), reported in the four quota headers of the submit
answer (§3.1: "AIGC models may have separate limits").

>>> png = render_png(4, 2, b"seed")
>>> png[:8], struct.unpack(">II", png[16:24])
(b'\\x89PNG\\r\\n\\x1a\\n', (4, 2))
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors
from .errors import ApiError
from .faults import Fault, FaultBook, FaultKind
from .gate import authenticate, loads
from .models import EDIT_MODELS, IMAGE_MODELS
from .quota import QuotaBook

__all__ = ["IMAGE_MODELS", "ImageTasks", "image_routes", "render_png"]

DEFAULT_SIZE = (1024, 1024)
DEFAULT_DURATION = 1.0
DEFAULT_AIGC_LIMIT = 500  # [INFERRED] the AIGC budget is not documented (§3.1)
DEFAULT_AIGC_MODEL_LIMIT = 200
QUEUED_SHARE = 0.3  # the first 30 % of a task's duration it is PENDING, then RUNNING
NOT_FOUND = {"errors": {"code": 500, "message": "task not found"}, "task_status": "FAILED"}
_JSON = "application/json; charset=utf-8"


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


@functools.lru_cache(maxsize=8)
def render_png(width: int, height: int, key: bytes) -> bytes:
    """A ``width`` x ``height`` RGB PNG, a vertical gradient between two colours taken from
    ``key``'s hash: the same key, the same bytes. No image library: ``zlib`` and ``struct``."""
    digest = hashlib.sha256(key).digest()
    top, bottom = digest[0:3], digest[3:6]
    rows = []
    for y in range(height):
        t = y / max(height - 1, 1)
        colour = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        rows.append(b"\x00" + colour * width)  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"".join(rows), 6)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


@dataclass
class _Task:
    task_id: str
    model: str
    prompt: str
    seed: int
    size: tuple[int, int]
    started: float
    duration: float
    fails: str | None  # the failure message, for a task set to fail


class ImageTasks:
    """The simulator's image tasks, their clock and duration, failures to come, and the AIGC
    quota. Thread-safe: tests change it while the server thread reads it.

    >>> tasks = ImageTasks(clock=lambda: 0.0, duration=2)
    >>> tasks.status(tasks.submit("Qwen/Qwen-Image", "cat", 1, (64, 64)).task_id)
    'PENDING'
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        duration: float = DEFAULT_DURATION,
        quota: QuotaBook | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._initial = (clock, duration)
        self.clock = clock
        self.duration = duration
        self.quota = quota or QuotaBook(DEFAULT_AIGC_LIMIT, DEFAULT_AIGC_MODEL_LIMIT)
        self._tasks: dict[str, _Task] = {}
        self._failures: list[str] = []

    def fail_next(self, times: int = 1, message: str = "Image generation failed.") -> None:
        """The next ``times`` submitted tasks end ``FAILED`` with ``message``."""
        with self._lock:
            self._failures.extend([message] * times)

    def stall(self) -> None:
        """Tasks submitted from now on never finish (until :meth:`reset` or a new duration)."""
        self.duration = math.inf

    def reset(self) -> None:
        """Forget tasks, failures and AIGC spending; restore clock and duration."""
        with self._lock:
            self.clock, self.duration = self._initial
            self._tasks.clear()
            self._failures.clear()
        self.quota.clear()

    def submit(self, model: str, prompt: str, seed: int, size: tuple[int, int]) -> _Task:
        """Start a task now, on the clock."""
        with self._lock:
            fails = self._failures.pop(0) if self._failures else None
            task = _Task(
                uuid.uuid4().hex, model, prompt, seed, size, self.clock(), self.duration, fails
            )
            self._tasks[task.task_id] = task
        return task

    def get(self, task_id: str) -> _Task | None:
        """The task with this id, if it exists."""
        with self._lock:
            return self._tasks.get(task_id)

    def status(self, task_id: str) -> str:
        """``PENDING``, ``RUNNING``, ``SUCCEED`` or ``FAILED`` at the clock's current time."""
        task = self.get(task_id)
        if task is None:
            return "FAILED"
        elapsed = self.clock() - task.started
        if elapsed >= task.duration:
            return "FAILED" if task.fails else "SUCCEED"
        return "PENDING" if elapsed < task.duration * QUEUED_SHARE else "RUNNING"

    def done_at(self, task_id: str) -> float | None:
        """When the task finishes, on the clock (for the benchmark's added latency)."""
        task = self.get(task_id)
        return None if task is None else task.started + task.duration


class _Api(Protocol):
    """What the image routes use of the API routes (:class:`.app._Api`); a protocol, so this
    module does not import :mod:`.app`, which imports it."""

    async def _begin(self, request: Request, body: Any = None) -> str: ...

    def _fault_response(self, fault: Fault, rid: str, model: str) -> Response: ...


class _State(Protocol):
    """What the image routes read of :class:`.state.SimulatorState` (which imports this
    module for :class:`ImageTasks`)."""

    token: str
    faults: FaultBook
    images: ImageTasks


def image_routes(state: _State, api: _Api) -> list[Route]:
    """The three routes of the AIGC API, served from ``state.images``."""
    routes = _ImageRoutes(state, api)
    return [
        Route("/v1/images/generations", routes.submit, methods=["POST"]),
        Route("/v1/tasks/{task_id}", routes.poll, methods=["GET"]),
        Route("/files/images/{task_id}/{index}.png", routes.png, methods=["GET"]),
    ]


class _ImageRoutes:
    def __init__(self, state: _State, api: _Api) -> None:
        self.state = state
        self.api = api

    @property
    def tasks(self) -> ImageTasks:
        return self.state.images

    async def submit(self, request: Request) -> Response:
        body = loads(await request.body())
        early, rid, model = await self._gate(request, body, _model_of(body))
        if early is not None:
            return early
        if request.headers.get("x-modelscope-async-mode", "").lower() != "true":
            # [INFERRED] the synchronous mode is not offered for AIGC models (§1.6)
            return _error(errors.invalid_parameter(_SYNC_REFUSED), rid, [])
        parsed = _parse_submit(body)
        if isinstance(parsed, ApiError):
            return _error(parsed, rid, [])
        snap = self.tasks.quota.consume(model)
        if not snap.allowed:
            return _error(errors.quota_exceeded(), rid, snap.headers())
        prompt, seed, size = parsed
        task = self.tasks.submit(model, prompt, seed, size)
        payload = {"task_id": task.task_id, "task_status": "PENDING", "request_id": rid}
        return _json(200, payload, snap.headers())

    async def poll(self, request: Request) -> Response:
        task = self.tasks.get(request.path_params["task_id"])
        early, rid, _ = await self._gate(request, None, task.model if task else "")
        if early is not None:
            return early
        wanted = request.headers.get("x-modelscope-task-type", "")
        if task is None or wanted != "image_generation":
            # reference: modelscope-api.md §1.6, §3.3: polled wrongly, or no such task
            return _json(200, NOT_FOUND, [])
        return _json(200, self._task_payload(task, rid, str(request.base_url)), [])

    def _task_payload(self, task: _Task, rid: str, root: str) -> dict[str, Any]:
        status = self.tasks.status(task.task_id)
        payload: dict[str, Any] = {"task_id": task.task_id, "task_status": status}
        payload["request_id"] = rid
        if status == "SUCCEED":
            payload["output_images"] = [f"{root}files/images/{task.task_id}/0.png"]
        elif status == "FAILED":
            payload["errors"] = {"message": task.fails}  # [INFERRED] shape of a failed task
        return payload

    async def png(self, request: Request) -> Response:
        task = self.tasks.get(request.path_params["task_id"])
        if task is None or self.tasks.status(task.task_id) != "SUCCEED":
            return Response(b"404 page not found", 404, media_type="text/plain")
        key = f"{task.prompt}\x00{task.seed}".encode()
        return Response(render_png(*task.size, key), 200, media_type="image/png")

    async def _gate(
        self, request: Request, body: Any, model: str
    ) -> tuple[Response | None, str, str]:
        """Record, delay, authenticate, and answer a fault (a 429 carries the AIGC quota)."""
        rid = await self.api._begin(request, body)
        auth = authenticate(request.headers.get("authorization"), self.state.token)
        if auth is not None:
            return _error(auth, rid, []), rid, model
        replacing = next(
            (f for f in self.state.faults.take(model, False) if f.replaces_response), None
        )
        if replacing is None:
            return None, rid, model
        return self._fault(replacing, rid, model), rid, model

    def _fault(self, fault: Fault, rid: str, model: str) -> Response:
        if fault.kind is not FaultKind.RATE_LIMIT:
            return self.api._fault_response(fault, rid, model)
        headers = self.tasks.quota.peek(model).headers()
        if fault.retry_after is not None:
            headers.append(("retry-after", f"{fault.retry_after:g}"))
        return _error(errors.quota_exceeded(), rid, headers)


_SYNC_REFUSED = (
    "Image models are served asynchronously: send the header X-ModelScope-Async-Mode: true, "
    "then poll /v1/tasks/{task_id}."
)


def _model_of(body: Any) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


def _parse_submit(body: Any) -> tuple[str, int, tuple[int, int]] | ApiError:
    """Prompt, seed and size of a submit body, or the 400 for what the real one refuses."""
    model = _model_of(body)
    if model not in IMAGE_MODELS:
        return errors.model_not_served(model)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt or len(prompt) >= 2000:
        return errors.invalid_parameter(
            "prompt is required and must be shorter than 2000 characters"
        )
    if model in EDIT_MODELS and not body.get("image_url"):
        return errors.invalid_parameter(f"{model} needs image_url")
    size = _size(body.get("size"), IMAGE_MODELS[model])
    if size is None:
        return errors.invalid_parameter(f"size {body.get('size')!r} is out of range for {model}")
    seed = body.get("seed")
    return prompt, seed if isinstance(seed, int) else 0, size


def _size(value: Any, sides: tuple[int, int]) -> tuple[int, int] | None:
    if value is None:
        return DEFAULT_SIZE
    parts = value.lower().split("x") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        return None
    width, height = int(parts[0]), int(parts[1])
    low, high = sides
    return (width, height) if low <= width <= high and low <= height <= high else None


def _error(error: ApiError, rid: str, headers: list[tuple[str, str]]) -> Response:
    return Response(error.encode(rid), error.status, headers=dict(headers), media_type=_JSON)


def _json(status: int, payload: Any, headers: list[tuple[str, str]]) -> Response:
    import json

    data = json.dumps(payload, ensure_ascii=False).encode()
    return Response(data, status, headers=dict(headers), media_type=_JSON)
