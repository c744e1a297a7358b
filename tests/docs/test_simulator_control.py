"""A ``modelscope-inference simulate`` process, driven only through its control API and the
``modelscope-inference simulator ...`` verbs: what an app tested in another process needs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelscope_inference.cli import main
from modelscope_inference.cli_simulator import FAULT_KINDS, MODEL_KINDS
from modelscope_inference.simulator import Fault, Reply
from modelscope_inference.simulator.faults import FaultKind
from modelscope_inference.simulator.models import ModelKind
from modelscope_inference.simulator.remote import RemoteSimulator, SimulatorControlError

from .conftest import clean_environ
from .processes import SimulateProcess, simulate

ROOT = Path(__file__).resolve().parents[2]
MODEL = "Qwen/Qwen2.5-7B-Instruct"
OTHER = "deepseek-ai/DeepSeek-V3.1"
TOKEN = "ms-control-test"


@pytest.fixture(scope="module")
def served() -> Iterator[SimulateProcess]:
    """One simulate process for the module; stopped, with its children, whatever happens."""
    with simulate("--add-model", "Acme/NewThinker-Thinking", token=TOKEN) as process:
        yield process


@pytest.fixture
def server(served: SimulateProcess) -> Iterator[SimulateProcess]:
    """The process, reset through the control API before and after each test."""
    with RemoteSimulator(served.url, TOKEN) as remote:
        remote.reset()
        yield served
        remote.reset()


def cli(server: SimulateProcess, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``modelscope-inference simulator ARGV --url ... --token ...``; its stdout."""
    status = main(["simulator", *argv, "--url", server.base_url, "--token", TOKEN])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def chat(server: SimulateProcess, model: str = MODEL) -> httpx.Response:
    """One chat call, as the app under test would make it."""
    return httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=30,
        trust_env=False,
    )


def test_cli_quota_spends_a_models_quota(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = json.loads(cli(server, capsys, "quota", "--model", MODEL, "--limit", "0"))
    assert shown["model_remaining"] == 0
    refused = chat(server)
    assert refused.status_code == 429
    assert refused.headers["modelscope-ratelimit-model-requests-remaining"] == "0"
    assert chat(server, OTHER).status_code == 200  # another model still has calls


def test_cli_quota_restore_gives_calls_back(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    chat(server)
    assert json.loads(cli(server, capsys, "quota", "--model", MODEL))["model_remaining"] == 499
    restored = json.loads(cli(server, capsys, "quota", "--model", MODEL, "--restore"))
    assert restored["model_remaining"] == 500


def test_cli_script_answers_the_next_call_with_the_text(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(server, capsys, "script", "--text", "Hello from another process")
    first, second = chat(server), chat(server)
    assert first.json()["choices"][0]["message"]["content"] == "Hello from another process"
    assert second.json()["choices"][0]["message"]["content"] != "Hello from another process"


def test_cli_script_makes_a_tool_call(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(server, capsys, "script", "--tool", "add", "--args", '{"a": 3, "b": 4}')
    call = chat(server).json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert (call["name"], json.loads(call["arguments"])) == ("add", {"a": 3, "b": 4})


def test_cli_script_answers_with_an_error(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(server, capsys, "script", "--error", "400", "--body", '{"errors": {"message": "no"}}')
    refused = chat(server)
    assert (refused.status_code, refused.json()) == (400, {"errors": {"message": "no"}})


def test_cli_fault_answers_the_next_request_only(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(server, capsys, "fault", "server_error", "--status", "503")
    assert [chat(server).status_code, chat(server).status_code] == [503, 200]


def test_cli_fault_for_one_model_leaves_the_others_alone(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(server, capsys, "fault", "rate_limit", "--retry-after", "2", "--model", OTHER)
    assert chat(server).status_code == 200
    limited = chat(server, OTHER)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")


def test_cli_requests_prints_the_request_log(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    chat(server)
    chat(server, OTHER)
    lines = cli(server, capsys, "requests").splitlines()
    assert lines[0].startswith(f"POST /v1/chat/completions {MODEL} ")
    assert lines[1].startswith(f"POST /v1/chat/completions {OTHER} ")
    assert lines[-1] == "2 of 2 recorded requests"
    records = json.loads(cli(server, capsys, "requests", "--json", "--last", "1"))
    assert records[0]["headers"]["authorization"] != f"Bearer {TOKEN}"  # masked


def test_cli_reset_clears_the_log_and_the_quota(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(server, capsys, "quota", "--model", MODEL, "--limit", "0")
    chat(server)
    assert "reset" in cli(server, capsys, "reset")
    assert "0 of 0 recorded requests" in cli(server, capsys, "requests")
    assert chat(server).status_code == 200


def test_the_remote_client_scripts_and_injects_like_the_in_process_simulator(
    server: SimulateProcess,
) -> None:
    with RemoteSimulator(server.base_url, TOKEN) as remote:
        remote.script(Reply.text("one"), Reply.text("two"))
        remote.inject(Fault.empty_4xx(404), model=OTHER)
        assert chat(server, OTHER).status_code == 404
        answers = [chat(server).json()["choices"][0]["message"]["content"] for _ in range(2)]
        assert answers == ["one", "two"]
        assert [r["model"] for r in remote.requests] == [OTHER, MODEL, MODEL]


def test_simulate_prints_the_guessed_kind_of_an_added_model() -> None:
    with simulate("--add-model", "Acme/NewThinker-Thinking", "--add-model", "Acme/Plain-7B",
                  "--kind", "hybrid") as process:  # fmt: skip
        listed = httpx.get(f"{process.base_url}/models", trust_env=False).json()["data"]
        not_streamed = chat(process, "Acme/NewThinker-Thinking")
    assert {"Acme/NewThinker-Thinking", "Acme/Plain-7B"} <= {m["id"] for m in listed}
    assert not_streamed.status_code == 400  # a thinking model must be streamed
    err = process.stderr()
    assert "added model Acme/NewThinker-Thinking as thinking (guessed from the id" in err
    assert "added model Acme/Plain-7B as hybrid\n" in err


def test_cli_add_model_serves_it_with_the_kind_given(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli(server, capsys, "add-model", "Acme/Quick-1B", "--kind", "chat")
    assert out.strip() == "added model Acme/Quick-1B as chat"
    assert chat(server, "Acme/Quick-1B").status_code == 200


def test_the_cli_knows_every_fault_kind_and_model_kind() -> None:
    assert tuple(kind.value for kind in FaultKind) == FAULT_KINDS
    assert tuple(kind.value for kind in ModelKind) == MODEL_KINDS


def test_control_routes_refuse_a_wrong_token(server: SimulateProcess) -> None:
    with (
        RemoteSimulator(server.url, "ms-wrong") as remote,
        pytest.raises(SimulatorControlError, match="refused the token"),
    ):
        remote.reset()
    answer = httpx.post(f"{server.url}/_simulator/reset", trust_env=False)
    assert answer.status_code == 401


def test_a_bad_fault_is_one_error_line(
    server: SimulateProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["simulator", "fault", "server_error", "--status", "200", "--url", server.url])
    err = capsys.readouterr().err
    assert status == 1
    assert err.strip() == (
        "error: not a valid server_error fault: server_error needs a 5xx status, got 200"
    )


def test_a_simulator_that_is_not_running_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from .processes import free_port

    status = main(["simulator", "reset", "--url", f"http://127.0.0.1:{free_port()}"])
    assert status == 1
    assert "cannot reach the simulator" in capsys.readouterr().err


def _run_example(name: str, server: SimulateProcess) -> subprocess.CompletedProcess[str]:
    env: dict[str, Any] = {
        **clean_environ(),
        "MODELSCOPE_API_KEY": TOKEN,
        "MODELSCOPE_BASE_URL": server.base_url,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=110,
    )


def test_examples_with_a_token_and_a_local_base_url_say_simulator(server: SimulateProcess) -> None:
    done = _run_example("quota_fallback.py", server)
    assert done.returncode == 0, done.stdout + done.stderr
    first_line = done.stdout.splitlines()[0]
    assert first_line.startswith(f"Using the ModelScope simulator at {server.base_url}")
    assert "real ModelScope service" not in done.stdout


def test_quota_fallback_spends_the_primary_quota_on_a_simulate_process(
    server: SimulateProcess,
) -> None:
    out = _run_example("quota_fallback.py", server).stdout
    assert "1. fallback_models -> answered by Qwen/Qwen3-8B" in out
    assert "3. QuotaExhaustedError: scope=model" in out
    assert "no error: the primary model still has quota" not in out
