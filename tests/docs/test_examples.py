"""Every script in examples/ runs with no token (against its own simulator) and exits 0."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import clean_environ

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
EXPECTED = {
    "chain_prompt_template.py",
    "image_generation.py",
    "langgraph_agent.py",
    "llamaindex_function_agent.py",
    "llamaindex_rag.py",
    "quota_fallback.py",
    "structured_output.py",
}


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """Run all examples at once (each starts its own simulator), to keep the suite quick."""
    procs = {
        path.name: subprocess.Popen(
            [sys.executable, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_environ(),
            cwd=ROOT,
        )
        for path in EXAMPLES
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


def test_the_documented_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= EXPECTED


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_example_runs_against_the_simulator(
    name: str, runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = runs[name]
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    assert "simulator" in done.stdout
    assert "Traceback" not in done.stderr


def test_quota_fallback_example_shows_each_way_out(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    out = runs["quota_fallback.py"].stdout
    assert "fallback_models -> answered by Qwen/Qwen3-8B" in out
    assert "with_fallbacks  -> answered by Qwen/Qwen2.5-7B-Instruct" in out
    assert "QuotaExhaustedError: scope=model" in out
    assert "account quota spent: scope=account" in out


def test_image_example_saves_a_png_and_draws_with_the_tool_and_a_chain(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    out = runs["image_generation.py"].stdout
    saved = re.search(r"saved (\S+) \((\d+)x(\d+) PNG\)", out)
    assert saved is not None, out
    path = Path(saved[1])
    try:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (512, 384)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    assert re.search(r"LangChain tool -> content http://127\.0\.0\.1:\d+/files/images/", out)
    assert "artifact: status SUCCEED" in out
    assert re.search(r"chain +-> http://\S+\.png", out)
