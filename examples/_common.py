"""Shared by the examples: the real service, a simulator you started, or an embedded one.

Which service an example talks to is decided by the base URL, not by the token alone:

- ``MODELSCOPE_BASE_URL`` at a loopback address (``http://127.0.0.1:8000/v1``): a simulator
  started with ``modelscope-inference simulate``, steered through its control API;
- otherwise, with ``MODELSCOPE_API_KEY`` set: the real ModelScope service;
- with no token: an embedded simulator, started here, with ``MODELSCOPE_API_KEY`` and
  ``MODELSCOPE_BASE_URL`` pointed at it for the duration.

So the example code is exactly what you would write against the real service.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from modelscope_inference.settings import DEFAULT_BASE_URL, is_loopback
from modelscope_inference.simulator import DEFAULT_TOKEN, Simulator
from modelscope_inference.simulator.remote import RemoteSimulator

_VARIABLES = ("MODELSCOPE_API_KEY", "MODELSCOPE_BASE_URL")

SimulatorHandle = Simulator | RemoteSimulator
"""What an example may steer: both have ``set_quota``, ``script``, ``inject``, ``requests``."""


@contextmanager
def _environment(token: str, base_url: str) -> Iterator[None]:
    """Set the token and base URL for the block; restore what was there after."""
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    os.environ["MODELSCOPE_API_KEY"] = token
    os.environ["MODELSCOPE_BASE_URL"] = base_url
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _local_simulator_url() -> str | None:
    """MODELSCOPE_BASE_URL when it names a loopback host: a simulator, never the real service."""
    base_url = os.environ.get("MODELSCOPE_BASE_URL", "").strip()
    host = urlsplit(base_url).hostname if base_url else None
    return base_url if host and is_loopback(host) else None


@contextmanager
def modelscope_service() -> Iterator[SimulatorHandle | None]:
    """Yield None for the real service, or the simulator the example runs against.

    Example:
        >>> with modelscope_service() as sim:
        ...     ChatModelScope(model="Qwen/Qwen3-32B").invoke("hi")
    """
    token = os.environ.get("MODELSCOPE_API_KEY", "").strip()
    local_url = _local_simulator_url()
    if local_url is not None:
        print(f"Using the ModelScope simulator at {local_url} (MODELSCOPE_BASE_URL is local).\n")
        with (
            RemoteSimulator(local_url, token or DEFAULT_TOKEN) as remote,
            _environment(token or DEFAULT_TOKEN, local_url),
        ):
            yield remote
        return
    if token:
        base_url = os.environ.get("MODELSCOPE_BASE_URL", "").strip() or DEFAULT_BASE_URL
        print(f"Using the real ModelScope service at {base_url} (MODELSCOPE_API_KEY is set).\n")
        yield None
        return
    with Simulator() as sim, _environment(sim.token, sim.base_url):
        print(
            f"No MODELSCOPE_API_KEY set: using a local ModelScope simulator at {sim.base_url}"
            " (canned answers, no quota spent).\n"
        )
        yield sim
