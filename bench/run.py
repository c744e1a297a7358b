"""Run the benchmark suite: ``python -m bench.run [--rounds N] [--quick] [--json PATH]``.

Starts the instant server (a subprocess) and the simulator, runs every case of
:mod:`bench.cases`, prints the table and the target verdicts, and writes everything as JSON
(default ``bench/results/latest.json``, git-ignored). A case that fails is recorded with its
error and the run goes on; the exit status is 1 if any case failed.

Example:
    $ python -m bench.run --quick --json /tmp/bench.json
    $ python -m bench.run --rounds 21 --cases chat_invoke,stream_sync
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # `python bench/run.py`: the repository root replaces bench/ on the path, so `bench` imports
    # and no bench/*.py module can shadow a standard one.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import clients, ops, report
from bench.cases import CASES, Case, Config, Context
from bench.servers import REPO_ROOT, InstantServer

UNLIMITED = 10**12
QUIET_LOGGERS = ("llama_index", "langchain", "openai", "httpx", "modelscope_inference")
DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "latest.json"
PACKAGES = (
    "modelscope-inference",
    "openai",
    "httpx",
    "httpx-aiohttp",
    "aiohttp",
    "langchain-core",
    "langchain-openai",
    "llama-index-core",
    "llama-index-llms-openai-like",
    "starlette",
    "uvicorn",
)


def machine() -> dict[str, Any]:
    """Where the figures come from: CPU, Python, package versions, load."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "loadavg_start": os.getloadavg(),
    }


@contextlib.contextmanager
def simulator() -> Iterator[Any | None]:
    """The simulator, started; None (and the simulator cases fail) when it cannot start."""
    try:
        from modelscope_inference.simulator import Simulator

        # No quota: the suite sends thousands of requests; the quota cases use the instant server.
        sim = Simulator(account_limit=UNLIMITED, default_model_limit=UNLIMITED, max_recorded=100)
        sim.start()
    except Exception as exc:
        print(f"simulator unavailable: {exc!r}", file=sys.stderr)
        yield None
        return
    try:
        yield sim
    finally:
        sim.stop()


def run_case(case: Case, ctx: Context) -> dict[str, Any]:
    """One case as JSON-ready data; a failure is recorded with its error, not raised."""
    start = time.perf_counter()
    print(f"... {case.id}: {case.title}", file=sys.stderr, flush=True)
    try:
        result = case.run(ctx)
        data = {
            "title": case.title,
            "unit": result.unit,
            "baseline": result.baseline,
            "floor": result.floor,
            "params": result.params,
            "rows": result.rows,
        }
    except Exception as exc:
        traceback.print_exc()
        data = {"title": case.title, "error": f"{type(exc).__name__}: {exc}"}
    data["seconds"] = round(time.perf_counter() - start, 2)
    return data


def run_cases(ctx: Context, selected: set[str] | None) -> dict[str, dict[str, Any]]:
    """Every selected case, in order. In a quick run the sleepy ones (mostly retry back-offs)
    overlap the rest in a background thread, to keep the smoke run short."""
    chosen = [case for case in CASES if not selected or case.id in selected]
    background = [case for case in chosen if case.sleepy and ctx.config.quick]
    with ThreadPoolExecutor(1) as pool:
        pending = {case.id: pool.submit(run_case, case, ctx) for case in background}
        done = {case.id: run_case(case, ctx) for case in chosen if case not in background}
        done.update({case_id: future.result() for case_id, future in pending.items()})
    return {case.id: done[case.id] for case in chosen}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, help="interleaved rounds per case (default 15)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    parser.add_argument("--cases", help="comma-separated case ids (default: all)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; 0 when every case completed."""
    args = parse_args(argv)
    warnings.simplefilter("ignore", ResourceWarning)
    for name in QUIET_LOGGERS:  # the peers log every retry of the quota cases
        logging.getLogger(name).setLevel(logging.ERROR)
    config = Config.make(args.rounds, args.quick)
    selected = set(args.cases.split(",")) if args.cases else None
    info = machine()
    started = time.perf_counter()
    info["missing_modules"] = clients.import_all()
    with InstantServer() as server, simulator() as sim:
        cases = run_cases(Context(server, sim, config), selected)
    info["loadavg_end"] = os.getloadavg()
    targets = report.evaluate_targets(cases)
    run = {
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "config": config.__dict__,
        "machine": info,
        "seconds": round(time.perf_counter() - started, 1),
        "missing": sorted(ops.MISSING),
        "cases": cases,
        "linearity": report.linearity({k: v for k, v in cases.items() if "rows" in v}),
        "targets": targets,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(run, indent=2, default=str))
    print(report.render_text(cases, targets))
    print(f"\n{run['seconds']} s; JSON in {args.json}", file=sys.stderr)
    return 1 if any("error" in c for c in cases.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
