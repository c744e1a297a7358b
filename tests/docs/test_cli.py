"""The ``modelscope-inference`` command: help, models, check, simulate, ``python -m``."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modelscope_inference.cli import main
from modelscope_inference.simulator import UNBOUND_TOKEN, Simulator

from .conftest import clean_environ
from .processes import run_into_closed_pipe, simulate

COMMANDS = ["demo", "models", "check", "simulate", "simulator"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


# --- help -----------------------------------------------------------------------------------


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: modelscope-inference" in out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: modelscope-inference {command}" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "required" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelscope_inference", "models", "--help"],
        capture_output=True,
        text=True,
        env=clean_environ(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: modelscope-inference models" in done.stdout


# --- a reader that stops early ------------------------------------------------------------


def _command(name: str, sim: Simulator, tmp_path: Path) -> list[str]:
    """Each command that prints to stdout, against the simulator (embedded or ``sim``)."""
    return {
        "demo": ["demo", "--simulator"],
        "models": ["models", "--base-url", sim.base_url],
        "image": ["image", "a cat", "-o", str(tmp_path / "cat.png")],
    }[name]


@pytest.mark.parametrize("name", ["demo", "models", "image"])
def test_a_closed_stdout_pipe_ends_the_command_quietly(
    name: str, sim: Simulator, tmp_path: Path
) -> None:
    done = run_into_closed_pipe(*_command(name, sim, tmp_path))
    assert done.returncode == 141, done.stderr  # what a shell shows for a SIGPIPE
    for noise in ("Broken pipe", "error:", "Traceback", "Exception ignored"):
        assert noise not in done.stderr


# --- models ---------------------------------------------------------------------------------


def test_models_lists_served_ids_with_catalog_capabilities(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--base-url", sim.base_url]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("Qwen/Qwen3-32B "))
    assert row.split() == ["Qwen/Qwen3-32B", "chat", "hybrid", "yes", "128K", "qwen3"]
    assert "Qwen/Qwen3-Embedding-0.6B" in out
    assert "22 models from GET" in out  # 15 chat, vision and embedding + 7 image models


def test_models_needs_and_sends_no_token(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--base-url", sim.base_url]) == 0
    recorded = sim.requests[-1]
    assert recorded.path == "/v1/models"
    assert "authorization" not in {name.lower() for name in recorded.headers}


def test_models_filters_by_kind(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--kind", "embedding", "--base-url", sim.base_url]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "/" in line.split(" ")[0]]
    assert rows
    assert all(line.split()[1] == "embedding" for line in rows)


def test_models_shows_no_context_window_for_image_models(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--kind", "image", "--base-url", sim.base_url]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("Qwen/Qwen-Image "))
    assert row.split() == ["Qwen/Qwen-Image", "image", "-", "no", "-", "qwen-image"]


def test_models_marks_ids_of_unknown_families(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator(models=["SomeOrg/Brand-New-Model"]) as sim:
        assert main(["models", "--base-url", sim.base_url]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "Brand-New" in line)
    assert row.endswith("? (defaults)")


def test_models_offline_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    assert main(["models", "--base-url", url, "--timeout", "5"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot reach {url}/models" in line


def test_models_rejects_an_endpoint_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://api-inference.modelscope.cn/v1/chat/completions"
    assert main(["models", "--base-url", url]) == 1
    assert "pass the API root" in _one_error_line(capsys.readouterr().err)


# --- check ----------------------------------------------------------------------------------


def test_check_with_a_good_token_prints_the_four_quota_headers(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    assert main(["check", "--base-url", sim.base_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ModelScope accepted the token")
    assert "modelscope-ratelimit-requests-limit:" in out
    assert "modelscope-ratelimit-requests-remaining:       1999" in out
    assert "modelscope-ratelimit-model-requests-remaining: 499" in out
    assert "resets at" in out and "UTC+8" in out
    assert sim.token not in out


def test_check_makes_one_minimal_chat_call(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    assert main(["check", "--base-url", sim.base_url, "--model", "Qwen/Qwen3-8B"]) == 0
    assert [r.path for r in sim.requests] == ["/v1/chat/completions"]
    body = sim.requests[0].body
    assert body["model"] == "Qwen/Qwen3-8B"
    assert body["max_tokens"] == 1
    assert body["enable_thinking"] is False


def test_check_with_a_bad_token_prints_one_line_and_fails(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", "ms-wrong")
    assert main(["check", "--base-url", sim.base_url]) != 0
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert "ModelScope refused the token" in line
    assert "https://modelscope.cn/my/myaccesstoken" in line
    assert "ms-wrong" not in captured.err + captured.out
    assert captured.out == ""


def test_check_bad_token_through_the_installed_command(sim: Simulator) -> None:
    env = {**clean_environ(), "MODELSCOPE_API_KEY": "ms-wrong"}
    done = subprocess.run(
        [sys.executable, "-m", "modelscope_inference", "check", "--base-url", sim.base_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "ModelScope refused the token" in _one_error_line(done.stderr)


def test_check_names_a_missing_alibaba_cloud_binding(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", UNBOUND_TOKEN)
    assert main(["check", "--base-url", sim.base_url]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "not bound to Alibaba Cloud" in line


def test_check_without_a_token_names_the_variable(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--base-url", sim.base_url]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "MODELSCOPE_API_KEY" in line
    assert sim.requests == []


def test_check_reports_a_spent_quota_in_one_line(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    sim.set_quota(account_limit=0)
    assert main(["check", "--base-url", sim.base_url]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "account daily quota exhausted" in line


def test_check_reports_an_unknown_model(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELSCOPE_API_KEY", sim.token)
    assert main(["check", "--base-url", sim.base_url, "--model", "Nope/Nothing"]) == 1
    assert "Model not served" in _one_error_line(capsys.readouterr().err)


# --- simulate -------------------------------------------------------------------------------


def test_simulate_serves_the_simulator_until_stopped() -> None:
    with simulate("--add-model", "Org/Extra-Model", token="ms-test") as served:
        url = served.base_url
        models = httpx.get(f"{url}/models", timeout=10, trust_env=False).json()
        assert "Org/Extra-Model" in {m["id"] for m in models["data"]}
        reply = httpx.post(
            f"{url}/chat/completions",
            json={
                "model": "Qwen/Qwen2.5-7B-Instruct",
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"Authorization": "Bearer ms-test"},
            timeout=10,
            trust_env=False,
        )
        assert reply.status_code == 200
