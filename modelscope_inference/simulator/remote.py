"""Steer a simulator that runs in another process, through its control API (:mod:`.control`).

:class:`RemoteSimulator` has the in-process :class:`~modelscope_inference.simulator.Simulator`'s
controls (``set_quota``, ``script``, ``inject``, ``requests``, ``reset``, ...), sent over HTTP to
``modelscope-inference simulate``. Use it to test an app that runs in its own process (a web
server under test, a notebook) against the simulator.

>>> remote = RemoteSimulator("http://127.0.0.1:8000")  # doctest: +SKIP
>>> remote.set_quota(model_limits={"Qwen/Qwen3-32B": 0})  # that model's quota is spent
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .faults import Fault
from .models import ModelKind
from .script import Reply
from .wire import fault_to_json, reply_to_json

__all__ = ["RemoteSimulator", "SimulatorControlError", "simulator_root"]

_DEFAULT_TOKEN = "ms-simulator"  # state.DEFAULT_TOKEN, not imported: that module needs no server


class SimulatorControlError(RuntimeError):
    """The simulator could not be reached, or refused a control request; the message says why."""


def simulator_root(url: str) -> str:
    """The server root of a simulator given by its root or its ``/v1`` base URL.

    >>> simulator_root("http://127.0.0.1:8000/v1/")
    'http://127.0.0.1:8000'
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SimulatorControlError(
            f"{url!r} is not a simulator URL; give one like http://127.0.0.1:8000"
        )
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class RemoteSimulator:
    """The controls of a simulator served by ``modelscope-inference simulate``.

    ``url`` is its root or its ``/v1`` base URL; ``token`` the one it accepts.

    >>> with RemoteSimulator("http://127.0.0.1:8000/v1") as remote:  # doctest: +SKIP
    ...     remote.script(Reply.text("scripted answer"))
    ...     remote.inject(Fault.server_error(503))
    """

    def __init__(self, url: str, token: str = _DEFAULT_TOKEN, timeout: float = 10.0) -> None:
        self.url = simulator_root(url)
        self._client = httpx.Client(
            base_url=self.url + "/_simulator",
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout,
            trust_env=False,  # a loopback simulator: never through a proxy from the environment
        )

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> RemoteSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- controls --------------------------------------------------------------------------

    def set_quota(
        self,
        account_limit: int | None = None,
        model_limits: Mapping[str, int] | None = None,
        default_model_limit: int | None = None,
    ) -> None:
        """Change the daily limits; a limit of 0 spends that quota.

        >>> remote.set_quota(model_limits={"Qwen/Qwen3-8B": 0})  # doctest: +SKIP
        """
        body = {
            "account_limit": account_limit,
            "model_limits": dict(model_limits) if model_limits is not None else None,
            "default_model_limit": default_model_limit,
        }
        self._call("POST", "/quota", body)

    def restore_quota(self, model: str | None = None, calls: int | None = None) -> None:
        """Give back ``calls`` spent calls (None: all) to the account and, when given, ``model``.

        >>> remote.restore_quota(model="Qwen/Qwen3-8B")  # doctest: +SKIP
        """
        self._call("POST", "/quota/restore", {"model": model, "calls": calls})

    def quota(self, model: str = "") -> dict[str, Any]:
        """The counters for ``model`` (and the account) right now, without spending a call.

        >>> remote.quota("Qwen/Qwen3-8B")["model_remaining"]  # doctest: +SKIP
        500
        """
        answer: dict[str, Any] = self._call("GET", "/quota", params={"model": model})
        return answer

    def script(self, *replies: Reply, times: int | None = 1) -> None:
        """Queue exact replies for the next chat requests, the group ``times`` times.

        >>> remote.script(Reply.tool_call("add", {"a": 1, "b": 2}))  # doctest: +SKIP
        """
        body = {"replies": [reply_to_json(r) for r in replies], "times": times}
        self._call("POST", "/script", body)

    def inject(self, fault: Fault, times: int | None = 1, model: str | None = None) -> None:
        """Apply ``fault`` to the next ``times`` requests (None: all), optionally for one model.

        >>> remote.inject(Fault.rate_limit(retry_after=1), times=2)  # doctest: +SKIP
        """
        body = {"fault": fault_to_json(fault), "times": times, "model": model}
        self._call("POST", "/fault", body)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The recorded requests, oldest first, as JSON objects (the token masked).

        >>> remote.requests[-1]["path"]  # doctest: +SKIP
        '/v1/chat/completions'
        """
        answer = self._call("GET", "/requests")
        requests: list[dict[str, Any]] = answer["requests"]
        return requests

    def reset(self) -> None:
        """Clear requests, faults, scripts and counters; restore limits, clock, latency."""
        self._call("POST", "/reset")

    def add_model(self, model_id: str, kind: ModelKind | str | None = None) -> dict[str, Any]:
        """Serve one more model; with no ``kind`` it is guessed from the id (``"guessed": true``).

        >>> remote.add_model("Acme/NewThinker-Thinking")["kind"]  # doctest: +SKIP
        'thinking'
        """
        kind_value = kind.value if isinstance(kind, ModelKind) else kind
        answer: dict[str, Any] = self._call("POST", "/models", {"id": model_id, "kind": kind_value})
        return answer

    def configure(
        self,
        *,
        latency: float | None = None,
        json_schema_supported: bool | None = None,
        count_failures: bool | None = None,
    ) -> None:
        """Change the simulator's settings (the in-process ``Simulator``'s properties).

        >>> remote.configure(latency=0.2)  # doctest: +SKIP
        """
        given = {
            "latency": latency,
            "json_schema_supported": json_schema_supported,
            "count_failures": count_failures,
        }
        self._call("POST", "/settings", {k: v for k, v in given.items() if v is not None})

    def set_clock(self, now: datetime | None) -> None:
        """Fix the simulator's time (an aware datetime), or give it back the system clock.

        >>> remote.set_clock(datetime(2025, 1, 1, 23, 59, tzinfo=SHANGHAI))  # doctest: +SKIP
        """
        if now is not None and now.tzinfo is None:
            raise ValueError("give an aware datetime, e.g. with tzinfo=SHANGHAI")
        self._call("POST", "/clock", {"now": None if now is None else now.isoformat()})

    # -- transport -------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = self._client.request(method, path, json=body, params=params)
        except httpx.TransportError as exc:
            raise SimulatorControlError(
                f"cannot reach the simulator at {self.url} ({exc or type(exc).__name__}); start "
                "it with `modelscope-inference simulate`, or give its --url"
            ) from exc
        if response.is_success:
            return response.json()
        raise SimulatorControlError(_refusal(self.url + "/_simulator" + path, response))


def _refusal(url: str, response: httpx.Response) -> str:
    """What the simulator said, with a hint for the usual causes."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text.strip()[:200]
    if response.status_code == 404:
        return (
            f"{url} answered 404: not a simulator with a control API (is the URL right, and the "
            "simulator from this version of modelscope-inference?)"
        )
    if response.status_code == 401:
        return (
            f"the simulator at {url} refused the token; give the one it was started with "
            "(its --token, default ms-simulator)"
        )
    return f"the simulator refused the request ({response.status_code}): {message}"
