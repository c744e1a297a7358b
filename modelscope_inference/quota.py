"""Daily quota: the ``modelscope-ratelimit-*`` headers, reset times, and one shared tracker.

ModelScope's free tier has a per-account and a lower per-model daily budget. The numbers
change often (reference: modelscope-api.md §3.1), so nothing here hard-codes them: the state is
what the service last said in its headers (§3.2).

Example:
    >>> tracker = tracker_for(api_key, base_url)
    >>> tracker.record("Qwen/Qwen3-32B", response.headers)
    >>> tracker.status("Qwen/Qwen3-32B").model_remaining
    499
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

ACCOUNT_LIMIT_HEADER = "modelscope-ratelimit-requests-limit"
ACCOUNT_REMAINING_HEADER = "modelscope-ratelimit-requests-remaining"
MODEL_LIMIT_HEADER = "modelscope-ratelimit-model-requests-limit"
MODEL_REMAINING_HEADER = "modelscope-ratelimit-model-requests-remaining"
QUOTA_HEADERS = (
    ACCOUNT_LIMIT_HEADER,
    ACCOUNT_REMAINING_HEADER,
    MODEL_LIMIT_HEADER,
    MODEL_REMAINING_HEADER,
)

# The quota resets at 00:00 UTC+8 (Cherry Studio's guide; reference: modelscope-api.md §3.1).
# China has no daylight saving time, so a fixed offset is exact and needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

Clock = Callable[[], datetime]
QuotaScope = Literal["account", "model"]  # which daily budget: the account's or one model's


def utc_now() -> datetime:
    """The current time, timezone-aware (the default clock)."""
    return datetime.now(timezone.utc)


def next_reset(after: datetime) -> datetime:
    """The first 00:00 Asia/Shanghai strictly after ``after``.

    Example:
        >>> next_reset(datetime(2026, 1, 1, 15, 59, tzinfo=timezone.utc)).isoformat()
        '2026-01-02T00:00:00+08:00'
    """
    local = after.astimezone(SHANGHAI)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1)


@dataclass(frozen=True)
class QuotaStatus:
    """What the service last said about the daily budget. ``None`` means "not seen yet".

    Example:
        >>> status = llm.quota_status
        >>> status.account_remaining, status.model_remaining, status.resets_at
        (1987, 412, datetime.datetime(2026, 11, 29, 0, 0, tzinfo=...Asia/Shanghai))
    """

    model: str | None = None
    account_limit: int | None = None
    account_remaining: int | None = None
    model_limit: int | None = None
    model_remaining: int | None = None
    seen_at: datetime | None = None

    @property
    def resets_at(self) -> datetime | None:
        """When these counts reset: the next 00:00 Asia/Shanghai after they were seen."""
        return next_reset(self.seen_at) if self.seen_at else None

    @property
    def exhausted_scope(self) -> QuotaScope | None:
        """``"account"`` or ``"model"`` when that remaining count is 0, else None."""
        if self.account_remaining == 0:
            return "account"
        if self.model_remaining == 0:
            return "model"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for response metadata and logs."""
        return {
            "model": self.model,
            "account_limit": self.account_limit,
            "account_remaining": self.account_remaining,
            "model_limit": self.model_limit,
            "model_remaining": self.model_remaining,
            "seen_at": self.seen_at.isoformat() if self.seen_at else None,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
        }


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return max(int(value.strip()), 0)
    except ValueError:
        try:
            return max(int(float(value.strip())), 0)
        except (ValueError, OverflowError):  # "nan", "inf", "1e400"
            return None


def parse_quota_headers(
    headers: Mapping[str, str], *, model: str | None, now: datetime
) -> QuotaStatus | None:
    """Read the four ``modelscope-ratelimit-*`` headers; None when none is present or valid.

    Example:
        >>> parse_quota_headers({"modelscope-ratelimit-requests-remaining": "0"},
        ...                     model="Qwen/Qwen3-32B", now=utc_now()).exhausted_scope
        'account'
    """
    values = [_int_header(headers, name) for name in QUOTA_HEADERS]
    if all(v is None for v in values):
        return None
    account_limit, account_remaining, model_limit, model_remaining = values
    return QuotaStatus(
        model=model,
        account_limit=account_limit,
        account_remaining=account_remaining,
        model_limit=model_limit,
        model_remaining=model_remaining,
        seen_at=now,
    )


@dataclass
class _Counts:
    limit: int | None = None
    remaining: int | None = None
    seen_at: datetime | None = None

    def spent(self, now: datetime) -> bool:
        return self.remaining == 0 and self.seen_at is not None and now < next_reset(self.seen_at)


@dataclass
class QuotaTracker:
    """The quota state shared by every client with the same token and base URL.

    Thread- and task-safe: updates are short critical sections under one lock, never held
    across I/O. Get the shared instance with :func:`tracker_for`.

    Example:
        >>> tracker.spent_scope("Qwen/Qwen3-32B")  # None unless known exhausted
    """

    clock: Clock = utc_now
    _account: _Counts = field(default_factory=_Counts)
    _models: dict[str, _Counts] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, model: str, headers: Mapping[str, str]) -> QuotaStatus | None:
        """Update the state from one response's headers; returns the status they carried."""
        status = parse_quota_headers(headers, model=model, now=self.clock())
        if status is None:
            return None
        with self._lock:
            if status.account_remaining is not None or status.account_limit is not None:
                self._account = _Counts(
                    status.account_limit, status.account_remaining, status.seen_at
                )
            if status.model_remaining is not None or status.model_limit is not None:
                self._models[model] = _Counts(
                    status.model_limit, status.model_remaining, status.seen_at
                )
        return status

    def mark_exhausted(self, scope: QuotaScope, model: str) -> None:
        """Record a spent scope learned from a 429 body when the headers were missing."""
        now = self.clock()
        with self._lock:
            if scope == "account":
                self._account = replace(self._account, remaining=0, seen_at=now)
            else:
                counts = self._models.get(model, _Counts())
                self._models[model] = replace(counts, remaining=0, seen_at=now)

    def spent_scope(self, model: str) -> QuotaScope | None:
        """The scope known to be at 0 for ``model`` whose reset has not passed, else None."""
        now = self.clock()
        with self._lock:
            if self._account.spent(now):
                return "account"
            counts = self._models.get(model)
            if counts is not None and counts.spent(now):
                return "model"
        return None

    def status(self, model: str | None = None) -> QuotaStatus:
        """The last-seen counts: the account's, and ``model``'s when given."""
        with self._lock:
            account = self._account
            counts = self._models.get(model) if model else None
        seen = [c.seen_at for c in (account, counts) if c is not None and c.seen_at is not None]
        return QuotaStatus(
            model=model,
            account_limit=account.limit,
            account_remaining=account.remaining,
            model_limit=counts.limit if counts else None,
            model_remaining=counts.remaining if counts else None,
            seen_at=max(seen) if seen else None,
        )

    def reset(self) -> None:
        """Forget everything (tests, or after buying more quota)."""
        with self._lock:
            self._account = _Counts()
            self._models.clear()


_trackers: dict[tuple[str, str], QuotaTracker] = {}
_trackers_lock = threading.Lock()


def tracker_for(api_key: str, base_url: str) -> QuotaTracker:
    """The one tracker for this token and base URL, shared by all instances and frameworks.

    The key holds a hash of the token, never the token itself.
    """
    key = (hashlib.sha256(api_key.encode()).hexdigest(), base_url.rstrip("/"))
    with _trackers_lock:
        tracker = _trackers.get(key)
        if tracker is None:
            tracker = _trackers[key] = QuotaTracker()
        return tracker
