"""The one retry policy, as tenacity values: what to retry, how long to wait, when to stop.

There is exactly one retry layer: the openai client underneath is built with
``max_retries=0``, so ``max_retries=2`` means at most 3 requests (user-needs.md §C.23).

Retried: connection errors, timeouts, 408, 409, 5xx, and transient 429s. Never retried:
authentication, account binding, bad requests, unknown or retired models, thinking-mode
refusals, quota exhaustion (retrying a spent daily quota only burns time: user-needs.md §A.6),
and streams that already yielded output (retrying would duplicate text: §C.24).

Retries cost quota: failed calls seem to be counted (reference: modelscope-api.md §8.1, the
remaining count fell across failed calls), so no 4xx that cannot succeed is retried, and the
default ``max_retries`` stays at 2 (docs/quotas.md, "What retries cost"). The header-less 429
"Request limit exceeded." (:class:`~modelscope_inference.errors.AmbiguousRateLimitError`) is
retried at most once per call by :meth:`RetryPolicy.call`; the second one is raised as the
model's spent quota.

Example:
    >>> policy = RetryPolicy(max_retries=3, max_wait=20)
    >>> for attempt in policy.retrying():
    ...     with attempt:
    ...         send()
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Generic, NoReturn, TypeVar

import tenacity
from tenacity.wait import wait_base

from modelscope_inference._lazy import caught, caught_openai
from modelscope_inference.redaction import redact

logger = logging.getLogger("modelscope_inference")
T = TypeVar("T")
U = TypeVar("U")

RETRYABLE_STATUSES = frozenset({408, 409})
BACKOFF_BASE = 0.5
# reference: modelscope-api.md §8.1, the header-less 429 may be a spent quota: one retry only.
AMBIGUOUS_429_ATTEMPTS = 2


def is_retryable(exc: BaseException) -> bool:
    """The retry predicate: True only for failures that a later attempt may fix.

    Example:
        >>> is_retryable(quota_exhausted_error)
        False
    """
    if isinstance(
        exc, (caught.StreamInterruptedError, caught.QuotaExhaustedError, caught.ConfigurationError)
    ):
        return False
    if isinstance(exc, caught.InvalidResponseError):
        return False
    if isinstance(exc, (caught.RateLimitError, caught.ServiceUnavailableError)):
        return True
    if isinstance(exc, caught.APIStatusError):
        return exc.status_code in RETRYABLE_STATUSES or exc.status_code >= 500
    return isinstance(exc, (caught.APIConnectionError, caught_openai.APIConnectionError))


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server's advised wait: ``retry-after-ms``, or ``retry-after`` in seconds or as an
    HTTP date. None when absent or unreadable.

    Example:
        >>> retry_after_seconds({"retry-after": "1"})
        1.0
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            seconds = float(millis) / 1000.0
            if not math.isnan(seconds):
                return max(seconds, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return None if math.isnan(seconds) else max(seconds, 0.0)  # "nan" would break sleep()
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max((when - current).total_seconds(), 0.0)


def advised_wait(exc: BaseException | None) -> float | None:
    """The wait the failed answer asked for, if any."""
    if isinstance(exc, caught.RateLimitError) and exc.retry_after is not None:
        return exc.retry_after
    if isinstance(exc, caught_openai.APIStatusError):
        return retry_after_seconds(exc.response.headers)
    return None


@dataclass(frozen=True)
class WaitRetryAfterOrBackoff(wait_base):
    """Wait what ``Retry-After`` says; otherwise exponential backoff with full jitter; capped.

    Example:
        >>> wait = WaitRetryAfterOrBackoff(max_wait=30)
    """

    max_wait: float = 60.0
    base: float = BACKOFF_BASE
    rng: Callable[[float, float], float] = field(default=random.uniform)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        advised = advised_wait(exc)
        if advised is not None:
            return min(advised, self.max_wait)
        ceiling = min(self.max_wait, self.base * 2 ** (retry_state.attempt_number - 1))
        return self.rng(0.0, ceiling)


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    reason = redact(f"{type(exc).__name__}: {exc}") if exc else "unknown"
    logger.warning(
        "ModelScope request failed (attempt %d), retrying in %.2f s: %s",
        retry_state.attempt_number,
        wait,
        reason,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` extra attempts at most, waits capped at ``max_wait``, and an optional
    total ``deadline`` in seconds. ``sleep``/``async_sleep`` are injectable for tests.

    Example:
        >>> policy = RetryPolicy(max_retries=2)
        >>> policy.retrying()(send_request)
    """

    max_retries: int = 2
    max_wait: float = 60.0
    deadline: float | None = None
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def _stop(self, spent: float) -> tenacity.stop.stop_base:
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.max_retries + 1)
        if self.deadline is not None:
            stop = stop | tenacity.stop_before_delay(max(self.deadline - spent, 0.0))
        return stop

    def _common(self, spent: float = 0.0) -> dict[str, object]:
        return {
            "retry": tenacity.retry_if_exception(is_retryable),
            "wait": WaitRetryAfterOrBackoff(max_wait=self.max_wait),
            "stop": self._stop(spent),
            "before_sleep": _log_retry,
            "reraise": True,
        }

    def retrying(self, *, spent: float = 0.0) -> tenacity.Retrying:
        """A fresh synchronous tenacity controller for one logical call (``spent``: seconds of
        it already gone, counted against the deadline)."""
        return tenacity.Retrying(sleep=self.sleep, **self._common(spent))  # type: ignore[arg-type]

    def async_retrying(self, *, spent: float = 0.0) -> tenacity.AsyncRetrying:
        """A fresh asynchronous tenacity controller for one logical call."""
        return tenacity.AsyncRetrying(sleep=self.async_sleep, **self._common(spent))  # type: ignore[arg-type]

    def call(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` under this policy: retried as :meth:`retrying` would.

        The first try runs before tenacity is set up, which saves its ~40 µs on a call that
        succeeds, i.e. nearly every call. A failed first try is replayed into tenacity as its
        attempt 1, so the retry decision, the wait, the log line and the stops are tenacity's.

        Example:
            >>> RetryPolicy(max_retries=2).call(lambda: transport.post(path, body, model=m))
        """
        started = time.monotonic()
        try:
            return attempt()  # unwrapped: a first ambiguous 429 passes through anyway
        except Exception as exc:
            if self.max_retries < 1 or not is_retryable(exc):
                raise
            replay = _Replay(exc)
        settle = _SettleAmbiguous(attempt, seen=replay.error)
        retrying = self.retrying(spent=time.monotonic() - started)
        return retrying(lambda: settle() if replay.done() else replay.throw())

    async def acall(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Async twin of :meth:`call`."""
        started = time.monotonic()
        try:
            return await attempt()
        except Exception as exc:
            if self.max_retries < 1 or not is_retryable(exc):
                raise
            replay = _Replay(exc)
        settle = _SettleAmbiguous(attempt, seen=replay.error)

        async def again() -> T:
            return await settle.awaited() if replay.done() else replay.throw()

        return await self.async_retrying(spent=time.monotonic() - started)(again)


class _Replay:
    """The first try's error, raised once more inside tenacity as its attempt 1."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.pending = True

    def done(self) -> bool:
        return not self.pending

    def throw(self) -> NoReturn:
        self.pending = False
        raise self.error


class _SettleAmbiguous(Generic[T]):
    """One logical call's attempts, where a repeated header-less 429 becomes a spent quota.

    The first :class:`~modelscope_inference.errors.AmbiguousRateLimitError` passes through (it
    is retryable); the next one in the same call is raised as its ``as_spent_quota()``, which
    is not retryable, so the call stops there and ``fallback_models`` can run
    (reference: modelscope-api.md §8.1, "Request limit exceeded." without headers).
    """

    def __init__(self, attempt: Callable[[], T], *, seen: BaseException | None = None) -> None:
        self.attempt = attempt
        # The first try runs unwrapped (the hot path); its error is counted here.
        self.ambiguous = 1 if isinstance(seen, caught.AmbiguousRateLimitError) else 0

    def __call__(self) -> T:
        try:
            return self.attempt()
        except caught.AmbiguousRateLimitError as exc:
            if self._repeated():
                raise exc.as_spent_quota() from exc
            raise

    async def awaited(self: _SettleAmbiguous[Awaitable[U]]) -> U:
        """The async twin of a call: await the attempt under the same rule."""
        try:
            return await self.attempt()
        except caught.AmbiguousRateLimitError as exc:
            if self._repeated():
                raise exc.as_spent_quota() from exc
            raise

    def _repeated(self) -> bool:
        self.ambiguous += 1
        return self.ambiguous >= AMBIGUOUS_429_ATTEMPTS
