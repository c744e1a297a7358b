"""Image-task polling: polls per task and added latency, for several poll schedules.

*Added latency* is the time from the task being done on the simulator to the result being
returned; a task that ends just after a poll is seen one wait later, so it depends on where
the task's end falls between two polls. Three measurements:

- ``sweep`` (default): the core's :class:`~modelscope_inference.images.PollState`, the
  bookkeeping both client twins use, driven on a fake clock for every task duration from 1 to
  60 s in steps of 0.01 s. For each whole second ``D`` it reports the polls and the added
  latency of the durations in ``[D - 0.5, D + 0.5)``: the worst and the mean, so no figure
  depends on a task ending exactly on a poll.
- ``--simulator``: the real :class:`~modelscope_inference.images.ImageClient` against the
  simulator, both on one fake clock (the client's injectable ``clock``/``sleep``, the
  simulator's ``images.clock``): every whole second from 1 to 60, through HTTP. It checks the
  sweep's model against the real code path (same polls, same latency).
- ``--real``: tasks of 2, 10 and 30 s on the wall clock, each schedule against its own
  simulator per duration, all at once (about 35 s).

Example:
    $ .venv/bin/python -m bench.polling                # the sweep (about 2 s)
    $ .venv/bin/python -m bench.polling --simulator --real
"""

from __future__ import annotations

import argparse
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelscope_inference import ModelScopeClient
from modelscope_inference.images import PollSchedule, PollState, RatioSchedule, Schedule

NAMED = (2, 10, 30)  # the durations issue 17 names
POLL_TARGET = 12  # at most 12 polls for a 30 s task
LATENCY_TARGET = 0.15  # added latency at most 15 % of the task's duration
STEP = 0.01

SCHEDULES: dict[str, Schedule] = {
    "geometric 1 s x1.2 cap 5 s": PollSchedule(),
    "ratio 0.15, floor 1 s, cap 5 s": RatioSchedule(0.15, 1.0, 5.0),
    "ratio 0.15, floor 0.3 s, cap 5 s": RatioSchedule(0.15, 0.3, 5.0),
    "ratio 0.3, floor 1 s, cap 5 s": RatioSchedule(0.30, 1.0, 5.0),
    "fixed 2 s (LiteLLM)": PollSchedule(2.0, 1.0, 2.0),
    "fixed 5 s (official example)": PollSchedule(5.0, 1.0, 5.0),
}


@dataclass(frozen=True)
class Outcome:
    """One task: its duration, the polls it took, the seconds between done and returned."""

    duration: float
    polls: int
    added: float

    @property
    def share(self) -> float:
        """Added latency as a share of the duration."""
        return self.added / self.duration


def modelled(schedule: Schedule, duration: float) -> Outcome:
    """One task of ``duration`` s as ``ImageClient.generate`` polls it: sleep, poll, until
    the poll sees the task done. Uses the client's own ``PollState`` on a fake clock."""
    now = [0.0]
    state = PollState("bench", "Qwen/Qwen-Image", math.inf, lambda: now[0], schedule)
    while True:
        now[0] += state.next_wait()
        state.polls += 1
        if now[0] >= duration:  # the simulator says SUCCEED once elapsed >= duration
            return Outcome(duration, state.polls, now[0] - duration)


@dataclass(frozen=True)
class Row:
    """The durations in ``[second - 0.5, second + 0.5)``, summed up."""

    second: int
    polls: int  # the most polls any of them took
    worst: float  # the worst added latency, as a share of its duration
    mean: float  # the mean share


def sweep(schedule: Schedule, last: int = 60) -> list[Row]:
    """One row per whole second from 1 to ``last``."""
    rows = []
    for second in range(1, last + 1):
        low = max(second - 0.5, STEP)
        count = round((second + 0.5 - low) / STEP)
        outcomes = [modelled(schedule, low + i * STEP) for i in range(count)]
        rows.append(
            Row(
                second,
                max(o.polls for o in outcomes),
                max(o.share for o in outcomes),
                statistics.fmean(o.share for o in outcomes),
            )
        )
    return rows


def fewest_polls(duration: float, low: float, share: float) -> int:
    """A lower bound for *any* schedule: to see every task ending in ``[low, duration]``
    within ``share`` of its duration, consecutive polls after ``low`` may be at most
    ``1 + share`` apart as a ratio (a task ending just after poll ``t`` waits until the next
    one), so reaching ``duration`` takes this many polls, the first at ``low``."""
    return 1 + math.ceil(math.log(duration / low) / math.log(1 + share))


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %"


def _cell(row: Row) -> str:
    return f"{row.polls}, {_pct(row.worst)} / {_pct(row.mean)}"


def print_sweep(last: int) -> dict[str, list[Row]]:
    """The sweep's tables: the named durations for every schedule, then every second."""
    results = {name: sweep(schedule, last) for name, schedule in SCHEDULES.items()}
    print("Polls (most in the window) and added latency (worst / mean share of the duration)")
    print("for tasks of D s, durations D-0.5 to D+0.5 in 0.01 s steps, on a fake clock.\n")
    header = " | ".join(f"{d} s: polls, worst / mean" for d in NAMED)
    froms = (2, 7, 10)
    worst = " | ".join(f"worst, D >= {d} s" for d in froms)
    print(f"| schedule | {header} | {worst} |")
    print("|---|" + "---|" * (len(NAMED) + len(froms)))
    for name, rows in results.items():
        cells = [_cell(rows[d - 1]) for d in NAMED]
        cells += [_pct(max(r.worst for r in rows[d - 1 :])) for d in froms]
        print(f"| {name} | {' | '.join(cells)} |")
    bound = fewest_polls(30, 2, LATENCY_TARGET)
    best = (30 / 2) ** (1 / (POLL_TARGET - 1)) - 1
    print(
        f"\nAny schedule: <= 15 % for every task of 2 to 30 s needs >= {bound} polls at 30 s; "
        f"with {POLL_TARGET} polls the best worst case over 2 to 30 s is {_pct(best)}."
    )
    print("\nEvery second (polls, worst / mean):\n")
    names = list(results)
    print("| D s | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for i in range(last):
        cells = [_cell(results[n][i]) for n in names]
        print(f"| {i + 1} | " + " | ".join(cells) + " |")
    return results


# --- through the simulator ------------------------------------------------------------------


def _client(
    base_url: str,
    token: str,
    schedule: Schedule,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> ModelScopeClient:
    client = ModelScopeClient.create(api_key=token, base_url=base_url)
    client.images.schedule = schedule
    client.images.clock, client.images.sleep = clock, sleep
    return client


def run_on_simulator(schedule: Schedule, durations: Sequence[int]) -> list[Outcome]:
    """The real client against the simulator, both on one fake clock (nothing waits)."""
    from modelscope_inference import ImageRequest
    from modelscope_inference.simulator import Simulator

    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    outcomes = []
    with Simulator() as sim:
        sim.images.clock = lambda: now[0]
        client = _client(sim.base_url, sim.token, schedule, lambda: now[0], sleep)
        for duration in durations:
            sim.images.duration = duration
            result = client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
            done = sim.images.done_at(result.task_id)
            assert done is not None
            outcomes.append(Outcome(duration, result.polls, now[0] - done))
    return outcomes


def print_simulator(last: int) -> None:
    """The real code path at every whole second, and whether the model agrees with it."""
    print(f"\nThrough the simulator (fake clock), every whole second 1..{last}:")
    for name, schedule in SCHEDULES.items():
        real = run_on_simulator(schedule, range(1, last + 1))
        model = [modelled(schedule, d) for d in range(1, last + 1)]
        same = all(
            r.polls == m.polls and math.isclose(r.added, m.added, abs_tol=1e-6)
            for r, m in zip(real, model, strict=True)
        )
        named = ", ".join(
            f"{d} s: {real[d - 1].polls} polls +{real[d - 1].added:.2f} s" for d in NAMED
        )
        print(f"- {name}: {named}; matches the sweep's model at all {last}: {same}")


def print_real(names: Sequence[str]) -> None:
    """Tasks of 2, 10 and 30 s on the wall clock, every schedule and duration at once."""
    from modelscope_inference import ImageRequest
    from modelscope_inference.simulator import Simulator

    sims = {d: Simulator().start() for d in NAMED}
    results: dict[tuple[str, int], Outcome] = {}

    def one(name: str, duration: int) -> None:
        sim = sims[duration]
        client = _client(sim.base_url, sim.token, SCHEDULES[name], time.monotonic, time.sleep)
        result = client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
        returned = time.monotonic()
        done = sim.images.done_at(result.task_id)
        assert done is not None
        results[name, duration] = Outcome(duration, result.polls, returned - done)

    try:
        for duration, sim in sims.items():
            sim.images.duration = duration
        threads = [threading.Thread(target=one, args=(n, d)) for n in names for d in NAMED]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for sim in sims.values():
            sim.stop()
    print("\nWall clock (time.monotonic, the simulator in this process):")
    for name in names:
        cells = ", ".join(
            f"{d} s: {results[name, d].polls} polls +{results[name, d].added:.2f} s "
            f"({_pct(results[name, d].share)})"
            for d in NAMED
        )
        print(f"- {name}: {cells}")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bench.polling [--last N] [--simulator] [--real]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--last", type=int, default=60, help="longest duration swept (s)")
    parser.add_argument("--simulator", action="store_true", help="also through the simulator")
    parser.add_argument("--real", action="store_true", help="also 2, 10, 30 s on the wall clock")
    args = parser.parse_args(argv)
    print_sweep(args.last)
    if args.simulator:
        print_simulator(args.last)
    if args.real:
        print_real(list(SCHEDULES)[:4])


if __name__ == "__main__":
    main()
