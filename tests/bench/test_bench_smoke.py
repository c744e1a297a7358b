"""The benchmark suite still runs end to end (``--quick``), so it cannot rot.

Speed is not asserted here: only that every case completes and reports positive numbers.
The quick run takes ~1 min on an idle 2-core machine and several on a busy one, so its tests
get a generous pytest timeout, the subprocess a slightly shorter one, and the subprocess (with
the servers it starts) is killed as a process group whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.cases import CASE_IDS

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTEST_TIMEOUT = 900  # seconds; the first test also runs the module fixture's quick run
RUN_TIMEOUT = PYTEST_TIMEOUT - 60  # our own bound, so the group is killed before pytest's

pytestmark = pytest.mark.timeout(PYTEST_TIMEOUT)


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the run and everything it started (its session's process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("bench") / "run.json"
    command = [sys.executable, "-m", "bench.run", "--quick", "--rounds", "2", "--json", str(path)]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the servers it starts die with it
    )
    try:
        _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        _, stderr = process.communicate()
        pytest.fail(f"bench.run --quick took over {RUN_TIMEOUT} s:\n{stderr[-3000:]}")
    finally:
        _kill_group(process)  # a server left behind by a run that crashed, or a timeout
    assert process.returncode == 0, stderr[-3000:]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_quick_run_reports_every_case(quick_run: dict[str, Any]) -> None:
    assert list(quick_run["cases"]) == list(CASE_IDS)


def test_no_case_failed(quick_run: dict[str, Any]) -> None:
    errors = {k: v["error"] for k, v in quick_run["cases"].items() if "error" in v}
    assert errors == {}


def test_every_contender_was_built(quick_run: dict[str, Any]) -> None:
    assert quick_run["missing"] == []


def test_every_figure_is_a_positive_number(quick_run: dict[str, Any]) -> None:
    for case_id, case in quick_run["cases"].items():
        assert case["rows"], case_id
        for name, row in case["rows"].items():
            value = row["median"]
            assert math.isfinite(value) and value > 0, (case_id, name, value)


def test_the_report_judges_every_target(quick_run: dict[str, Any]) -> None:
    assert quick_run["targets"]
    assert all(t["value"] is not None for t in quick_run["targets"])


def test_the_framework_floor_runs_and_restores_the_client() -> None:
    from bench.framework_floor import measure
    from modelscope_inference.chat import ChatClient

    original = ChatClient.acomplete
    floors = measure(rounds=1)

    assert ChatClient.acomplete is original
    assert floors["ideal_ms"] == 100
    # An ideal client cannot beat the ideal: each framework's wall time is at least that.
    assert floors["ChatModelScope"] >= floors["ideal_ms"]
    assert floors["ModelScopeLLM"] >= floors["ideal_ms"]
