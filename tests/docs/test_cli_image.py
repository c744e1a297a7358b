"""``modelscope-inference image`` (issue 17): with no token it draws on the embedded simulator."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest

from modelscope_inference.cli import main
from modelscope_inference.simulator import Simulator
from modelscope_inference.simulator.models import IMAGE_MODELS


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _ihdr(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_with_no_token_the_cli_writes_a_png_of_the_requested_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "cat.png"
    code = main(["image", "a golden cat", "-o", str(target), "--size", "96x64", "--seed", "5"])
    assert code == 0
    assert _ihdr(target) == (96, 64)
    out, err = capsys.readouterr()
    line = json.loads(out)  # not a terminal: one parsable line
    assert line["path"] == str(target) and line["status"] == "SUCCEED" and line["task_id"]
    assert "embedded simulator" in err


def test_on_a_terminal_a_progress_line_shows_status_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal, screen = _Terminal(), _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("sys.stdout", screen)
    # Z-Image-Turbo's smallest side is 512
    args = ["image", "a fox", "-o", str(tmp_path / "f.png"), "--model", "Tongyi-MAI/Z-Image-Turbo"]
    assert main([*args, "--size", "512x512"]) == 0
    progress = terminal.getvalue()
    assert "\r  RUNNING" in progress and " s  task " in progress
    assert screen.getvalue().startswith(f"saved {tmp_path / 'f.png'}")
    assert _ihdr(tmp_path / "f.png") == (512, 512)


def test_a_refused_size_is_one_error_line_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "x.png"
    assert main(["image", "a cat", "-o", str(target), "--size", "4000x4000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "64x64 to 1664x1664" in err
    assert not target.exists()


def test_resuming_an_unknown_task_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["image", "--task-id", "nope", "-o", str(tmp_path / "x.png")]) == 1
    assert "task not found" in capsys.readouterr().err


def test_models_kind_image_lists_the_image_models(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator() as sim:
        assert main(["models", "--kind", "image", "--base-url", sim.base_url]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if "/" in line.split(" ")[0]]
    assert {row[0] for row in rows} == set(IMAGE_MODELS)
    assert all(row[1] == "image" for row in rows)
    assert f"{len(IMAGE_MODELS)} of " in out
