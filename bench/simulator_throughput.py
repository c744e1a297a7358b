"""Throughput of the ModelScope simulator itself, so client benchmarks know their ceiling.

Measures, against a fresh in-process simulator:

- non-streaming chat requests per second (one `httpx.Client`, sequential, brain replies);
- streaming SSE chunks per second (a scripted 20,000-chunk reply, read as raw bytes).

Run: `python bench/simulator_throughput.py [--seconds 3]`; or import `measure(seconds)`.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import httpx

from modelscope_inference.simulator import Reply, Simulator

MODEL = "Qwen/Qwen2.5-7B-Instruct"
STREAM_CHUNKS = 20_000
_UNLIMITED = 10**12


def _requests_per_second(client: httpx.Client, url: str, seconds: float) -> float:
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        client.post(url, json=payload).raise_for_status()
        count += 1
    return count / (time.perf_counter() - start)


def _chunks_per_second(client: httpx.Client, url: str, sim: Simulator, seconds: float) -> float:
    sim.script(Reply(chunks=["tok "] * STREAM_CHUNKS), times=None)
    payload = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    chunks, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline or chunks == 0:
        with client.stream("POST", url, json=payload) as response:
            response.raise_for_status()
            for raw in response.iter_raw():
                chunks += raw.count(b"data: ")
    sim.reset()
    return chunks / (time.perf_counter() - start)


def measure(seconds: float = 3.0) -> dict[str, Any]:
    """Run both measurements, `seconds` each; return a JSON-ready dict.

    >>> measure(0.2)["requests_per_s"] > 0  # doctest: +SKIP
    True
    """
    with Simulator(
        account_limit=_UNLIMITED, default_model_limit=_UNLIMITED, max_recorded=1000
    ) as sim:
        url = f"{sim.base_url}/chat/completions"
        headers = {"Authorization": f"Bearer {sim.token}"}
        with httpx.Client(headers=headers, timeout=60) as client:
            client.post(
                url, json={"model": MODEL, "messages": [{"role": "user", "content": "warm"}]}
            )
            rps = _requests_per_second(client, url, seconds)
            cps = _chunks_per_second(client, url, sim, seconds)
    return {
        "requests_per_s": round(rps, 1),
        "stream_chunks_per_s": round(cps, 1),
        "stream_reply_chunks": STREAM_CHUNKS,
        "seconds_each": seconds,
    }


def main() -> None:
    """Command-line entry point: print a summary line and the JSON dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    result = measure(parser.parse_args().seconds)
    print(
        f"simulator: {result['requests_per_s']:.0f} non-stream requests/s, "
        f"{result['stream_chunks_per_s']:.0f} stream chunks/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
