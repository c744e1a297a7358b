"""bench/adaptive.py still runs end to end at a tiny size, and its report is whole and sane.

No timing is asserted (the machine is shared): only that every workload reports every variant,
that the counts add up, and that the oracle and the adaptive client complete every call.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CALLS, TEXTS = 20, 160  # 160 texts: 5 batches of the catalog's 32
VARIANTS = ["oracle", "adaptive", "none", "rate=40"]
RUN_TIMEOUT = 120  # seconds: a liveness bound, ~5 s on an idle machine

pytestmark = pytest.mark.timeout(RUN_TIMEOUT + 30)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("adaptive") / "report.json"
    command = [
        sys.executable, "-m", "bench.adaptive", "--quick",
        "--calls", str(CALLS), "--texts", str(TEXTS), "--latency", "0.01",
        "--schedule", "0:1,0.25:4,0.5:2,0.75:8",  # quick scales it by 0.4: 0/0.1/0.2/0.3 s
        "--variants", "oracle,adaptive,none", "--rates", "40", "--json", str(path),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _rows(report: dict[str, Any], workload: str) -> dict[str, dict[str, Any]]:
    return {row["variant"]: row for row in report["outcomes"] if row["workload"] == workload}


def test_every_workload_reports_every_variant(report: dict[str, Any]) -> None:
    for workload in ("chat", "embed"):
        assert list(_rows(report, workload)) == VARIANTS


def test_the_counts_add_up(report: dict[str, Any]) -> None:
    least = {"chat": CALLS, "embed": math.ceil(TEXTS / 32)}
    for row in report["outcomes"]:
        assert math.isfinite(row["seconds"]) and row["seconds"] > 0, row
        assert 0 <= row["refused"] <= row["requests"], row
        assert row["refused_share"] == pytest.approx(row["refused"] / row["requests"]), row
        if row["failures"] == 0:  # every call answered: at least one request each
            assert row["requests"] >= least[row["workload"]], row


def test_times_are_reported_against_the_oracle(report: dict[str, Any]) -> None:
    for workload in ("chat", "embed"):
        rows = _rows(report, workload)
        assert rows["oracle"]["x_oracle"] == 1.0
        for row in rows.values():
            assert row["x_oracle"] == pytest.approx(row["seconds"] / rows["oracle"]["seconds"])


def test_the_oracle_and_the_adaptive_client_complete_every_call(report: dict[str, Any]) -> None:
    for workload in ("chat", "embed"):
        rows = _rows(report, workload)
        assert rows["oracle"]["failures"] == 0
        assert rows["adaptive"]["failures"] == 0
