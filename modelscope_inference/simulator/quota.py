"""Daily request quotas per account and per model, with an injectable clock.

ModelScope counts calls per account and per model per day and reports what is left in four
response headers (reference: modelscope-api.md §3.1, §3.2). The reset time is not documented;
the simulator resets at 00:00 Asia/Shanghai (reference: §3.1, "Reset time ... [INFERRED]"), and
since the credits era calls can come back within the day (§8.2): see :meth:`QuotaBook.restore`.

>>> book = QuotaBook(account_limit=3, default_model_limit=2)
>>> book.consume("Qwen/Qwen3-8B").allowed
True
>>> book.peek("Qwen/Qwen3-8B").model_remaining
1
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

__all__ = [
    "DEFAULT_ACCOUNT_LIMIT",
    "DEFAULT_MODEL_LIMIT",
    "SHANGHAI",
    "Clock",
    "QuotaBook",
    "QuotaSnapshot",
    "as_clock",
]

# reference: modelscope-api.md §3.1, the original rule "2000 calls a day, at most 500 per model".
# These numbers live in the simulator only; the library must not hard-code them (§7 item 7).
DEFAULT_ACCOUNT_LIMIT = 2000
DEFAULT_MODEL_LIMIT = 500

# China has had no daylight saving time since 1991, so a fixed offset is exact.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

Clock = Callable[[], datetime]
"""A zero-argument callable returning the current time as an aware datetime."""


def _system_clock() -> datetime:
    return datetime.now(SHANGHAI)


def as_clock(value: datetime | Clock | None) -> Clock:
    """Turn a fixed aware datetime, a callable or None (system time) into a clock.

    >>> as_clock(datetime(2025, 1, 1, tzinfo=SHANGHAI))().year
    2025
    """
    if value is None:
        return _system_clock
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the simulator clock needs an aware datetime (give it a tzinfo)")
        fixed = value
        return lambda: fixed
    return value


@dataclass(frozen=True)
class QuotaSnapshot:
    """Counters as the four `modelscope-ratelimit-*` headers report them (§3.2).

    `allowed` is whether a call may proceed (for `consume`: whether this one did).

    >>> QuotaSnapshot(True, 10, 9, 5, 4).headers()[1]
    ('modelscope-ratelimit-requests-remaining', '9')
    """

    allowed: bool
    account_limit: int
    account_remaining: int
    model_limit: int
    model_remaining: int

    def headers(self) -> list[tuple[str, str]]:
        """The four quota headers, in the order the reference lists them (§3.2)."""
        return [
            ("modelscope-ratelimit-requests-limit", str(self.account_limit)),
            ("modelscope-ratelimit-requests-remaining", str(self.account_remaining)),
            ("modelscope-ratelimit-model-requests-limit", str(self.model_limit)),
            ("modelscope-ratelimit-model-requests-remaining", str(self.model_remaining)),
        ]


class QuotaBook:
    """Thread-safe daily counters for one account and each model it calls.

    >>> book = QuotaBook(account_limit=1, default_model_limit=5)
    >>> book.consume("m").allowed, book.consume("m").allowed
    (True, False)
    """

    def __init__(
        self,
        account_limit: int = DEFAULT_ACCOUNT_LIMIT,
        default_model_limit: int = DEFAULT_MODEL_LIMIT,
        model_limits: Mapping[str, int] | None = None,
        clock: datetime | Clock | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.account_limit = account_limit
        self.default_model_limit = default_model_limit
        self.model_limits: dict[str, int] = dict(model_limits or {})
        self._clock = as_clock(clock)
        self._day: date | None = None
        self._account_used = 0
        self._model_used: dict[str, int] = {}

    def configure(
        self,
        account_limit: int | None = None,
        model_limits: Mapping[str, int] | None = None,
        default_model_limit: int | None = None,
    ) -> None:
        """Change limits; counters already spent today are kept."""
        with self._lock:
            if account_limit is not None:
                self.account_limit = account_limit
            if default_model_limit is not None:
                self.default_model_limit = default_model_limit
            if model_limits is not None:
                self.model_limits.update(model_limits)

    def set_clock(self, clock: datetime | Clock | None) -> None:
        """Replace the clock; the next request resets counters if the Shanghai day changed."""
        with self._lock:
            self._clock = as_clock(clock)

    def clear(self) -> None:
        """Forget everything spent (as if a new day started)."""
        with self._lock:
            self._account_used = 0
            self._model_used.clear()
            self._day = None

    def restore(self, model: str | None = None, calls: int | None = None) -> None:
        """Give back ``calls`` spent calls (None: all) to the account and, when given, to
        ``model``, within the day: credits granted, bought or refunded (§8.2).

        >>> book = QuotaBook(account_limit=1)
        >>> book.consume("m").allowed, book.consume("m").allowed
        (True, False)
        >>> book.restore(); book.consume("m").allowed
        True
        """
        with self._lock:
            self._roll_day()
            self._account_used = _give_back(self._account_used, calls)
            if model is not None:
                self._model_used[model] = _give_back(self._model_used.get(model, 0), calls)

    def consume(self, model: str) -> QuotaSnapshot:
        """Spend one call on `model` if both counters allow it; report the counters after.

        `allowed` says whether this call was allowed, even if it spent the last one.
        """
        with self._lock:
            self._roll_day()
            snap = self._snapshot(model)
            if not snap.allowed:
                return snap
            self._account_used += 1
            self._model_used[model] = self._model_used.get(model, 0) + 1
            return replace(self._snapshot(model), allowed=True)

    def peek(self, model: str) -> QuotaSnapshot:
        """The counters for `model` without spending anything."""
        with self._lock:
            self._roll_day()
            return self._snapshot(model)

    def _roll_day(self) -> None:
        # reference: modelscope-api.md §3.1, reset time not documented; 00:00 Asia/Shanghai
        # is [INFERRED] from "或等到第二天使用" (wait until the next day).
        today = self._clock().astimezone(SHANGHAI).date()
        if today != self._day:
            self._day = today
            self._account_used = 0
            self._model_used.clear()

    def _snapshot(self, model: str) -> QuotaSnapshot:
        model_limit = self.model_limits.get(model, self.default_model_limit)
        account_left = max(self.account_limit - self._account_used, 0)
        model_left = max(model_limit - self._model_used.get(model, 0), 0)
        return QuotaSnapshot(
            allowed=account_left > 0 and model_left > 0,
            account_limit=self.account_limit,
            account_remaining=account_left,
            model_limit=model_limit,
            model_remaining=model_left,
        )


def _give_back(used: int, calls: int | None) -> int:
    """Spent calls left after giving back ``calls`` of them (None: all)."""
    return 0 if calls is None else max(used - max(calls, 0), 0)
