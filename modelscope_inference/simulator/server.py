"""Run the simulator in a background thread (:class:`Simulator`) or the foreground (`serve`).

>>> from modelscope_inference.simulator import Simulator
>>> with Simulator() as sim:  # doctest: +SKIP
...     openai.OpenAI(base_url=sim.base_url, api_key=sim.token).models.list()
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType

import uvicorn

from .app import create_app, install_log_filter
from .concurrency import Schedule
from .faults import Fault
from .images import ImageTasks
from .models import ModelKind, ModelSpec
from .quota import DEFAULT_ACCOUNT_LIMIT, DEFAULT_MODEL_LIMIT, Clock, QuotaSnapshot
from .script import Reply
from .state import DEFAULT_TOKEN, RecordedRequest, SimulatorState
from .wire import model_from_json

__all__ = ["Simulator", "serve"]

_START_TIMEOUT = 10.0


class Simulator:
    """A local ModelScope API-Inference server on a free loopback port, for tests and demos.

    Use it as a context manager (`with` or `async with`); it starts uvicorn in a daemon thread
    and stops it on exit.

    >>> with Simulator(account_limit=5) as sim:  # doctest: +SKIP
    ...     client = openai.OpenAI(base_url=sim.base_url, api_key=sim.token, max_retries=0)
    ...     sim.inject(Fault.rate_limit(retry_after=1))
    ...     sim.script(Reply.text("scripted answer"))
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        latency: float = 0.0,
        account_limit: int = DEFAULT_ACCOUNT_LIMIT,
        default_model_limit: int = DEFAULT_MODEL_LIMIT,
        model_limits: Mapping[str, int] | None = None,
        clock: datetime | Clock | None = None,
        models: Iterable[ModelSpec | str] | None = (),
        host: str = "127.0.0.1",
        port: int = 0,
        max_recorded: int | None = 10_000,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        timeout_keep_alive: int = 5,
        json_schema_supported: bool = False,
        count_failures: bool = True,
    ) -> None:
        self._state = SimulatorState(
            token=token,
            latency=latency,
            account_limit=account_limit,
            default_model_limit=default_model_limit,
            model_limits=model_limits,
            clock=clock,
            models=models,
            max_recorded=max_recorded,
            json_schema_supported=json_schema_supported,
            count_failures=count_failures,
        )
        self._host = host
        self._port = port
        # uvicorn's own TLS and keep-alive (https base URL; idle connections closed after
        # timeout_keep_alive seconds), for testing clients against them.
        self._ssl_certfile, self._ssl_keyfile = ssl_certfile, ssl_keyfile
        self._timeout_keep_alive = timeout_keep_alive
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind the port and serve in a daemon thread; returns once the server accepts."""
        if self._server is not None:
            return self
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it Nagle + delayed ACK add ~40 ms to every response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self._host, self._port))
        config = uvicorn.Config(
            create_app(self._state),
            log_level="warning",
            access_log=False,
            log_config=None,  # leave the host application's logging configuration alone
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=self._timeout_keep_alive,
            ssl_certfile=self._ssl_certfile,
            ssl_keyfile=self._ssl_keyfile,
        )
        install_log_filter()
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="modelscope-simulator", daemon=True
        )
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        self._wait_started(server, thread)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread (forcing exit after a grace period)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Simulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (only meaningful once started)."""
        if self._socket is None:
            raise RuntimeError("the simulator is not running; use `with Simulator() as sim:`")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """The server root, e.g. `http://127.0.0.1:51234` (`https://` when serving TLS)."""
        scheme = "https" if self._ssl_certfile else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. `http://127.0.0.1:51234/v1`."""
        return f"{self.url}/v1"

    @property
    def token(self) -> str:
        """The one token the simulator accepts."""
        return self._state.token

    # -- controls --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Recorded requests, oldest first, with the Authorization value masked."""
        return self._state.requests

    def reset(self) -> None:
        """Clear requests, faults, scripts and quota counters; restore limits, clock, latency."""
        self._state.reset()

    def set_quota(
        self,
        account_limit: int | None = None,
        model_limits: Mapping[str, int] | None = None,
        default_model_limit: int | None = None,
    ) -> None:
        """Change the daily limits (calls already spent today still count).

        >>> sim.set_quota(account_limit=10, model_limits={"Qwen/Qwen3-8B": 2})  # doctest: +SKIP
        """
        self._state.quota.configure(account_limit, model_limits, default_model_limit)

    def set_clock(self, clock: datetime | Clock) -> None:
        """Fix the time (an aware datetime) or give a callable; counters reset at 00:00 Shanghai.

        >>> sim.set_clock(datetime(2025, 1, 1, 23, 59, tzinfo=SHANGHAI))  # doctest: +SKIP
        """
        self._state.quota.set_clock(clock)

    def quota(self, model: str) -> QuotaSnapshot:
        """The counters for `model` right now, without spending a call."""
        return self._state.quota.peek(model)

    def restore_quota(self, model: str | None = None, calls: int | None = None) -> None:
        """Give back `calls` spent calls (None: all) to the account and, when given, to `model`,
        mid-day: credits that came back (reference: modelscope-api.md §8.2). A limit set to 0
        stays 0: raise it with `set_quota`.

        >>> sim.restore_quota(model="Qwen/Qwen3-8B")  # doctest: +SKIP
        """
        self._state.quota.restore(model, calls)

    @property
    def count_failures(self) -> bool:
        """Whether failed answers (4xx) for a known model spend a call, as §8.1's log shows
        (1897 -> 1895 across a 400 and a 429). On by default; 5xx answers never spend one
        (§8.2: calls that fail because of the system are refunded)."""
        return self._state.count_failures

    @count_failures.setter
    def count_failures(self, value: bool) -> None:
        self._state.count_failures = value

    def set_concurrency_cap(
        self, model: str, cap: int | None = None, *, schedule: Schedule | None = None
    ) -> None:
        """Refuse requests for ``model`` beyond ``cap`` in flight with a transient 429 (quota
        headers showing calls left, counted like any failure), or follow ``schedule``:
        ``(seconds from now, cap)`` steps (reference: modelscope-api.md §3.1, the cap moves with
        the platform's load). No cap and no schedule: uncapped. ``requests`` records each
        request's concurrency on arrival (``concurrency``, ``over_cap``).

        >>> steps = [(0, 1), (5, 4), (10, 2)]
        >>> sim.set_concurrency_cap("Qwen/Qwen3-8B", schedule=steps)  # doctest: +SKIP
        """
        self._state.concurrency.set_cap(model, cap, schedule=schedule)

    def concurrency_cap(self, model: str) -> int | None:
        """The concurrency cap of ``model`` right now (None: uncapped)."""
        return self._state.concurrency.cap(model)

    def inject(self, fault: Fault, times: int | None = 1, model: str | None = None) -> None:
        """Apply `fault` to the next `times` requests (None: all), optionally for one model.

        >>> sim.inject(Fault.server_error(503), times=2, model="Qwen/Qwen3-8B")  # doctest: +SKIP
        """
        self._state.faults.arm(fault, times, model)

    def script(self, *replies: Reply, times: int | None = 1) -> None:
        """Queue exact replies for the next chat requests, in order, the group `times` times.

        >>> sim.script(Reply.text("one"), Reply.text("two"))  # doctest: +SKIP
        """
        self._state.scripts.push(replies, times)

    def add_model(self, model_id: str, kind: ModelKind | str | None = None) -> ModelSpec:
        """Serve one more model from now on; with no ``kind`` it is guessed from the id.

        >>> sim.add_model("Acme/NewThinker-Thinking").kind  # doctest: +SKIP
        <ModelKind.THINKING: 'thinking'>
        """
        spec, _ = model_from_json({"id": model_id, "kind": getattr(kind, "value", kind)})
        self._state.catalog[spec.id] = spec
        return spec

    @property
    def json_schema_supported(self) -> bool:
        """False (the default, as the real service, reference: modelscope-api.md §8.3): a
        ``response_format`` of type ``json_schema`` gets 200 with ``"choices": null``. True:
        the schema is filled, as OpenAI would. ``reset()`` restores the constructor's value.

        >>> sim.json_schema_supported = True  # doctest: +SKIP
        """
        return self._state.json_schema_supported

    @json_schema_supported.setter
    def json_schema_supported(self, supported: bool) -> None:
        self._state.json_schema_supported = supported

    @property
    def images(self) -> ImageTasks:
        """The image tasks (reference: modelscope-api.md §1.6): their ``clock`` and
        ``duration``, ``fail_next()``, ``stall()``, and the AIGC ``quota`` book.

        >>> sim.images.duration = 10; sim.images.fail_next()  # doctest: +SKIP
        """
        return self._state.images

    @property
    def latency(self) -> float:
        """Seconds added before every request is handled."""
        return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.latency = seconds

    @staticmethod
    def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the simulator server thread exited during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start within 10 seconds")
            time.sleep(0.002)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str = DEFAULT_TOKEN,
    *,
    latency: float = 0.0,
    account_limit: int = DEFAULT_ACCOUNT_LIMIT,
    default_model_limit: int = DEFAULT_MODEL_LIMIT,
    models: Iterable[ModelSpec | str] | None = (),
    log_level: str = "warning",
    announce: bool = True,
) -> None:
    """Run the simulator in the foreground until interrupted (Ctrl+C). Blocking.

    Clients use base URL `http://{host}:{port}/v1` and `token` as their API key.

    >>> serve(port=8000, token="ms-simulator")  # doctest: +SKIP
    """
    state = SimulatorState(
        token=token,
        latency=latency,
        account_limit=account_limit,
        default_model_limit=default_model_limit,
        models=models,
    )
    config = uvicorn.Config(
        create_app(state), host=host, port=port, log_level=log_level, access_log=False
    )
    install_log_filter()
    if announce:
        print(
            f"ModelScope simulator on http://{host}:{port}/v1 (token: {token}); Ctrl+C to stop",
            file=sys.stderr,
            flush=True,
        )
    uvicorn.Server(config).run()
