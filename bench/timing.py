"""Interleaved timing: every variant once per round (A, B, C, A, B, C, …), medians at the end.

Interleaving spreads slow drift (other processes, CPU frequency, a growing heap) over every
variant alike, so the *ratios* of one run are trustworthy even on a noisy machine. Each sample
starts from a collected heap (``gc.collect()`` outside the timer): a full collection is due
when the objects that survived since the last one pass a quarter of the heap, so without it a
variant that leaves much garbage behind (a peer's 20,000 retained stream chunks) would have its
collection land in whichever variant runs next. A variant still pays for the collections its
own allocations trigger.

Example:
    >>> samples = interleave([Variant("a", f), Variant("b", g)], rounds=15, inner=20)
    >>> median(samples["a"]) / median(samples["b"])
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SyncCall = Callable[[], object]
AsyncCall = Callable[[], Awaitable[object]]


@dataclass
class Variant:
    """One contender in a case: a name and a zero-argument call (sync, or async if ``aio``).

    ``extra`` collects per-variant facts that are not timings (request counts, pool size).
    ``aclose`` closes what the variant opened, inside the loop that ran it (an aiohttp
    session belongs to its loop; see :func:`close_loop`). ``every`` runs the variant only
    in every ``every``-th round (round 0, ``every``, …): for a contender ten times slower than
    the rest, so it does not make the case ten times longer. ``warm`` runs the call once,
    untimed, right before each timed sample: a pool's idle keep-alive connections expire
    (httpx's default after 5 s), so without it the gap between a variant's rounds, which the
    other variants' speed sets, would decide whether a sample reuses connections or opens
    fresh ones (the ``openai`` SDK's httpcore pool is 2–5× slower at 200 concurrent calls
    with 100 reused connections than with fresh ones; ``bench/RESULTS.md``).
    """

    name: str
    call: SyncCall | AsyncCall
    aio: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    aclose: AsyncCall | None = None
    every: int = 1
    warm: bool = False


def median(values: Sequence[float]) -> float:
    """The median, or 0.0 for no values."""
    return statistics.median(values) if values else 0.0


def _time_sync(call: SyncCall, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - start) / inner


async def _time_async(call: AsyncCall, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        await call()
    return (time.perf_counter() - start) / inner


def time_once(variant: Variant, inner: int, loop: asyncio.AbstractEventLoop | None) -> float:
    """Seconds per call of ``variant``, averaged over ``inner`` back-to-back calls."""
    if variant.warm:
        _run_untimed(variant, loop)
    gc.collect()  # no garbage left by the previous variant (see the module docstring)
    if not variant.aio:
        return _time_sync(variant.call, inner)  # type: ignore[arg-type]
    if loop is None:
        raise ValueError(f"variant {variant.name!r} is async but no event loop was given")
    return loop.run_until_complete(_time_async(variant.call, inner))  # type: ignore[arg-type]


def _run_untimed(variant: Variant, loop: asyncio.AbstractEventLoop | None) -> None:
    if not variant.aio:
        variant.call()
    elif loop is None:
        raise ValueError(f"variant {variant.name!r} is async but no event loop was given")
    else:
        loop.run_until_complete(_time_async(variant.call, 1))  # type: ignore[arg-type]


def interleave(
    variants: Sequence[Variant],
    *,
    rounds: int,
    inner: int = 1,
    warmup: int = 1,
    loop: asyncio.AbstractEventLoop | None = None,
) -> dict[str, list[float]]:
    """Per-call seconds of each variant, one sample per round, rounds interleaved."""
    for variant in variants:
        for _ in range(warmup):
            time_once(variant, 1, loop)
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    for round_index in range(rounds):
        for variant in variants:
            if round_index % variant.every == 0:
                samples[variant.name].append(time_once(variant, inner, loop))
    return samples


def close_loop(loop: asyncio.AbstractEventLoop, variants: Sequence[Variant] = ()) -> None:
    """Close each variant's resources inside ``loop``, then the loop as ``asyncio.run`` does:
    async generators finalized (the core closes its per-loop pool there), then closed."""
    try:
        for variant in variants:
            if variant.aclose is not None:
                loop.run_until_complete(variant.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
