"""``modelscope-inference image``: generate one image and save it as a file.

On a terminal a live line shows the task's status and the time waited; otherwise the command
is quiet and prints one JSON line (``path``, ``url``, ``task_id``, ``model``, ``polls``,
``elapsed``). With no token set (or ``--simulator``) it runs against the embedded simulator,
as the demo does. ``--task-id`` resumes a task a timeout left running.

Example:
    >>> main(["image", "a golden cat", "-o", "cat.png", "--size", "512x512"])
    0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from modelscope_inference._lazy import caught
from modelscope_inference.images import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_TIMEOUT,
    ImageRequest,
    ImageResult,
    ImageTask,
    Progress,
)
from modelscope_inference.settings import TOKEN_ENV_VARS

if TYPE_CHECKING:
    from modelscope_inference.client import ModelScopeClient


EMBEDDED_TASK_SECONDS = 2.0
"""How long the embedded simulator's tasks run: long enough to show the progress line."""


class ProgressLine:
    """One line on a terminal, rewritten in place: ``  RUNNING   12.4 s  task 5f1c...``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.width = 0

    def show(self, status: str, elapsed: float, task_id: str) -> None:
        """Rewrite the line with the latest status."""
        text = f"  {status:<9} {elapsed:6.1f} s  task {task_id}"
        self.out.write("\r" + text.ljust(self.width))
        self.width = len(text)
        self.out.flush()

    def end(self) -> None:
        """Move past the line, if one was written."""
        if self.width:
            self.out.write("\n")
            self.out.flush()


def _token_set() -> bool:
    return any(os.environ.get(name, "").strip() for name in TOKEN_ENV_VARS)


@contextmanager
def _connection(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Client options: the environment's service, or an embedded simulator (no token)."""
    if _token_set() and not args.simulator:
        yield {"base_url": args.base_url}
        return
    from modelscope_inference.simulator import Simulator

    with Simulator() as sim:
        sim.images.duration = EMBEDDED_TASK_SECONDS
        print(f"(using the embedded simulator at {sim.base_url}: no token set)", file=sys.stderr)
        yield {"api_key": sim.token, "base_url": sim.base_url}


def _request(args: argparse.Namespace) -> ImageRequest:
    return ImageRequest(
        prompt=args.prompt,
        model=args.model,
        negative_prompt=args.negative_prompt,
        size=args.size,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
    )


def run_image(args: argparse.Namespace) -> int:
    """The ``image`` command: generate (or resume ``--task-id``), save, report."""
    from modelscope_inference.client import ModelScopeClient

    if args.task_id is None and not args.prompt:
        raise RuntimeError("give a prompt, or --task-id to resume a task")
    live = ProgressLine(sys.stderr) if sys.stderr.isatty() else None

    def progress(task: ImageTask, elapsed: float) -> None:
        if live is not None:
            live.show(task.status, elapsed, task.task_id)

    with _connection(args) as options:
        client = ModelScopeClient.create(**options)
        try:
            result = _result(client, args, progress)
        except caught.ImageTaskTimeoutError as exc:
            raise _resumable(exc) from exc
        finally:
            if live is not None:
                live.end()
        path = client.images.save(result, args.output)
    _report(result, path, tty=sys.stdout.isatty())
    return 0


def _result(client: ModelScopeClient, args: argparse.Namespace, progress: Progress) -> ImageResult:
    if args.task_id is not None:
        return client.images.wait(
            args.task_id, model=args.model, timeout=args.wait, on_progress=progress
        )
    return client.images.generate(_request(args), timeout=args.wait, on_progress=progress)


def _resumable(exc: Any) -> RuntimeError:
    """The timeout, with the command that resumes it."""
    return RuntimeError(
        f"{exc} From the command line: modelscope-inference image --task-id {exc.task_id} -o FILE"
    )


def _report(result: ImageResult, path: Path, *, tty: bool) -> None:
    if tty:
        print(f"saved {path} ({result.model}, task {result.task_id}, {result.elapsed:.1f} s)")
        print(f"url   {result.url}")
        return
    line = {"path": str(path), "url": result.url, **result.to_dict()}
    print(json.dumps(line, ensure_ascii=False))


def add_image_command(commands: Any) -> None:
    """Add ``image`` to the CLI's sub-commands."""
    image = commands.add_parser(
        "image",
        help="generate an image and save it (AIGC models)",
        description="Generate an image with a ModelScope AIGC model and save it. Uses the real "
        "service when MODELSCOPE_API_KEY is set (one call of the AIGC quota), otherwise the "
        "embedded simulator. Quiet JSON output when not on a terminal.",
    )
    image.add_argument("prompt", nargs="?", help="what the image should show")
    image.add_argument("-o", "--output", default="image.png", help="file to write (image.png)")
    image.add_argument(
        "--model", default=DEFAULT_IMAGE_MODEL, help=f"default {DEFAULT_IMAGE_MODEL}"
    )
    image.add_argument("--size", help="WIDTHxHEIGHT, e.g. 1024x1024 (range per model family)")
    image.add_argument("--seed", type=int, help="0 to 2147483647, for a reproducible image")
    image.add_argument("--negative-prompt", help="what the image must not show")
    image.add_argument("--steps", type=int, help="1 to 100")
    image.add_argument("--guidance", type=float, help="1.5 to 20")
    image.add_argument("--task-id", help="resume waiting for this task instead of submitting")
    image.add_argument(
        "--wait", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for the task (300)"
    )
    image.add_argument(
        "--simulator", action="store_true", help="use the simulator even with a token"
    )
    image.add_argument("--base-url", default=None, help="API root (default: MODELSCOPE_BASE_URL)")
    image.set_defaults(func=run_image)
