"""Profile one contender's hot path against the instant server, with cProfile.

``python -m bench.hotpath OP [--client NAME] [--calls N] [--chunks N] [--sort tottime]``

``OP`` is ``invoke``, ``stream``, ``astream``, ``tools``, ``tool_stream``, ``ainvoke`` (200
concurrent at 50 ms) or ``apost`` (the async transport candidates, 200 concurrent POSTs at
50 ms); ``NAME`` is a variant name from :mod:`bench.ops` (default ``ChatModelScope``; for
``apost`` e.g. ``"core Transport.apost"``). Prints the top functions, so a regression in the
core shows up by name.

Example:
    $ python -m bench.hotpath stream --client ModelScopeLLM --chunks 2000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from collections.abc import Callable

from bench import ops
from bench.servers import InstantServer
from bench.timing import Variant, close_loop, time_once

BUILDERS: dict[str, Callable[[InstantServer, int], list[Variant]]] = {
    "invoke": lambda server, _: ops.invoke_variants(server.url()),
    "stream": lambda server, n: ops.stream_variants(server.url(n=n)),
    "astream": lambda server, n: ops.astream_variants(server.url(n=n)),
    "tools": lambda server, _: ops.tool_variants(server.url(kind="tools")),
    "tool_stream": lambda server, n: ops.tool_stream_variants(server.url(kind="tools", n=n)),
    "ainvoke": lambda server, _: ops.ainvoke_variants(server.url(ms=50), 200),
    "apost": lambda server, _: ops.transport_variants(server.url(ms=50), 200),
}


def profile(op: str, client: str, calls: int, chunks: int, sort: str, top: int) -> None:
    """Warm up, then profile ``calls`` calls of ``client``'s ``op`` and print the top lines."""
    with InstantServer() as server:
        variants = {v.name: v for v in BUILDERS[op](server, chunks)}
        variant = variants[client]
        loop = asyncio.new_event_loop() if variant.aio else None
        try:
            time_once(variant, 1, loop)
            profiler = cProfile.Profile()
            profiler.enable()
            seconds = time_once(variant, calls, loop)
            profiler.disable()
        finally:
            if loop is not None:
                close_loop(loop, list(variants.values()))
    print(f"{client} {op}: {seconds * 1000:.3f} ms per call (under the profiler)")
    pstats.Stats(profiler).strip_dirs().sort_stats(sort).print_stats(top)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("op", choices=sorted(BUILDERS))
    parser.add_argument("--client", default="ChatModelScope")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    profile(args.op, args.client, args.calls, args.chunks, args.sort, args.top)


if __name__ == "__main__":
    main()
