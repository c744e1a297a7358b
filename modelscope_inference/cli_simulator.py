"""``modelscope-inference simulator ...`` and ``simulate --add-model``: steer a running simulator.

The verbs talk to the control API of a simulator started with ``modelscope-inference simulate``
(``/_simulator/...``, see docs/simulator.md) through
:class:`~modelscope_inference.simulator.remote.RemoteSimulator`:

    modelscope-inference simulator quota --model Qwen/Qwen3-32B --limit 0   # spend its quota
    modelscope-inference simulator script --text "Hello from the script"
    modelscope-inference simulator fault server_error --status 503 --times 2
    modelscope-inference simulator requests --last 5
    modelscope-inference simulator reset

Example:
    >>> parser = argparse.ArgumentParser(prog="x")
    >>> add_simulator_commands(parser.add_subparsers(dest="command"))
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelscope_inference.simulator.models import ModelSpec
    from modelscope_inference.simulator.remote import RemoteSimulator
    from modelscope_inference.simulator.script import Reply

__all__ = [
    "FAULT_KINDS",
    "MODEL_KINDS",
    "KindAction",
    "add_simulator_commands",
    "added_models",
]

DEFAULT_URL = "http://127.0.0.1:8000"
MODEL_KINDS = ("chat", "hybrid", "thinking", "vision", "embedding", "image")
# The simulator's ModelKind and FaultKind values, spelled out so that building the parser
# imports no simulator (and no web server); a test checks they stay the same.
FAULT_KINDS = (
    "rate_limit",
    "server_error",
    "empty_4xx",
    "slow_first_byte",
    "latency",
    "drop_after",
    "malformed_chunk",
    "null_choices",
    "tool_delta_no_index",
    "tool_delta_id_first_only",
    "shared_index_zero",
    "real_answer",
)


class SimulatorCommandError(RuntimeError):
    """A ``simulator`` verb given values it cannot use; the CLI prints it as one line."""


Command = Callable[[argparse.Namespace], int]


def _one_line_errors(command: Command) -> Command:
    """Bad JSON or a bad fault/reply value becomes a one-line CLI error, not a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ValueError as exc:
            raise SimulatorCommandError(str(exc)) from exc

    return run


# --- simulate --add-model ID [--kind KIND] ---------------------------------------------------


class AddModelAction(argparse.Action):
    """``--add-model ID``: one more served model, its kind to be given by a following ``--kind``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        models: list[list[str | None]] = list(getattr(namespace, self.dest) or [])
        models.append([str(values), None])
        setattr(namespace, self.dest, models)


class KindAction(argparse.Action):
    """``--kind KIND``: the kind of the model named by the ``--add-model`` just before it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        models = getattr(namespace, "add_model", None)
        if not models:
            parser.error("--kind applies to the --add-model before it: --add-model ID --kind KIND")
        if models[-1][1] is not None:
            parser.error(f"--add-model {models[-1][0]} already has a --kind")
        models[-1][1] = str(values)


def add_model_options(simulate: argparse.ArgumentParser) -> None:
    """``--add-model ID`` (repeatable), each optionally followed by ``--kind KIND``."""
    simulate.add_argument(
        "--add-model",
        action=AddModelAction,
        default=[],
        metavar="ID",
        help="serve an extra model id (repeatable); follow it with --kind, or the kind is "
        "guessed from the id and printed",
    )
    simulate.add_argument(
        "--kind",
        action=KindAction,
        choices=MODEL_KINDS,
        help="kind of the --add-model before it: chat (instruct), hybrid, thinking, vision, "
        "embedding, image",
    )


def added_models(pairs: Sequence[Sequence[str | None]]) -> tuple[list[ModelSpec], list[str]]:
    """The models ``--add-model``/``--kind`` ask for, and one line per model saying its kind
    and whether it was guessed (a silent guess surprised users: issue 16).

    >>> added_models([["Acme/NewThinker-Thinking", None]])[1][0]
    'added model Acme/NewThinker-Thinking as thinking (guessed from the id; choose with --kind)'
    """
    from modelscope_inference.simulator.wire import model_from_json

    specs: list[ModelSpec] = []
    lines: list[str] = []
    for model_id, kind in pairs:
        spec, guessed = model_from_json({"id": model_id, "kind": kind})
        specs.append(spec)
        how = " (guessed from the id; choose with --kind)" if guessed else ""
        lines.append(f"added model {spec.id} as {spec.kind.value}{how}")
    return specs, lines


# --- simulator VERB --url ... ----------------------------------------------------------------


def _remote(args: argparse.Namespace) -> RemoteSimulator:
    from modelscope_inference.simulator.remote import RemoteSimulator

    return RemoteSimulator(args.url, token=args.token, timeout=args.timeout)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _cmd_quota(args: argparse.Namespace) -> int:
    with _remote(args) as remote:
        if args.restore:
            remote.restore_quota(args.model, args.calls)
        changing = (args.limit, args.account_limit, args.default_model_limit)
        if any(value is not None for value in changing):
            if args.limit is not None and not args.model:
                raise SimulatorCommandError(
                    "--limit sets one model's daily calls: give --model ID too"
                )
            limits = {args.model: args.limit} if args.limit is not None else None
            remote.set_quota(args.account_limit, limits, args.default_model_limit)
        _print_json(remote.quota(args.model or ""))
    return 0


def _reply(args: argparse.Namespace) -> Reply:
    from modelscope_inference.simulator.script import Reply

    if args.error is not None:
        body = json.loads(args.body) if args.body else None
        return Reply.error(args.error, body)
    if args.tool is not None:
        return Reply.tool_call(args.tool, json.loads(args.args), reasoning=args.reasoning)
    return Reply.text(args.text or "", reasoning=args.reasoning)


def _cmd_script(args: argparse.Namespace) -> int:
    reply = _reply(args)
    with _remote(args) as remote:
        remote.script(reply, times=None if args.always else args.times)
    what = f"tool call {args.tool}" if args.tool else "text"
    if args.error is not None:
        what = f"error {args.error}"
    print(f"scripted: {what}, for the next {'chat requests' if args.always else args.times}")
    return 0


def _cmd_fault(args: argparse.Namespace) -> int:
    from modelscope_inference.simulator.wire import fault_from_json

    given = {
        "kind": args.fault_kind,
        "status": args.status,
        "seconds": args.seconds,
        "count": args.count,
        "retry_after": args.retry_after,
        "answer": args.answer,
    }
    fault = fault_from_json({k: v for k, v in given.items() if v is not None})
    times = None if args.always else args.times
    with _remote(args) as remote:
        remote.inject(fault, times=times, model=args.model)
    scope = f" for {args.model}" if args.model else ""
    print(f"injected: {fault.kind.value}{scope}, next {'requests' if times is None else times}")
    return 0


def _cmd_requests(args: argparse.Namespace) -> int:
    with _remote(args) as remote:
        requests = remote.requests
    shown = requests[-args.last :] if args.last else requests
    if args.json:
        _print_json(shown)
        return 0
    for entry in shown:
        model = entry.get("model") or "-"
        stream = " stream" if entry.get("stream") else ""
        print(f"{entry['method']} {entry['path']} {model}{stream} {entry['request_id']}")
    print(f"{len(shown)} of {len(requests)} recorded requests")
    return 0


def _cmd_reset(args: argparse.Namespace) -> int:
    with _remote(args) as remote:
        remote.reset()
    print("reset: requests, faults, scripts and quota counters cleared")
    return 0


def _cmd_add_model(args: argparse.Namespace) -> int:
    with _remote(args) as remote:
        added = remote.add_model(args.model_id, args.kind)
    how = " (guessed from the id; choose with --kind)" if added.get("guessed") else ""
    print(f"added model {added['id']} as {added['kind']}{how}")
    return 0


# --- parsers --------------------------------------------------------------------------------


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=f"the simulator's root or /v1 base URL (default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token", default="ms-simulator", help="the simulator's token (default ms-simulator)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")


def _times_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--times", type=int, default=1, help=f"{what} (default 1)")
    parser.add_argument("--always", action="store_true", help="every request until reset")


def _verb(verbs: Any, name: str, command: Command, summary: str) -> argparse.ArgumentParser:
    """One ``simulator`` verb: its parser, with the connection options and its command."""
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=summary, description=summary)
    parser.set_defaults(func=_one_line_errors(command))
    _connection_options(parser)
    return parser


def _quota_parser(verbs: Any) -> None:
    quota = _verb(
        verbs,
        "quota",
        _cmd_quota,
        "Print the daily quota counters; --limit, --account-limit or --default-model-limit "
        "change the limits first (0 spends that quota), --restore gives calls back.",
    )
    quota.add_argument("--model", help="the model whose counters to show or change")
    quota.add_argument("--limit", type=int, help="daily calls for --model (0: spent)")
    quota.add_argument("--account-limit", type=int, help="daily calls for the account")
    quota.add_argument("--default-model-limit", type=int, help="daily calls for other models")
    quota.add_argument("--restore", action="store_true", help="give spent calls back")
    quota.add_argument("--calls", type=int, help="with --restore: how many (default all)")


def _script_parser(verbs: Any) -> None:
    script = _verb(
        verbs, "script", _cmd_script, "Queue an exact reply: text, a tool call or an HTTP error."
    )
    what = script.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="answer with this text")
    what.add_argument("--tool", metavar="NAME", help="answer with a call of this tool")
    what.add_argument("--error", type=int, metavar="STATUS", help="answer with this HTTP status")
    script.add_argument("--args", default="{}", help="with --tool: the arguments, as JSON")
    script.add_argument("--body", help="with --error: the body, as JSON (default: none)")
    script.add_argument("--reasoning", help="reasoning text sent before the answer")
    _times_options(script, "how many times the reply is used")


def _fault_parser(verbs: Any) -> None:
    fault = _verb(
        verbs,
        "fault",
        _cmd_fault,
        "Inject a fault for the next request(s): 429, 5xx, slow or dropped answers, broken "
        "streams (the kinds: docs/simulator.md).",
    )
    fault.add_argument("fault_kind", choices=FAULT_KINDS, metavar="KIND", help="the fault")
    fault.add_argument("--status", type=int, help="server_error, empty_4xx: the status")
    fault.add_argument("--seconds", type=float, help="latency, slow_first_byte: the delay")
    fault.add_argument("--count", type=int, help="drop_after, malformed_chunk, null_choices")
    fault.add_argument("--retry-after", type=float, help="rate_limit: the Retry-After header")
    fault.add_argument("--answer", help="real_answer: its name, e.g. model_retired")
    fault.add_argument("--model", help="only requests for this model")
    _times_options(fault, "how many requests it applies to")


def add_simulator_commands(commands: Any) -> None:
    """Add ``simulator quota|script|fault|requests|reset|add-model`` to the subcommands."""
    simulator = commands.add_parser(
        "simulator",
        help="steer a running simulator: quota, script, fault, requests, reset, add-model",
        description="Steer a simulator started with `modelscope-inference simulate`, through "
        "its control API (/_simulator/...).",
    )
    verbs = simulator.add_subparsers(dest="verb", required=True, metavar="VERB")
    _quota_parser(verbs)
    _script_parser(verbs)
    _fault_parser(verbs)
    requests = _verb(verbs, "requests", _cmd_requests, "Print the request log, oldest first.")
    requests.add_argument("--last", type=int, default=0, help="only the last N requests")
    requests.add_argument("--json", action="store_true", help="the full records, as JSON")
    _verb(verbs, "reset", _cmd_reset, "Clear requests, faults, scripts and quota counters.")
    add = _verb(verbs, "add-model", _cmd_add_model, "Serve one more model id.")
    add.add_argument("model_id", metavar="ID")
    add.add_argument("--kind", choices=MODEL_KINDS, help="default: guessed from the id")
