"""Soak: thousands of mixed calls through both adapters against the simulator, 20 % with faults.

Half the workers are threads making sync calls (``invoke``/``stream``), half are tasks on one
event loop making async calls (``ainvoke``/``astream``); each job is a LangChain or LlamaIndex
chat call, a tool call, or an embeddings call. One job in five gets a fault injected for its
own model only (every worker has its own model id, so faults never land on another worker's
request), and every job's outcome is checked exactly:

- no hangs: every call ends within its deadline (attempts x timeout + retry waits + slack);
- no untyped exceptions: only ``ModelScopeError`` subclasses, and exactly the one the fault
  calls for (e.g. a stream cut after output began: ``StreamInterruptedError``);
- every success complete: the deterministic reply the simulator gives for that prompt, streamed
  pieces that add up to it, the expected tool call, or the expected vectors;
- resources flat: open file descriptors, RSS and tracemalloc's traced memory after the first
  window of jobs (a fifth of the run, 1,000 of 5,000) against the last.

Usage:
    .venv/bin/python bench/soak.py                       # 5,000 requests, 32 concurrent
    .venv/bin/python bench/soak.py --quick               # 300 requests, 16 concurrent
    .venv/bin/python bench/soak.py --requests 2000 --concurrency 16 --seed 7

Exits 0 when every criterion holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import random
import sys
import threading
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelscope_inference.errors import (
    BadRequestError,
    InvalidResponseError,
    ModelScopeError,
    StreamInterruptedError,
)
from modelscope_inference.simulator import Fault, ModelKind, ModelSpec, Simulator
from modelscope_inference.simulator.embeddings import embed

TOKEN = "ms-soak-5e1f0000-0000-4000-8000-000000000000"
TIMEOUT = 3.0  # seconds per HTTP request
MAX_RETRIES = 2
DEADLINE = (MAX_RETRIES + 1) * TIMEOUT + 8.0  # attempts x timeout + backoff / Retry-After + slack
EMBED_DIMENSION = 64
FAULT_SHARE = 0.2
CITIES = ("Paris", "Rome", "Tokyo", "Lima", "Oslo", "Cairo", "Quito", "Hanoi")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
OK = "ok"

# --- faults: what each one does to which jobs -------------------------------------------------


@dataclass(frozen=True)
class FaultSpec:
    make: Callable[[], Fault]
    applies: Callable[[Job], bool]
    outcome: Callable[[Job], str]  # "ok" or the exact error class name


def _any(job: Job) -> bool:
    return True


def _stream(job: Job) -> bool:
    return job.streams


def _stream_tools(job: Job) -> bool:
    return job.streams and job.kind == "tools"


def _ok(job: Job) -> str:
    return OK


def _interrupted_if_streaming(job: Job) -> str:
    return StreamInterruptedError.__name__ if job.streams else OK


FAULTS: dict[str, FaultSpec] = {
    "429": FaultSpec(Fault.rate_limit, _any, _ok),
    "429 Retry-After 1": FaultSpec(lambda: Fault.rate_limit(retry_after=1), _any, _ok),
    "500": FaultSpec(lambda: Fault.server_error(500), _any, _ok),
    "502": FaultSpec(lambda: Fault.server_error(502), _any, _ok),
    "503": FaultSpec(lambda: Fault.server_error(503), _any, _ok),
    "empty 400": FaultSpec(
        lambda: Fault.empty_4xx(400), _any, lambda job: BadRequestError.__name__
    ),
    "empty 429": FaultSpec(lambda: Fault.empty_4xx(429), _any, _ok),
    "latency 0.1 s": FaultSpec(lambda: Fault.latency(0.1), _any, _ok),
    "slow first byte 0.1 s": FaultSpec(lambda: Fault.slow_first_byte(0.1), _any, _ok),
    "slow first byte > timeout": FaultSpec(lambda: Fault.slow_first_byte(TIMEOUT + 1.0), _any, _ok),
    "drop before output": FaultSpec(lambda: Fault.drop_after(0), _any, _ok),
    "drop after output": FaultSpec(lambda: Fault.drop_after(3), _any, _interrupted_if_streaming),
    "malformed first chunk": FaultSpec(
        lambda: Fault.malformed_chunk(at=1), _stream, lambda job: InvalidResponseError.__name__
    ),
    "malformed chunk after output": FaultSpec(
        lambda: Fault.malformed_chunk(at=3), _stream, lambda job: StreamInterruptedError.__name__
    ),
    "choices null": FaultSpec(lambda: Fault.null_choices(count=2), _stream, _ok),
    "tool delta without index": FaultSpec(Fault.tool_delta_no_index, _stream_tools, _ok),
    "tool id on first delta only": FaultSpec(Fault.tool_delta_id_first_only, _stream_tools, _ok),
    "tool calls sharing index 0": FaultSpec(Fault.shared_index_zero, _stream_tools, _ok),
}

# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    index: int
    framework: str  # "langchain" | "llamaindex"
    kind: str  # "chat" | "tools" | "embed"
    mode: str  # "invoke" | "stream" | "ainvoke" | "astream"
    fault: str | None = None

    @property
    def is_async(self) -> bool:
        return self.mode.startswith("a")

    @property
    def streams(self) -> bool:
        return "stream" in self.mode

    @property
    def prompt(self) -> str:
        if self.kind == "tools":
            return f"What is the weather in {CITIES[self.index % len(CITIES)]}?"
        return f"Soak request {self.index} checks every word arrives"

    @property
    def texts(self) -> list[str]:
        return [f"soak text {self.index} part {part}" for part in range(3)]


def make_plan(requests: int, seed: int) -> list[Job]:
    """A shuffled mix: both frameworks, all four modes, 20 % tool calls, 10 % embeddings, and
    a fault on one job in five (chosen among the faults that apply to that job)."""
    rng = random.Random(seed)
    faulty = set(rng.sample(range(requests), round(FAULT_SHARE * requests)))
    jobs = []
    for index in range(requests):
        roll = rng.random()
        kind = "embed" if roll < 0.1 else "tools" if roll < 0.3 else "chat"
        modes = (
            ("invoke", "ainvoke") if kind == "embed" else ("invoke", "stream", "ainvoke", "astream")
        )
        job = Job(index, rng.choice(("langchain", "llamaindex")), kind, rng.choice(modes))
        if index in faulty:
            fault = rng.choice([name for name, spec in FAULTS.items() if spec.applies(job)])
            job = Job(job.index, job.framework, job.kind, job.mode, fault)
        jobs.append(job)
    return jobs


# --- one worker's models and calls ------------------------------------------------------------


class Worker:
    """One worker's own chat and embedding model ids (so its faults hit only its requests),
    with the LangChain and LlamaIndex objects built once and reused, as an application would."""

    def __init__(self, number: int, base_url: str) -> None:
        from llama_index.core.tools import FunctionTool

        from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
        from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM

        self.chat_model = chat_model_id(number)
        self.embed_model = embed_model_id(number)
        options = {"api_key": TOKEN, "timeout": TIMEOUT, "max_retries": MAX_RETRIES}
        self.lc = ChatModelScope(model=self.chat_model, base_url=base_url, **options)
        self.lc_tools = self.lc.bind_tools([WEATHER_TOOL])
        self.lc_embed = ModelScopeEmbeddings(model=self.embed_model, base_url=base_url, **options)
        self.li = ModelScopeLLM(model=self.chat_model, api_base=base_url, **options)
        self.li_embed = ModelScopeEmbedding(
            model_name=self.embed_model, api_base=base_url, **options
        )

        def get_weather(city: str) -> str:
            """The current weather in a city."""
            return f"Sunny in {city}"

        self.li_tools = [FunctionTool.from_defaults(fn=get_weather)]

    def expected_text(self, job: Job) -> str:
        # The simulator's deterministic echo (see simulator/brain.py, `_echo`).
        return (
            f'You said: "{job.prompt}". This is a deterministic reply from the simulated '
            f"{self.chat_model}."
        )


def chat_model_id(number: int) -> str:
    return f"deepseek-ai/DeepSeek-V3.1-soak-{number:02d}"


def embed_model_id(number: int) -> str:
    return f"Soak/Embed-{number:02d}"


@dataclass
class Seen:
    """What one call delivered."""

    pieces: list[str] = field(default_factory=list)
    content: str | None = None
    tool_calls: list[tuple[str, str, Any]] = field(default_factory=list)
    invalid: int = 0
    vectors: list[list[float]] | None = None


def _lc_finish(seen: Seen, message: Any) -> None:
    seen.content = message.content
    seen.tool_calls = [(c["id"], c["name"], c["args"]) for c in message.tool_calls]
    seen.invalid = len(message.invalid_tool_calls)


def _li_finish(worker: Worker, seen: Seen, response: Any) -> None:
    seen.content = response.message.content or ""
    selections = worker.li.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    seen.tool_calls = [(s.tool_id, s.tool_name, s.tool_kwargs) for s in selections]


def _li_messages(job: Job) -> list[Any]:
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role="user", content=job.prompt)]


def run_sync(worker: Worker, job: Job, seen: Seen) -> None:
    """Make one sync call; fills ``seen``; raises what the call raised."""
    if job.kind == "embed":
        if job.framework == "langchain":
            seen.vectors = worker.lc_embed.embed_documents(job.texts)
        else:
            seen.vectors = worker.li_embed.get_text_embedding_batch(job.texts)
        return
    if job.framework == "langchain":
        runnable = worker.lc_tools if job.kind == "tools" else worker.lc
        if not job.streams:
            _lc_finish(seen, runnable.invoke(job.prompt))
            return
        total = None
        for chunk in runnable.stream(job.prompt):
            seen.pieces.append(chunk.content)
            total = chunk if total is None else total + chunk
        _lc_finish(seen, total)
        return
    li, tools = worker.li, worker.li_tools
    if not job.streams:
        if job.kind == "tools":
            response = li.chat_with_tools(tools, job.prompt, allow_parallel_tool_calls=True)
        else:
            response = li.chat(_li_messages(job))
        _li_finish(worker, seen, response)
        return
    if job.kind == "tools":
        responses = li.stream_chat_with_tools(tools, job.prompt, allow_parallel_tool_calls=True)
    else:
        responses = li.stream_chat(_li_messages(job))
    last = None
    for response in responses:
        seen.pieces.append(response.delta or "")
        last = response
    _li_finish(worker, seen, last)


async def run_async(worker: Worker, job: Job, seen: Seen) -> None:
    """Async twin of :func:`run_sync`."""
    if job.kind == "embed":
        if job.framework == "langchain":
            seen.vectors = await worker.lc_embed.aembed_documents(job.texts)
        else:
            seen.vectors = await worker.li_embed.aget_text_embedding_batch(job.texts)
        return
    if job.framework == "langchain":
        runnable = worker.lc_tools if job.kind == "tools" else worker.lc
        if not job.streams:
            _lc_finish(seen, await runnable.ainvoke(job.prompt))
            return
        total = None
        async for chunk in runnable.astream(job.prompt):
            seen.pieces.append(chunk.content)
            total = chunk if total is None else total + chunk
        _lc_finish(seen, total)
        return
    li, tools = worker.li, worker.li_tools
    if not job.streams:
        if job.kind == "tools":
            response = await li.achat_with_tools(tools, job.prompt, allow_parallel_tool_calls=True)
        else:
            response = await li.achat(_li_messages(job))
        _li_finish(worker, seen, response)
        return
    if job.kind == "tools":
        responses = await li.astream_chat_with_tools(
            tools, job.prompt, allow_parallel_tool_calls=True
        )
    else:
        responses = await li.astream_chat(_li_messages(job))
    last = None
    async for response in responses:
        seen.pieces.append(response.delta or "")
        last = response
    _li_finish(worker, seen, last)


# --- checking one outcome ---------------------------------------------------------------------


def expected_outcome(job: Job) -> str:
    return OK if job.fault is None else FAULTS[job.fault].outcome(job)


def incomplete(worker: Worker, job: Job, seen: Seen) -> str | None:
    """Why a successful call's answer is not the complete expected one (None: it is)."""
    if job.kind == "embed":
        expected = [embed(text, EMBED_DIMENSION) for text in job.texts]
        if seen.vectors is None or len(seen.vectors) != len(expected):
            return f"{0 if seen.vectors is None else len(seen.vectors)} vectors"
        for got, want in zip(seen.vectors, expected, strict=True):
            if len(got) != len(want) or any(
                abs(a - b) > 1e-5 for a, b in zip(got, want, strict=True)
            ):
                return "vectors differ from the simulator's"
        return None
    if seen.pieces and "".join(seen.pieces) != seen.content:
        return "streamed pieces do not add up to the content"
    if job.kind == "tools":
        city = CITIES[job.index % len(CITIES)]
        calls = [(name, args) for _, name, args in seen.tool_calls]
        if calls != [("get_weather", {"city": city})] or not seen.tool_calls[0][0]:
            return f"tool calls {seen.tool_calls}"
        return "invalid tool calls" if seen.invalid else None
    if seen.content != worker.expected_text(job):
        return f"content {seen.content!r}"
    return None


def error_detail(job: Job, exc: BaseException, seen: Seen, worker: Worker) -> str | None:
    """Problems with a typed error beyond its class: a partial answer that repeats or strays."""
    if isinstance(exc, StreamInterruptedError):
        streamed = "".join(seen.pieces)
        if exc.text != streamed:
            return f"interrupted text {exc.text!r} != streamed {streamed!r}"
        if job.kind == "chat" and not worker.expected_text(job).startswith(streamed):
            return f"partial text {streamed!r} is not a prefix of the reply"
    elif seen.pieces and any(seen.pieces):
        return "output reached the caller before a non-stream error"
    if worker.chat_model not in str(exc) and worker.embed_model not in str(exc):
        return "the error message does not name the model"
    return None


# --- bookkeeping ------------------------------------------------------------------------------


@dataclass
class Record:
    job: Job
    outcome: str  # "ok" or the exception class name
    elapsed: float
    problem: str | None = None  # wrong outcome, incomplete answer, untyped exception
    untyped: bool = False


@dataclass
class Sample:
    done: int
    fds: int
    rss_mb: float
    traced_mb: float


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Ledger:
    """Thread-safe results, in-flight calls (for hang detection), and resource samples."""

    def __init__(self, total: int, window: int) -> None:
        self.total = total
        self.window = window
        self.lock = threading.Lock()
        self.records: list[Record] = []
        self.in_flight: dict[int, float] = {}
        self.hung: set[int] = set()
        self.samples: list[Sample] = []
        self.next_sample = window

    def start(self, job: Job) -> None:
        with self.lock:
            self.in_flight[job.index] = time.monotonic()

    def finish(self, record: Record) -> None:
        with self.lock:
            self.in_flight.pop(record.job.index, None)
            self.records.append(record)

    def watch(self, stop: threading.Event) -> None:
        """Flag calls past their deadline, and sample resources at each window boundary."""
        while not stop.wait(0.05):
            now = time.monotonic()
            with self.lock:
                late = [i for i, t in self.in_flight.items() if now - t > DEADLINE]
                self.hung.update(late)
                done = len(self.records)
            if done >= self.next_sample:
                self.sample(done)
                self.next_sample += self.window

    def sample(self, done: int) -> None:
        gc.collect()
        traced, _peak = tracemalloc.get_traced_memory()
        self.samples.append(Sample(done, open_fds(), rss_mb(), traced / 2**20))


def check(
    worker: Worker, job: Job, seen: Seen, exc: BaseException | None, elapsed: float
) -> Record:
    expected = expected_outcome(job)
    if exc is None:
        problem = incomplete(worker, job, seen)
        if expected != OK:
            problem = f"expected {expected}, got success"
        return Record(job, OK, elapsed, problem)
    name = type(exc).__name__
    if not isinstance(exc, ModelScopeError):
        return Record(job, name, elapsed, f"untyped {name}: {exc}", untyped=True)
    problem = None if name == expected else f"expected {expected}, got {name}: {exc}"
    return Record(job, name, elapsed, problem or error_detail(job, exc, seen, worker))


# --- running ----------------------------------------------------------------------------------


def sync_worker(worker: Worker, jobs: deque[Job], sim: Simulator, ledger: Ledger) -> None:
    while True:
        try:
            job = jobs.popleft()
        except IndexError:
            return
        arm(sim, worker, job)
        seen, error = Seen(), None
        ledger.start(job)
        started = time.monotonic()
        try:
            run_sync(worker, job, seen)
        except Exception as exc:  # recorded and judged: only ModelScopeError is acceptable
            error = exc
        ledger.finish(check(worker, job, seen, error, time.monotonic() - started))


async def async_worker(worker: Worker, jobs: deque[Job], sim: Simulator, ledger: Ledger) -> None:
    while jobs:
        job = jobs.popleft()
        arm(sim, worker, job)
        seen, error = Seen(), None
        ledger.start(job)
        started = time.monotonic()
        try:
            await asyncio.wait_for(run_async(worker, job, seen), DEADLINE)
        except TimeoutError:
            with ledger.lock:
                ledger.hung.add(job.index)
            error = TimeoutError(f"no answer within {DEADLINE} s")
        except Exception as exc:
            error = exc
        ledger.finish(check(worker, job, seen, error, time.monotonic() - started))


def arm(sim: Simulator, worker: Worker, job: Job) -> None:
    if job.fault is not None:
        model = worker.embed_model if job.kind == "embed" else worker.chat_model
        sim.inject(FAULTS[job.fault].make(), times=1, model=model)


async def async_side(
    workers: list[Worker], jobs: deque[Job], sim: Simulator, ledger: Ledger
) -> None:
    await asyncio.gather(*(async_worker(w, jobs, sim, ledger) for w in workers))


def run(requests: int, concurrency: int, seed: int) -> tuple[Ledger, float, list[Job]]:
    plan = make_plan(requests, seed)
    window = max(requests // 5, 1)
    ledger = Ledger(requests, window)
    sync_count = max(concurrency // 2, 1)
    async_count = max(concurrency - sync_count, 1)
    models: list[ModelSpec | str] = []
    for number in range(sync_count + async_count):
        models.append(chat_model_id(number))
        models.append(ModelSpec(embed_model_id(number), ModelKind.EMBEDDING, EMBED_DIMENSION))
    limit = 10 * requests + 1000
    with Simulator(
        token=TOKEN,
        models=models,
        account_limit=limit,
        default_model_limit=limit,
        max_recorded=256,
    ) as sim:
        workers = [Worker(n, sim.base_url) for n in range(sync_count + async_count)]
        sync_jobs = deque(job for job in plan if not job.is_async)
        async_jobs = deque(job for job in plan if job.is_async)
        stop = threading.Event()
        watcher = threading.Thread(target=ledger.watch, args=(stop,), daemon=True)
        started = time.monotonic()
        watcher.start()
        threads = [
            threading.Thread(target=sync_worker, args=(w, sync_jobs, sim, ledger), daemon=True)
            for w in workers[:sync_count]
        ]
        loop_thread = threading.Thread(
            target=lambda: asyncio.run(async_side(workers[sync_count:], async_jobs, sim, ledger)),
            daemon=True,
        )
        for thread in [*threads, loop_thread]:
            thread.start()
        limit_time = DEADLINE * (requests / concurrency + 10)
        for thread in [*threads, loop_thread]:
            thread.join(timeout=max(limit_time - (time.monotonic() - started), 1.0))
        wall = time.monotonic() - started
        stop.set()
        watcher.join()
        with ledger.lock:
            ledger.hung.update(ledger.in_flight)  # still running when the run gave up
        if not ledger.samples or ledger.samples[-1].done < len(ledger.records):
            ledger.sample(len(ledger.records))
    return ledger, wall, plan


# --- report -----------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


def report(
    ledger: Ledger, wall: float, plan: list[Job], args: argparse.Namespace, retries: int
) -> bool:
    records = ledger.records
    faults = Counter(job.fault for job in plan if job.fault)
    outcomes = Counter(r.outcome for r in records)
    problems = [r for r in records if r.problem]
    untyped = [r for r in records if r.untyped]
    wrong = [
        r for r in problems if not r.untyped and r.problem and r.problem.startswith("expected")
    ]
    incomplete_ = [r for r in problems if r not in untyped and r not in wrong]
    latencies = [r.elapsed for r in records]
    first, last = ledger.samples[0], ledger.samples[-1]
    fd_growth = last.fds - first.fds
    rss_growth = last.rss_mb - first.rss_mb
    traced_growth = last.traced_mb - first.traced_mb
    flat = fd_growth <= 8 and rss_growth <= 16.0 and traced_growth <= 4.0
    kinds = Counter((j.framework, j.kind, j.mode) for j in plan)
    sync_count = max(args.concurrency // 2, 1)
    lines = [
        f"command: .venv/bin/python bench/soak.py {' '.join(sys.argv[1:])}".rstrip(),
        f"requests: {len(records)} of {len(plan)}, concurrency {args.concurrency} "
        f"({sync_count} sync threads + {args.concurrency - sync_count} async tasks), "
        f"seed {args.seed}, timeout {TIMEOUT:g} s, max_retries {MAX_RETRIES}",
        f"mix: {sum(v for (f, _, _), v in kinds.items() if f == 'langchain')} LangChain / "
        f"{sum(v for (f, _, _), v in kinds.items() if f == 'llamaindex')} LlamaIndex; "
        f"{sum(1 for j in plan if j.streams)} streamed, "
        f"{sum(1 for j in plan if j.is_async)} async, "
        f"{sum(1 for j in plan if j.kind == 'tools')} tool calls, "
        f"{sum(1 for j in plan if j.kind == 'embed')} embeddings",
        f"faults injected: {sum(faults.values())} ({sum(faults.values()) / len(plan):.1%}): "
        + ", ".join(f"{name} {count}" for name, count in sorted(faults.items())),
        "outcomes: "
        + ", ".join(f"{name} {count}" for name, count in outcomes.most_common())
        + f"; {retries} retries",
        f"hangs: {len(ledger.hung)}   untyped exceptions: {len(untyped)}   "
        f"wrong outcomes: {len(wrong)}   incomplete successes or bad partials: {len(incomplete_)}",
        f"latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies, default=0):.2f} s; "
        f"wall {wall:.1f} s ({len(records) / wall:.0f} calls/s)",
        "resources (after N calls):   open fds   RSS MB   traced MB",
    ]
    for sample in ledger.samples:
        lines.append(
            f"  {sample.done:>6}                    {sample.fds:>5}  {sample.rss_mb:>7.1f}"
            f"   {sample.traced_mb:>9.2f}"
        )
    lines.append(
        f"growth first window -> last: fds {fd_growth:+d}, RSS {rss_growth:+.1f} MB, "
        f"traced {traced_growth:+.2f} MB ({'flat' if flat else 'GROWING'}; limits +8 fds, "
        "+16 MB RSS, +4 MB traced)"
    )
    passed = not ledger.hung and not problems and flat and len(records) == len(plan)
    lines.append(f"verdict: {'PASS' if passed else 'FAIL'}")
    print("\n".join(lines))
    for record in problems[:15]:
        print(f"  problem: job {record.job} -> {record.problem}", file=sys.stderr)
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="300 requests, 16 concurrent")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency = 300, 16
    for name in ("MODELSCOPE_API_KEY", "MODELSCOPE_BASE_URL", "MODELSCOPE_API_BASE"):
        os.environ.pop(name, None)
    import langchain_modelscope  # noqa: F401 - imported before tracing starts: cheaper
    import llama_index_modelscope  # noqa: F401

    retries = RetryCounter()
    library_log = logging.getLogger("modelscope_inference")
    library_log.addHandler(retries)
    library_log.propagate = False  # counted, not printed: a fifth of the calls retry
    tracemalloc.start()
    ledger, wall, plan = run(args.requests, args.concurrency, args.seed)
    return 0 if report(ledger, wall, plan, args, retries.count) else 1


class RetryCounter(logging.Handler):
    """Counts the library's WARNING-level retry records."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying in" in record.getMessage():
            self.count += 1


if __name__ == "__main__":
    sys.exit(main())
