"""Image generation: ModelScope's AIGC models through the asynchronous task API.

A request is submitted to ``POST /v1/images/generations`` with ``X-ModelScope-Async-Mode: true``
and answered with a ``task_id``; the task is then polled at ``GET /v1/tasks/{task_id}`` with
``X-ModelScope-Task-Type: image_generation`` until its ``task_status`` is ``SUCCEED`` (the
image URLs are in ``output_images``) or ``FAILED`` (reference: modelscope-api.md §1.6).

Everything but the I/O is pure and shared by the sync and async twins: parameter checks (made
before any request, with the documented ranges), the request body, reading a task, and the poll
schedule (:class:`RatioSchedule`: each wait a fraction of the time elapsed, from 1 s up to
5 s, bounded by ``timeout``). Quota headers
and errors go through the transport's classifier and the shared quota tracker, where image
models draw on an account budget of their own (:func:`~modelscope_inference.quota.account_pool`).

Example:
    >>> result = client.images.generate(ImageRequest(prompt="a golden cat", size="512x512"))
    >>> result.url
    'https://.../0.png'
    >>> client.images.save(result, "cat.png")
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from modelscope_inference import catalog
from modelscope_inference._lazy import caught, errors
from modelscope_inference.chat import GatedClient
from modelscope_inference.limiter import ConcurrencyGate
from modelscope_inference.quota import DEFAULT_PROBE_INTERVAL
from modelscope_inference.retry import RetryPolicy
from modelscope_inference.transport import JSONResponse, Transport

IMAGES_PATH = "/images/generations"
TASK_PATH = "/tasks/{task_id}"
# reference: modelscope-api.md §1.6, the official example's headers
SUBMIT_HEADERS = {"X-ModelScope-Async-Mode": "true"}
POLL_HEADERS = {"X-ModelScope-Task-Type": "image_generation"}

DEFAULT_IMAGE_MODEL = "Qwen/Qwen-Image"
DEFAULT_TIMEOUT = 300.0
"""Seconds a call waits for a task (LiteLLM waits 300 s, reference: modelscope-api.md §8.3)."""

# reference: modelscope-api.md §1.6, the official parameter table
MAX_PROMPT = 2000  # "length < 2000"
MAX_SEED = 2**31 - 1
STEPS = (1, 100)
GUIDANCE = (1.5, 20.0)
MAX_LORAS = 6
DEFAULT_SIDES = (64, 2048)  # an image model the catalog does not know: the widest range

SUCCEEDED = frozenset({"SUCCEED", "SUCCEEDED", "SUCCESS"})
# [INFERRED] §1.6: only SUCCEED and FAILED are documented; clients handle CANCELED too.
ENDED_BADLY = frozenset({"FAILED", "FAILURE", "FAIL", "ERROR", "CANCELED", "CANCELLED"})

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX*×]\s*(\d{1,5})\s*$")
_NOT_FOUND = "task not found"

Clock = Callable[[], float]
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]
Progress = Callable[["ImageTask", float], None]


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRequest:
    """One image to make, framework-free. Only ``prompt`` is required; ``None`` leaves a
    parameter to the service's default. ``image_url`` (edit models only) is a public URL or a
    ``data:image/...;base64,`` URL, or a list of them; ``loras`` is a LoRA repo id, or up to
    six ``{repo id: weight}`` whose weights sum to 1.0 (reference: modelscope-api.md §1.6).

    Example:
        >>> ImageRequest(prompt="a golden cat", size="1024x1024", seed=7, steps=30)
        >>> ImageRequest(prompt="make it blue", model="Qwen/Qwen-Image-Edit-2509",
        ...              image_url="https://example.com/cat.png")
    """

    prompt: str
    model: str = DEFAULT_IMAGE_MODEL
    negative_prompt: str | None = None
    size: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    image_url: str | Sequence[str] | None = None
    loras: str | Mapping[str, float] | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)


def _refuse(parameter: str, limit: str, what: str) -> errors.ImageParameterError:
    return errors.ImageParameterError(
        parameter,
        limit,
        f"{what} Allowed: {limit} (reference: ModelScope's image API table). No request was "
        "sent; fix the parameter and call again.",
    )


def check_text(name: str, value: object, *, required: bool) -> None:
    """``prompt``/``negative_prompt``: a string shorter than 2000 characters."""
    if value is None and not required:
        return
    limit = f"a non-empty string of fewer than {MAX_PROMPT} characters"
    if not isinstance(value, str) or (required and not value.strip()):
        raise _refuse(name, limit, f"{name} must be a non-empty string, got {value!r}.")
    if len(value) >= MAX_PROMPT:
        raise _refuse(name, limit, f"{name} has {len(value)} characters.")


def parse_size(size: str) -> tuple[int, int]:
    """``"1024x1024"`` as ``(width, height)``; ``ImageParameterError`` when not ``WxH``.

    Example:
        >>> parse_size("1328x1024")
        (1328, 1024)
    """
    match = _SIZE.match(size) if isinstance(size, str) else None
    if match is None:
        raise _refuse("size", "WIDTHxHEIGHT, e.g. 1024x1024", f"size {size!r} is not WxH.")
    return int(match[1]), int(match[2])


def image_sides(model: str) -> tuple[int, int]:
    """The smallest and largest side ``model`` accepts (its catalog family's range)."""
    return catalog.lookup(model).image_sides or DEFAULT_SIDES


def check_size(model: str, size: str | None) -> None:
    """Both sides within the model family's range (SD 64-2048, FLUX 64-1024, Qwen-Image
    64-1664, Z-Image-Turbo 512-2048: reference: modelscope-api.md §1.6, §8.3)."""
    if size is None:
        return
    width, height = parse_size(size)
    low, high = image_sides(model)
    if not (low <= width <= high and low <= height <= high):
        limit = f"{low}x{low} to {high}x{high} for {model}"
        raise _refuse("size", limit, f"size {size} is outside {model}'s range.")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(name, f"an integer in [{low}, {high}]", f"{name}={value!r} is out of range.")


def check_guidance(value: object) -> None:
    """``guidance`` in [1.5, 20]."""
    if value is None:
        return
    low, high = GUIDANCE
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise _refuse("guidance", f"a number in [{low}, {high:g}]", f"guidance={value!r}.")


def _image_urls(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def check_image_url(model: str, value: object) -> None:
    """Edit models need ``image_url`` (public URL or base64 data URL, one or a list); other
    models refuse it (reference: modelscope-api.md §1.6, §8.3)."""
    edit = catalog.lookup(model).image_edit
    limit = "an http(s) URL or a data:image/...;base64, URL, or a list of them (edit models)"
    if value is None:
        if edit:
            raise _refuse("image_url", limit, f"{model} edits a picture: give image_url.")
        return
    if not edit and catalog.lookup(model).known:
        raise _refuse("image_url", limit, f"{model} is not an edit model; drop image_url.")
    if not isinstance(value, str | Sequence):
        raise _refuse("image_url", limit, f"image_url={value!r}.")
    urls = _image_urls(value)
    bad = [u for u in urls if not isinstance(u, str) or not _is_image_url(u)]
    if not urls or bad:
        raise _refuse("image_url", limit, f"image_url has unusable items: {bad[:3]!r}.")


def _is_image_url(url: str) -> bool:
    lowered = url[:64].lower()
    return lowered.startswith(("http://", "https://")) or (
        lowered.startswith("data:image/") and ";base64," in url[:100]
    )


def check_loras(value: object) -> None:
    """A LoRA repo id, or 1 to 6 ``{repo id: weight}`` with weights summing to 1.0."""
    if value is None:
        return
    limit = f"a repo id, or 1 to {MAX_LORAS} {{repo id: weight}} with weights summing to 1.0"
    if isinstance(value, str):
        if not catalog.looks_like_model_id(value):
            raise _refuse("loras", limit, f"loras={value!r} is not a repo id (Org/Name).")
        return
    if not isinstance(value, Mapping) or not 1 <= len(value) <= MAX_LORAS:
        count = len(value) if isinstance(value, Mapping) else "no"
        raise _refuse("loras", limit, f"loras has {count} entries.")
    weights = list(value.values())
    if not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights):
        raise _refuse("loras", limit, f"loras weights must be numbers: {weights!r}.")
    if not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
        raise _refuse("loras", limit, f"loras weights sum to {sum(weights):g}.")


def check_request(request: ImageRequest) -> None:
    """Refuse, before any request, a parameter outside its documented range
    (:class:`~modelscope_inference.errors.ImageParameterError` names the limit).

    Example:
        >>> check_request(ImageRequest(prompt="cat", steps=500))
        Traceback (most recent call last):
        ImageParameterError: steps=500 is out of range. Allowed: an integer in [1, 100] ...
    """
    info = catalog.lookup(request.model)
    if info.known and info.kind != "image":
        raise _refuse(
            "model",
            "an image model, e.g. Qwen/Qwen-Image",
            f"{request.model} is a {info.kind} model.",
        )
    check_text("prompt", request.prompt, required=True)
    check_text("negative_prompt", request.negative_prompt, required=False)
    check_size(request.model, request.size)
    _check_int("seed", request.seed, 0, MAX_SEED)
    _check_int("steps", request.steps, *STEPS)
    check_guidance(request.guidance)
    check_image_url(request.model, request.image_url)
    check_loras(request.loras)


def image_body(request: ImageRequest) -> dict[str, Any]:
    """The ``/images/generations`` body: the given parameters only, then ``extra_body``."""
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
    optional = {
        "negative_prompt": request.negative_prompt,
        "size": request.size,
        "seed": request.seed,
        "steps": request.steps,
        "guidance": request.guidance,
        "loras": dict(request.loras) if isinstance(request.loras, Mapping) else request.loras,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.image_url is not None:
        urls = _image_urls(request.image_url)
        body["image_url"] = urls[0] if isinstance(request.image_url, str) else urls
    body.update(request.extra_body)
    return body


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageTask:
    """One poll's view of a task: its ``status`` string as sent, and the images once done.

    Example:
        >>> task.status, task.done
        ('RUNNING', False)
    """

    task_id: str
    model: str
    status: str
    images: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """True once the task succeeded or ended badly."""
        return self.status in SUCCEEDED or self.status in ENDED_BADLY


@dataclass(frozen=True)
class ImageResult:
    """A finished task: the image URLs and how it went.

    ``elapsed`` is the seconds this call waited, ``polls`` how many polls it made.

    Example:
        >>> result.url, result.task_id, result.polls
        ('https://.../0.png', '5f1c...', 6)
    """

    task_id: str
    model: str
    images: tuple[str, ...]
    status: str = "SUCCEED"
    polls: int = 0
    elapsed: float = 0.0
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The first image's URL."""
        return self.images[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (a tool's artifact, logs)."""
        return {
            "task_id": self.task_id,
            "model": self.model,
            "status": self.status,
            "images": list(self.images),
            "polls": self.polls,
            "elapsed": round(self.elapsed, 3),
        }


def task_id_from(response: JSONResponse, model: str) -> str:
    """The ``task_id`` of a submit answer; a typed error for anything else."""
    task_id = response.data.get("task_id")
    if isinstance(task_id, str) and task_id:
        return task_id
    raise errors.ImageTaskError(
        f"ModelScope accepted the image request but sent no task_id (model {model!r}); the "
        f"answer was {dict(response.data)!r}. Check that the model is an AIGC model.",
        task_id="",
        model=model,
    )


def _service_message(data: Mapping[str, Any]) -> str | None:
    """The text of an ``errors``/``error`` object in a task answer (read here, not with
    :func:`errors.error_message_from_body`: that import costs ``openai``'s, on every poll)."""
    for key in ("errors", "error"):
        inner = data.get(key)
        if isinstance(inner, Mapping) and _text(inner.get("message")):
            return str(inner["message"])
    return _text(data.get("message")) or _text(data.get("task_error"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def is_task_not_found(data: Mapping[str, Any]) -> bool:
    """The "task not found" answer (reference: modelscope-api.md §1.6, §3.3):
    ``{"errors": {"code": 500, "message": "task not found"}, "task_status": "FAILED"}``."""
    return _NOT_FOUND in (_service_message(data) or "").lower()


def not_found_error(task_id: str, model: str | None) -> errors.ImageTaskNotFoundError:
    """The typed error for a "task not found" answer."""
    return errors.ImageTaskNotFoundError(
        f"ModelScope answered 'task not found' for image task {task_id!r}. Check the id, and "
        "that it was submitted with this token to this base URL; polls need the header "
        "X-ModelScope-Task-Type: image_generation (this client sends it).",
        task_id=task_id,
        model=model,
        status="FAILED",
    )


def read_task(data: Mapping[str, Any], task_id: str, model: str) -> ImageTask:
    """A poll answer as an :class:`ImageTask`; raises for "task not found". Any status string
    is accepted: intermediate ones are not documented (§1.6), so all are "keep polling"."""
    if is_task_not_found(data):
        raise not_found_error(task_id, model)
    status = data.get("task_status")
    images = data.get("output_images")
    urls = tuple(u for u in images if isinstance(u, str)) if isinstance(images, list) else ()
    return ImageTask(
        task_id=task_id,
        model=model,
        status=status.upper() if isinstance(status, str) else "UNKNOWN",
        images=urls,
        data=dict(data),
    )


def finished(task: ImageTask, polls: int, elapsed: float) -> ImageResult | None:
    """The result of a task that succeeded, None while it runs; raises when it ended badly."""
    if task.status in SUCCEEDED and task.images:
        return ImageResult(
            task.task_id, task.model, task.images, task.status, polls, elapsed, task.data
        )
    if task.status in SUCCEEDED or task.status in ENDED_BADLY:
        reason = _service_message(task.data) or (
            "it reported success but no output_images" if task.status in SUCCEEDED else None
        )
        said = f" The service said: {reason!r}." if reason else ""
        raise errors.ImageTaskFailedError(
            f"Image task {task.task_id!r} ended {task.status} (model {task.model!r}).{said} "
            "Submitting again may work; if it keeps failing, change the prompt or the model.",
            task_id=task.task_id,
            model=task.model,
            status=task.status,
            reason=reason,
        )
    return None


# --- polling --------------------------------------------------------------------------------


class Schedule(Protocol):
    """When to poll next: any object with this one method (see :class:`RatioSchedule`)."""

    def delay(self, sleeps: int, elapsed: float) -> float:
        """Seconds to wait before the next poll, after ``sleeps`` waits and ``elapsed``
        seconds since the task was submitted."""
        ...


@dataclass(frozen=True)
class RatioSchedule:
    """The default: each wait is ``ratio`` times the time elapsed since submitting, at least
    ``floor`` and at most ``cap`` seconds.

    Why: a task that ends just after a poll is seen one wait later, so the result comes at
    most ``max(ratio * duration, floor)`` seconds after the task is done (and never more than
    ``cap``): the added latency is bounded relative to the task's duration by construction,
    for every duration, while the number of polls grows only with its logarithm. With the
    defaults: at most 1 s for a task up to 6.7 s, at most 15 % of any longer one, 18 polls for
    a 30 s task. No schedule gets both 15 % and 12 polls over 2-30 s (that needs 21 polls);
    ``bench/polling.py`` measures it, ``bench/RESULTS.md`` has the figures and the trade-off.
    Pass ``PollSchedule()`` for fewer polls (11 at 30 s) and up to 30 % added latency.

    Example:
        >>> RatioSchedule().delay(0, 0.0), RatioSchedule().delay(9, 10.0)
        (1.0, 1.5)
    """

    ratio: float = 0.15
    floor: float = 1.0
    cap: float = 5.0

    def delay(self, sleeps: int, elapsed: float) -> float:
        """``ratio * elapsed`` within ``[floor, cap]``."""
        return min(max(self.ratio * elapsed, self.floor), self.cap)


@dataclass(frozen=True)
class PollSchedule:
    """Geometric backoff: ``first`` seconds after submitting, then each wait ``factor`` times
    the last, capped at ``cap`` (11 polls over a 30 s task, but up to 29 % added latency on a
    10 s one: the ratio-bounded :class:`RatioSchedule` is the default).

    Example:
        >>> list(itertools.islice(PollSchedule().delays(), 5))
        [1.0, 1.2, 1.44, 1.728, 2.0736]
    """

    first: float = 1.0
    factor: float = 1.2
    cap: float = 5.0

    def delay(self, sleeps: int, elapsed: float) -> float:
        """The ``sleeps``-th wait: ``first * factor ** sleeps``, capped."""
        return min(self.first * self.factor**sleeps, self.cap)

    def delays(self) -> Iterator[float]:
        """The waits between polls, forever."""
        return (self.delay(n, 0.0) for n in itertools.count())


@dataclass
class PollState:
    """One wait's bookkeeping, pure: polls made, the last task seen, the next wait (or the
    timeout error when ``timeout`` is spent). Both twins drive it; only their I/O differs."""

    task_id: str
    model: str
    timeout: float
    clock: Clock
    schedule: Schedule = field(default_factory=RatioSchedule)
    started: float = 0.0
    polls: int = 0
    sleeps: int = 0
    last: ImageTask | None = None

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def elapsed(self) -> float:
        """Seconds since this wait began."""
        return self.clock() - self.started

    def observe(self, task: ImageTask) -> ImageResult | None:
        """Count one poll's answer: the result when done, None to keep polling."""
        self.polls += 1
        self.last = task
        return finished(task, self.polls, self.elapsed)

    def next_wait(self) -> float:
        """Seconds to sleep before the next poll (never past the deadline, so the last poll
        lands on it); the timeout error once the deadline has passed."""
        elapsed = self.elapsed
        left = self.timeout - elapsed
        if left <= 0:
            raise self.timed_out()
        wait = self.schedule.delay(self.sleeps, elapsed)
        self.sleeps += 1
        return min(wait, left)

    def timed_out(self) -> errors.ImageTaskTimeoutError:
        """The error for a task still running at the deadline; it carries the ``task_id``."""
        status = self.last.status if self.last else "SUBMITTED"
        return errors.ImageTaskTimeoutError(
            f"Image task {self.task_id!r} was still {status} after {self.elapsed:.1f} s "
            f"(timeout={self.timeout:g}, {self.polls} polls). It may still finish: resume with "
            f"client.images.wait({self.task_id!r}), or raise timeout.",
            task_id=self.task_id,
            model=self.model,
            status=status,
            elapsed=self.elapsed,
            polls=self.polls,
        )


def check_timeout(timeout: float) -> float:
    """``timeout`` as a positive finite float (a ``ConfigurationError`` otherwise)."""
    value = float(timeout)
    if not math.isfinite(value) or value <= 0:
        raise errors.ConfigurationError(
            f"timeout must be a finite number of seconds > 0, got {timeout!r}."
        )
    return value


# --- the client -----------------------------------------------------------------------------


class ImageClient(GatedClient):
    """Submits image tasks and waits for them, over the shared transport, retry policy and
    quota gate. ``clock``/``sleep``/``async_sleep`` are injectable: tests never wait.

    Example:
        >>> result = client.images.generate(ImageRequest(prompt="a golden cat"))
        >>> data = client.images.download(result.url)
    """

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy,
        *,
        preflight: bool = True,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        schedule: Schedule | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        async_sleep: AsyncSleep = asyncio.sleep,
        concurrency: ConcurrencyGate | None = None,
    ) -> None:
        super().__init__(
            transport,
            policy,
            preflight=preflight,
            probe_interval=probe_interval,
            concurrency=concurrency,
        )
        self.schedule: Schedule = schedule or RatioSchedule()
        self.clock = clock
        self.sleep = sleep
        self.async_sleep = async_sleep

    def _state(self, task_id: str, model: str, timeout: float) -> PollState:
        return PollState(task_id, model, check_timeout(timeout), self.clock, self.schedule)

    # -- sync --------------------------------------------------------------------------------

    def submit(self, request: ImageRequest) -> str:
        """Check ``request`` and submit it; returns the ``task_id`` (no waiting).

        Example:
            >>> task_id = client.images.submit(ImageRequest(prompt="a golden cat"))
        """
        check_request(request)
        send = partial(
            self.transport.send_json,
            "POST",
            IMAGES_PATH,
            image_body(request),
            model=request.model,
            headers=SUBMIT_HEADERS,
        )
        # Only the submit holds a concurrency slot: a poll reads a task's status, it starts no
        # work on the model.
        with self._gate(request.model):
            reply = self.policy.call(self._limited(request.model, send))
        return task_id_from(reply, request.model)

    def poll(self, task_id: str, *, model: str = DEFAULT_IMAGE_MODEL) -> ImageTask:
        """One poll of ``task_id``: its current status (and images once done)."""
        path = TASK_PATH.format(task_id=task_id)
        send = partial(self.transport.send_json, "GET", path, model=model, headers=POLL_HEADERS)
        try:
            reply = self.policy.call(send)
        except caught.APIStatusError as exc:
            if _says_not_found(exc):
                raise not_found_error(task_id, model) from exc
            raise
        return read_task(reply.data, task_id, model)

    def wait(
        self,
        task_id: str,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        timeout: float = DEFAULT_TIMEOUT,
        on_progress: Progress | None = None,
    ) -> ImageResult:
        """Poll ``task_id`` (at once, then on the schedule) until it is done or ``timeout``
        seconds pass; resumes a task a timeout left running. ``on_progress(task, elapsed)`` is
        called after every poll that is not final.

        Example:
            >>> try:
            ...     result = client.images.generate(request, timeout=60)
            ... except ImageTaskTimeoutError as exc:
            ...     result = client.images.wait(exc.task_id)
        """
        return self._wait(self._state(task_id, model, timeout), on_progress, poll_first=True)

    def _wait(
        self, state: PollState, on_progress: Progress | None, *, poll_first: bool
    ) -> ImageResult:
        if not poll_first:
            self.sleep(state.next_wait())
        while True:
            task = self.poll(state.task_id, model=state.model)
            result = state.observe(task)
            if result is not None:
                return result
            if on_progress is not None:
                on_progress(task, state.elapsed)
            self.sleep(state.next_wait())

    def generate(
        self,
        request: ImageRequest,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_progress: Progress | None = None,
    ) -> ImageResult:
        """Submit ``request`` and wait for its images (see :meth:`wait`); ``timeout`` covers
        the whole call.

        Example:
            >>> client.images.generate(ImageRequest(prompt="a golden cat", seed=1)).url
        """
        check_timeout(timeout)
        started = self.clock()
        task_id = self.submit(request)
        state = self._state(task_id, request.model, timeout)
        state.started = started
        return self._wait(state, on_progress, poll_first=False)

    def download(self, url: str) -> bytes:
        """The image at ``url`` as bytes (fetched without the token: it lives elsewhere)."""
        return self.transport.download(url)

    def save(self, image: ImageResult | str, path: str | Path, *, index: int = 0) -> Path:
        """Download ``image`` (a result's ``index``-th image, or a URL) to ``path``.

        Example:
            >>> client.images.save(result, "cat.png")
            PosixPath('cat.png')
        """
        target = Path(path)
        target.write_bytes(self.download(_url_of(image, index)))
        return target

    # -- async -------------------------------------------------------------------------------

    async def asubmit(self, request: ImageRequest) -> str:
        """Async twin of :meth:`submit`."""
        check_request(request)
        send = partial(
            self.transport.asend_json,
            "POST",
            IMAGES_PATH,
            image_body(request),
            model=request.model,
            headers=SUBMIT_HEADERS,
        )
        with self._gate(request.model):
            reply = await self.policy.acall(self._alimited(request.model, send))
        return task_id_from(reply, request.model)

    async def apoll(self, task_id: str, *, model: str = DEFAULT_IMAGE_MODEL) -> ImageTask:
        """Async twin of :meth:`poll`."""
        path = TASK_PATH.format(task_id=task_id)
        send = partial(self.transport.asend_json, "GET", path, model=model, headers=POLL_HEADERS)
        try:
            reply = await self.policy.acall(send)
        except caught.APIStatusError as exc:
            if _says_not_found(exc):
                raise not_found_error(task_id, model) from exc
            raise
        return read_task(reply.data, task_id, model)

    async def await_task(
        self,
        task_id: str,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        timeout: float = DEFAULT_TIMEOUT,
        on_progress: Progress | None = None,
    ) -> ImageResult:
        """Async twin of :meth:`wait`. Cancelling the awaiting task stops the polling at once
        and leaves nothing running (the service's task itself is not cancelled: it has no
        cancel API)."""
        state = self._state(task_id, model, timeout)
        return await self._await(state, on_progress, poll_first=True)

    async def _await(
        self, state: PollState, on_progress: Progress | None, *, poll_first: bool
    ) -> ImageResult:
        if not poll_first:
            await self.async_sleep(state.next_wait())
        while True:
            task = await self.apoll(state.task_id, model=state.model)
            result = state.observe(task)
            if result is not None:
                return result
            if on_progress is not None:
                on_progress(task, state.elapsed)
            await self.async_sleep(state.next_wait())

    async def agenerate(
        self,
        request: ImageRequest,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_progress: Progress | None = None,
    ) -> ImageResult:
        """Async twin of :meth:`generate`."""
        check_timeout(timeout)
        started = self.clock()
        task_id = await self.asubmit(request)
        state = self._state(task_id, request.model, timeout)
        state.started = started
        return await self._await(state, on_progress, poll_first=False)

    async def adownload(self, url: str) -> bytes:
        """Async twin of :meth:`download`."""
        return await self.transport.adownload(url)

    async def asave(self, image: ImageResult | str, path: str | Path, *, index: int = 0) -> Path:
        """Async twin of :meth:`save`."""
        target = Path(path)
        data = await self.adownload(_url_of(image, index))
        await asyncio.to_thread(target.write_bytes, data)
        return target


def _url_of(image: ImageResult | str, index: int) -> str:
    return image if isinstance(image, str) else image.images[index]


def _says_not_found(exc: Exception) -> bool:
    """A "task not found" sent as an HTTP error (§3.3 marks its status "200?") is the same
    answer: it gets the same typed error."""
    body = getattr(exc, "body", None)
    return isinstance(body, Mapping) and is_task_not_found(body)
