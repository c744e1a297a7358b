"""Bulk work under a moving concurrency cap (issue 18): the adaptive limiter against an oracle,
no limiter, and LangChain's ``InMemoryRateLimiter`` at hand-tuned rates.

Two workloads, each against the simulator with ``--latency`` per request and a per-model cap
that follows ``--schedule`` (``(seconds from the start, cap)`` steps, 1 → 4 → 2 → 8 by default),
restarted at the start of every run:

- ``chat``: ``ChatModelScope.abatch`` over N prompts (500; ``--quick``: 100);
- ``embed``: ``VectorStoreIndex.from_documents`` over N one-text documents (5,000; ``--quick``:
  1,000) with ``ModelScopeEmbedding`` and ``use_async=True``; each document is one short
  sentence, so one node (``transformations=[]`` does not skip LlamaIndex's default splitter:
  an empty list falls back to ``Settings.transformations``, ~0.75 s before the first request).

Variants: ``adaptive`` (the default client), ``oracle`` (the limiter off, and a gate that lets a
request go only while fewer than the cap *at that moment* are in flight: it reads the
simulator's schedule), ``none`` (the limiter off: every call at once), and ``rate=R``
(``InMemoryRateLimiter(requests_per_second=R)``, the limiter off). 429s and requests are counted
from the simulator's request log; failures are calls that raised after their retries.

Example:
    $ .venv/bin/python -m bench.adaptive --quick
    $ .venv/bin/python -m bench.adaptive --rounds 2 --rates 20,40
    $ .venv/bin/python -m bench.adaptive --quick --calls 20 --texts 160 --json out.json  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from modelscope_inference.limiter import forget_limits
from modelscope_inference.quota import tracker_for
from modelscope_inference.simulator import Simulator

CHAT_MODEL = "Qwen/Qwen3-8B"
EMBED_MODEL = "Qwen/Qwen3-Embedding-0.6B"
DEFAULT_SCHEDULE = "0:1,2:4,4:2,6:8"


@dataclass
class Outcome:
    """One run of one variant."""

    workload: str
    variant: str
    seconds: float
    requests: int
    refused: int
    failures: int

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0


class OracleGate:
    """A concurrency gate that knows the simulator's cap at every moment (the bound no client
    can beat without knowing the schedule): a call goes only while fewer than the cap are in
    flight. Waiting tasks queue in order; a slot is handed on when a call ends, and while any
    task waits one timer re-reads the cap every millisecond (a cap that went up).

    One timer, not a poll per waiting task: 500 tasks each sleeping a millisecond keep this
    thread busy, and the simulator's thread in the same process then waits for the GIL on
    every socket call (the convoy effect): on an idle 2-CPU machine the oracle's 500 calls
    took 300 s instead of 10 (25 s with ``sys.setswitchinterval(0.0005)``).
    """

    enabled = True
    TICK = 0.001

    def __init__(self, sim: Simulator, model: str) -> None:
        self.sim = sim
        self.model = model
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._tick: asyncio.TimerHandle | None = None

    def _free(self) -> bool:
        cap = self.sim.concurrency_cap(self.model)
        return cap is None or self.in_flight < cap

    def _dispatch(self) -> None:
        """Hand free slots to the oldest waiters; one re-check a tick later while any waits."""
        while self._waiters and self._free():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
        if self._waiters and self._tick is None:
            self._tick = asyncio.get_running_loop().call_later(self.TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        self._dispatch()

    async def _enter(self) -> None:
        if not self._waiters and self._free():
            self.in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._dispatch()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # granted as it was cancelled
                self._leave()
            raise

    def _leave(self) -> None:
        self.in_flight -= 1
        self._dispatch()

    @asynccontextmanager
    async def ahold(self, model: str) -> AsyncIterator[Callable[[], None]]:
        await self._enter()
        try:
            yield _accepted
        finally:
            self._leave()

    @contextmanager
    def hold(self, model: str) -> Iterator[Callable[[], None]]:
        while not self._free():  # the bench's calls are async; a thread or two may poll
            time.sleep(self.TICK)
        self.in_flight += 1
        try:
            yield _accepted
        finally:
            self.in_flight -= 1


def _accepted() -> None:
    """The oracle learns nothing from a request the service accepted."""


class LlamaRateLimiter:
    """LangChain's ``InMemoryRateLimiter`` behind LlamaIndex's ``rate_limiter`` hook."""

    def __init__(self, rate: float) -> None:
        from langchain_core.rate_limiters import InMemoryRateLimiter

        self.inner = InMemoryRateLimiter(
            requests_per_second=rate, check_every_n_seconds=0.005, max_bucket_size=1
        )

    def acquire(self, num_tokens: int = 0) -> None:
        self.inner.acquire()

    async def async_acquire(self, num_tokens: int = 0) -> None:
        await self.inner.aacquire()


def parse_schedule(text: str) -> list[tuple[float, int]]:
    """``"0:1,2:4"`` → ``[(0.0, 1), (2.0, 4)]``."""
    steps = []
    for part in text.split(","):
        at, cap = part.split(":")
        steps.append((float(at), int(cap)))
    return steps


def _options(sim: Simulator, variant: str) -> dict[str, Any]:
    options: dict[str, Any] = {"api_key": sim.token, "base_url": sim.base_url, "timeout": 600}
    if variant != "adaptive":
        options["adaptive_concurrency"] = False
    return options


def _chat_model(sim: Simulator, variant: str) -> Any:
    from langchain_modelscope import ChatModelScope

    options = _options(sim, variant)
    if variant.startswith("rate="):
        from langchain_core.rate_limiters import InMemoryRateLimiter

        rate = float(variant.split("=", 1)[1])
        options["rate_limiter"] = InMemoryRateLimiter(
            requests_per_second=rate, check_every_n_seconds=0.005, max_bucket_size=1
        )
    llm = ChatModelScope(model=CHAT_MODEL, max_tokens=16, **options)
    if variant == "oracle":
        llm._core.chat.concurrency = OracleGate(sim, CHAT_MODEL)
    return llm


def _embed_model(sim: Simulator, variant: str) -> Any:
    from llama_index_modelscope import ModelScopeEmbedding

    options = _options(sim, variant)
    options["api_base"] = options.pop("base_url")
    if variant.startswith("rate="):
        options["rate_limiter"] = LlamaRateLimiter(float(variant.split("=", 1)[1]))
    embed = ModelScopeEmbedding(model_name=EMBED_MODEL, **options)
    if variant == "oracle":
        embed._core().embeddings.concurrency = OracleGate(sim, EMBED_MODEL)
    return embed


async def _run_chat(sim: Simulator, variant: str, n: int) -> int:
    llm = _chat_model(sim, variant)
    prompts = [f"Say the number {i}." for i in range(n)]
    results = await llm.abatch(prompts, return_exceptions=True)
    return sum(isinstance(r, BaseException) for r in results)


async def _run_embed(sim: Simulator, variant: str, n: int) -> int:
    from llama_index.core import Document, VectorStoreIndex

    embed = _embed_model(sim, variant)
    docs = [Document(text=f"document number {i} about topic {i % 37}") for i in range(n)]
    try:
        await asyncio.to_thread(
            VectorStoreIndex.from_documents,
            docs,
            embed_model=embed,
            transformations=[],
            use_async=True,
        )
    except Exception as exc:  # one failed batch fails the whole index build
        logging.getLogger("bench").warning("embed %s failed: %s", variant, exc)
        return 1
    return 0


WORKLOADS: dict[str, tuple[str, Callable[..., Any]]] = {
    "chat": (CHAT_MODEL, _run_chat),
    "embed": (EMBED_MODEL, _run_embed),
}


def run_once(
    sim: Simulator, workload: str, variant: str, n: int, schedule: list[tuple[float, int]]
) -> Outcome:
    """One variant on one workload, from a fresh simulator state and fresh learned limits."""
    model, runner = WORKLOADS[workload]
    latency = sim.latency
    sim.reset()
    sim.latency = latency
    forget_limits()
    tracker_for(sim.token, sim.base_url).forget(None)
    sim.set_concurrency_cap(model, schedule=schedule)
    started = time.perf_counter()
    failures = asyncio.run(runner(sim, variant, n))
    seconds = time.perf_counter() - started
    log = [r for r in sim.requests if r.model == model]
    refused = sum(r.over_cap for r in log)
    return Outcome(workload, variant, seconds, len(log), refused, failures)


def _median(outcomes: list[Outcome]) -> Outcome:
    middle = sorted(outcomes, key=lambda o: o.seconds)[len(outcomes) // 2]
    return Outcome(
        middle.workload,
        middle.variant,
        statistics.median(o.seconds for o in outcomes),
        middle.requests,
        middle.refused,
        middle.failures,
    )


def table(outcomes: list[Outcome]) -> str:
    """Markdown rows: time, × oracle, requests, 429s and their share, failed calls."""
    oracle = {o.workload: o.seconds for o in outcomes if o.variant == "oracle"}
    lines = [
        "| workload | variant | time (s) | × oracle | requests | 429s | 429 share | failed calls |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        ratio = o.seconds / oracle[o.workload] if o.workload in oracle else float("nan")
        lines.append(
            f"| {o.workload} | {o.variant} | {o.seconds:.2f} | {ratio:.2f} | {o.requests} | "
            f"{o.refused} | {o.refused_share:.1%} | {o.failures} |"
        )
    return "\n".join(lines)


def as_json(outcomes: list[Outcome], schedules: dict[str, list[tuple[float, int]]]) -> str:
    """The report as JSON: every outcome with its × oracle (null without an oracle run)."""
    oracle = {o.workload: o.seconds for o in outcomes if o.variant == "oracle"}
    rows = [
        {**asdict(o), "refused_share": o.refused_share, "x_oracle": _ratio(o, oracle)}
        for o in outcomes
    ]
    return json.dumps({"schedules": schedules, "outcomes": rows}, indent=2)


def _ratio(outcome: Outcome, oracle: dict[str, float]) -> float | None:
    base = oracle.get(outcome.workload)
    return outcome.seconds / base if base else None


def _warm_up() -> None:
    """Import the frameworks and the error classes before any timer: the first variant must not
    pay for them (the errors import ``openai``, which otherwise blocks the loop at a first 429)."""
    import langchain_core.rate_limiters  # noqa: F401
    import llama_index.core  # noqa: F401

    import langchain_modelscope  # noqa: F401
    import llama_index_modelscope  # noqa: F401
    import modelscope_inference.errors  # noqa: F401  (imports openai: ~0.7 s at a first 429)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 chat calls, 1,000 texts")
    parser.add_argument("--workloads", default="chat,embed")
    parser.add_argument("--variants", default="oracle,adaptive,none")
    parser.add_argument("--rates", default="40", help="InMemoryRateLimiter rates to try")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--schedule", default=None, help=f"chat default {DEFAULT_SCHEDULE}")
    parser.add_argument("--embed-schedule", default=None, help="default: the chat one / 2")
    parser.add_argument("--calls", type=int, default=None, help="chat calls (500; quick 100)")
    parser.add_argument("--texts", type=int, default=None, help="texts (5,000; quick 1,000)")
    parser.add_argument("--json", default=None, help="also write the report here as JSON")
    args = parser.parse_args()
    logging.getLogger("modelscope_inference").setLevel(logging.ERROR)
    sizes = {
        "chat": args.calls or (100 if args.quick else 500),
        "embed": args.texts or (1000 if args.quick else 5000),
    }
    chat_schedule = parse_schedule(args.schedule or DEFAULT_SCHEDULE)
    scale = 0.4 if args.quick else 1.0
    chat_schedule = [(at * scale, cap) for at, cap in chat_schedule]
    embed_schedule = (
        parse_schedule(args.embed_schedule)
        if args.embed_schedule
        else [(at / 2, cap) for at, cap in chat_schedule]
    )
    schedules = {"chat": chat_schedule, "embed": embed_schedule}
    variants = args.variants.split(",") + [f"rate={r}" for r in args.rates.split(",") if r]
    results: list[Outcome] = []
    _warm_up()
    # Quotas far above the run: the figures are about concurrency, not a spent daily quota.
    with Simulator(latency=args.latency, account_limit=10**9, default_model_limit=10**9) as sim:
        for workload in args.workloads.split(","):
            runs: dict[str, list[Outcome]] = {v: [] for v in variants}
            for _ in range(args.rounds):
                for variant in variants:  # interleaved: A, B, C, A, B, C, ...
                    outcome = run_once(sim, workload, variant, sizes[workload], schedules[workload])
                    print(outcome, flush=True)
                    runs[variant].append(outcome)
            results.extend(_median(runs[v]) for v in variants)
    print(f"\nschedules: chat {chat_schedule}, embed {embed_schedule}; latency {args.latency}s")
    print(table(results))
    if args.json:
        with open(args.json, "w") as out:
            out.write(as_json(results, schedules))


if __name__ == "__main__":
    main()
