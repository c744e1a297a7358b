"""Faults the simulator can inject, per request or for the next N requests.

A :class:`Fault` is a value; `Simulator.inject` arms it for the next `times` matching
requests, optionally for one model only:

>>> from modelscope_inference.simulator import Fault
>>> Fault.rate_limit(retry_after=2).retry_after
2.0
>>> book = FaultBook()
>>> book.arm(Fault.server_error(503), times=1)
>>> [f.status for f in book.take("any-model", stream=False)]
[503]
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum

from .errors import REAL_ANSWERS

__all__ = ["Fault", "FaultBook", "FaultKind", "StreamShape"]


class FaultKind(str, Enum):
    """The kinds of misbehaviour the simulator can produce."""

    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    EMPTY_4XX = "empty_4xx"
    SLOW_FIRST_BYTE = "slow_first_byte"
    LATENCY = "latency"
    DROP_AFTER = "drop_after"
    MALFORMED_CHUNK = "malformed_chunk"
    NULL_CHOICES = "null_choices"
    TOOL_DELTA_NO_INDEX = "tool_delta_no_index"
    TOOL_DELTA_ID_FIRST_ONLY = "tool_delta_id_first_only"
    SHARED_INDEX_ZERO = "shared_index_zero"
    REAL_ANSWER = "real_answer"


_REPLACING = {
    FaultKind.RATE_LIMIT,
    FaultKind.SERVER_ERROR,
    FaultKind.EMPTY_4XX,
    FaultKind.REAL_ANSWER,
}
_STREAM_ONLY = {
    FaultKind.MALFORMED_CHUNK,
    FaultKind.NULL_CHOICES,
    FaultKind.TOOL_DELTA_NO_INDEX,
    FaultKind.TOOL_DELTA_ID_FIRST_ONLY,
    FaultKind.SHARED_INDEX_ZERO,
}


@dataclass(frozen=True)
class Fault:
    """One injectable fault. Build it with the class methods, not the constructor.

    >>> Fault.drop_after(3).count
    3
    """

    kind: FaultKind
    status: int = 0
    seconds: float = 0.0
    count: int = 0
    retry_after: float | None = None
    answer: str = ""
    """For `REAL_ANSWER`: the name of the §8.1 answer in `errors.REAL_ANSWERS`."""

    @classmethod
    def rate_limit(cls, retry_after: float | None = None) -> Fault:
        """A transient 429: quota body, remaining headers > 0, `Retry-After` when given (§3.3).

        >>> Fault.rate_limit().kind.value
        'rate_limit'
        """
        seconds = None if retry_after is None else float(retry_after)
        return cls(FaultKind.RATE_LIMIT, status=429, retry_after=seconds)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx with an `errors` body (body shape [INFERRED]; §3.3 has none captured).

        >>> Fault.server_error(502).status
        502
        """
        if not 500 <= status <= 599:
            raise ValueError(f"server_error needs a 5xx status, got {status}")
        return cls(FaultKind.SERVER_ERROR, status=status)

    @classmethod
    def empty_4xx(cls, status: int = 400) -> Fault:
        """A 4xx with no body at all, as in "400 status code (no body)" (§2).

        >>> Fault.empty_4xx().status
        400
        """
        if not 400 <= status <= 499:
            raise ValueError(f"empty_4xx needs a 4xx status, got {status}")
        return cls(FaultKind.EMPTY_4XX, status=status)

    @classmethod
    def slow_first_byte(cls, seconds: float) -> Fault:
        """Delay the first body byte; a stream sends its headers first, then stalls.

        >>> Fault.slow_first_byte(0.5).seconds
        0.5
        """
        return cls(FaultKind.SLOW_FIRST_BYTE, seconds=float(seconds))

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Delay the whole response (nothing is sent for `seconds`).

        >>> Fault.latency(1).seconds
        1.0
        """
        return cls(FaultKind.LATENCY, seconds=float(seconds))

    @classmethod
    def drop_after(cls, n_chunks: int) -> Fault:
        """Close the connection abruptly after `n_chunks` SSE events, without `[DONE]`.

        A non-stream response sends its headers and, if `n_chunks > 0`, half of its body,
        then drops.

        >>> Fault.drop_after(0).count
        0
        """
        return cls(FaultKind.DROP_AFTER, count=max(int(n_chunks), 0))

    @classmethod
    def malformed_chunk(cls, at: int = 1) -> Fault:
        """Emit the line `data: {not json` as SSE event number `at` (0-based); then go on.

        >>> Fault.malformed_chunk(at=2).count
        2
        """
        return cls(FaultKind.MALFORMED_CHUNK, count=max(int(at), 0))

    @classmethod
    def null_choices(cls, count: int = 1) -> Fault:
        """Emit `count` extra chunks whose `choices` is null, right after the first chunk.

        >>> Fault.null_choices(count=2).count
        2
        """
        return cls(FaultKind.NULL_CHOICES, count=max(int(count), 1))

    @classmethod
    def tool_delta_no_index(cls) -> Fault:
        """Tool-call deltas carry no `index`; every delta of a call repeats the call's `id`.

        >>> Fault.tool_delta_no_index().kind.value
        'tool_delta_no_index'
        """
        return cls(FaultKind.TOOL_DELTA_NO_INDEX)

    @classmethod
    def tool_delta_id_first_only(cls) -> Fault:
        """Tool-call deltas carry no `index`, and only the first delta of each call has `id`.

        Later argument fragments carry neither, so a client must append them to the call most
        recently opened.

        >>> Fault.tool_delta_id_first_only().kind.value
        'tool_delta_id_first_only'
        """
        return cls(FaultKind.TOOL_DELTA_ID_FIRST_ONLY)

    @classmethod
    def shared_index_zero(cls) -> Fault:
        """Parallel tool calls all use `index` 0; only their distinct `id`s separate them.

        >>> Fault.shared_index_zero().kind.value
        'shared_index_zero'
        """
        return cls(FaultKind.SHARED_INDEX_ZERO)

    @classmethod
    def real_answer(cls, name: str) -> Fault:
        """One error answer of reference §8.1, verbatim, by its name in `errors.REAL_ANSWERS`
        (the named constructors below are the same, spelled out).

        >>> Fault.real_answer("model_retired").answer
        'model_retired'
        """
        if name not in REAL_ANSWERS:
            raise ValueError(f"unknown real answer {name!r}; known: {sorted(REAL_ANSWERS)}")
        return cls(FaultKind.REAL_ANSWER, status=REAL_ANSWERS[name]("m").status, answer=name)

    @classmethod
    def invalid_token(cls, legacy: bool = False) -> Fault:
        """401 for a bad token: the 2026 body, or with `legacy` the older typo shape (§8.1).

        >>> Fault.invalid_token(legacy=True).answer
        'legacy_invalid_token'
        """
        return cls.real_answer("legacy_invalid_token" if legacy else "invalid_token")

    @classmethod
    def missing_token(cls) -> Fault:
        """401 as for a request without a token: singular `error`, no quota headers (§8.1).

        >>> Fault.missing_token().status
        401
        """
        return cls.real_answer("missing_token")

    @classmethod
    def unbound_account(cls) -> Fault:
        """401 "Please bind your Alibaba Cloud account before use." (§8.1).

        >>> Fault.unbound_account().status
        401
        """
        return cls.real_answer("unbound_account")

    @classmethod
    def not_real_name_verified(cls) -> Fault:
        """403 "...associated Aliyun account is real name verified." (§8.1).

        >>> Fault.not_real_name_verified().status
        403
        """
        return cls.real_answer("not_real_name_verified")

    @classmethod
    def model_not_served(cls) -> Fault:
        """400 "Model id : <model> , has no provider supported", with quota headers (§8.1).

        >>> Fault.model_not_served().status
        400
        """
        return cls.real_answer("model_not_served")

    @classmethod
    def model_retired(cls) -> Fault:
        """429 `insufficient_balance_error` "insufficient balance (1008)", no headers (§8.1).

        >>> Fault.model_retired().status
        429
        """
        return cls.real_answer("model_retired")

    @classmethod
    def upstream_limit(cls) -> Fault:
        """429 `too_many_requests` "达到使用量上限" with quota headers showing calls left (§8.1).

        >>> Fault.upstream_limit().status
        429
        """
        return cls.real_answer("upstream_limit")

    @classmethod
    def request_limit(cls) -> Fault:
        """429 "Request limit exceeded." with no quota headers at all (§8.1, as pasted).

        >>> Fault.request_limit().status
        429
        """
        return cls.real_answer("request_limit")

    @property
    def replaces_response(self) -> bool:
        """True when the fault answers instead of the model (429, 5xx, 4xx, real answers)."""
        return self.kind in _REPLACING

    @property
    def stream_only(self) -> bool:
        """True when the fault only changes the shape of an SSE stream."""
        return self.kind in _STREAM_ONLY


@dataclass(frozen=True)
class StreamShape:
    """The stream-shaping faults that apply to one response, gathered in one value."""

    drop_after: int | None = None
    malformed_at: int | None = None
    null_choices: int = 0
    no_index: bool = False
    id_first_only: bool = True
    shared_index_zero: bool = False
    first_byte_delay: float = 0.0

    @classmethod
    def from_faults(cls, faults: list[Fault]) -> StreamShape:
        """Fold the faults armed for one request into a shape."""
        kinds = {f.kind: f for f in faults}
        drop = kinds.get(FaultKind.DROP_AFTER)
        bad = kinds.get(FaultKind.MALFORMED_CHUNK)
        nulls = kinds.get(FaultKind.NULL_CHOICES)
        no_index = FaultKind.TOOL_DELTA_NO_INDEX in kinds
        id_first = FaultKind.TOOL_DELTA_ID_FIRST_ONLY in kinds
        return cls(
            drop_after=None if drop is None else drop.count,
            malformed_at=None if bad is None else bad.count,
            null_choices=0 if nulls is None else nulls.count,
            no_index=no_index or id_first,
            # reference: OpenAI style sends the id on the first delta only; with no index the
            # id is repeated so calls stay separable, unless id_first_only asks otherwise.
            id_first_only=id_first or not no_index,
            shared_index_zero=FaultKind.SHARED_INDEX_ZERO in kinds,
            first_byte_delay=sum(f.seconds for f in faults if f.kind is FaultKind.SLOW_FIRST_BYTE),
        )


@dataclass
class _Armed:
    fault: Fault
    remaining: int | None
    model: str | None = field(default=None)


class FaultBook:
    """Thread-safe list of armed faults, consumed by matching requests in arming order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def arm(self, fault: Fault, times: int | None = 1, model: str | None = None) -> None:
        """Apply `fault` to the next `times` matching requests (`None`: until cleared)."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1, or None for every request")
        with self._lock:
            self._armed.append(_Armed(fault, times, model))

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def take(self, model: str, stream: bool) -> list[Fault]:
        """The faults for one request, in arming order.

        Stream-only faults wait for a streaming request, and at most one response-replacing
        fault is taken per request, so `inject(rate_limit, times=2)` then
        `inject(server_error())` gives 429, 429, 500.
        """
        if not self._armed:
            return []
        with self._lock:
            taken: list[Fault] = []
            replaced = False
            for armed in self._armed:
                if armed.model is not None and armed.model != model:
                    continue
                if armed.fault.stream_only and not stream:
                    continue
                if armed.fault.replaces_response:
                    if replaced:
                        continue
                    replaced = True
                taken.append(armed.fault)
                if armed.remaining is not None:
                    armed.remaining -= 1
            self._armed = [a for a in self._armed if a.remaining is None or a.remaining > 0]
            return taken
