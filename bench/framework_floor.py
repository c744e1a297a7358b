"""The frameworks' own floor for the concurrency case: what 200 ``ainvoke`` / ``achat`` cost
when the client under them costs nothing.

The core's ``ChatClient.acomplete`` is replaced by an ideal client: a semaphore of the pool's
size and an ``asyncio.sleep`` of the server's latency, then a canned answer. Whatever the wall
time exceeds the ideal by is LangChain's or LlamaIndex's own per-call work (callback managers,
run managers, tasks, message objects) plus our adapter's conversions, which no transport can
remove. ``bench.run``'s concurrency case is then read against this floor.

Run: ``.venv/bin/python -m bench.framework_floor [--rounds 9]``

Example:
    >>> floors = measure(rounds=3)
    >>> floors["ChatModelScope"] / floors["ideal_ms"]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import clients
from bench.servers import MODEL, InstantServer
from bench.timing import close_loop

CALLS = 200
LATENCY_S = 0.05


def _ideal_client(result: Any, pool: int) -> Callable[..., Awaitable[Any]]:
    """``ChatClient.acomplete`` for a client that costs nothing: wait for a slot, then latency."""
    slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    async def acomplete(self: Any, request: Any) -> Any:
        slot = slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(pool))
        async with slot:
            await asyncio.sleep(LATENCY_S)
        return result

    return acomplete


def _wall_ms(loop: asyncio.AbstractEventLoop, one: Callable[[], Awaitable[Any]]) -> float:
    async def fan_out() -> None:
        await asyncio.gather(*(one() for _ in range(CALLS)))

    gc.collect()
    start = time.perf_counter()
    loop.run_until_complete(fan_out())
    return (time.perf_counter() - start) * 1000


def measure(rounds: int = 9) -> dict[str, float]:
    """Median wall milliseconds of 200 concurrent calls per framework, with an ideal client."""
    from modelscope_inference import ChatRequest, ModelScopeClient
    from modelscope_inference.chat import ChatClient
    from modelscope_inference.transport import MAX_CONNECTIONS

    loop = asyncio.new_event_loop()
    original = ChatClient.acomplete
    try:
        with InstantServer() as server:
            url = server.url(tag=InstantServer.new_tag("floor"))
            client = ModelScopeClient.create(api_key=clients.TOKEN, base_url=url)
            request = ChatRequest(model=MODEL, messages=clients.MESSAGES)
            result = loop.run_until_complete(client.chat.acomplete(request))
            loop.run_until_complete(client.aclose())  # the one real call's pool, in its loop
            ChatClient.acomplete = _ideal_client(result, MAX_CONNECTIONS)  # type: ignore[method-assign]
            chat, llm = clients.chat_modelscope(url), clients.modelscope_llm(url)
            messages = clients.li_messages()
            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "ChatModelScope": lambda: chat.ainvoke("hi"),
                "ModelScopeLLM": lambda: llm.achat(messages),
            }
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for one in calls.values():
                _wall_ms(loop, one)  # warm-up
            for _ in range(rounds):
                for name, one in calls.items():
                    samples[name].append(_wall_ms(loop, one))
    finally:
        ChatClient.acomplete = original  # type: ignore[method-assign]
        close_loop(loop)
    ideal = math.ceil(CALLS / MAX_CONNECTIONS) * LATENCY_S * 1000
    return {"ideal_ms": ideal, **{name: statistics.median(v) for name, v in samples.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    floors = measure(parser.parse_args().rounds)
    ideal = floors["ideal_ms"]
    print(f"{CALLS} concurrent calls, ideal client, pool and latency as in bench.run:")
    for name, wall in floors.items():
        if name != "ideal_ms":
            print(f"  {name:15} {wall:7.1f} ms  = {wall / ideal:.2f}× the ideal {ideal:.0f} ms")


if __name__ == "__main__":
    main()
