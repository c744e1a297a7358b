"""``modelscope-inference``: demo, models, check and simulate.

Errors print as one clear line and exit non-zero; no traceback.

Example:
    $ modelscope-inference simulate --port 8000
    $ modelscope-inference check
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from modelscope_inference.errors import ModelScopeError
from modelscope_inference.redaction import redact

DEMO_MODEL = "Qwen/Qwen2.5-7B-Instruct"


def _cmd_simulate(args: argparse.Namespace) -> int:
    from modelscope_inference.simulator import serve

    print(f"ModelScope simulator on http://{args.host}:{args.port}/v1 (token {args.token!r})")
    serve(host=args.host, port=args.port, token=args.token)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from modelscope_inference.chat import ChatRequest
    from modelscope_inference.client import ModelScopeClient

    request = ChatRequest(model=args.model, messages=[{"role": "user", "content": "Say hello."}])
    if os.environ.get("MODELSCOPE_API_KEY"):
        print("Using the real ModelScope service (MODELSCOPE_API_KEY is set).")
        client = ModelScopeClient.create()
        print(client.chat.complete(request).content)
        return 0
    from modelscope_inference.simulator import Simulator

    print("No MODELSCOPE_API_KEY set: using the embedded ModelScope simulator.")
    with Simulator() as sim:
        client = ModelScopeClient.create(api_key=sim.token, base_url=sim.base_url)
        print(client.chat.complete(request).content)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="modelscope-inference",
        description="ModelScope API-Inference for LangChain and LlamaIndex: tools and simulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="a short tour (uses the simulator without a token)")
    demo.add_argument("--model", default=DEMO_MODEL, help="chat model id")
    demo.set_defaults(func=_cmd_demo)

    simulate = commands.add_parser("simulate", help="serve the local ModelScope simulator")
    simulate.add_argument("--host", default="127.0.0.1", help="bind address (loopback)")
    simulate.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    simulate.add_argument("--token", default="ms-simulator", help="the one token accepted")
    simulate.set_defaults(func=_cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modelscope-inference`` command."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except (ModelScopeError, OSError, ImportError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
