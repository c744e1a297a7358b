"""What the ``modelscope-ratelimit-*`` headers say: :class:`QuotaStatus`, its parsing, and when
daily counts usually reset. Pure data, no shared state: :mod:`.quota` keeps the tracker (and
the store under it); :mod:`.errors` reads these figures off error answers without it.

Example:
    >>> status = parse_quota_headers(response.headers, model="Qwen/Qwen3-32B", now=utc_now())
    >>> status.model_remaining
    499
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from modelscope_inference.catalog import is_image_model

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

# reference: modelscope-api.md §3.1, the reset time is documented nowhere ("or wait until the
# next day"); 00:00 UTC+8 is a plausible guess, and §8.2 credits can come back before it. China
# has no daylight saving time, so a fixed offset is exact and needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
USUAL_RESET = "ModelScope usually resets daily counts at 00:00 UTC+8"

DEFAULT_PROBE_INTERVAL = 300.0
"""Seconds a scope seen spent is refused locally before one request asks the service again."""

Clock = Callable[[], datetime]
QuotaScope = Literal["account", "model"]  # which budget: the account's or one model's
AIGC_POOL = "aigc"
"""The account budget of image models, kept apart from chat's (reference: modelscope-api.md
§3.1, "AIGC models may have separate limits"; §3.2, "aigc 的模型有额外限制, 具体可以参考响应头")."""


def account_pool(model: str) -> str:
    """Which account budget the account figures of ``model``'s answers describe: ``"aigc"``
    for image models, ``""`` (chat's) for the rest. A spent AIGC budget never holds chat back.

    Example:
        >>> account_pool("Qwen/Qwen-Image"), account_pool("Qwen/Qwen3-32B")
        ('aigc', '')
    """
    return AIGC_POOL if is_image_model(model) else ""


def utc_now() -> datetime:
    """The current time, timezone-aware (the default clock)."""
    return datetime.now(timezone.utc)


def next_reset(after: datetime) -> datetime:
    """The first 00:00 Asia/Shanghai strictly after ``after`` (when ModelScope *usually*
    resets daily counts; not a promise, see :data:`USUAL_RESET`).

    Example:
        >>> next_reset(datetime(2026, 1, 1, 15, 59, tzinfo=timezone.utc)).isoformat()
        '2026-01-02T00:00:00+08:00'
    """
    local = after.astimezone(SHANGHAI)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1)


_SHANGHAI_OFFSET = 8 * 3600  # seconds east of UTC, all year (see SHANGHAI)
_SHANGHAI_EPOCH = datetime(1970, 1, 1, tzinfo=SHANGHAI)


def next_reset_iso(after: datetime) -> str:
    """``next_reset(after).isoformat()``, the same string for a whole day, so made once a day:
    every answer's metadata carries it (bench: concurrency).

    Example:
        >>> next_reset_iso(datetime(2026, 1, 1, 15, 59, tzinfo=timezone.utc))
        '2026-01-02T00:00:00+08:00'
    """
    return _day_end_iso(int((after.timestamp() + _SHANGHAI_OFFSET) // 86400))


@functools.lru_cache(maxsize=4)
def _day_end_iso(day: int) -> str:
    return (_SHANGHAI_EPOCH + timedelta(days=day + 1)).isoformat()


def reset_sentence(status: QuotaStatus, now: datetime) -> str:
    """When the daily counts usually reset (00:00 UTC+8; not a promise: reference
    modelscope-api.md §3.1, §8.2), and how long that is from ``now``: what ``check`` and the
    demo print.

    >>> reset_sentence(QuotaStatus(), datetime(2025, 1, 1, 22, 30, tzinfo=SHANGHAI))
    'ModelScope usually resets daily counts at 00:00 UTC+8, so it probably resets at ...'
    """
    resets = status.resets_at or next_reset(now)
    return (
        f"{USUAL_RESET}, so it probably resets at {resets.strftime('%Y-%m-%d %H:%M')} UTC+8 "
        f"(in {_until(resets, now)}); credits can come back sooner."
    )


def _until(moment: datetime, now: datetime) -> str:
    minutes = max(int((moment - now).total_seconds() // 60), 0)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def check_probe_interval(seconds: float) -> float:
    """``seconds`` as a float, or a :class:`ValueError` naming the option.

    Example:
        >>> check_probe_interval(60)
        60.0
    """
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"quota_probe_interval must be a finite number of seconds >= 0, got {seconds!r} "
            "(0 asks the service on every call)."
        )
    return value


@dataclass(frozen=True)
class QuotaStatus:
    """What the service last said about the budget. ``None`` means "not seen": ``known`` is
    False when no figure was ever reported (models that send no quota headers, §8.1).

    Example:
        >>> status = llm.quota_status
        >>> status.known, status.account_remaining, status.model_remaining
        (True, 1987, 412)
    """

    model: str | None = None
    account_limit: int | None = None
    account_remaining: int | None = None
    model_limit: int | None = None
    model_remaining: int | None = None
    seen_at: datetime | None = None

    @property
    def known(self) -> bool:
        """True when at least one figure came from the service; False means "unknown".

        Example:
            >>> QuotaStatus(model="Qwen/Qwen3-32B").known
            False
        """
        figures = (self.account_limit, self.account_remaining, self.model_limit)
        return any(v is not None for v in (*figures, self.model_remaining))

    @property
    def resets_at(self) -> datetime | None:
        """The next 00:00 Asia/Shanghai after the figures were seen, when ModelScope usually
        resets daily counts; credits can come back sooner (reference: modelscope-api.md §8.2)."""
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
        seen_at = self.seen_at  # read once: every answer's metadata is built from this
        return {
            "model": self.model,
            "known": self.known,
            "account_limit": self.account_limit,
            "account_remaining": self.account_remaining,
            "model_limit": self.model_limit,
            "model_remaining": self.model_remaining,
            "seen_at": seen_at.isoformat() if seen_at else None,
            "resets_at": next_reset_iso(seen_at) if seen_at else None,
        }


_MAX_DIGITS = 30


def count_from_header(value: str | None) -> int | None:
    """A header value as a count: a non-negative integer, else None (ignored, never clamped:
    a ``-5`` clamped to 0 once locked a whole account, issue 14).

    Example:
        >>> [count_from_header(v) for v in ("12", " 7.0 ", "-5", "1.5", "nan", "")]
        [12, 7, None, None, None, None]
    """
    if value is None:
        return None
    if value.isdigit() and value.isascii() and len(value) <= _MAX_DIGITS:
        return int(value)  # what every real answer sends
    text = value.strip()
    if len(text) > _MAX_DIGITS:  # no real count is that long; int() would refuse 4300+ digits
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    if text.startswith(("-", "+")):
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def parse_quota_headers(
    headers: Mapping[str, str], *, model: str | None, now: datetime
) -> QuotaStatus | None:
    """Read the four ``modelscope-ratelimit-*`` headers; None when none is present and valid.

    Example:
        >>> parse_quota_headers({"modelscope-ratelimit-requests-remaining": "0"},
        ...                     model="Qwen/Qwen3-32B", now=utc_now()).exhausted_scope
        'account'
    """
    values = [count_from_header(headers.get(name)) for name in QUOTA_HEADERS]
    if values.count(None) == len(values):
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
