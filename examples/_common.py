"""Shared by the examples: use the real service when a token is set, else a local simulator.

Every example runs as-is with no token: it starts the embedded ModelScope simulator and points
``MODELSCOPE_API_KEY`` and ``MODELSCOPE_BASE_URL`` at it for the duration, so the example code
is exactly what you would write against the real service.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from modelscope_inference.simulator import Simulator

_VARIABLES = ("MODELSCOPE_API_KEY", "MODELSCOPE_BASE_URL")


@contextmanager
def modelscope_service() -> Iterator[Simulator | None]:
    """Yield None for the real service (a token is set), or a running simulator.

    Example:
        >>> with modelscope_service() as sim:
        ...     ChatModelScope(model="Qwen/Qwen3-32B").invoke("hi")
    """
    if os.environ.get("MODELSCOPE_API_KEY", "").strip():
        print("Using the real ModelScope service (MODELSCOPE_API_KEY is set).\n")
        yield None
        return
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    with Simulator() as sim:
        print(
            f"No MODELSCOPE_API_KEY set: using a local ModelScope simulator at {sim.base_url}"
            " (canned answers, no quota spent).\n"
        )
        os.environ["MODELSCOPE_API_KEY"] = sim.token
        os.environ["MODELSCOPE_BASE_URL"] = sim.base_url
        try:
            yield sim
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
