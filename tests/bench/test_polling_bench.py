"""bench/polling.py: its model of polling is the client's, and its claims hold (fake clocks)."""

from __future__ import annotations

import math

from bench.polling import fewest_polls, modelled, run_on_simulator, sweep
from modelscope_inference.images import PollSchedule, RatioSchedule


def test_the_sweeps_model_matches_the_client_through_the_simulator() -> None:
    for schedule in (RatioSchedule(), PollSchedule()):
        real = run_on_simulator(schedule, [2, 10, 30])
        model = [modelled(schedule, d) for d in (2, 10, 30)]
        assert [o.polls for o in real] == [o.polls for o in model]
        assert all(
            math.isclose(r.added, m.added, abs_tol=1e-6) for r, m in zip(real, model, strict=True)
        )


def test_the_default_schedule_sees_every_task_within_15_percent_or_one_second() -> None:
    for step in range(1, 1201):  # 0.05 s to 60 s
        outcome = modelled(RatioSchedule(), step * 0.05)
        assert outcome.added <= max(0.15 * outcome.duration, 1.0) + 1e-9, outcome


def test_no_schedule_meets_both_targets_over_2_to_30_seconds() -> None:
    assert fewest_polls(30, 2, 0.15) == 21 > 12
    rows = sweep(RatioSchedule(), last=30)
    assert rows[29].polls > 12 and max(r.worst for r in rows[6:]) <= 0.15 + 1e-9
    geometric = sweep(PollSchedule(), last=30)
    assert geometric[29].polls <= 12 and max(r.worst for r in geometric[6:]) > 0.15
