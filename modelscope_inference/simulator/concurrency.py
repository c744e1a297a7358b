"""A per-model concurrency cap that can move over time, and the count of requests in flight.

The real service throttles concurrency per model and moves the cap with its load (reference:
modelscope-api.md §3.1); a request beyond it gets a transient 429 that still costs a call
(§8.1). A schedule is a list of ``(seconds since it was set, cap)`` steps on the book's clock
(monotonic wall time unless given); ``None`` as a cap means no cap.

>>> book = ConcurrencyBook(clock=lambda: 0.0)
>>> book.set_cap("m", schedule=[(0, 1)])
>>> book.arrive("m"), book.arrive("m")
((1, True), (2, False))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["ConcurrencyBook", "Schedule"]

Schedule = Sequence[tuple[float, int | None]]


class ConcurrencyBook:
    """Caps by model, and the requests each model has in flight (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._schedules: dict[str, tuple[float, list[tuple[float, int | None]]]] = {}
        self._in_flight: dict[str, int] = {}

    def set_cap(
        self, model: str, cap: int | None = None, *, schedule: Schedule | None = None
    ) -> None:
        """Cap ``model`` at ``cap`` from now, or follow ``schedule`` from now; both None: no cap."""
        steps = sorted(schedule) if schedule is not None else [(0.0, cap)]
        with self._lock:
            if steps == [(0.0, None)]:
                self._schedules.pop(model, None)
            else:
                self._schedules[model] = (self._clock(), [(float(t), c) for t, c in steps])

    def cap(self, model: str) -> int | None:
        """The cap of ``model`` now (None: uncapped)."""
        with self._lock:
            return self._cap_now(model)

    def _cap_now(self, model: str) -> int | None:
        entry = self._schedules.get(model)
        if entry is None:
            return None
        start, steps = entry
        elapsed = self._clock() - start
        current: int | None = None
        for at, cap in steps:
            if at > elapsed:
                break
            current = cap
        return current

    def arrive(self, model: str) -> tuple[int, bool]:
        """A request for ``model`` arrives: the concurrency it makes (itself included), and
        whether the cap admits it; an admitted one must :meth:`leave`."""
        with self._lock:
            level = self._in_flight.get(model, 0) + 1
            cap = self._cap_now(model)
            admitted = cap is None or level <= cap
            if admitted:
                self._in_flight[model] = level
            return level, admitted

    def leave(self, model: str) -> None:
        """An admitted request for ``model`` has been answered (its body sent)."""
        with self._lock:
            self._in_flight[model] = self._in_flight.get(model, 1) - 1

    def clear(self) -> None:
        """No caps (requests in flight keep their count until they leave)."""
        with self._lock:
            self._schedules.clear()
