"""Shared state: what one process learns that others on the same token should know.

One small interface, :class:`StateStore`, with three implementations side by side:

- ``memory://`` (the default): :class:`MemoryStore`, this process only (today's behaviour);
- ``sqlite:///path``: :class:`SQLiteStore`, processes on one machine, an embedded file
  (stdlib ``sqlite3``, WAL mode, ``BEGIN IMMEDIATE`` for atomic claims), no server;
- ``redis://host:port/db``: :class:`RedisStore`, many hosts (the ``[redis]`` extra, redis-py;
  Lua scripts for atomic updates; every key expires, so stale state ages out).

What it holds, as plain data under string keys the callers build (never naming a token: see
:func:`namespace`): records kept newest-first (the quota counts), claims with an expiry (the
one half-open probe at a time, across processes), learned concurrency limits, and slot counts
with leases that expire (a crashed worker's slots come back). Nothing framework-specific.

Example:
    >>> store = open_store("sqlite:////tmp/modelscope-state.db")
    >>> lease = store.acquire_slot("ns:slots:Qwen/Qwen3-32B", capacity=4, lease=30)
    >>> store.release_slot("ns:slots:Qwen/Qwen3-32B", lease.token)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

from modelscope_inference._lazy import errors

if TYPE_CHECKING:
    import redis

STATE_ENV_VAR = "MODELSCOPE_STATE"
MEMORY_URL = "memory://"
DEFAULT_LEASE = 120.0
"""Seconds a probe claim or a slot lease lives unless renewed: longer than one request with
its retries usually takes, short enough that a crashed worker does not block others for long."""
RECORD_TTL = 2 * 86400.0
"""Seconds a record (quota counts) outlives its last write: past the next daily reset, so a
spent quota is never forgotten early, and stale state ages out."""
LIMIT_TTL = 86400.0
"""Seconds a learned concurrency limit outlives its last write."""

Record = dict[str, Any]
Clock = Callable[[], float]


class Lease(NamedTuple):
    """A slot lease: its token (to renew or release it), and how many live leases its key had
    once it was taken, itself included (the concurrency it makes across every holder).

    Example:
        >>> store.acquire_slot("ns:slots:m", capacity=4)
        Lease(token='5f0c...', level=1)
    """

    token: str
    level: int


def namespace(api_key: str, base_url: str) -> str:
    """The key prefix for one token and base URL: a hash, so no key names the token.

    Example:
        >>> len(namespace("ms-xxxx", "https://api-inference.modelscope.cn/v1"))
        32
    """
    digest = hashlib.sha256(f"{api_key}\n{base_url.rstrip('/')}".encode()).hexdigest()
    return digest[:32]


class StateStore(ABC):
    """What processes on one token share. Keys are strings the caller builds (prefix them
    with :func:`namespace`); values are JSON-able dicts. Every method is atomic.

    Example:
        >>> store = open_store("memory://")
        >>> claim = store.claim("ns:probe:model:Qwen/Qwen3-32B", ttl=60)
        >>> store.claim("ns:probe:model:Qwen/Qwen3-32B", ttl=60) is None  # one at a time
        True
    """

    url: str = MEMORY_URL
    lease: float = DEFAULT_LEASE
    """Seconds claims and slot leases live by default (``?lease=`` in the URL)."""
    shared: bool = True
    """False for the in-process store: a caller keeping its own state needs no copy."""

    # -- records: newest wins -----------------------------------------------------------------

    @abstractmethod
    def get_records(self, keys: Sequence[str]) -> dict[str, Record]:
        """The live records among ``keys`` (missing or expired ones are absent)."""

    @abstractmethod
    def put_record(self, key: str, value: Record, *, stamp: float, ttl: float = RECORD_TTL) -> bool:
        """Store ``value`` unless the stored one has a later ``stamp`` (a slower process must
        not overwrite what another learned since); True when written."""

    @abstractmethod
    def delete(self, keys: Sequence[str] = (), *, prefix: str | None = None) -> None:
        """Delete ``keys`` (records, claims, limits), and every key starting with ``prefix``."""

    # -- claims: one holder at a time, with an expiry ------------------------------------------

    @abstractmethod
    def claim(self, key: str, *, ttl: float | None = None) -> str | None:
        """Take ``key`` for ``ttl`` seconds (default :attr:`lease`); the claim's token, or None
        when another holder's claim is live. An expired claim is free: a crashed holder never
        blocks forever."""

    @abstractmethod
    def unclaim(self, key: str, token: str) -> None:
        """Give ``key`` back, only if ``token`` still holds it."""

    @abstractmethod
    def renew_claim(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Extend a held claim by ``ttl`` seconds; False when it had expired (and may be held
        by someone else now).

        Example:
            >>> store.renew_claim("ns:probe:model:m", claim, ttl=60)
            True
        """

    # -- learned limits -------------------------------------------------------------------------

    def get_limit(self, key: str) -> float | None:
        """The concurrency limit last learned for ``key``, or None.

        Example:
            >>> store.set_limit(f"{ns}:limit:Qwen/Qwen3-32B", 4.0); store.get_limit(...)
            4.0
        """
        record = self.get_records([key]).get(key)
        value = record.get("limit") if record else None
        return float(value) if isinstance(value, (int, float)) else None

    def set_limit(self, key: str, value: float, *, ttl: float = LIMIT_TTL) -> None:
        """Share the concurrency limit learned for ``key`` (the last writer wins)."""
        self.put_record(key, {"limit": float(value)}, stamp=time.time(), ttl=ttl)

    # -- slots with leases ------------------------------------------------------------------

    @abstractmethod
    def acquire_slot(self, key: str, capacity: int, *, lease: float | None = None) -> Lease | None:
        """One of ``capacity`` slots of ``key`` for ``lease`` seconds: its :class:`Lease`, or
        None when all are held. Expired leases (crashed holders) are freed first.

        Example:
            >>> lease = store.acquire_slot("ns:slots:m", capacity=2, lease=30)
        """

    @abstractmethod
    def renew_slot(self, key: str, token: str, *, lease: float | None = None) -> bool:
        """Extend a held lease by ``lease`` seconds; False when it had expired (and may be
        taken by someone else: stop, or acquire again)."""

    @abstractmethod
    def release_slot(self, key: str, token: str) -> None:
        """Give a slot back (nothing if its lease already expired)."""

    @abstractmethod
    def slots_in_use(self, key: str) -> int:
        """How many live leases ``key`` has."""

    # -- lifecycle ------------------------------------------------------------------------------

    def ping(self) -> None:  # noqa: B027 - optional hook: nothing to check in memory
        """Raise :class:`StateStoreError` when the store cannot be used (checked at open)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (the store reconnects on next use)."""

    def _ttl(self, ttl: float | None) -> float:
        return self.lease if ttl is None else ttl


def _token() -> str:
    return uuid.uuid4().hex


# --- in-process ------------------------------------------------------------------------------


class MemoryStore(StateStore):
    """This process only: dicts under one lock (the default; nothing is shared).

    Example:
        >>> MemoryStore().acquire_slot("m", capacity=1) is not None
        True
    """

    shared = False

    def __init__(self, *, lease: float = DEFAULT_LEASE, clock: Clock = time.monotonic) -> None:
        self.lease = lease
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, tuple[Record, float, float]] = {}  # value, stamp, expires
        self._claims: dict[str, tuple[str, float]] = {}  # token, expires
        self._slots: dict[str, dict[str, float]] = {}  # token -> expires

    def get_records(self, keys: Sequence[str]) -> dict[str, Record]:
        now = self._clock()
        with self._lock:
            found = {k: self._records.get(k) for k in keys}
        return {k: dict(v[0]) for k, v in found.items() if v is not None and v[2] > now}

    def put_record(self, key: str, value: Record, *, stamp: float, ttl: float = RECORD_TTL) -> bool:
        now = self._clock()
        with self._lock:
            old = self._records.get(key)
            if old is not None and old[2] > now and old[1] > stamp:
                return False
            self._records[key] = (dict(value), stamp, now + ttl)
        return True

    def delete(self, keys: Sequence[str] = (), *, prefix: str | None = None) -> None:
        with self._lock:
            for table in (self._records, self._claims, self._slots):
                doomed = [k for k in table if k in keys or (prefix and k.startswith(prefix))]
                for k in doomed:
                    del table[k]

    def claim(self, key: str, *, ttl: float | None = None) -> str | None:
        now = self._clock()
        with self._lock:
            held = self._claims.get(key)
            if held is not None and held[1] > now:
                return None
            token = _token()
            self._claims[key] = (token, now + self._ttl(ttl))
        return token

    def unclaim(self, key: str, token: str) -> None:
        with self._lock:
            if self._claims.get(key, ("",))[0] == token:
                del self._claims[key]

    def renew_claim(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        now = self._clock()
        with self._lock:
            held = self._claims.get(key)
            if held is None or held[0] != token or held[1] <= now:
                return False
            self._claims[key] = (token, now + self._ttl(ttl))
        return True

    def _live_slots(self, key: str, now: float) -> dict[str, float]:
        slots = self._slots.setdefault(key, {})
        for token in [t for t, expires in slots.items() if expires <= now]:
            del slots[token]
        return slots

    def acquire_slot(self, key: str, capacity: int, *, lease: float | None = None) -> Lease | None:
        now = self._clock()
        with self._lock:
            slots = self._live_slots(key, now)
            if len(slots) >= capacity:
                return None
            token = _token()
            slots[token] = now + self._ttl(lease)
            return Lease(token, len(slots))

    def renew_slot(self, key: str, token: str, *, lease: float | None = None) -> bool:
        now = self._clock()
        with self._lock:
            slots = self._live_slots(key, now)
            if token not in slots:
                return False
            slots[token] = now + self._ttl(lease)
        return True

    def release_slot(self, key: str, token: str) -> None:
        with self._lock:
            self._slots.get(key, {}).pop(token, None)

    def slots_in_use(self, key: str) -> int:
        now = self._clock()
        with self._lock:
            return len(self._live_slots(key, now))


# --- SQLite ----------------------------------------------------------------------------------

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records "
    "(key TEXT PRIMARY KEY, value TEXT NOT NULL, stamp REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS claims "
    "(key TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS slots "
    "(key TEXT NOT NULL, token TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, token))",
)
_BUSY_TIMEOUT = 30.0  # seconds a writer waits for another's transaction (WAL: writers queue)


class SQLiteStore(StateStore):
    """Processes on one machine, through one SQLite file (WAL mode; ``BEGIN IMMEDIATE`` takes
    the write lock up front, so read-then-write steps are atomic across processes). Times are
    the wall clock (``time.time``): every process on the machine reads the same one.

    Example:
        >>> store = SQLiteStore("/tmp/modelscope-state.db")
        >>> store.claim("ns:probe:model:m", ttl=60) is not None
        True
    """

    def __init__(
        self, path: str, *, lease: float = DEFAULT_LEASE, clock: Clock = time.time
    ) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.lease = lease
        self._clock = clock
        self._local = threading.local()  # sqlite3 connections belong to one thread

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection; a fresh one after ``fork`` (a parent's is unusable)."""
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "conn", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable enough, fast
            for statement in _SCHEMA:
                conn.execute(statement)
        except sqlite3.Error as exc:
            raise _unusable(self.url, exc) from None
        self._local.conn = (os.getpid(), conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the database's write lock from its first statement."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _unusable(self.url, exc) from None

    def get_records(self, keys: Sequence[str]) -> dict[str, Record]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        query = f"SELECT key, value FROM records WHERE key IN ({marks}) AND expires > ?"
        try:
            rows = self._connection().execute(query, (*keys, self._clock())).fetchall()
        except sqlite3.Error as exc:
            raise _unusable(self.url, exc) from None
        return {key: json.loads(value) for key, value in rows}

    def put_record(self, key: str, value: Record, *, stamp: float, ttl: float = RECORD_TTL) -> bool:
        now = self._clock()
        with self._write() as conn:
            row = conn.execute(
                "SELECT stamp FROM records WHERE key = ? AND expires > ?", (key, now)
            ).fetchone()
            if row is not None and row[0] > stamp:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)",
                (key, json.dumps(value), stamp, now + ttl),
            )
            conn.execute("DELETE FROM records WHERE expires <= ?", (now,))  # age out
        return True

    def delete(self, keys: Sequence[str] = (), *, prefix: str | None = None) -> None:
        with self._write() as conn:
            for table in ("records", "claims", "slots"):
                conn.executemany(f"DELETE FROM {table} WHERE key = ?", [(k,) for k in keys])
                if prefix:
                    conn.execute(
                        f"DELETE FROM {table} WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
                    )

    def claim(self, key: str, *, ttl: float | None = None) -> str | None:
        now = self._clock()
        with self._write() as conn:
            row = conn.execute(
                "SELECT 1 FROM claims WHERE key = ? AND expires > ?", (key, now)
            ).fetchone()
            if row is not None:
                return None
            token = _token()
            conn.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (key, token, now + self._ttl(ttl))
            )
        return token

    def unclaim(self, key: str, token: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM claims WHERE key = ? AND token = ?", (key, token))

    def renew_claim(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        now = self._clock()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE claims SET expires = ? WHERE key = ? AND token = ? AND expires > ?",
                (now + self._ttl(ttl), key, token, now),
            )
            return cursor.rowcount == 1

    def acquire_slot(self, key: str, capacity: int, *, lease: float | None = None) -> Lease | None:
        now = self._clock()
        with self._write() as conn:
            conn.execute("DELETE FROM slots WHERE key = ? AND expires <= ?", (key, now))
            (held,) = conn.execute("SELECT count(*) FROM slots WHERE key = ?", (key,)).fetchone()
            if held >= capacity:
                return None
            token = _token()
            conn.execute("INSERT INTO slots VALUES (?, ?, ?)", (key, token, now + self._ttl(lease)))
        return Lease(token, int(held) + 1)

    def renew_slot(self, key: str, token: str, *, lease: float | None = None) -> bool:
        now = self._clock()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE slots SET expires = ? WHERE key = ? AND token = ? AND expires > ?",
                (now + self._ttl(lease), key, token, now),
            )
            return cursor.rowcount == 1

    def release_slot(self, key: str, token: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM slots WHERE key = ? AND token = ?", (key, token))

    def slots_in_use(self, key: str) -> int:
        try:
            (held,) = (
                self._connection()
                .execute(
                    "SELECT count(*) FROM slots WHERE key = ? AND expires > ?", (key, self._clock())
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise _unusable(self.url, exc) from None
        return int(held)

    def ping(self) -> None:
        self._connection()

    def close(self) -> None:
        held = getattr(self._local, "conn", None)
        if held is not None:
            self._local.conn = None
            if held[0] == os.getpid():
                held[1].close()


# --- Redis -----------------------------------------------------------------------------------

# Each script is one atomic step on the server; times are the server's (TIME), so hosts with
# skewed clocks still agree on when a lease expires.
_PUT_NEWER = """
local old = redis.call('HGET', KEYS[1], 'stamp')
if old and tonumber(old) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'stamp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
_UNCLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_NOW_MS = "local t = redis.call('TIME'); local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
_ACQUIRE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return redis.call('ZCARD', KEYS[1])
"""
)
_RENEW = (
    _NOW_MS
    + """
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
"""
)
_IN_USE = _NOW_MS + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')\n"
_KEY_PREFIX = "modelscope:"


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class RedisStore(StateStore):
    """Many hosts, through one Redis server (the ``[redis]`` extra). Records are hashes, claims
    ``SET NX PX`` keys, slots sorted sets scored by lease expiry; every key has a TTL.

    Example:
        >>> store = RedisStore("redis://127.0.0.1:6379/0")
        >>> store.acquire_slot("ns:slots:m", capacity=4, lease=30)
        Lease(token='5f0c...', level=1)
    """

    def __init__(self, url: str, *, lease: float = DEFAULT_LEASE) -> None:
        try:
            import redis
        except ImportError:
            raise errors.ConfigurationError(
                f"{STATE_ENV_VAR}={_redact(url)} needs redis-py: "
                "pip install 'modelscope-inference[redis]'."
            ) from None
        self.url = url
        self.lease = lease
        self._redis: redis.Redis = redis.Redis.from_url(url, socket_timeout=10)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._scripts = {
            name: self._redis.register_script(source)
            for name, source in (
                ("put", _PUT_NEWER),
                ("unclaim", _UNCLAIM),
                ("renew_claim", _RENEW_CLAIM),
                ("acquire", _ACQUIRE),
                ("renew", _RENEW),
                ("in_use", _IN_USE),
            )
        }

    @contextmanager
    def _calls(self) -> Iterator[None]:
        """Redis failures as :class:`StateStoreError` naming the URL (password hidden)."""
        try:
            yield
        except self._errors as exc:
            raise _unusable(_redact(self.url), exc) from None

    def _run(self, script: str, key: str, *args: Any) -> int:
        with self._calls():
            return int(self._scripts[script](keys=[_KEY_PREFIX + key], args=list(args)))

    def get_records(self, keys: Sequence[str]) -> dict[str, Record]:
        with self._calls(), self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(_KEY_PREFIX + key, "value")
            values = pipe.execute()
        return {k: json.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def put_record(self, key: str, value: Record, *, stamp: float, ttl: float = RECORD_TTL) -> bool:
        return self._run("put", key, json.dumps(value), repr(stamp), _ms(ttl)) == 1

    def delete(self, keys: Sequence[str] = (), *, prefix: str | None = None) -> None:
        with self._calls():
            doomed = [_KEY_PREFIX + k for k in keys]
            if prefix:
                doomed += list(self._redis.scan_iter(match=_KEY_PREFIX + _glob(prefix) + "*"))
            if doomed:
                self._redis.delete(*doomed)

    def claim(self, key: str, *, ttl: float | None = None) -> str | None:
        token = _token()
        with self._calls():
            taken = self._redis.set(_KEY_PREFIX + key, token, nx=True, px=_ms(self._ttl(ttl)))
        return token if taken else None

    def unclaim(self, key: str, token: str) -> None:
        self._run("unclaim", key, token)

    def renew_claim(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        return self._run("renew_claim", key, token, _ms(self._ttl(ttl))) == 1

    def acquire_slot(self, key: str, capacity: int, *, lease: float | None = None) -> Lease | None:
        token = _token()
        level = self._run("acquire", key, capacity, token, _ms(self._ttl(lease)))
        return Lease(token, level) if level else None

    def renew_slot(self, key: str, token: str, *, lease: float | None = None) -> bool:
        return self._run("renew", key, token, _ms(self._ttl(lease))) == 1

    def release_slot(self, key: str, token: str) -> None:
        with self._calls():
            self._redis.zrem(_KEY_PREFIX + key, token)

    def slots_in_use(self, key: str) -> int:
        return self._run("in_use", key)

    def ping(self) -> None:
        with self._calls():
            self._redis.ping()

    def close(self) -> None:
        self._redis.close()


def _glob(text: str) -> str:
    """``text`` with Redis glob characters escaped (model ids hold no such, but be exact)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


# --- opening by URL --------------------------------------------------------------------------


def _unusable(url: str, exc: BaseException) -> Exception:
    return errors.StateStoreError(
        f"Could not use the shared state store {url} ({type(exc).__name__}: {exc}). Start or "
        f"fix it, point {STATE_ENV_VAR} / state= elsewhere, or unset it to keep quota state "
        "per process (docs/state.md)."
    )


def _redact(url: str) -> str:
    """``url`` without its password (``redis://:secret@host`` is a common spelling)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit(parts._replace(netloc=netloc))


def _lease(url: str, query: str) -> float:
    raw = parse_qs(query).get("lease", [str(DEFAULT_LEASE)])[-1]
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise errors.ConfigurationError(
            f"{STATE_ENV_VAR}={_redact(url)}: lease must be a number of seconds > 0, got {raw!r}."
        )
    return value


def _build(url: str) -> StateStore:
    """A new store for ``url`` (no I/O yet), or :class:`ConfigurationError` naming the forms."""
    scheme, _, rest = url.partition("://")
    path, _, query = rest.partition("?")
    if scheme == "memory":
        return MemoryStore(lease=_lease(url, query))
    if scheme == "sqlite" and path.startswith("/") and path != "/":
        # SQLAlchemy's spelling: sqlite:///relative.db, sqlite:////absolute.db
        return SQLiteStore(path[1:], lease=_lease(url, query))
    if scheme in ("redis", "rediss", "unix"):
        lease = _lease(url, query)
        plain = urlunsplit(urlsplit(url)._replace(query=_without_lease(query)))
        return RedisStore(plain, lease=lease)
    raise errors.ConfigurationError(
        f"{STATE_ENV_VAR} / state= must be memory://, sqlite:///path/to/file.db or "
        f"redis://host:port/db, got {_redact(url)!r} (docs/state.md)."
    )


def _without_lease(query: str) -> str:
    return "&".join(p for p in query.split("&") if p and not p.startswith("lease="))


def check_state_url(url: str | None) -> str:
    """``url`` checked (no I/O), as the canonical URL: :data:`MEMORY_URL` when empty. A bad one
    is a :class:`ConfigurationError` before any request.

    Example:
        >>> check_state_url(None)
        'memory://'
    """
    text = (url or "").strip() or MEMORY_URL
    if "://" not in text:
        raise errors.ConfigurationError(
            f"{STATE_ENV_VAR} / state= must be a URL such as sqlite:///state.db or "
            f"redis://localhost:6379/0, got {_redact(text)!r} (docs/state.md)."
        )
    _build(text)  # validates scheme, path and lease; a redis client connects lazily
    return text


_stores: dict[str, StateStore] = {}
_stores_lock = threading.Lock()


def open_store(url: str | None = None) -> StateStore:
    """The process's one store for ``url`` (``memory://`` when None), checked reachable on
    first open: :class:`StateStoreError` then, rather than at the first request.

    Example:
        >>> open_store("sqlite:///state.db") is open_store("sqlite:///state.db")
        True
    """
    key = check_state_url(url)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _build(key)
            store.ping()
            _stores[key] = store
        return store
