"""What a running simulator remembers: token, models, quotas, faults, scripts, request log.

The HTTP app reads it on the server thread; tests change it from their own thread, so every
mutable part is thread-safe.

>>> state = SimulatorState()
>>> mask_authorization("Bearer ms-simulator")
'Bearer ms-s***'
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .concurrency import ConcurrencyBook
from .faults import FaultBook
from .gate import UNBOUND_TOKEN
from .images import DEFAULT_AIGC_LIMIT, DEFAULT_AIGC_MODEL_LIMIT, ImageTasks
from .models import ModelSpec, build_catalog
from .quota import DEFAULT_ACCOUNT_LIMIT, DEFAULT_MODEL_LIMIT, Clock, QuotaBook
from .script import ScriptQueue

__all__ = [
    "DEFAULT_TOKEN",
    "UNBOUND_TOKEN",
    "RecordedRequest",
    "SimulatorState",
    "mask_authorization",
]

DEFAULT_TOKEN = "ms-simulator"
_SECRET_HEADERS = {"authorization", "api-key", "x-api-key"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator saw it; secrets in headers are masked.

    >>> RecordedRequest("GET", "/v1/models", {}, None, None, False, "r").path
    '/v1/models'
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    model: str | None
    stream: bool
    request_id: str
    concurrency: int | None = None
    """Requests in flight for its model when it arrived, itself included (chat, embeddings)."""
    over_cap: bool = False
    """True when the model's concurrency cap refused it (a transient 429)."""


def mask_authorization(value: str) -> str:
    """Keep the scheme and a short prefix: `Bearer ms-simulator` → `Bearer ms-s***`."""
    scheme, sep, secret = value.partition(" ")
    if not sep:
        scheme, secret = "", value
    keep = min(4, len(secret) // 3)
    masked = secret[:keep] + "***"
    return f"{scheme} {masked}" if scheme else masked


class SimulatorState:
    """Configuration and mutable books of one simulator instance."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        latency: float = 0.0,
        account_limit: int = DEFAULT_ACCOUNT_LIMIT,
        default_model_limit: int = DEFAULT_MODEL_LIMIT,
        model_limits: Mapping[str, int] | None = None,
        clock: datetime | Clock | None = None,
        models: Iterable[ModelSpec | str] | None = (),
        max_recorded: int | None = 10_000,
        json_schema_supported: bool = False,
        count_failures: bool = True,
    ) -> None:
        self.token = token
        # reference: modelscope-api.md §8.3, the real service answers response_format
        # json_schema with 200 and "choices": null; True fills the schema instead (the old,
        # OpenAI-like behaviour).
        self.json_schema_supported = self._json_schema_default = json_schema_supported
        self.latency = latency
        self.count_failures = count_failures
        self.catalog = build_catalog(models)
        self.quota = QuotaBook(account_limit, default_model_limit, model_limits, clock)
        self.faults = FaultBook()
        self.scripts = ScriptQueue()
        # §3.1: "AIGC models may have separate limits": their own book, on the same day clock
        aigc = QuotaBook(DEFAULT_AIGC_LIMIT, DEFAULT_AIGC_MODEL_LIMIT, clock=clock)
        self.images = ImageTasks(quota=aigc)
        self._initial = (
            latency,
            account_limit,
            default_model_limit,
            dict(model_limits or {}),
            clock,
            count_failures,
        )
        self.concurrency = ConcurrencyBook()
        self._log: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._log_lock = threading.Lock()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        with self._log_lock:
            return list(self._log)

    def record(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        body: Any,
        request_id: str,
        concurrency: tuple[int, bool] | None = None,
    ) -> None:
        """Log a request, masking secret headers so the real token never appears."""
        clean = {k: mask_authorization(v) if k in _SECRET_HEADERS else v for k, v in headers}
        is_map = isinstance(body, Mapping)
        model = body.get("model") if is_map else None
        stream = bool(body.get("stream")) if is_map else False
        level, admitted = concurrency if concurrency is not None else (None, True)
        entry = RecordedRequest(
            method,
            path,
            clean,
            body,
            model if isinstance(model, str) else None,
            stream,
            request_id,
            level,
            not admitted,
        )
        with self._log_lock:
            self._log.append(entry)

    def reset(self) -> None:
        """Back to the state just after construction: log, faults, scripts, quota and clock."""
        latency, account, per_model, model_limits, clock, count_failures = self._initial
        self.latency = latency
        self.json_schema_supported = self._json_schema_default
        self.count_failures = count_failures
        with self._log_lock:
            self._log.clear()
        self.faults.clear()
        self.scripts.clear()
        self.concurrency.clear()
        self.quota = QuotaBook(account, per_model, model_limits, clock)
        self.images.reset()
