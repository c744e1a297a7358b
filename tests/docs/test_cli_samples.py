"""The sample outputs in docs/cli.md are what the commands print today, against the simulator.

A sample is a ``text`` block whose first line is ``$ [NAME=VALUE ...] modelscope-inference ...``.
In its output a line ``...`` stands for any number of lines and ``…`` for any text within a line;
``http://127.0.0.1:8000/v1`` stands for the test's simulator.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from modelscope_inference.cli import main
from modelscope_inference.simulator import Simulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
DOC_URL = "http://127.0.0.1:8000/v1"
_SAMPLE = re.compile(r"^```text\n\$ (?P<command>.+?)\n(?P<output>.*?)^```", re.S | re.M)
_ENV = re.compile(r"^[A-Z_]+=")


def _samples() -> list[tuple[str, str]]:
    return [(m["command"], m["output"]) for m in _SAMPLE.finditer(DOC.read_text("utf8"))]


def output_pattern(sample: str) -> re.Pattern[str]:
    """The sample's lines in order: ``...`` skips lines, ``…`` skips text within a line.

    Example:
        >>> bool(output_pattern("a…\\n...\\nz\\n").search("ab\\nc\\nz\\n"))
        True
    """
    parts = []
    for line in sample.splitlines():
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(r"[^\n]*?".join(map(re.escape, line.split("…"))) + r"\n")
    return re.compile("^" + "".join(parts), re.M)


def test_cli_md_has_samples_of_the_commands() -> None:
    commands = {shlex.split(command)[0] for command, _ in _samples()}
    assert len(_samples()) >= 3
    assert commands <= {"modelscope-inference", "MODELSCOPE_API_KEY=ms-wrong"}


def test_a_stale_sample_does_not_match() -> None:
    real = "22 models from GET http://127.0.0.1:8000/v1/models.\n"
    assert not output_pattern("15 models from GET …\n").search(real)
    assert output_pattern("22 models from GET …\n").search(real)


@pytest.mark.parametrize(("command", "sample"), _samples(), ids=[c for c, _ in _samples()])
def test_the_sample_is_what_the_command_prints(
    command: str,
    sample: str,
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    words = shlex.split(command.replace(DOC_URL, sim.base_url))
    while _ENV.match(words[0]):
        monkeypatch.setenv(*words.pop(0).split("=", 1))
    assert words[0] == "modelscope-inference"
    monkeypatch.chdir(tmp_path)
    main(words[1:])
    captured = capsys.readouterr()
    printed = (captured.out + captured.err).replace(sim.base_url, DOC_URL)
    assert output_pattern(sample).search(printed), printed
