"""Daily quota: the ``modelscope-ratelimit-*`` headers, the shared tracker, half-open probing.

ModelScope's free tier has a per-account and a lower per-model budget. The numbers change often
(reference: modelscope-api.md §3.1), so nothing here hard-codes them: the state is what the
service last said in its headers (§3.2), on every answer, errors included (§8.1). No header means
"unknown", never "fine" and never "spent".

Since the credits era (§8.2) a spent quota can come back within the day (credits granted, bought
or refunded), so a scope seen spent is refused locally only for ``probe_interval`` seconds; then
one real request (a circuit breaker's half-open probe) asks the service again.

Example:
    >>> tracker = tracker_for(api_key, base_url)
    >>> tracker.record("Qwen/Qwen3-32B", response.headers)
    >>> tracker.status("Qwen/Qwen3-32B").model_remaining
    499
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from modelscope_inference.catalog import is_provider_routed
from modelscope_inference.leases import keeper
from modelscope_inference.ratelimit import (
    ACCOUNT_LIMIT_HEADER as ACCOUNT_LIMIT_HEADER,
)
from modelscope_inference.ratelimit import (
    ACCOUNT_REMAINING_HEADER as ACCOUNT_REMAINING_HEADER,
)
from modelscope_inference.ratelimit import (
    AIGC_POOL as AIGC_POOL,
)
from modelscope_inference.ratelimit import (
    DEFAULT_PROBE_INTERVAL as DEFAULT_PROBE_INTERVAL,
)
from modelscope_inference.ratelimit import (
    MODEL_LIMIT_HEADER as MODEL_LIMIT_HEADER,
)
from modelscope_inference.ratelimit import (
    MODEL_REMAINING_HEADER as MODEL_REMAINING_HEADER,
)
from modelscope_inference.ratelimit import (
    QUOTA_HEADERS as QUOTA_HEADERS,
)
from modelscope_inference.ratelimit import (
    SHANGHAI as SHANGHAI,
)
from modelscope_inference.ratelimit import (
    USUAL_RESET as USUAL_RESET,
)
from modelscope_inference.ratelimit import (
    Clock as Clock,
)
from modelscope_inference.ratelimit import (
    QuotaScope as QuotaScope,
)
from modelscope_inference.ratelimit import (
    QuotaStatus as QuotaStatus,
)
from modelscope_inference.ratelimit import (
    account_pool as account_pool,
)
from modelscope_inference.ratelimit import (
    check_probe_interval as check_probe_interval,
)
from modelscope_inference.ratelimit import (
    count_from_header as count_from_header,
)
from modelscope_inference.ratelimit import (
    next_reset as next_reset,
)
from modelscope_inference.ratelimit import (
    parse_quota_headers as parse_quota_headers,
)
from modelscope_inference.ratelimit import (
    reset_sentence as reset_sentence,
)
from modelscope_inference.ratelimit import (
    utc_now as utc_now,
)
from modelscope_inference.store import MEMORY_URL, StateStore, namespace, open_store

_Key = tuple[QuotaScope, str]  # ("account", ""), ("account", "aigc") or ("model", model id)


@dataclass
class _Counts:
    limit: int | None = None
    remaining: int | None = None
    seen_at: datetime | None = None

    def spent(self, now: datetime) -> bool:
        return self.remaining == 0 and self.seen_at is not None and now < next_reset(self.seen_at)


@dataclass(frozen=True)
class Admission:
    """The tracker's answer to "may a call to this model go out now?".

    ``refused`` is the scope known to be spent (no request may go); otherwise the call goes,
    and ``probes`` lists the spent scopes it is the one half-open probe for: hand the admission
    back to :meth:`QuotaTracker.release` when the answer (or the failure) is in.

    Example:
        >>> admission = tracker.admit("Qwen/Qwen3-32B", probe_interval=300)
        >>> admission.refused is None
        True
    """

    refused: QuotaScope | None = None
    seen_at: datetime | None = None
    next_probe_at: datetime | None = None
    probe_in_flight: bool = False
    probes: tuple[_Key, ...] = ()
    claims: tuple[tuple[str, str], ...] = ()  # (store key, claim token) of a shared store


_OPEN = Admission()


@dataclass
class QuotaTracker:
    """The quota state shared by every client with the same token and base URL.

    Thread- and task-safe: updates are short critical sections under one lock, never held
    across I/O. ``clock`` is injectable (tests never sleep). Get the shared instance with
    :func:`tracker_for`.

    With a shared ``store`` (SQLite, Redis: docs/state.md) the figures live there, under
    ``namespace`` (a hash of token and base URL): each decision reads them first, each answer
    writes them, and the half-open probe is a claim in the store, so one probe at a time holds
    across processes and hosts. Without one (the default) nothing but this object is touched.

    Example:
        >>> tracker.spent_scope("Qwen/Qwen3-32B")  # None unless known exhausted
    """

    clock: Clock = utc_now
    _account: _Counts = field(default_factory=_Counts)
    _aigc: _Counts = field(default_factory=_Counts)
    _models: dict[str, _Counts] = field(default_factory=dict)
    _probing: set[_Key] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    store: StateStore | None = None
    namespace: str = ""
    # Whether any scope was ever seen at 0: until then (nearly always) ``admit`` has nothing
    # to check and answers at once, without the clock (bench: concurrency).
    _zero_seen: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        # The in-process store shares nothing: this object's own fields are that state.
        self._shared = self.store if self.store is not None and self.store.shared else None

    def record(
        self, model: str, headers: Mapping[str, str], *, success: bool = False
    ) -> QuotaStatus | None:
        """Update the state from one answer's headers (any status); returns the status they
        carried. A ``success`` (2xx) also proves that no scope it lacks figures for was spent:
        such a scope becomes unknown (reference: modelscope-api.md §8.1, §8.2).

        Example:
            >>> tracker.record("Qwen/Qwen3-32B", {"modelscope-ratelimit-requests-remaining": "7"})
        """
        now = self.clock()
        status = parse_quota_headers(headers, model=model, now=now)
        with self._lock:
            if status is not None:
                self._update(model, status)
            if success and self._zero_seen:  # nothing seen spent: nothing to clear
                self._clear_unreported(model, status, now)
        if self._shared is not None and (status is not None or success):
            self._push(model)
        return status

    def _update(self, model: str, status: QuotaStatus) -> None:
        if status.account_remaining is not None or status.account_limit is not None:
            counts = _Counts(status.account_limit, status.account_remaining, status.seen_at)
            self._set_account(model, counts)
        if status.model_remaining is not None or status.model_limit is not None:
            self._set_model(
                model, _Counts(status.model_limit, status.model_remaining, status.seen_at)
            )

    def _clear_unreported(self, model: str, status: QuotaStatus | None, now: datetime) -> None:
        """A 2xx without figures for a scope seen spent: that scope had calls after all."""
        reported = status or QuotaStatus()
        account = self._account_of(model)
        if reported.account_remaining is None and account.spent(now):
            self._set_account(model, replace(account, remaining=None, seen_at=now))
        counts = self._models.get(model)
        if reported.model_remaining is None and counts is not None and counts.spent(now):
            self._set_model(model, replace(counts, remaining=None, seen_at=now))

    def mark_exhausted(self, scope: QuotaScope, model: str) -> None:
        """Record a spent scope learned from a 429 body when the headers were missing."""
        now = self.clock()
        with self._lock:
            if scope == "account":
                self._set_account(model, replace(self._account_of(model), remaining=0, seen_at=now))
            else:
                counts = self._models.get(model, _Counts())
                self._set_model(model, replace(counts, remaining=0, seen_at=now))
        if self._shared is not None:
            self._push(model)

    def _account_of(self, model: str) -> _Counts:
        """The account budget ``model`` draws on: AIGC's for image models, else chat's."""
        return self._aigc if account_pool(model) else self._account

    def _set_model(self, model: str, counts: _Counts) -> None:
        self._models[model] = counts
        if counts.remaining == 0:
            self._zero_seen = True

    def _set_account(self, model: str, counts: _Counts) -> None:
        if counts.remaining == 0:
            self._zero_seen = True
        if account_pool(model):
            self._aigc = counts
        else:
            self._account = counts

    def _scopes(self, model: str) -> Iterator[tuple[_Key, _Counts]]:
        # reference: modelscope-api.md §8.3, a provider-routed id (`Org/Model:Provider`) is
        # exempt from the free tier: a spent account does not hold it back.
        if not is_provider_routed(model):
            yield ("account", account_pool(model)), self._account_of(model)
        counts = self._models.get(model)
        if counts is not None:
            yield ("model", model), counts

    def spent_scope(self, model: str) -> QuotaScope | None:
        """The scope last seen at 0 for ``model`` (before its usual reset), else None. What is
        known, not whether a call may go: see :meth:`admit`."""
        if self._shared is not None:
            self._pull(model)
        now = self.clock()
        with self._lock:
            for (scope, _), counts in self._scopes(model):
                if counts.spent(now):
                    return scope
        return None

    def admit(self, model: str, *, probe_interval: float = DEFAULT_PROBE_INTERVAL) -> Admission:
        """May a call to ``model`` go out? Refused while a scope seen spent is younger than
        ``probe_interval`` seconds, or while another call probes it; else admitted, as the one
        probe when a spent scope is due (release it afterwards). ``0`` admits every call.

        Example:
            >>> admission = tracker.admit("Qwen/Qwen3-32B", probe_interval=300)
            >>> try: send()
            ... finally: tracker.release(admission)
        """
        if probe_interval <= 0 or (self._shared is None and not self._zero_seen):
            return _OPEN
        if self._shared is not None:
            self._pull(model)
        now = self.clock()
        wait = timedelta(seconds=probe_interval)
        with self._lock:
            spent = [(key, c) for key, c in self._scopes(model) if c.spent(now)]
            if not spent or probe_interval <= 0:
                return _OPEN
            for (scope, name), counts in spent:
                assert counts.seen_at is not None  # spent() checked it
                due = counts.seen_at + wait
                busy = (scope, name) in self._probing
                if now < due or busy:
                    return Admission(scope, counts.seen_at, due, probe_in_flight=busy)
            probes = tuple(key for key, _ in spent)
            self._probing.update(probes)
        if self._shared is None:
            return Admission(probes=probes)
        return self._claim_probes(model, probes, wait)

    def release(self, admission: Admission) -> None:
        """End the probe ``admission`` was (nothing for an ordinary admission). What the answer
        said was recorded meanwhile: a scope still spent restarts its interval, a scope that
        came back lets calls flow, and after a failure without figures the next call probes."""
        if admission.probes:
            with self._lock:
                self._probing.difference_update(admission.probes)
        if self._shared is not None:
            for key, token in admission.claims:
                keeper().drop(("claim", id(self._shared), key, token))
                self._shared.unclaim(key, token)

    def status(self, model: str | None = None) -> QuotaStatus:
        """The last-seen counts: the account's, and ``model``'s when given."""
        if self._shared is not None:
            self._pull(model or "")
        with self._lock:
            account = self._account_of(model) if model else self._account
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

    def forget(self, model: str | None = None) -> None:
        """Forget figures and refusals: the account's and ``model``'s, or everything when
        ``model`` is None. The next call asks the service (after buying credits, say).

        Example:
            >>> client.quota.forget("Qwen/Qwen3-32B")
        """
        with self._lock:
            self._account = _Counts()
            self._aigc = _Counts()
            self._probing.difference_update({("account", ""), ("account", AIGC_POOL)})
            if model is None:
                self._models.clear()
                self._probing.clear()
            else:
                self._models.pop(model, None)
                self._probing.discard(("model", model))
        if self._shared is not None:
            pools: list[_Key] = [("account", ""), ("account", AIGC_POOL)]
            keys = [self._store_key(k) for k in ([*pools, ("model", model)] if model else pools)]
            prefix = None if model else f"{self.namespace}:quota:"
            self._shared.delete(keys, prefix=prefix)

    def reset(self) -> None:
        """Forget everything; the same as ``forget()``."""
        self.forget()

    # -- the shared store (none by default: these are never reached then) -----------------------

    def _store_key(self, key: _Key, kind: str = "counts") -> str:
        scope, name = key
        return f"{self.namespace}:quota:{kind}:{scope}:{name}"

    def _pull(self, model: str) -> None:
        """Take the store's figures for ``model``'s scopes as this process's: the store is
        the truth, so a scope it lacks (forgotten elsewhere) is unknown here too."""
        assert self._shared is not None
        account_key: _Key = ("account", account_pool(model))
        keys = [account_key, ("model", model)] if model else [account_key]
        found = self._shared.get_records([self._store_key(k) for k in keys])
        counts = {k: _counts_from(found.get(self._store_key(k))) for k in keys}
        with self._lock:
            self._set_account(model, counts[account_key] or _Counts())
            if model:
                model_counts = counts[("model", model)]
                if model_counts is None:
                    self._models.pop(model, None)
                else:
                    self._set_model(model, model_counts)

    def _push(self, model: str) -> None:
        """Write ``model``'s scopes to the store; an older write never replaces a newer one."""
        assert self._shared is not None
        with self._lock:
            scopes = list(self._scopes_any(model))
        for key, counts in scopes:
            if counts.seen_at is not None:
                record = _record_of(counts)
                self._shared.put_record(self._store_key(key), record, stamp=record["seen_at"])

    def _scopes_any(self, model: str) -> Iterator[tuple[_Key, _Counts]]:
        """Like :meth:`_scopes`, provider-routed ids' account figures included."""
        yield ("account", account_pool(model)), self._account_of(model)
        counts = self._models.get(model)
        if counts is not None:
            yield ("model", model), counts

    def _claim_probes(self, model: str, probes: tuple[_Key, ...], wait: timedelta) -> Admission:
        """Claim each probe in the store too (one prober across processes). Refused, as a probe
        in flight, while another process holds one; with the claims, the figures are read
        again: a prober that finished between our read and our claim has written a fresh
        refusal (or a quota that came back), and a second probe must not follow it."""
        assert self._shared is not None
        claims: list[tuple[str, str]] = []
        for key in probes:
            token = self._shared.claim(self._store_key(key, "probe"))
            if token is None:
                self.release(Admission(probes=probes, claims=tuple(claims)))
                return Admission(key[0], None, None, probe_in_flight=True)
            claims.append((self._store_key(key, "probe"), token))
        admission = Admission(probes=probes, claims=tuple(claims))
        self._pull(model)
        now = self.clock()
        with self._lock:
            still = [(key, c) for key, c in self._scopes(model) if c.spent(now)]
        for (scope, _), counts in still:
            assert counts.seen_at is not None  # spent() checked it
            if now < counts.seen_at + wait:
                self.release(admission)
                return Admission(scope, counts.seen_at, counts.seen_at + wait)
        if not still:
            self.release(admission)
            return _OPEN
        self._keep(admission)
        return admission

    def _keep(self, admission: Admission) -> None:
        """Renew the probe's claims while its request runs (with its retries, it may outlast
        the claim's lease): another process must not probe too while this one still is."""
        assert self._shared is not None
        store = self._shared
        for key, token in admission.claims:
            renew = functools.partial(store.renew_claim, key, token)
            keeper().keep(("claim", id(store), key, token), renew, store.lease / 3)


def _record_of(counts: _Counts) -> dict[str, Any]:
    assert counts.seen_at is not None
    return {
        "limit": counts.limit,
        "remaining": counts.remaining,
        "seen_at": counts.seen_at.timestamp(),
    }


def _counts_from(record: Mapping[str, Any] | None) -> _Counts | None:
    """A stored record as counts; None when absent or not what :func:`_record_of` writes."""
    if record is None or not isinstance(record.get("seen_at"), (int, float)):
        return None
    limit, remaining = record.get("limit"), record.get("remaining")
    return _Counts(
        limit if isinstance(limit, int) else None,
        remaining if isinstance(remaining, int) else None,
        datetime.fromtimestamp(record["seen_at"], timezone.utc),
    )


_trackers: dict[tuple[str, str, str], QuotaTracker] = {}
_trackers_lock = threading.Lock()


def tracker_for(api_key: str, base_url: str, state: str = MEMORY_URL) -> QuotaTracker:
    """The one tracker for this token, base URL and state store, shared by all instances and
    frameworks. The key holds a hash of the token, never the token itself.

    Example:
        >>> tracker_for("ms-xxxx", base_url, "sqlite:///state.db").store.url
        'sqlite:///state.db'
    """
    key = (hashlib.sha256(api_key.encode()).hexdigest(), base_url.rstrip("/"), state)
    with _trackers_lock:
        tracker = _trackers.get(key)
        if tracker is None:
            store = None if state == MEMORY_URL else open_store(state)
            tracker = QuotaTracker(store=store, namespace=namespace(api_key, base_url))
            _trackers[key] = tracker
        return tracker
