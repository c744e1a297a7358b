"""``modelscope-inference demo``: the README's first command must work with no token."""

from __future__ import annotations

import builtins
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelscope_inference.demo import STEPS, DemoOptions, run_demo
from modelscope_inference.simulator import Simulator

from .conftest import clean_environ


def _command() -> list[str]:
    installed = Path(sys.executable).with_name("modelscope-inference")
    if installed.exists():
        return [str(installed)]
    found = shutil.which("modelscope-inference")
    return [found] if found else [sys.executable, "-m", "modelscope_inference"]


def test_demo_without_a_token_uses_the_simulator_and_exits_0() -> None:
    done = subprocess.run(
        [*_command(), "demo"], capture_output=True, text=True, env=clean_environ(), timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "simulator" in done.stdout
    for number, (title, _) in enumerate(STEPS, start=1):
        assert f"== [{number}/{len(STEPS)}] {title}" in done.stdout
    assert "failed" not in done.stdout
    assert "skipped" not in done.stdout
    assert "Traceback" not in done.stderr


def _run(options: DemoOptions | None = None) -> tuple[int, str]:
    out = io.StringIO()
    status = run_demo(options, out=out)
    return status, out.getvalue()


def test_demo_shows_reasoning_apart_from_the_answer() -> None:
    status, out = _run()
    assert status == 0
    step = out.split("[2/5]")[1].split("[3/5]")[0]
    assert "reasoning" in step
    assert "answer" in step


def test_demo_agent_calls_both_tools() -> None:
    _, out = _run()
    agent = out.split("[3/5]")[1].split("[4/5]")[0]
    assert "add(a=3, b=4) -> 7" in agent
    assert "multiply(a=7, b=5) -> 35" in agent


def test_demo_reports_the_quota_left() -> None:
    _, out = _run()
    quota = out.split("[5/5]")[1]
    assert "of 2000 calls left" in quota
    assert "resets at" in quota


def test_a_missing_extra_is_skipped_with_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_llama_index(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith(("llama_index", "llama_index_modelscope")):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama_index)
    status, out = _run()
    assert status == 0
    rag = out.split("[4/5]")[1].split("[5/5]")[0]
    assert "skipped" in rag
    assert "pip install -e '.[llama-index]'" in rag


def test_without_langchain_agents_the_demo_uses_a_tool_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "langchain.agents", None)
    status, out = _run()
    assert status == 0
    agent = out.split("[3/5]")[1].split("[4/5]")[0]
    assert "bind_tools loop" in agent
    assert "multiply(a=7, b=5) -> 35" in agent


def test_with_a_token_the_demo_uses_the_configured_service(
    simulated_env: Simulator,
) -> None:
    status, out = _run()
    assert status == 0
    assert "Using the real ModelScope service" in out
    assert any(r.path == "/v1/embeddings" for r in simulated_env.requests)


def test_simulator_flag_wins_over_a_token(simulated_env: Simulator) -> None:
    status, out = _run(DemoOptions(force_simulator=True))
    assert status == 0
    assert "--simulator given" in out
    assert simulated_env.requests == []


def test_a_failing_step_makes_the_exit_status_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with Simulator() as sim:
        monkeypatch.setenv("MODELSCOPE_API_KEY", "ms-wrong")
        monkeypatch.setenv("MODELSCOPE_BASE_URL", sim.base_url)
        status, out = _run()
    assert status == 1
    assert "failed    ModelScope refused the token" in out
    assert "ms-wrong" not in out


def test_the_first_answer_comes_before_any_framework_is_imported() -> None:
    # Importing LangChain and LlamaIndex is most of the tour's time (issue 16), so the first
    # step runs on the core alone; checked by what is imported, not by a clock.
    code = (
        "import io, sys\n"
        "from modelscope_inference.demo import DemoOptions, _connection, step_plain_chat\n"
        "out = io.StringIO()\n"
        "with _connection(DemoOptions(force_simulator=True), out) as conn:\n"
        "    step_plain_chat(conn, DemoOptions(), out)\n"
        "assert 'answer' in out.getvalue(), out.getvalue()\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'langchain_core', 'langchain', 'llama_index', 'openai'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=clean_environ(),
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
