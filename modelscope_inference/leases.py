"""Holding leases in a shared state store: kept alive while held, waited for without blocking.

A slot lease or a probe claim in a shared store (:mod:`~modelscope_inference.store`) lives a
few seconds unless renewed, so the slots of a crashed worker come back by themselves. A live
holder must therefore renew what it holds for as long as its request runs, however long that
is. One daemon thread per process, the :class:`LeaseKeeper`, renews every held lease at a
third of its life (two renewals may fail or run late before it lapses). Why one thread and
not a timer per lease or renewing from the request's own code: a request is a single blocking
call (sync) or await (async) that cannot stop halfway to renew, a timer per call costs a
thread per call, and one thread serves sync and async callers alike.

Async callers never run store I/O on their event loop: a SQLite write may wait for another
process's transaction (up to its busy timeout) and a Redis call is a network round trip, so
:func:`in_thread` runs them on a small executor of this module's own (not the loop's default
one, which user code may fill). A task cancelled meanwhile leaves the call running to its end;
:func:`in_thread` can hand what it returns to an ``undo`` callback (a slot taken for a caller
that left is given back at once, not after its lease).

Waiting for a slot held elsewhere is polling with a growing, jittered pause
(:data:`POLL_FIRST` up to :data:`POLL_MAX`): neither SQLite nor the store interface can notify
a waiter, and a freed slot is found within :data:`POLL_MAX` seconds, small beside a model call.

Example:
    >>> keeper().keep(("slot", key, lease.token), lambda: store.renew_slot(key, lease.token), 40)
    >>> keeper().drop(("slot", key, lease.token))
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from modelscope_inference._lazy import caught

__all__ = ["POLL_FIRST", "POLL_MAX", "LeaseKeeper", "apoll", "in_thread", "keeper", "poll"]

T = TypeVar("T")
logger = logging.getLogger("modelscope_inference")

POLL_FIRST = 0.01
"""Seconds before the second try for a slot held elsewhere; the pause doubles from there."""
POLL_MAX = 0.25
"""The longest pause between tries: how late a waiter may notice a freed slot."""
_STORE_THREADS = 8  # store calls of async callers at once: more would queue on SQLite's lock


class LeaseKeeper:
    """Renews held leases from one daemon thread until they are dropped.

    Example:
        >>> keeper().keep(handle, renew=lambda: store.renew_claim(key, token), period=40)
        >>> keeper().drop(handle)  # when the request ends
    """

    def __init__(self) -> None:
        self._held: dict[Hashable, tuple[Callable[[], bool], float]] = {}
        self._due: list[tuple[float, int, Hashable]] = []  # (when, order, handle): a heap
        self._order = 0
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def keep(self, handle: Hashable, renew: Callable[[], bool], period: float) -> None:
        """Call ``renew`` every ``period`` seconds until :meth:`drop`; ``renew`` returning
        False means the lease lapsed (nothing more to keep)."""
        with self._wake:
            self._held[handle] = (renew, period)
            self._schedule(handle, time.monotonic() + period)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="modelscope-lease-keeper", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def drop(self, handle: Hashable) -> None:
        """Stop renewing ``handle`` (its heap entry is skipped when it comes due)."""
        with self._wake:
            self._held.pop(handle, None)

    def held(self) -> int:
        """How many leases are being kept now."""
        with self._wake:
            return len(self._held)

    def _schedule(self, handle: Hashable, when: float) -> None:
        self._order += 1
        heapq.heappush(self._due, (when, self._order, handle))

    def _run(self) -> None:
        while True:
            for handle, renew in self._next_due():
                self._renew(handle, renew)

    def _next_due(self) -> list[tuple[Hashable, Callable[[], bool]]]:
        """Wait until some held lease is due; those due now, rescheduled."""
        with self._wake:
            while True:
                now = time.monotonic()
                due: list[tuple[Hashable, Callable[[], bool]]] = []
                while self._due and self._due[0][0] <= now:
                    _, _, handle = heapq.heappop(self._due)
                    entry = self._held.get(handle)
                    if entry is not None:
                        due.append((handle, entry[0]))
                        self._schedule(handle, now + entry[1])
                if due:
                    return due
                self._wake.wait(self._due[0][0] - now if self._due else None)

    def _renew(self, handle: Hashable, renew: Callable[[], bool]) -> None:
        try:
            kept = renew()
        except caught.StateStoreError as exc:
            # The store may come back before the lease lapses: try again next period.
            logger.warning("Could not renew a lease in the shared state store: %s", exc)
            return
        if not kept:
            self.drop(handle)
            logger.warning(
                "A lease in the shared state store lapsed before it was renewed (the process "
                "was stalled longer than a third of the lease?); another process may use its "
                "slot meanwhile. A longer ?lease= in MODELSCOPE_STATE avoids it."
            )


_keeper: tuple[int, LeaseKeeper] | None = None
_executor: tuple[int, ThreadPoolExecutor] | None = None
_lock = threading.Lock()


def keeper() -> LeaseKeeper:
    """This process's one :class:`LeaseKeeper` (a new one after ``fork``: a parent's thread
    does not exist in the child, and its leases are the parent's to keep).

    Example:
        >>> keeper() is keeper()
        True
    """
    global _keeper
    held = _keeper
    if held is not None and held[0] == os.getpid():
        return held[1]
    with _lock:
        if _keeper is None or _keeper[0] != os.getpid():
            _keeper = (os.getpid(), LeaseKeeper())
        return _keeper[1]


def _store_executor() -> ThreadPoolExecutor:
    """The executor of async callers' store calls (a new one after ``fork``, like the keeper)."""
    global _executor
    held = _executor
    if held is not None and held[0] == os.getpid():
        return held[1]
    with _lock:
        if _executor is None or _executor[0] != os.getpid():
            pool = ThreadPoolExecutor(_STORE_THREADS, thread_name_prefix="modelscope-state")
            _executor = (os.getpid(), pool)
        return _executor[1]


async def in_thread(call: Callable[[], T], undo: Callable[[T], object] | None = None) -> T:
    """Run the store call ``call`` off the event loop. If the awaiting task is cancelled, the
    call still runs to its end, and ``undo`` then gets its result (to give back what it took).

    Example:
        >>> lease = await in_thread(lambda: store.acquire_slot(key, 4), undo=give_back)
    """
    future: Future[T] = _store_executor().submit(call)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        if undo is not None:
            future.add_done_callback(lambda done: _undo(done, undo))
        raise


def _undo(done: Future[T], undo: Callable[[T], object]) -> None:
    """Give back what a call whose caller left returned (in the executor's thread)."""
    if done.cancelled() or done.exception() is not None:
        return
    try:
        undo(done.result())
    except caught.StateStoreError as exc:  # the lease lapses by itself then
        logger.warning("Could not give back a lease in the shared state store: %s", exc)


def _pauses(deadline: float | None) -> Callable[[], float | None]:
    """The next pause before another try, or None once ``deadline`` (monotonic) has passed."""
    pause = POLL_FIRST

    def next_pause() -> float | None:
        nonlocal pause
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return None
        # Jitter: processes that failed together do not all try again together.
        wait = pause * random.uniform(0.5, 1.0)
        pause = min(pause * 2, POLL_MAX)
        return wait if left is None else min(wait, left)

    return next_pause


def poll(attempt: Callable[[], T | None], deadline: float | None) -> T | None:
    """Call ``attempt`` until it returns something or ``deadline`` (monotonic) passes (None).

    Example:
        >>> lease = poll(lambda: store.acquire_slot(key, 4), time.monotonic() + 60)
    """
    next_pause = _pauses(deadline)
    while True:
        result = attempt()
        if result is not None:
            return result
        pause = next_pause()
        if pause is None:
            return None
        time.sleep(pause)


async def apoll(attempt: Callable[[], Awaitable[T | None]], deadline: float | None) -> T | None:
    """Async twin of :func:`poll`: the pauses are ``asyncio.sleep`` (the loop runs on), and a
    cancelled wait raises :class:`asyncio.CancelledError` at once.

    Example:
        >>> lease = await apoll(lambda: in_thread(take, undo=give_back), deadline)
    """
    next_pause = _pauses(deadline)
    while True:
        result = await attempt()
        if result is not None:
            return result
        pause = next_pause()
        if pause is None:
            return None
        await asyncio.sleep(pause)
