"""A local, faithful stand-in for ModelScope's API-Inference service.

Tests, demos and benchmarks run against it instead of the real service:

>>> from modelscope_inference.simulator import Fault, Reply, Simulator
>>> with Simulator() as sim:  # doctest: +SKIP
...     client = openai.OpenAI(base_url=sim.base_url, api_key=sim.token, max_retries=0)
...     sim.inject(Fault.rate_limit(retry_after=1))
...     sim.script(Reply.text("hello"))

Facts it reproduces are cited from `modelscope-api.md` in the code (`# reference: ... §n`).
"""

from __future__ import annotations

from .faults import Fault
from .models import DEFAULT_MODELS, ModelKind, ModelSpec
from .quota import DEFAULT_ACCOUNT_LIMIT, DEFAULT_MODEL_LIMIT, SHANGHAI, QuotaSnapshot
from .script import Reply, ScriptedToolCall
from .server import Simulator, serve
from .state import DEFAULT_TOKEN, UNBOUND_TOKEN, RecordedRequest

__all__ = [
    "DEFAULT_ACCOUNT_LIMIT",
    "DEFAULT_MODELS",
    "DEFAULT_MODEL_LIMIT",
    "DEFAULT_TOKEN",
    "SHANGHAI",
    "UNBOUND_TOKEN",
    "Fault",
    "ModelKind",
    "ModelSpec",
    "QuotaSnapshot",
    "RecordedRequest",
    "Reply",
    "ScriptedToolCall",
    "Simulator",
    "serve",
]
