"""Use the simulator's own pytest fixtures (a session server, reset before each test)."""

from modelscope_inference.simulator.pytest_plugin import (  # noqa: F401 - fixtures
    modelscope_simulator,
    modelscope_simulator_session,
)
