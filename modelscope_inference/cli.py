"""``modelscope-inference``: ``demo``, ``models``, ``check``, ``simulate``, ``simulator`` and
``image``.

Every command has ``--help``. Failures print one line on stderr (``error: ...``, with the token
redacted) and exit non-zero; no traceback. ``python -m modelscope_inference`` is the same command.

Example:
    >>> main(["models", "--kind", "embedding"])  # GET /v1/models, no token needed
    0
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

import httpx

from modelscope_inference import catalog
from modelscope_inference._lazy import caught, errors
from modelscope_inference.cli_images import add_image_command
from modelscope_inference.cli_simulator import (
    add_model_options,
    add_simulator_commands,
    added_models,
)
from modelscope_inference.quota import QUOTA_HEADERS, QuotaStatus, reset_sentence, utc_now
from modelscope_inference.redaction import redact
from modelscope_inference.settings import DEFAULT_BASE_URL, resolve_base_url

CHECK_MODEL = "Qwen/Qwen2.5-7B-Instruct"
KINDS = ("chat", "vision", "embedding", "image")


class CommandError(Exception):
    """A failure the CLI reports as one line, e.g. an unreachable ``/v1/models``."""


# --- models ---------------------------------------------------------------------------------


def fetch_model_ids(base_url: str | None, timeout: float) -> tuple[str, list[str]]:
    """``GET {base}/models`` without a token (the endpoint is public: modelscope-api.md §1.5).

    Returns the URL asked and the sorted ids. No token is sent, so none can leak.
    """
    url = resolve_base_url(base_url) + "/models"
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise CommandError(f"{url} did not answer within {timeout:g} s ({exc}).") from exc
    except httpx.TransportError as exc:
        raise CommandError(
            f"cannot reach {url} ({exc or type(exc).__name__}). Check the network, any proxy "
            "settings, or --base-url."
        ) from exc
    if not response.is_success:
        raise errors.classify_error(response, model=None)
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError) as exc:
        raise CommandError(f"{url} did not answer with an OpenAI model list.") from exc
    ids = [m["id"] for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    return url, sorted(set(ids))


def _context(tokens: int) -> str:
    return f"{tokens // 1024}K" if tokens >= 1024 and tokens % 1024 == 0 else str(tokens)


def model_rows(ids: Sequence[str], kind: str | None) -> list[tuple[str, ...]]:
    """One table row per id, with the catalog's capabilities, filtered by ``kind``."""
    rows: list[tuple[str, ...]] = []
    for model_id in ids:
        info = catalog.lookup(model_id)
        if kind and info.kind != kind:
            continue
        tools = "yes" if info.tool_calling else "no"
        thinking = info.thinking if info.is_chat else "-"
        family = info.family if info.known else "? (defaults)"
        # An image model reads a prompt, not a conversation: no context window to show.
        context = "-" if info.kind == "image" else _context(info.context_window)
        rows.append((model_id, info.kind, thinking, tools, context, family))
    return rows


def _print_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _cmd_models(args: argparse.Namespace) -> int:
    url, ids = fetch_model_ids(args.base_url, args.timeout)
    rows = model_rows(ids, args.kind)
    if rows:
        _print_table(rows, ("MODEL", "KIND", "THINKING", "TOOLS", "CONTEXT", "FAMILY"))
    shown = f"{len(rows)} of {len(ids)}" if args.kind else str(len(ids))
    print(
        f"\n{shown} models from GET {url}. Capabilities come from this library's catalog "
        "(the endpoint lists ids only); the list can include retired models."
    )
    return 0


# --- check ----------------------------------------------------------------------------------


def quota_lines(status: QuotaStatus, now: datetime) -> list[str]:
    """The four ``modelscope-ratelimit-*`` values and the reset time, as printable lines."""
    values = (
        status.account_limit,
        status.account_remaining,
        status.model_limit,
        status.model_remaining,
    )
    width = max(len(h) for h in QUOTA_HEADERS) + 1
    lines = [
        f"  {(name + ':').ljust(width)} {'(not sent)' if value is None else value}"
        for name, value in zip(QUOTA_HEADERS, values, strict=True)
    ]
    if all(v is None for v in values):
        lines.append(
            "  The service sent no quota headers; they are undocumented and may have changed "
            "(see the quotas guide)."
        )
    lines.append(f"  {reset_sentence(status, now)}")
    return lines


def _cmd_check(args: argparse.Namespace) -> int:
    from modelscope_inference.chat import ChatRequest
    from modelscope_inference.client import ModelScopeClient

    client = ModelScopeClient.create(
        base_url=args.base_url, timeout=args.timeout, max_retries=1, preflight=False
    )
    # reference: modelscope-api.md §1.5, /v1/models accepts any token: validate with one
    # minimal chat call instead (max_tokens=1, thinking off where the model allows it).
    thinking_off = None if catalog.lookup(args.model).thinking == "always" else False
    request = ChatRequest(
        model=args.model,
        messages=[{"role": "user", "content": "ping"}],
        params={"max_tokens": 1},
        enable_thinking=thinking_off,
        stream_usage=False,
    )
    result = client.chat.complete(request)
    status = result.quota or client.quota_status(result.model)
    print(
        f"ok: ModelScope accepted the token {client.settings.masked_token} "
        f"({result.model} at {client.settings.base_url}; this check spent 1 call)."
    )
    print("\n".join(quota_lines(status, utc_now())))
    return 0


# --- demo and simulate ----------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from modelscope_inference.demo import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            force_simulator=args.simulator,
            chat_model=args.model,
            thinking_model=args.thinking_model,
            embedding_model=args.embedding_model,
        )
    )


def _cmd_simulate(args: argparse.Namespace) -> int:
    try:
        from modelscope_inference.simulator import serve
    except ImportError as exc:
        raise CommandError(
            f"the simulator needs the simulator extra ({exc.name} is missing): "
            "pip install -e '.[simulator]' from a clone of modelscope-inference"
        ) from exc
    models, lines = added_models(args.add_model)
    for line in lines:
        print(line, file=sys.stderr, flush=True)
    serve(
        host=args.host,
        port=args.port,
        token=args.token,
        latency=args.latency,
        account_limit=args.account_limit,
        default_model_limit=args.model_limit,
        models=models,
    )
    return 0


# --- parser ---------------------------------------------------------------------------------


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def _add_base_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        default=None,
        help=f"API root (default: MODELSCOPE_BASE_URL, else {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--timeout", type=_positive, default=30.0, help="seconds per request (default 30)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from modelscope_inference.demo import CHAT_MODEL, EMBEDDING_MODEL, THINKING_MODEL

    parser = argparse.ArgumentParser(
        prog="modelscope-inference",
        description="ModelScope API-Inference for LangChain and LlamaIndex: a demo, the model "
        "list, a token check, and a local simulator of the service.",
        epilog="The token comes from MODELSCOPE_API_KEY (or MODELSCOPE_SDK_TOKEN). Create one "
        "at https://modelscope.cn/my/myaccesstoken.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="a short tour: chat, reasoning, an agent, RAG, quota",
        description="A short tour: plain chat, streaming with reasoning, a LangChain agent with "
        "two tools, a LlamaIndex RAG answer, and the quota left. Uses the real service when "
        "MODELSCOPE_API_KEY is set (about 8 calls of the daily quota), otherwise the embedded "
        "simulator.",
    )
    demo.add_argument(
        "--simulator", action="store_true", help="use the simulator even with a token"
    )
    demo.add_argument("--model", default=CHAT_MODEL, help=f"chat model (default {CHAT_MODEL})")
    demo.add_argument("--thinking-model", default=THINKING_MODEL, help=f"default {THINKING_MODEL}")
    demo.add_argument(
        "--embedding-model", default=EMBEDDING_MODEL, help=f"default {EMBEDDING_MODEL}"
    )
    demo.set_defaults(func=_cmd_demo)

    models = commands.add_parser(
        "models",
        help="list the API-Inference models and their capabilities",
        description="List the ids served by API-Inference (GET /v1/models, no token needed) "
        "with the capabilities this library's catalog knows for them.",
    )
    models.add_argument("--kind", choices=KINDS, help="show only this kind of model")
    _add_base_url(models)
    models.set_defaults(func=_cmd_models)

    check = commands.add_parser(
        "check",
        help="validate the token with one minimal call; show the quota left",
        description="Validate MODELSCOPE_API_KEY with one minimal chat call (max_tokens=1; "
        "/v1/models cannot validate a token: it accepts any) and print the four "
        "modelscope-ratelimit-* headers and the reset time. Spends one call.",
    )
    check.add_argument(
        "--model", default=CHECK_MODEL, help=f"model for the call (default {CHECK_MODEL})"
    )
    _add_base_url(check)
    check.set_defaults(func=_cmd_check)

    simulate = commands.add_parser(
        "simulate",
        help="serve the local ModelScope simulator",
        description="Serve the local API-Inference simulator in the foreground (Ctrl+C to "
        "stop). Point clients at http://HOST:PORT/v1 with the simulator's token.",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    simulate.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    simulate.add_argument(
        "--token", default="ms-simulator", help="the one token accepted (default ms-simulator)"
    )
    simulate.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every request"
    )
    simulate.add_argument(
        "--account-limit", type=int, default=2000, help="daily calls per account (default 2000)"
    )
    simulate.add_argument(
        "--model-limit", type=int, default=500, help="daily calls per model (default 500)"
    )
    add_model_options(simulate)
    simulate.set_defaults(func=_cmd_simulate)
    add_image_command(commands)
    add_simulator_commands(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modelscope-inference")
    except PackageNotFoundError:
        return "unknown"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)


# What a shell reports for a command killed by SIGPIPE (128 + 13): `cmd | head` stays quiet.
READER_GONE = 141


def _reader_gone() -> int:
    """Stdout's reader closed the pipe (``... | head``): exit quietly, as a SIGPIPE would.

    Python ignores SIGPIPE, so the write raises ``BrokenPipeError`` instead. Output still
    buffered would raise again when the interpreter flushes stdout at exit, so stdout is
    pointed at ``os.devnull`` first (the pattern of the Python docs, "Note on SIGPIPE").
    """
    with contextlib.suppress(OSError, ValueError):  # no real descriptor (an in-process capture)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return READER_GONE


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # an OSError, but not a failure to report: main() handles it
    except (caught.ModelScopeError, CommandError, OSError, ImportError, RuntimeError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modelscope-inference`` command; returns the exit status.

    Failures print one ``error:`` line; a reader that stops early (``... | head -3``) ends the
    command quietly with status 141, like a SIGPIPE.

    Example:
        >>> main(["models", "--kind", "image"])
        0
    """
    try:
        status = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
    except BrokenPipeError:
        return _reader_gone()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
