"""What the adaptive limiter costs a call: sequential ``invoke`` / ``ainvoke`` of
``ChatModelScope`` against the simulator (no latency), limiter on vs off, interleaved A/B/A/B
so the load of a busy machine falls on both alike. Prints the median per-call time of each.

Example:
    $ .venv/bin/python -m bench.limiter_hotpath --calls 300 --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from langchain_modelscope import ChatModelScope
from modelscope_inference.simulator import Simulator

MODEL = "Qwen/Qwen3-8B"


def _sync_round(llm: ChatModelScope, calls: int) -> float:
    gc.collect()
    started = time.perf_counter()
    for _ in range(calls):
        llm.invoke("hi")
    return (time.perf_counter() - started) / calls


async def _async_round(llm: ChatModelScope, calls: int) -> float:
    gc.collect()
    started = time.perf_counter()
    for _ in range(calls):
        await llm.ainvoke("hi")
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with Simulator(account_limit=10**9, default_model_limit=10**9) as sim:
        models = {
            on: ChatModelScope(
                model=MODEL, api_key=sim.token, base_url=sim.base_url, adaptive_concurrency=on
            )
            for on in (True, False)
        }
        samples: dict[tuple[str, bool], list[float]] = {}

        async def run_async() -> None:
            for llm in models.values():
                await _async_round(llm, 20)  # warm the loop's pool
            for _ in range(args.rounds):
                for on, llm in models.items():
                    samples.setdefault(("ainvoke", on), []).append(
                        await _async_round(llm, args.calls)
                    )

        for llm in models.values():
            _sync_round(llm, 20)
        for _ in range(args.rounds):
            for on, llm in models.items():
                samples.setdefault(("invoke", on), []).append(_sync_round(llm, args.calls))
        asyncio.run(run_async())
    for path in ("invoke", "ainvoke"):
        on = statistics.median(samples[(path, True)]) * 1e6
        off = statistics.median(samples[(path, False)]) * 1e6
        print(
            f"{path}: limiter on {on:.0f} µs/call, off {off:.0f} µs/call, on-off {on - off:+.0f} µs"
        )


if __name__ == "__main__":
    main()
