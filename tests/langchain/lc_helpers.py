"""Shared constants and helpers for the LangChain adapter tests (imported by conftest and tests).

The standard suites read the simulator from class properties (no fixtures there), so it is a
lazily started singleton; ``conftest.py`` stops it at the end of the session.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from modelscope_inference import catalog
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Simulator

PLAIN = "Qwen/Qwen2.5-7B-Instruct"
HYBRID = "Qwen/Qwen3-32B"
HYBRID_SMALL = "Qwen/Qwen3-8B"
THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
REASONER = "deepseek-ai/DeepSeek-R1-0528"
VISION = "Qwen/Qwen2.5-VL-72B-Instruct"
EMBEDDING = "Qwen/Qwen3-Embedding-0.6B"

_simulator: Simulator | None = None


def running_simulator() -> Simulator:
    """The session's simulator, started on first use."""
    global _simulator
    if _simulator is None:
        _simulator = Simulator().start()
    return _simulator


def stop_simulator() -> None:
    global _simulator
    if _simulator is not None:
        _simulator.stop()
        _simulator = None


def reset_simulator() -> Simulator:
    """A clean simulator, and a client side that has forgotten it: the quota tracker is shared
    per token and base URL for the whole process, and the catalog learns from 400s."""
    sim = running_simulator()
    sim.reset()
    tracker_for(sim.token, sim.base_url).reset()
    catalog.forget_learned()
    return sim


def chat_bodies(sim: Simulator) -> list[dict[str, Any]]:
    """The JSON bodies of the chat requests the simulator received, oldest first."""
    return [r.body for r in sim.requests if r.path.endswith("/chat/completions")]


def tiny_png() -> bytes:
    """A valid 1x1 PNG, so image tests need no network."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def tiny_png_base64() -> str:
    return base64.b64encode(tiny_png()).decode()
