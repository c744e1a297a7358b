"""The suite: every case, its server, its sizes, and how it is measured.

A case returns a :class:`CaseResult`: one row per variant with the median of its samples and
the ratio of that median to the baseline's (the raw ``openai`` SDK unless said otherwise);
the async-concurrency cases also give each row's ratio to a raw aiohttp client measured in
the same run (``over_floor``).
Timing cases interleave their variants (see :mod:`bench.timing`); the quota, import, memory
and simulator cases measure other things, in the same shape.

Example:
    >>> config = Config.make(rounds=15, quick=False)
    >>> result = CASES[0].run(Context(server, None, config))
"""

from __future__ import annotations

import asyncio
import math
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench import clients, ops
from bench.servers import REPO_ROOT, InstantServer
from bench.timing import Variant, close_loop, interleave, median

BASELINE = "openai"
IMPORTS = (
    "openai",
    "modelscope_inference",
    "langchain_modelscope",
    "langchain_openai",
    "llama_index_modelscope",
    "llama_index.llms.openai_like",
)


@dataclass(frozen=True)
class Config:
    """Sizes and round counts for one run (``--quick`` shrinks everything tenfold or so)."""

    rounds: int
    quick: bool
    chunks: int = 2000
    tool_chunks: int = 500
    texts: int = 1000
    concurrent: int = 200
    latency_ms: int = 50
    import_runs: int = 7
    quota_calls: int = 2
    quota_rounds: int = 3
    invoke_inner: int = 20
    memory_factor: int = 10
    simulator_seconds: float = 3.0

    @classmethod
    def make(cls, rounds: int | None, quick: bool) -> Config:
        """The full suite, or the quick smoke version."""
        if not quick:
            return cls(rounds=rounds or 15, quick=False)
        return cls(
            rounds=rounds or 2,
            quick=True,
            chunks=100,
            tool_chunks=50,
            texts=100,
            concurrent=40,
            import_runs=1,
            quota_calls=1,
            quota_rounds=1,
            invoke_inner=3,
            memory_factor=1,
            simulator_seconds=0.3,
        )


@dataclass
class Context:
    """What a case may use: the instant server, the simulator (or None) and the config."""

    server: InstantServer
    simulator: Any | None
    config: Config


@dataclass
class CaseResult:
    """The rows of one case: per variant, ``median`` (in ``unit``), ``ratio`` to the baseline,
    the raw ``samples`` and any ``extra`` facts; ``over_floor`` too when the case names a
    ``floor`` row."""

    unit: str
    params: dict[str, Any]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: str = BASELINE
    floor: str = ""

    def add(self, name: str, samples: list[float], **extra: Any) -> None:
        """Record one variant's samples (already in ``unit``)."""
        self.rows[name] = {"median": median(samples), "samples": samples, **extra}

    def finish(self) -> CaseResult:
        """Fill in each row's ratio to the baseline (and to the floor, if any)."""
        base = self.rows.get(self.baseline, {}).get("median")
        floor = self.rows.get(self.floor, {}).get("median") if self.floor else None
        for row in self.rows.values():
            row["ratio"] = row["median"] / base if base else None
            if floor:
                row["over_floor"] = row["median"] / floor
        return self


@dataclass(frozen=True)
class Case:
    """One named measurement. A ``sleepy`` case mostly waits (on retry back-offs), so a quick
    run may overlap it with the others."""

    id: str
    title: str
    run: Callable[[Context], CaseResult]
    sleepy: bool = False


# --- timing cases ---------------------------------------------------------------------------


def timed(
    variants: list[Variant],
    ctx: Context,
    *,
    inner: int = 1,
    rounds: int | None = None,
    baseline: str = BASELINE,
    floor: str = "",
    **params: Any,
) -> CaseResult:
    """Interleave ``variants``; report milliseconds per call."""
    loop = asyncio.new_event_loop() if any(v.aio for v in variants) else None
    try:
        samples = interleave(variants, rounds=rounds or ctx.config.rounds, inner=inner, loop=loop)
    finally:
        if loop is not None:
            close_loop(loop, variants)  # sessions closed in their loop, then as asyncio.run
    result = CaseResult(unit="ms", params=params, baseline=baseline, floor=floor)
    for variant in variants:
        result.add(variant.name, [s * 1000 for s in samples[variant.name]], **variant.extra)
    return result.finish()


def _url(ctx: Context, **fields: Any) -> str:
    return ctx.server.url(tag=InstantServer.new_tag("t"), **fields)


def chat_invoke(ctx: Context) -> CaseResult:
    """One non-streamed chat call on the instant server."""
    return timed(ops.invoke_variants(_url(ctx)), ctx, inner=ctx.config.invoke_inner)


def chat_invoke_simulator(ctx: Context) -> CaseResult:
    """One non-streamed chat call on the simulator (its work included)."""
    sim = ctx.simulator
    if sim is None:
        raise RuntimeError("the simulator is not available")
    variants = ops.invoke_variants(sim.base_url, sim.token)
    return timed(variants, ctx, inner=max(ctx.config.invoke_inner // 4, 1))


def stream_simulator(ctx: Context) -> CaseResult:
    """A scripted N-chunk streamed answer from the simulator (its work included)."""
    from modelscope_inference.simulator import Reply

    sim = ctx.simulator
    if sim is None:
        raise RuntimeError("the simulator is not available")
    chunks = ctx.config.chunks
    sim.script(Reply(chunks=["tok "] * chunks), times=None)
    try:
        return timed(ops.stream_variants(sim.base_url, sim.token), ctx, chunks=chunks)
    finally:
        sim.reset()


LONG = "@10x"


def _fold_long(result: CaseResult) -> CaseResult:
    """Move each ``name@10x`` row into ``name``'s row: its median, its ratio to the raw SDK's
    10×N median, and 10×N / N (``linearity``: 10.0 when the cost per chunk does not grow)."""
    base = result.rows.get(BASELINE + LONG, {}).get("median")
    for name in [n for n in result.rows if n.endswith(LONG)]:
        long, row = result.rows.pop(name), result.rows[name.removesuffix(LONG)]
        row.update(median_10x=long["median"], samples_10x=long["samples"])
        row["ratio_10x"] = long["median"] / base if base else None
        row["linearity"] = long["median"] / row["median"] if row["median"] else None
    return result


def stream_case(aio: bool) -> Callable[[Context], CaseResult]:
    """A streamed answer of N chunks and one of 10×N, sync or async, interleaved in one run so
    the 10×N / N ratio compares like with like (load on a shared machine drifts)."""

    def run(ctx: Context) -> CaseResult:
        chunks = ctx.config.chunks
        build = ops.astream_variants if aio else ops.stream_variants
        short, long = build(_url(ctx, n=chunks)), build(_url(ctx, n=chunks * 10))
        for variant in long:
            variant.name += LONG
        # 9 of the 15 rounds: a 10×N stream takes seconds, and 5 rounds left the linearity
        # at the mercy of two disturbed samples (one run: 10x samples 669-1,074 ms).
        rounds = max(ctx.config.rounds * 3 // 5, 2)
        result = timed([*short, *long], ctx, rounds=rounds, chunks=chunks)
        return _fold_long(result)

    return run


def tools_parsed(ctx: Context) -> CaseResult:
    """A non-streamed answer with two tool calls, parsed."""
    variants = ops.tool_variants(_url(ctx, kind="tools"))
    return timed(variants, ctx, inner=ctx.config.invoke_inner)


def tools_streamed(ctx: Context) -> CaseResult:
    """A streamed tool call of many argument fragments, merged and parsed."""
    chunks = ctx.config.tool_chunks
    variants = ops.tool_stream_variants(_url(ctx, kind="tools", n=chunks))
    return timed(variants, ctx, chunks=chunks)


def embeddings(ctx: Context) -> CaseResult:
    """Many texts embedded in batches; requests counted per contender."""
    texts = [
        f"document number {i}: a short text about topic {i % 17}" for i in range(ctx.config.texts)
    ]
    tags = {name: InstantServer.new_tag("e") for name in ("openai", *ops.EMBEDDERS)}
    urls = {name: ctx.server.url(tag=tag) for name, tag in tags.items()}
    variants = ops.embed_variants(urls, texts)
    rounds = max(ctx.config.rounds // 3, 2)
    result = timed(variants, ctx, rounds=rounds, texts=len(texts))
    for name, row in result.rows.items():
        calls = rounds + 1  # the warm-up, then one call per round
        row["requests_per_call"] = ctx.server.requests(tags[name]) / calls
    return result


# --- concurrency ----------------------------------------------------------------------------


OURS_AT_CORE_POOL = ("core ChatClient", "ChatModelScope", "ModelScopeLLM", ops.AIOHTTP_FLOOR)


def pool_size(name: str) -> int:
    """The connection pool each contender's defaults give it (the floor gets ours)."""
    import openai._constants

    from modelscope_inference.transport import MAX_CONNECTIONS

    if name in OURS_AT_CORE_POOL:
        return MAX_CONNECTIONS
    limit = openai._constants.DEFAULT_CONNECTION_LIMITS.max_connections
    return int(limit) if limit else 1000


def _add_ideal(variants: list[Variant], config: Config, pool: Callable[[str], int]) -> None:
    for variant in variants:
        size = pool(variant.name)
        ideal = math.ceil(config.concurrent / size) * config.latency_ms
        variant.extra.update(pool=size, ideal_ms=ideal)


def _over_ideal(result: CaseResult) -> CaseResult:
    for row in result.rows.values():
        row["over_ideal"] = row["median"] / row["ideal_ms"]
    return result


def _warm(variants: list[Variant]) -> list[Variant]:
    """Every sample on a warm pool, as a long-lived client in a busy service has (see
    :class:`~bench.timing.Variant`): otherwise a pool that sat idle past its keep-alive
    expiry while slower variants ran would be measured on fresh connections instead."""
    for variant in variants:
        variant.warm = True
    return variants


def concurrency(ctx: Context) -> CaseResult:
    """``concurrent`` ``ainvoke`` at once against a server that takes ``latency_ms`` each,
    with each row's ratio to a raw aiohttp client (``aiohttp floor``) of the same run."""
    config = ctx.config
    variants = _warm(ops.ainvoke_variants(_url(ctx, ms=config.latency_ms), config.concurrent))
    _add_ideal(variants, config, pool_size)
    result = timed(
        variants,
        ctx,
        floor=ops.AIOHTTP_FLOOR,
        calls=config.concurrent,
        latency_ms=config.latency_ms,
    )
    return _over_ideal(result)


def async_transports(ctx: Context) -> CaseResult:
    """The async transport candidates side by side under the concurrency case's load
    (``concurrent`` POSTs at once, ``latency_ms`` each, pool as ours), as ratios to raw
    aiohttp. httpx's default transport runs one round in three: it is ~10× slower."""
    from modelscope_inference.transport import MAX_CONNECTIONS

    config = ctx.config
    variants = _warm(ops.transport_variants(_url(ctx, ms=config.latency_ms), config.concurrent))
    _add_ideal(variants, config, lambda _: MAX_CONNECTIONS)
    result = timed(
        variants,
        ctx,
        baseline="",  # no openai row: the floor is the reference
        floor=ops.AIOHTTP_FLOOR,
        calls=config.concurrent,
        latency_ms=config.latency_ms,
        pool=MAX_CONNECTIONS,
    )
    return _over_ideal(result)


# --- imports --------------------------------------------------------------------------------


def _run_python(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
    return time.perf_counter() - start


def _import_round(parallel: bool) -> dict[str, float]:
    """Milliseconds to import each package, minus a bare interpreter's start-up.

    ``parallel`` (quick runs only) starts them all at once: fast, and only roughly right.
    """
    codes = ["pass", *(f"import {name}" for name in IMPORTS)]
    with ThreadPoolExecutor(len(codes) if parallel else 1) as pool:
        seconds = list(pool.map(_run_python, codes))
    return {
        name: max(s - seconds[0], 1e-6) * 1000 for name, s in zip(IMPORTS, seconds[1:], strict=True)
    }


def import_times(ctx: Context) -> CaseResult:
    """Each package imported in a fresh interpreter, minus the interpreter's own start-up."""
    samples: dict[str, list[float]] = {name: [] for name in IMPORTS}
    if not ctx.config.quick:
        _import_round(parallel=False)  # warm the file cache and the .pyc files
    for _ in range(ctx.config.import_runs):
        for name, value in _import_round(parallel=ctx.config.quick).items():
            samples[name].append(value)
    result = CaseResult(unit="ms", params={"runs": ctx.config.import_runs})
    for name, values in samples.items():
        result.add(name, values)
    return result.finish()


# --- quota economy --------------------------------------------------------------------------


QUOTA_CONTENDERS: dict[str, Callable[[str], Callable[[], Any]]] = {
    "openai": lambda url: partial_call(
        clients.openai_client(url).chat.completions.create, **ops.CHAT_BODY
    ),
    "ChatModelScope": lambda url: partial_call(clients.chat_modelscope(url).invoke, "hi"),
    "ChatOpenAI": lambda url: partial_call(clients.chat_openai(url, max_retries=None).invoke, "hi"),
    "ModelScopeLLM": lambda url: partial_call(
        clients.modelscope_llm(url).chat, clients.li_messages()
    ),
    "OpenAILike": lambda url: partial_call(clients.openai_like(url).chat, clients.li_messages()),
}


def partial_call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """``function`` bound to its arguments, its errors swallowed (a spent quota must raise)."""

    def call() -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            return exc

    return call


def _quota_trial(ctx: Context, name: str, fault: str) -> tuple[float, int]:
    """Wall seconds and server requests for ``quota_calls`` calls by a fresh contender."""
    tag = InstantServer.new_tag(f"q{fault[0]}")
    factory = QUOTA_CONTENDERS[name]
    call = ops.build(name, lambda: factory(ctx.server.url(fault=fault, tag=tag)))
    if call is None:
        return math.nan, 0
    start = time.perf_counter()
    for _ in range(ctx.config.quota_calls):
        call()
    return time.perf_counter() - start, ctx.server.requests(tag)


def quota_case(fault: str) -> Callable[[Context], CaseResult]:
    """Requests and wall time on a spent (``exhausted``) or ``transient`` 429, with defaults.

    The contenders run side by side in threads: the time is nearly all sleeping between
    retries, so running them together costs nothing in accuracy and saves minutes.
    """

    def run(ctx: Context) -> CaseResult:
        names = list(QUOTA_CONTENDERS)
        wall: dict[str, list[float]] = {n: [] for n in names}
        requests: dict[str, list[int]] = {n: [] for n in names}
        with ThreadPoolExecutor(len(names)) as pool:
            for _ in range(ctx.config.quota_rounds):
                trials = {n: pool.submit(_quota_trial, ctx, n, fault) for n in names}
                for name, future in trials.items():
                    seconds, count = future.result()
                    wall[name].append(seconds * 1000)
                    requests[name].append(count)
        result = CaseResult(unit="ms", params={"calls": ctx.config.quota_calls, "fault": fault})
        for name in names:
            if not math.isnan(wall[name][0]):
                result.add(name, wall[name], requests=statistics.median(requests[name]))
        return result.finish()

    return run


# --- memory ---------------------------------------------------------------------------------


def memory_stream(ctx: Context) -> CaseResult:
    """Peak traced memory while one long stream is read to the end (after a warm-up)."""
    chunks = ctx.config.chunks * ctx.config.memory_factor
    variants = ops.stream_variants(_url(ctx, n=chunks))
    result = CaseResult(unit="MB", params={"chunks": chunks})
    for variant in variants:
        variant.call()  # warm-up: lazy imports and pools are not the stream's cost
        tracemalloc.start()
        try:
            variant.call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        result.add(variant.name, [peak / 1e6])
    return result.finish()


# --- the simulator --------------------------------------------------------------------------


def simulator_throughput(ctx: Context) -> CaseResult:
    """The simulator's own throughput, from ``bench/simulator_throughput.py``."""
    from bench.simulator_throughput import measure

    figures = measure(ctx.config.simulator_seconds)
    result = CaseResult(unit="per s", params={"seconds": ctx.config.simulator_seconds})
    result.baseline = ""  # no ratio: nothing to compare with
    for name, value in figures.items():
        if name.endswith("_per_s"):
            result.add(name.removesuffix("_per_s"), [float(value)])
    return result.finish()


CASES: tuple[Case, ...] = (
    Case("chat_invoke", "one chat call, instant server", chat_invoke),
    Case("chat_invoke_sim", "one chat call, simulator", chat_invoke_simulator),
    Case("stream_sim", "stream N chunks, sync, simulator", stream_simulator),
    Case("stream_sync", "stream N and 10×N chunks, sync", stream_case(aio=False)),
    Case("stream_async", "stream N and 10×N chunks, async", stream_case(aio=True)),
    Case("tools_parsed", "tool calls, parsed", tools_parsed),
    Case("tools_streamed", "tool call, streamed", tools_streamed),
    Case("embeddings", "embed texts in batches", embeddings),
    Case("concurrency", "concurrent ainvoke with server latency", concurrency),
    Case("async_transports", "async transport candidates, concurrent POSTs", async_transports),
    Case("imports", "import time, fresh process", import_times),
    Case("quota_exhausted", "spent daily quota (429, remaining 0)", quota_case("exhausted"), True),
    Case("quota_transient", "transient 429, Retry-After: 1", quota_case("transient"), True),
    Case("memory_stream", "peak memory, 10×N-chunk stream", memory_stream),
    Case("simulator_throughput", "simulator throughput", simulator_throughput),
)
CASE_IDS = tuple(case.id for case in CASES)
