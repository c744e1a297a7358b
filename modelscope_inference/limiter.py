"""Adaptive concurrency: how many requests one (token, base URL, model) may have in flight.

ModelScope throttles concurrency per model, dynamically, and promises only one concurrent
request (reference: modelscope-api.md §3.1, "原则上以保障开发者单并发正常使用为目标"); a request
beyond the moving cap is answered with a transient 429 that still costs a call (§8.1). So the
limit is learned, per scope, and shared by every client of the process (both frameworks, chat,
embeddings and images, threads and tasks), like the quota tracker of :func:`tracker_for`.

The algorithm is AIMD with a remembered ceiling (TCP Reno's window, plus CUBIC's plateau):

- additive increase: +1 after ``limit`` successes of saturated calls (one round trip's worth),
  only while the limit is in use, so sequential callers do not inflate it;
- multiplicative decrease on a transient :class:`RateLimitError` (never on a spent quota):
  ``limit * 0.75``, at most once per round of calls (the 429s of calls sent before the last
  decrease say nothing new), and below the level that failed;
- the level that failed is remembered, and trying it again (a probe) waits until both
  ``PROBE_WAIT_SECONDS`` have passed since it failed and ``PROBE_WAIT_SUCCESSES`` saturated
  calls have succeeded one below it; each failed probe of the same level doubles the wait in
  calls up to ``PROBE_WAIT_MAX_SUCCESSES``, then the wait in seconds up to
  ``PROBE_WAIT_MAX_SECONDS``, and a probe that succeeds, or a 429 at another level (the cap
  moved), starts again from the first waits;
- a level above those shown to work (a call succeeded there, and no cut went below it since:
  a probe, or a step of the climb) is tried by one call at a time: when it is over the cap
  one 429 says so, not one for every call that took a slot at that level before the answer
  came. The trial ends with the call, or for a stream as soon as it opens (the service
  refuses an over-cap call at once). In this process; with a shared store the slot leases
  bound every process's calls instead.

Why the probe waits are what they are: the service moves its cap with its load, on a
wall-clock scale, so noticing a raised cap should take about a second whatever the call rate
(a wait in calls alone is ~3 s at one 100-ms call in flight and 0.4 s at eight: a fixed 32-call
wait missed a raise for longer than a 2-s phase). The wait in calls bounds the share of 429s
when calls are slow (at a call per 10 s a 1-s timer alone would probe on every call), and its
doubling keeps a cap that stays put under one failed probe per 4, 8 ... 64 calls; only then do
the seconds double, so a long steady cap costs a logarithmic count of 429s, then one per 64 s.
Doubling the seconds from the first failed probe (the rule before) found a cap raised after
two failed probes 2-4 s late: 1.22x the oracle's time on the chat benchmark, against 1.07x
with the seconds held at 1 s while the calls double (bench/RESULTS.md, issue 18).

Why one trial call per untried level: until its answer comes, every call that takes a slot at
a new level meets the same 429 if the level is over the cap (a cap falling from 4 to 2 as the
limit reached 4 cost three 429s, not one). The 157-request index build of the benchmark, whose
3 % budget is 4 429s, spent 3-5 without the rule and 2-4 with it, in every candidate measured;
it costs a climb one call's answer per step (chat benchmark 1.07x -> 1.12x).

Why AIMD and not a gradient limiter (Netflix concurrency-limits' ``Gradient2``): a gradient
limiter infers queueing from the growth of round-trip times, but here a call's time is mostly
generation length, which varies by prompt far more than any queue adds, and the service tells
us plainly when we are over its cap (a 429). AIMD acts on that explicit signal and converges
fairly between processes sharing a token (the multiplicative part), which a gradient does not.

Threads and tasks share one limit behind one lock; they differ only in how they wait: a thread
on a :class:`threading.Event`, a task on a future of its own loop (woken thread-safely). A freed
slot is handed to the oldest waiter directly, so nobody barges in ahead of it, and a waiter
that times out or is cancelled after being handed a slot passes it on (no slot leaks).

The learned limit lives behind :class:`LimitStore` (get/set per scope):
:class:`InProcessLimitStore` by default, a dict, with no I/O on any call. With a shared state
store (``MODELSCOPE_STATE`` / ``state=``: SQLite, Redis; docs/concurrency.md) it is a
:class:`SharedLimitStore`, and the processes sharing it act as one limiter:

- the limit (with the level that last failed) is read from the store before each call takes a
  slot and after each call, and written when it moves, so a new or restarted process starts
  from what the others learned, and a decrease by one is adopted by all (a cut adopted from
  elsewhere also starts a new round here: this process's calls sent before it teach nothing);
- each call also holds a slot lease in the store (capacity: the learned limit, bounded by
  ``max_concurrency``), so together the processes keep within the limit; the slot's level is
  the count of leases across all of them. Leases expire, so a crashed worker's slots come
  back; :func:`~modelscope_inference.leases.keeper` renews a held one while its call runs;
- a call first waits for a slot of its own process (events, as above), then polls the store
  until its deadline; async callers run every store call on a thread
  (:func:`~modelscope_inference.leases.in_thread`), never on the event loop, except the one
  read of a scope's limit when its limiter is first made (a short read, once per process).

Example:
    >>> gate = ConcurrencyGate.create("ms-...", DEFAULT_BASE_URL, timeout=60)
    >>> with gate.hold("Qwen/Qwen3-32B"):
    ...     transport.post(CHAT_PATH, body, model="Qwen/Qwen3-32B")
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelscope_inference._lazy import caught, errors
from modelscope_inference.leases import apoll, in_thread, keeper, poll
from modelscope_inference.store import LIMIT_TTL, MEMORY_URL, Lease, StateStore, open_store

logger = logging.getLogger("modelscope_inference")

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "ENV_SWITCH",
    "INITIAL_LIMIT",
    "PROBE_WAIT_MAX_SECONDS",
    "PROBE_WAIT_MAX_SUCCESSES",
    "PROBE_WAIT_SECONDS",
    "PROBE_WAIT_SUCCESSES",
    "AIMDState",
    "ConcurrencyGate",
    "ConcurrencyLimiter",
    "InProcessLimitStore",
    "LimitScope",
    "LimitStore",
    "SharedLimitStore",
    "adaptive_enabled",
    "existing_limiter",
    "forget_limits",
    "limiter_for",
]

# reference: modelscope-api.md §3.1, the service "aims to guarantee one concurrent request".
INITIAL_LIMIT = 1.0
DEFAULT_MAX_CONCURRENCY = 16
BACKOFF_RATIO = 0.75
# Before trying again a level that failed: seconds since its 429 and saturated successes one
# below it, both needed; each failed probe of that level doubles the calls up to their maximum,
# then the seconds up to theirs. Over a steady cap of 50-ms calls: failed probes after ~1, 1, 1,
# 1.6, 3.2 s, then 3.2 (64 calls), 4, 8 ... 64 s apart, then one per 64 s.
PROBE_WAIT_SECONDS = 1.0
PROBE_WAIT_SUCCESSES = 4
PROBE_WAIT_MAX_SECONDS = 64.0
PROBE_WAIT_MAX_SUCCESSES = 64
ENV_SWITCH = "MODELSCOPE_ADAPTIVE_CONCURRENCY"
_OFF = frozenset({"0", "false", "no", "off"})


def adaptive_enabled(value: bool | None) -> bool:
    """The one switch: an explicit ``value`` wins; None reads ``MODELSCOPE_ADAPTIVE_CONCURRENCY``
    (``0``/``false``/``off`` turn the limiter off); on by default.

    Example:
        >>> adaptive_enabled(None)  # MODELSCOPE_ADAPTIVE_CONCURRENCY unset
        True
    """
    if value is not None:
        return value
    return os.environ.get(ENV_SWITCH, "").strip().lower() not in _OFF


@dataclass(frozen=True)
class LimitScope:
    """What one learned limit belongs to; the token only as a hash.

    Example:
        >>> LimitScope.of("ms-x", "https://h/v1/", "m").base_url
        'https://h/v1'
    """

    token_hash: str
    base_url: str
    model: str

    @classmethod
    def of(cls, api_key: str, base_url: str, model: str) -> LimitScope:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        return cls(digest, base_url.rstrip("/"), model)


class LimitStore(Protocol):
    """Where learned limits live: the seam for a store shared across processes.

    Example:
        >>> store.set_limit(scope, 4.0); store.get_limit(scope)
        4.0
    """

    def get_limit(self, scope: LimitScope) -> float | None:
        """The learned limit of ``scope``, or None when nothing was learned yet."""
        ...

    def set_limit(self, scope: LimitScope, limit: float) -> None:
        """Remember ``limit`` for ``scope``."""
        ...


class InProcessLimitStore:
    """The default :class:`LimitStore`: a dict behind a lock, for this process only.

    Example:
        >>> InProcessLimitStore().get_limit(scope) is None
        True
    """

    def __init__(self) -> None:
        self._limits: dict[LimitScope, float] = {}
        self._lock = threading.Lock()

    def get_limit(self, scope: LimitScope) -> float | None:
        with self._lock:
            return self._limits.get(scope)

    def set_limit(self, scope: LimitScope, limit: float) -> None:
        with self._lock:
            self._limits[scope] = limit


@dataclass(frozen=True)
class SharedLimit:
    """What processes sharing a store agree on for a scope: the limit, the level that failed."""

    limit: float
    ceiling: int | None = None


class SharedLimitStore:
    """A :class:`LimitStore` in a shared :class:`~modelscope_inference.store.StateStore`, with
    the slot leases that keep every process sharing it within the limit together. Keys start
    with a hash of the token's hash and the base URL; none names the token.

    Example:
        >>> limits = SharedLimitStore(open_store("sqlite:///state.db"))
        >>> limits.set_limit(scope, 4.0); limits.get_limit(scope)
        4.0
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def keys(scope: LimitScope) -> tuple[str, str]:
        """The store keys of ``scope``'s limit and of its slot leases."""
        prefix = hashlib.sha256(f"{scope.token_hash}\n{scope.base_url}".encode()).hexdigest()
        return f"{prefix[:32]}:limit:{scope.model}", f"{prefix[:32]}:slots:{scope.model}"

    def read(self, scope: LimitScope) -> SharedLimit | None:
        """The shared limit of ``scope``, or None when none was learned (or it aged out)."""
        key = self.keys(scope)[0]
        return _shared_limit(self.state.get_records([key]).get(key))

    def write(self, scope: LimitScope, shared: SharedLimit) -> None:
        """Share what this process learned (the last writer wins)."""
        record = {"limit": shared.limit, "ceiling": shared.ceiling}
        self.state.put_record(self.keys(scope)[0], record, stamp=time.time(), ttl=LIMIT_TTL)

    def get_limit(self, scope: LimitScope) -> float | None:
        shared = self.read(scope)
        return None if shared is None else shared.limit

    def set_limit(self, scope: LimitScope, limit: float) -> None:
        self.write(scope, SharedLimit(limit))

    def acquire(self, scope: LimitScope, capacity: int) -> Lease | None:
        """A slot lease of ``scope`` if fewer than ``capacity`` are held across processes."""
        return self.state.acquire_slot(self.keys(scope)[1], capacity)

    def release(self, scope: LimitScope, token: str) -> None:
        """Give a slot lease back (nothing if it had lapsed)."""
        self.state.release_slot(self.keys(scope)[1], token)

    def keep(self, scope: LimitScope, token: str) -> None:
        """Renew the lease ``token`` until :meth:`let_go`, at a third of its life."""
        key = self.keys(scope)[1]
        renew = functools.partial(self.state.renew_slot, key, token)
        keeper().keep(("slot", id(self.state), key, token), renew, self.state.lease / 3)

    def let_go(self, scope: LimitScope, token: str) -> None:
        """Stop renewing the lease ``token``."""
        keeper().drop(("slot", id(self.state), self.keys(scope)[1], token))


def _shared_limit(record: dict[str, Any] | None) -> SharedLimit | None:
    """A stored record as a :class:`SharedLimit`; None when absent or malformed."""
    limit = record.get("limit") if record else None
    if not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit < 1:
        return None
    ceiling = record.get("ceiling") if record else None
    return SharedLimit(float(limit), ceiling if isinstance(ceiling, int) else None)


@dataclass
class AIMDState:
    """The pure limit arithmetic (no locks, no I/O; the clock is injectable), see the module
    docstring.

    Example:
        >>> state = AIMDState(limit=2.0)
        >>> state.on_rate_limited(level=3, epoch=0); state.limit
        1.5
    """

    limit: float = INITIAL_LIMIT
    ceiling: int | None = None
    """The lowest level known to fail, until a call succeeds at it."""
    credit: int = 0
    """Saturated successes since the limit last moved."""
    epoch: int = 0
    wait_seconds: float = PROBE_WAIT_SECONDS
    """How long after ``failed_at`` the ceiling may be probed."""
    wait_successes: int = PROBE_WAIT_SUCCESSES
    """How many saturated successes one below the ceiling a probe needs."""
    failed_at: float = 0.0
    proven: int = 0
    """The highest level a call of this epoch succeeded at (kept within the limit after a cut):
    calls above it are trials of a level not yet shown to work."""
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def on_success(self, level: int, bound: int, epoch: int | None = None) -> None:
        """A call sent as the ``level``-th in flight succeeded; grow if the limit was in use:
        +1 after ``limit`` such successes (one round), or, when the next level is the one that
        failed, once its probe is due (:meth:`probe_due`). A call sent before the last decrease
        (``epoch``) teaches nothing: it was let through by the higher limit that just failed."""
        if epoch is not None and epoch != self.epoch:
            return
        self.proven = max(self.proven, level)
        if self.ceiling is not None and level >= self.ceiling:
            self._forget_ceiling()  # that level works now: the cap went up
        whole = math.floor(self.limit)
        if level < whole or whole >= bound:
            return  # the limit was not the constraint, or is at the user's bound
        self.credit += 1
        near = self.ceiling is not None and whole + 1 >= self.ceiling
        due = self.probe_due() if near else self.credit >= whole
        if due:
            self.credit = 0
            self.limit = float(whole + 1)

    def probe_due(self) -> bool:
        """Whether the level that failed may be tried again: both waits are over.

        Example:
            >>> AIMDState(ceiling=2, credit=4, clock=lambda: 1.0).probe_due()
            True
        """
        waited = self.clock() - self.failed_at >= self.wait_seconds
        return waited and self.credit >= self.wait_successes

    def on_rate_limited(self, level: int, epoch: int) -> None:
        """A call sent as the ``level``-th in flight got a transient 429."""
        if epoch != self.epoch:
            return  # sent before the last decrease: already accounted for
        ceiling = max(level, 2)
        if ceiling == self.ceiling:  # a failed probe: the cap has not moved, wait longer
            self._lengthen_waits()
        else:  # a new level: the cap moved (or was just found), start from the first waits
            self._forget_ceiling()
        self.epoch += 1
        self.ceiling = ceiling
        self.failed_at = self.clock()
        self.credit = 0
        self.limit = max(1.0, min(self.limit * BACKOFF_RATIO, float(level - 1)))
        self.proven = min(self.proven, math.floor(self.limit))

    def _lengthen_waits(self) -> None:
        """After a failed probe: double the wait in calls until it is at its maximum, then the
        wait in seconds (a raised cap is still found within a second while the calls are few;
        a cap that stays put costs a logarithmic count of 429s)."""
        if self.wait_successes < PROBE_WAIT_MAX_SUCCESSES:
            self.wait_successes = min(self.wait_successes * 2, PROBE_WAIT_MAX_SUCCESSES)
        else:
            self.wait_seconds = min(self.wait_seconds * 2, PROBE_WAIT_MAX_SECONDS)

    def _forget_ceiling(self) -> None:
        self.ceiling = None
        self.wait_seconds = PROBE_WAIT_SECONDS
        self.wait_successes = PROBE_WAIT_SUCCESSES

    def restart_waits(self) -> None:
        """A new failed level learned from elsewhere (a shared store): the first waits, from
        now, as if the 429 had come here."""
        self.wait_seconds = PROBE_WAIT_SECONDS
        self.wait_successes = PROBE_WAIT_SUCCESSES
        self.failed_at = self.clock()
        self.credit = 0


class _Waiter:
    """One caller waiting for a slot: a thread (``event``) or a task (``future`` on ``loop``)."""

    __slots__ = ("bound", "event", "future", "granted", "loop", "slot")

    def __init__(
        self,
        bound: int,
        loop: asyncio.AbstractEventLoop | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.bound = bound
        self.loop = loop
        self.future = future
        self.event = threading.Event() if future is None else None
        self.granted = False
        self.slot: Slot | None = None

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None:
            # Another thread (or a task of another loop) may free the slot.
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(frozen=True)
class Slot:
    """A held slot: the in-flight level it was taken at, and the decrease epoch then; with a
    shared store, its lease token there (the level then counts every process's calls)."""

    level: int
    epoch: int
    bound: int
    lease: str | None = None
    trial: bool = False
    """Taken above the proven level (:attr:`AIMDState.proven`): one such call at a time."""


class ConcurrencyLimiter:
    """The learned concurrency limit of one scope, and the calls in flight under it.

    Example:
        >>> limiter = limiter_for("ms-...", "https://api-inference.modelscope.cn/v1", "m")
        >>> slot = limiter.acquire(bound=16, timeout=60)
        >>> limiter.release(slot, rate_limited=False, succeeded=True)
    """

    def __init__(self, scope: LimitScope, store: LimitStore) -> None:
        self.scope = scope
        self.store = store
        self._shared = store if isinstance(store, SharedLimitStore) else None
        self._state = AIMDState(limit=INITIAL_LIMIT)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._trial: Slot | None = None
        """The :attr:`Slot.trial` call in flight, if any."""
        self._waiters: deque[_Waiter] = deque()
        if self._shared is not None:
            self._adopt(self._shared.read(scope))
        else:
            self._state.limit = store.get_limit(scope) or INITIAL_LIMIT
            self._state.proven = math.floor(self._state.limit) if self._state.limit > 1 else 0

    @property
    def limit(self) -> int:
        """The current learned limit (whole calls)."""
        return math.floor(self._state.limit)

    @property
    def in_flight(self) -> int:
        """Calls of this process holding a slot now."""
        return self._in_flight

    def _free(self, bound: int) -> bool:
        level = self._in_flight + 1
        if level > min(math.floor(self._state.limit), bound):
            return False
        return not (self._trial is not None and level > self._state.proven)

    def _take(self, bound: int) -> Slot:
        self._in_flight += 1
        # A level not yet shown to work (above ``proven``) is tried by one call at a time: when
        # it is over the cap, one 429 says so, not one per call sent before the answer came.
        # (Within this process: with a shared store the levels are the store's.)
        trial = self._shared is None and self._in_flight > self._state.proven
        slot = Slot(self._in_flight, self._state.epoch, bound, trial=trial)
        if trial:
            self._trial = slot
        return slot

    def _end_trial(self, slot: Slot | None) -> None:
        if slot is not None and slot is self._trial:
            self._trial = None

    def answered(self, slot: Slot) -> None:
        """The service accepted ``slot``'s call (a stream opened: an over-cap call is refused
        at once), so its level works: a trial ends here, not when the stream does.

        Example:
            >>> limiter.answered(slot)  # the stream's 200 came
        """
        with self._lock:
            if slot.epoch == self._state.epoch:
                self._state.proven = max(self._state.proven, slot.level)
            self._end_trial(slot)
            self._dispatch()

    def _try_take(self, bound: int) -> Slot | None:
        """A slot now, when nobody waits ahead and the limit allows (under the lock)."""
        if not self._waiters and self._free(bound):
            return self._take(bound)
        return None

    def _dispatch(self) -> None:
        """Hand free slots to the oldest waiters (under the lock); they count as in flight."""
        while self._waiters and self._free(self._waiters[0].bound):
            waiter = self._waiters.popleft()
            # The level is the in-flight count when granted, not when the waiter wakes (others
            # may be granted in between): what the service will see on arrival.
            waiter.slot = self._take(waiter.bound)
            waiter.granted = True
            try:
                waiter.wake()
            except RuntimeError:  # its event loop is closed: nobody will take the slot
                waiter.granted = False
                self._in_flight -= 1
                self._end_trial(waiter.slot)

    def _granted_slot(self, waiter: _Waiter) -> Slot:
        assert waiter.slot is not None
        return waiter.slot

    def _give_up(self, waiter: _Waiter) -> None:
        """A waiter timed out or was cancelled: pass on a slot it was handed meanwhile."""
        with self._lock:
            if waiter.granted:
                self._in_flight -= 1
                self._end_trial(waiter.slot)
                self._dispatch()
            elif waiter in self._waiters:  # (not if its closed loop made it lose its turn)
                self._waiters.remove(waiter)
                self._dispatch()  # the head may have been blocked by this waiter's bound

    def _give_back(self) -> None:
        """Return a slot of this process that never got its store lease (nothing learned)."""
        with self._lock:
            self._in_flight -= 1
            self._dispatch()

    def acquire(self, *, bound: int, timeout: float | None) -> Slot:
        """Wait (blocking this thread) for a slot; :class:`ConcurrencyTimeoutError` after
        ``timeout`` seconds."""
        if self._shared is not None:
            return self._acquire_shared(bound, timeout)
        return self._acquire_local(bound, timeout)

    def _acquire_local(self, bound: int, timeout: float | None) -> Slot:
        with self._lock:
            slot = self._try_take(bound)
            if slot is not None:
                return slot
            waiter = _Waiter(bound)
            self._waiters.append(waiter)
        assert waiter.event is not None
        try:
            woken = waiter.event.wait(timeout)
        except BaseException:  # KeyboardInterrupt, say: the queue must not keep a dead waiter
            self._give_up(waiter)
            raise
        if woken:
            with self._lock:
                return self._granted_slot(waiter)
        with self._lock:
            if waiter.granted:  # granted just as the wait ended
                return self._granted_slot(waiter)
        self._give_up(waiter)
        raise self._timeout_error(timeout)

    async def aacquire(self, *, bound: int, timeout: float | None) -> Slot:
        """Async twin of :meth:`acquire`; a cancelled wait leaks no slot."""
        if self._shared is not None:
            return await self._aacquire_shared(bound, timeout)
        return await self._aacquire_local(bound, timeout)

    async def _aacquire_local(self, bound: int, timeout: float | None) -> Slot:
        with self._lock:
            slot = self._try_take(bound)
            if slot is not None:
                return slot
            loop = asyncio.get_running_loop()
            waiter = _Waiter(bound, loop, loop.create_future())
            self._waiters.append(waiter)
        assert waiter.future is not None
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except BaseException as exc:  # a timeout, a cancellation, its loop closing under it
            timed_out = isinstance(exc, asyncio.TimeoutError)
            with self._lock:
                if waiter.granted and timed_out:
                    return self._granted_slot(waiter)
            self._give_up(waiter)
            if not timed_out:
                raise
            raise self._timeout_error(timeout) from None
        with self._lock:
            return self._granted_slot(waiter)

    def release(self, slot: Slot, *, rate_limited: bool, succeeded: bool) -> None:
        """Give the slot back, learning from how its call ended."""
        if slot.lease is not None:
            self._release_shared(slot, rate_limited, succeeded)
            return
        with self._lock:
            changed = self._learn(slot, rate_limited, succeeded)
        if changed:
            self.store.set_limit(self.scope, self._state.limit)

    async def arelease(self, slot: Slot, *, rate_limited: bool, succeeded: bool) -> None:
        """Async twin of :meth:`release`: a shared store's I/O runs on a thread, and runs to its
        end even if this task is cancelled meanwhile.

        Example:
            >>> await limiter.arelease(slot, rate_limited=False, succeeded=True)
        """
        if slot.lease is None:
            self.release(slot, rate_limited=rate_limited, succeeded=succeeded)
            return
        ending = functools.partial(
            self._release_shared, slot, rate_limited=rate_limited, succeeded=succeeded
        )
        await in_thread(ending)

    def _learn(self, slot: Slot, rate_limited: bool, succeeded: bool) -> bool:
        """Count the slot out and learn from its call (under the lock); True when the limit or
        the failed level moved (worth sharing)."""
        self._in_flight -= 1
        self._end_trial(slot)
        before = (math.floor(self._state.limit), self._state.ceiling)
        if rate_limited:
            self._state.on_rate_limited(slot.level, slot.epoch)
        elif succeeded:
            self._state.on_success(slot.level, slot.bound, slot.epoch)
        self._dispatch()
        return (math.floor(self._state.limit), self._state.ceiling) != before

    # -- with a shared store ------------------------------------------------------------------

    def _adopt(self, shared: SharedLimit | None) -> None:
        """Take the store's limit as this process's (under the lock, or before any sharing).
        A lower one is a cut made elsewhere: a new round starts here too, so this process's
        calls sent before it neither cut again nor grow it back."""
        if shared is None:
            return
        state = self._state
        if shared.limit < state.limit:
            state.epoch += 1
            state.credit = 0
        if shared.ceiling is not None and shared.ceiling != state.ceiling:
            # A level failed elsewhere just now: probe it after the first waits, from now.
            state.restart_waits()
        state.limit, state.ceiling = shared.limit, shared.ceiling

    def _try_lease(self, bound: int) -> Slot | None:
        """One try for a store slot, at the shared limit as it is now (store I/O, no lock
        held across it)."""
        assert self._shared is not None
        shared = self._shared.read(self.scope)
        with self._lock:
            self._adopt(shared)
            self._dispatch()  # a limit raised elsewhere may free local slots
            capacity, epoch = min(math.floor(self._state.limit), bound), self._state.epoch
        lease = self._shared.acquire(self.scope, capacity)
        return None if lease is None else Slot(lease.level, epoch, bound, lease.token)

    def _untake(self, slot: Slot | None) -> None:
        """Give back a store slot taken for a caller that left (a cancelled task)."""
        if slot is not None and slot.lease is not None and self._shared is not None:
            self._shared.release(self.scope, slot.lease)

    def _leased(self, leased: Slot | None, timeout: float | None) -> Slot:
        """The store slot, renewed while held; or, when none came in time, the local slot
        back and :class:`ConcurrencyTimeoutError`."""
        assert self._shared is not None
        if leased is None or leased.lease is None:
            self._give_back()
            raise self._timeout_error(timeout)
        self._shared.keep(self.scope, leased.lease)
        return leased

    def _acquire_shared(self, bound: int, timeout: float | None) -> Slot:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._acquire_local(bound, timeout)  # this process's share first: no store I/O
        try:
            leased = poll(functools.partial(self._try_lease, bound), deadline)
        except BaseException:
            self._give_back()
            raise
        return self._leased(leased, timeout)

    async def _aacquire_shared(self, bound: int, timeout: float | None) -> Slot:
        deadline = None if timeout is None else time.monotonic() + timeout
        await self._aacquire_local(bound, timeout)
        attempt = functools.partial(self._try_lease, bound)
        try:
            leased = await apoll(lambda: in_thread(attempt, undo=self._untake), deadline)
        except BaseException:  # cancelled, or the store failed: nothing is held
            self._give_back()
            raise
        return self._leased(leased, timeout)

    def _release_shared(self, slot: Slot, rate_limited: bool, succeeded: bool) -> None:
        """Give the lease back, adopt what the others learned meanwhile, then learn from this
        call on top of it and share the result (store I/O)."""
        assert self._shared is not None and slot.lease is not None
        shared = None
        self._shared.let_go(self.scope, slot.lease)
        try:
            self._shared.release(self.scope, slot.lease)
            shared = self._shared.read(self.scope)
        except caught.StateStoreError as exc:
            # The call has its outcome (an answer already paid for, or its own error): a store
            # that fails now must not replace it. The lease lapses by itself.
            logger.warning("Could not give back a lease in the shared state store: %s", exc)
        finally:  # the local slot comes back even when the store failed
            with self._lock:
                self._adopt(shared)
                changed = self._learn(slot, rate_limited, succeeded)
                learned = SharedLimit(self._state.limit, self._state.ceiling)
        if changed:
            try:
                self._shared.write(self.scope, learned)
            except caught.StateStoreError as exc:
                logger.warning("Could not share a learned limit in the state store: %s", exc)

    def _timeout_error(self, timeout: float | None) -> errors.ConcurrencyTimeoutError:
        where = (
            " across the processes sharing its state store (MODELSCOPE_STATE)"
            if self._shared is not None
            else ""
        )
        return errors.ConcurrencyTimeoutError(
            f"No concurrency slot for model {self.scope.model!r} came free within {timeout}s"
            f"{where} ({self._in_flight} calls of this process in flight, learned limit "
            f"{self.limit}). ModelScope caps concurrency per model; send fewer calls at once, "
            "raise timeout=..., or pass adaptive_concurrency=False to send everything at once "
            "(and meet 429s instead).",
            model=self.scope.model,
            limit=self.limit,
        )


_store: LimitStore = InProcessLimitStore()
_limiters: dict[tuple[LimitScope, str], ConcurrencyLimiter] = {}
_limiters_lock = threading.Lock()
_generation = 0


def limiter_for(
    api_key: str, base_url: str, model: str, state: str = MEMORY_URL
) -> ConcurrencyLimiter:
    """The one limiter of this token, base URL and model in this process, its limit shared
    through the state store ``state`` (a URL; the default keeps it in this process).

    Example:
        >>> limiter_for("ms-x", url, "m") is limiter_for("ms-x", url + "/", "m")
        True
    """
    scope = LimitScope.of(api_key, base_url, model)
    limiter = _limiters.get((scope, state))  # the hot path: no lock when it exists
    if limiter is None:
        store = _limit_store(state)  # may open the store (I/O): outside the lock
        with _limiters_lock:
            limiter = _limiters.get((scope, state))
            if limiter is None:
                limiter = _limiters[(scope, state)] = ConcurrencyLimiter(scope, store)
    return limiter


def _limit_store(state: str) -> LimitStore:
    """Where limits under ``state`` live: this process's dict, or the shared store."""
    if state == MEMORY_URL:
        return _store
    shared = open_store(state)
    return SharedLimitStore(shared) if shared.shared else _store


def existing_limiter(
    api_key: str, base_url: str, model: str, state: str = MEMORY_URL
) -> ConcurrencyLimiter | None:
    """The limiter of this scope if a call has made one, else None (it makes none).

    Example:
        >>> existing_limiter("ms-x", url, "never-called") is None
        True
    """
    return _limiters.get((LimitScope.of(api_key, base_url, model), state))


def forget_limits() -> None:
    """Drop every learned limit of this process (tests; after the service raised its caps).
    Limits in a shared store stay there: the next limiter starts from them.

    Example:
        >>> forget_limits()
    """
    global _store, _generation
    with _limiters_lock:
        _limiters.clear()
        _store = InProcessLimitStore()
        _generation += 1


def _accepted_anyway() -> None:
    """What an off gate gives for "the service accepted the request": nothing to learn."""


def _rate_limited(exc: BaseException | None) -> bool:
    """A transient 429 (not a spent quota, which is a separate class and no sign of load)."""
    return isinstance(exc, caught.RateLimitError)


@dataclass(frozen=True)
class ConcurrencyGate:
    """What a client passes each request through: its scope's shared limiter, or nothing.

    Example:
        >>> gate = ConcurrencyGate.create(api_key, base_url, enabled=False)
        >>> with gate.hold("Qwen/Qwen3-32B"): ...  # no limit at all
    """

    api_key: str
    base_url: str
    enabled: bool
    max_concurrency: int
    timeout: float | None
    state: str = MEMORY_URL
    """The state store URL the limits are shared through (the default: this process only)."""
    # model -> limiter, so a call skips hashing the token (forget_limits() is seen through
    # the registry's generation).
    _cache: dict[str, tuple[int, ConcurrencyLimiter]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def create(
        cls,
        api_key: str,
        base_url: str,
        *,
        enabled: bool | None = None,
        max_concurrency: int | None = None,
        timeout: float | None = None,
        state: str | None = None,
    ) -> ConcurrencyGate:
        bound = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency
        if bound < 1:
            raise errors.ConfigurationError(
                f"max_concurrency must be >= 1, got {bound}; pass adaptive_concurrency=False "
                "to send calls without a limit."
            )
        enabled = adaptive_enabled(enabled)
        return cls(api_key, base_url, enabled, bound, timeout, state or MEMORY_URL)

    def limiter(self, model: str) -> ConcurrencyLimiter:
        """The shared limiter of ``model`` under this gate's token and base URL."""
        cached = self._cache.get(model)
        if cached is not None and cached[0] == _generation:
            return cached[1]
        limiter = limiter_for(self.api_key, self.base_url, model, self.state)
        self._cache[model] = (_generation, limiter)
        return limiter

    @contextmanager
    def hold(self, model: str) -> Iterator[Callable[[], None]]:
        """Hold a slot of ``model`` around one request (a thread waits for it); what it gives
        is to be called once the service has accepted the request (a stream's 200), which
        ends a trial of a new level before the stream does."""
        if not self.enabled:
            yield _accepted_anyway
            return
        limiter = self.limiter(model)
        slot = limiter.acquire(bound=self.max_concurrency, timeout=self.timeout)
        try:
            yield functools.partial(limiter.answered, slot)
        except BaseException as exc:
            limiter.release(slot, rate_limited=_rate_limited(exc), succeeded=False)
            raise
        limiter.release(slot, rate_limited=False, succeeded=True)

    @asynccontextmanager
    async def ahold(self, model: str) -> AsyncIterator[Callable[[], None]]:
        """Async twin of :meth:`hold` (a task waits; cancellation frees what it held)."""
        if not self.enabled:
            yield _accepted_anyway
            return
        limiter = self.limiter(model)
        slot = await limiter.aacquire(bound=self.max_concurrency, timeout=self.timeout)
        try:
            yield functools.partial(limiter.answered, slot)
        except BaseException as exc:
            if slot.lease is None:  # this process only: no I/O, no thread
                limiter.release(slot, rate_limited=_rate_limited(exc), succeeded=False)
            else:
                await limiter.arelease(slot, rate_limited=_rate_limited(exc), succeeded=False)
            raise
        if slot.lease is None:
            limiter.release(slot, rate_limited=False, succeeded=True)
        else:
            await limiter.arelease(slot, rate_limited=False, succeeded=True)
