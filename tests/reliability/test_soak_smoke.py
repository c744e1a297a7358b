"""A 100-call run of ``bench/soak.py`` (the full soak is a separate command): mixed sync, async
and streaming calls through both adapters with 20 % faults, and every outcome exactly right.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .support import COUNTS

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def _load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module
    spec.loader.exec_module(module)
    return module


def test_a_short_soak_has_no_hangs_no_untyped_errors_and_complete_answers() -> None:
    soak = _load_soak()
    soak.TIMEOUT = 1.0  # the stalled-first-byte fault then costs 1 s, not 3
    soak.DEADLINE = (soak.MAX_RETRIES + 1) * soak.TIMEOUT + 8.0
    ledger, _wall, plan = soak.run(requests=100, concurrency=8, seed=3)
    COUNTS["soak smoke calls"] += len(ledger.records)
    assert sum(1 for job in plan if job.fault) == 20
    assert len(ledger.records) == len(plan)
    assert not ledger.hung
    assert [r.problem for r in ledger.records if r.problem] == []
    assert {r.outcome for r in ledger.records} >= {"ok"}
