"""One worker process of the shared-limiter tests (run as a script, never collected).

``burst``: ``--calls`` chat calls through ``--tasks`` concurrent async tasks on a shared store,
then print ``{"ok": calls that succeeded, "start": the limit before any call, "end": the limit
after}``. ``--calls 0`` only reports the limit this process starts from.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from modelscope_inference import ChatRequest, ModelScopeClient


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("burst",))
    for name in ("--base-url", "--token", "--state", "--model"):
        parser.add_argument(name, required=True)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--max-concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=60.0)
    return parser.parse_args()


async def _burst(client: ModelScopeClient, model: str, calls: int, tasks: int) -> int:
    left, done = list(range(calls)), 0

    async def run() -> None:
        nonlocal done
        while left:
            i = left.pop()
            request = ChatRequest(model=model, messages=[{"role": "user", "content": f"q{i}"}])
            await client.chat.acomplete(request)
            done += 1

    try:
        await asyncio.gather(*(run() for _ in range(tasks)))
    finally:
        await client.aclose()
    return done


def main() -> None:
    args = _args()
    client = ModelScopeClient.create(
        api_key=args.token,
        base_url=args.base_url,
        state=args.state,
        max_retries=0,
        max_concurrency=args.max_concurrency,
        timeout=args.timeout,
    )
    limiter = client.chat.concurrency.limiter(args.model)
    start = limiter.limit
    ok = asyncio.run(_burst(client, args.model, args.calls, args.tasks))
    print(json.dumps({"ok": ok, "start": start, "end": limiter.limit}))


if __name__ == "__main__":
    main()
