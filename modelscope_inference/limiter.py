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
  calls have succeeded one below it; each failed probe of the same level doubles both waits
  (up to ``PROBE_WAIT_MAX_SECONDS`` and ``PROBE_WAIT_MAX_SUCCESSES``), and a probe that
  succeeds, or a 429 at another level (the cap moved), starts again from the first waits.

Why probes back off in time, with a floor in calls: the service moves its cap with its load,
on a wall-clock scale, so the wait before noticing a raised cap should be seconds, whatever
the call rate (a wait counted in calls alone is ~3 s at one 100-ms call in flight and 0.4 s at
eight: bench/RESULTS.md measured a fixed 32-call wait missing a raise for longer than a 2-s
phase). Doubling makes a steady cap cheap: one failed probe per 1, 2, 4 ... 64 s, i.e. a
logarithmic count of 429s over two minutes, then one a minute. The floor in calls bounds the
share of 429s when calls are slow (at a call per 10 s a 1-s timer alone would probe on every
call): at most one per 4, 8 ... 64 calls. Against a fixed 32-call wait and waits doubling in
calls alone (from 4, 8 or 16) or from 0.75 s (bench/RESULTS.md: runs on the moving cap, and a
model of them), it was the only one to keep a 157-request index build within 4 429s (3 %) on
both of the benchmark's schedules, at completion times alike within the runs' noise.

Why AIMD and not a gradient limiter (Netflix concurrency-limits' ``Gradient2``): a gradient
limiter infers queueing from the growth of round-trip times, but here a call's time is mostly
generation length, which varies by prompt far more than any queue adds, and the service tells
us plainly when we are over its cap (a 429). AIMD acts on that explicit signal and converges
fairly between processes sharing a token (the multiplicative part), which a gradient does not.

Threads and tasks share one limit behind one lock; they differ only in how they wait: a thread
on a :class:`threading.Event`, a task on a future of its own loop (woken thread-safely). A freed
slot is handed to the oldest waiter directly, so nobody barges in ahead of it, and a waiter
that times out or is cancelled after being handed a slot passes it on (no slot leaks).

The learned limit lives behind :class:`LimitStore` (get/set per scope), so a store shared
across processes can back it later; :class:`InProcessLimitStore` is the default.

Example:
    >>> gate = ConcurrencyGate.create("ms-...", DEFAULT_BASE_URL, timeout=60)
    >>> with gate.hold("Qwen/Qwen3-32B"):
    ...     transport.post(CHAT_PATH, body, model="Qwen/Qwen3-32B")
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from modelscope_inference._lazy import caught, errors

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
# below it, both needed, both doubled by each failed probe of that level up to the maximum.
# Over a steady cap: failed probes at ~1, 3, 7 ... 127 s, then one per 64 s (and per >= 64 calls).
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
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def on_success(self, level: int, bound: int, epoch: int | None = None) -> None:
        """A call sent as the ``level``-th in flight succeeded; grow if the limit was in use:
        +1 after ``limit`` such successes (one round), or, when the next level is the one that
        failed, once its probe is due (:meth:`probe_due`). A call sent before the last decrease
        (``epoch``) teaches nothing: it was let through by the higher limit that just failed."""
        if epoch is not None and epoch != self.epoch:
            return
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
            self.wait_seconds = min(self.wait_seconds * 2, PROBE_WAIT_MAX_SECONDS)
            self.wait_successes = min(self.wait_successes * 2, PROBE_WAIT_MAX_SUCCESSES)
        else:  # a new level: the cap moved (or was just found), start from the first waits
            self._forget_ceiling()
        self.epoch += 1
        self.ceiling = ceiling
        self.failed_at = self.clock()
        self.credit = 0
        self.limit = max(1.0, min(self.limit * BACKOFF_RATIO, float(level - 1)))

    def _forget_ceiling(self) -> None:
        self.ceiling = None
        self.wait_seconds = PROBE_WAIT_SECONDS
        self.wait_successes = PROBE_WAIT_SUCCESSES


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
    """A held slot: the in-flight level it was taken at, and the decrease epoch then."""

    level: int
    epoch: int
    bound: int


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
        self._state = AIMDState(limit=store.get_limit(scope) or INITIAL_LIMIT)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def limit(self) -> int:
        """The current learned limit (whole calls)."""
        return math.floor(self._state.limit)

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now."""
        return self._in_flight

    def _free(self, bound: int) -> bool:
        return self._in_flight < min(math.floor(self._state.limit), bound)

    def _take(self, bound: int) -> Slot:
        self._in_flight += 1
        return Slot(self._in_flight, self._state.epoch, bound)

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
            waiter.wake()

    def _granted_slot(self, waiter: _Waiter) -> Slot:
        assert waiter.slot is not None
        return waiter.slot

    def _give_up(self, waiter: _Waiter) -> None:
        """A waiter timed out or was cancelled: pass on a slot it was handed meanwhile."""
        with self._lock:
            if waiter.granted:
                self._in_flight -= 1
                self._dispatch()
            else:
                self._waiters.remove(waiter)
                self._dispatch()  # the head may have been blocked by this waiter's bound

    def acquire(self, *, bound: int, timeout: float | None) -> Slot:
        """Wait (blocking this thread) for a slot; :class:`ConcurrencyTimeoutError` after
        ``timeout`` seconds."""
        with self._lock:
            slot = self._try_take(bound)
            if slot is not None:
                return slot
            waiter = _Waiter(bound)
            self._waiters.append(waiter)
        assert waiter.event is not None
        if waiter.event.wait(timeout):
            with self._lock:
                return self._granted_slot(waiter)
        with self._lock:
            if waiter.granted:  # granted just as the wait ended
                return self._granted_slot(waiter)
        self._give_up(waiter)
        raise self._timeout_error(timeout)

    async def aacquire(self, *, bound: int, timeout: float | None) -> Slot:
        """Async twin of :meth:`acquire`; a cancelled wait leaks no slot."""
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
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            with self._lock:
                if waiter.granted and not isinstance(exc, asyncio.CancelledError):
                    return self._granted_slot(waiter)
            self._give_up(waiter)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise self._timeout_error(timeout) from None
        with self._lock:
            return self._granted_slot(waiter)

    def release(self, slot: Slot, *, rate_limited: bool, succeeded: bool) -> None:
        """Give the slot back, learning from how its call ended."""
        with self._lock:
            self._in_flight -= 1
            before = self._state.limit
            if rate_limited:
                self._state.on_rate_limited(slot.level, slot.epoch)
            elif succeeded:
                self._state.on_success(slot.level, slot.bound, slot.epoch)
            self._dispatch()
            changed = math.floor(self._state.limit) != math.floor(before)
        if changed:
            self.store.set_limit(self.scope, self._state.limit)

    def _timeout_error(self, timeout: float | None) -> errors.ConcurrencyTimeoutError:
        return errors.ConcurrencyTimeoutError(
            f"No concurrency slot for model {self.scope.model!r} came free within {timeout}s "
            f"({self._in_flight} calls in flight, learned limit {self.limit}). ModelScope caps "
            "concurrency per model; send fewer calls at once, raise timeout=..., or pass "
            "adaptive_concurrency=False to send everything at once (and meet 429s instead).",
            model=self.scope.model,
            limit=self.limit,
        )


_store: LimitStore = InProcessLimitStore()
_limiters: dict[LimitScope, ConcurrencyLimiter] = {}
_limiters_lock = threading.Lock()
_generation = 0


def limiter_for(api_key: str, base_url: str, model: str) -> ConcurrencyLimiter:
    """The one limiter of this token, base URL and model in this process.

    Example:
        >>> limiter_for("ms-x", url, "m") is limiter_for("ms-x", url + "/", "m")
        True
    """
    scope = LimitScope.of(api_key, base_url, model)
    limiter = _limiters.get(scope)  # the hot path: no lock when it exists
    if limiter is None:
        with _limiters_lock:
            limiter = _limiters.get(scope)
            if limiter is None:
                limiter = _limiters[scope] = ConcurrencyLimiter(scope, _store)
    return limiter


def existing_limiter(api_key: str, base_url: str, model: str) -> ConcurrencyLimiter | None:
    """The limiter of this scope if a call has made one, else None (it makes none).

    Example:
        >>> existing_limiter("ms-x", url, "never-called") is None
        True
    """
    return _limiters.get(LimitScope.of(api_key, base_url, model))


def forget_limits() -> None:
    """Drop every learned limit of this process (tests; after the service raised its caps).

    Example:
        >>> forget_limits()
    """
    global _store, _generation
    with _limiters_lock:
        _limiters.clear()
        _store = InProcessLimitStore()
        _generation += 1


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
    ) -> ConcurrencyGate:
        bound = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency
        if bound < 1:
            raise errors.ConfigurationError(
                f"max_concurrency must be >= 1, got {bound}; pass adaptive_concurrency=False "
                "to send calls without a limit."
            )
        return cls(api_key, base_url, adaptive_enabled(enabled), bound, timeout)

    def limiter(self, model: str) -> ConcurrencyLimiter:
        """The shared limiter of ``model`` under this gate's token and base URL."""
        cached = self._cache.get(model)
        if cached is not None and cached[0] == _generation:
            return cached[1]
        limiter = limiter_for(self.api_key, self.base_url, model)
        self._cache[model] = (_generation, limiter)
        return limiter

    @contextmanager
    def hold(self, model: str) -> Iterator[None]:
        """Hold a slot of ``model`` around one request (a thread waits for it)."""
        if not self.enabled:
            yield
            return
        limiter = self.limiter(model)
        slot = limiter.acquire(bound=self.max_concurrency, timeout=self.timeout)
        try:
            yield
        except BaseException as exc:
            limiter.release(slot, rate_limited=_rate_limited(exc), succeeded=False)
            raise
        limiter.release(slot, rate_limited=False, succeeded=True)

    @asynccontextmanager
    async def ahold(self, model: str) -> AsyncIterator[None]:
        """Async twin of :meth:`hold` (a task waits; cancellation frees what it held)."""
        if not self.enabled:
            yield
            return
        limiter = self.limiter(model)
        slot = await limiter.aacquire(bound=self.max_concurrency, timeout=self.timeout)
        try:
            yield
        except BaseException as exc:
            limiter.release(slot, rate_limited=_rate_limited(exc), succeeded=False)
            raise
        limiter.release(slot, rate_limited=False, succeeded=True)
