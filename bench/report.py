"""Turn a run's results into a table, derived figures (stream linearity) and target verdicts.

``python -m bench.report [bench/results/latest.json]`` prints the Markdown used in
``bench/RESULTS.md`` from a saved run.

Example:
    >>> print(render_text(run["cases"], run["targets"]))
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cases = dict[str, dict[str, Any]]

OURS_CHAT = ("ChatModelScope", "ModelScopeLLM")
CORE = "core ChatClient"


# --- derived figures ------------------------------------------------------------------------


def linearity(cases: Cases) -> dict[str, dict[str, float]]:
    """Per stream case and variant, the 10×N stream's median over the N stream's."""
    return {
        case_id: {name: row["linearity"] for name, row in case["rows"].items()}
        for case_id, case in cases.items()
        if any("linearity" in row for row in case.get("rows", {}).values())
    }


# --- targets --------------------------------------------------------------------------------


def _row(cases: Cases, case: str, name: str, key: str = "ratio") -> float | None:
    value = cases.get(case, {}).get("rows", {}).get(name, {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _target(
    name: str, value: float | None, limit: str, holds: Callable[[float], bool]
) -> dict[str, Any]:
    return {
        "target": name,
        "value": value,
        "limit": limit,
        "holds": value is not None and holds(value),
    }


def evaluate_targets(cases: Cases) -> list[dict[str, Any]]:
    """Each target of the issue, with the figure it was judged on."""
    targets = []
    for name, call in (("ChatModelScope", "invoke"), ("ModelScopeLLM", "chat")):
        value = _row(cases, "chat_invoke", name)
        targets.append(_target(f"{name}.{call} × openai", value, "≤ 0.75", lambda v: v <= 0.75))
    # Streams: ≤ 0.5× (issue 13; the earlier limit was 0.6). Invoke stays at the earlier
    # ≤ 0.75×, which is stricter than issue 13's ≤ 0.8×.
    for name, call in (("ChatModelScope", "stream"), ("ModelScopeLLM", "stream_chat")):
        value = _row(cases, "stream_sync", name)
        targets.append(
            _target(f"{name}.{call} N chunks × openai", value, "≤ 0.5", lambda v: v <= 0.5)
        )
    for case in ("stream_sync", "stream_async"):
        for name in OURS_CHAT:
            value = _row(cases, case, name, "linearity")
            label = f"{name} {case.split('_')[1]} 10×N / N"
            targets.append(_target(label, value, "9.0–11.0", lambda v: 9.0 <= v <= 11.0))
    # Concurrency is judged against a raw aiohttp client of the same run (issue 13), which
    # replaced the earlier "≤ 1.3× the ideal 100 ms": that bound was set for the hand-written
    # HTTP/1.1 client issue 13 removed, and the aiohttp floor alone is 1.21–1.24× the ideal on
    # the bench machine. ``over_ideal`` stays in each row's notes.
    value = _row(cases, "concurrency", CORE, "over_floor")
    targets.append(
        _target(f"{CORE} concurrent × aiohttp floor", value, "≤ 1.2", lambda v: v <= 1.2)
    )
    for name in OURS_CHAT:
        value = _row(cases, "concurrency", name, "over_floor")
        targets.append(
            _target(f"{name} concurrent × aiohttp floor", value, "≤ 1.35", lambda v: v <= 1.35)
        )
    raw = _row(cases, "concurrency", "openai", "median")
    for name in (CORE, *OURS_CHAT):
        ours = _row(cases, "concurrency", name, "median")
        value = raw / ours if raw is not None and ours else None
        targets.append(
            _target(f"openai concurrent ÷ {name} (times faster)", value, "≥ 5", lambda v: v >= 5)
        )
    ours, peer = (
        _row(cases, "imports", "langchain_modelscope", "median"),
        _row(cases, "imports", "langchain_openai", "median"),
    )
    value = ours / peer if ours is not None and peer else None
    targets.append(
        _target(
            "import langchain_modelscope × langchain_openai", value, "≤ 0.8", lambda v: v <= 0.8
        )
    )
    return targets


# --- rendering ------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _extras(row: dict[str, Any]) -> str:
    keys = (
        "median_10x",
        "ratio_10x",
        "linearity",
        "requests",
        "requests_per_call",
        "over_ideal",
        "pool",
        "ideal_ms",
    )
    return ", ".join(f"{k}={_fmt(row[k])}" for k in keys if k in row)


def table_rows(cases: Cases) -> list[list[str]]:
    """One row per (case, variant): case, variant, median, unit, ratio, ratio to the floor,
    extras."""
    rows = []
    for case_id, case in cases.items():
        params = ", ".join(f"{k}={v}" for k, v in case.get("params", {}).items())
        label = f"{case_id} ({params})" if params else case_id
        if "error" in case:
            rows.append([label, "ERROR", case["error"][:100], "", "", "", ""])
            continue
        for name, row in case["rows"].items():
            ratio, floor = _fmt(row.get("ratio")), _fmt(row.get("over_floor"))
            floor = floor if "over_floor" in row else ""
            rows.append(
                [label, name, _fmt(row["median"]), case["unit"], ratio, floor, _extras(row)]
            )
            label = ""
    return rows


# "× floor": the ratio to the case's own floor row (the async cases: raw aiohttp, same run).
HEADER = ["case", "variant", "median", "unit", "× openai", "× floor", "notes"]


def render_text(cases: Cases, targets: list[dict[str, Any]]) -> str:
    """A plain-text table for the terminal, then linearity and targets."""
    rows = [HEADER, *table_rows(cases)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for case, figures in linearity(cases).items():
        pairs = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
        lines.append(f"\n{case}: 10×N / N (10.0 = linear): {pairs}")
    lines.append("\ntargets:")
    for t in targets:
        verdict = "n/a" if t["value"] is None else "holds" if t["holds"] else "FAILS"
        lines.append(f"  {verdict:5}  {t['target']}: {_fmt(t['value'])} (limit {t['limit']})")
    return "\n".join(lines)


def render_markdown(run: dict[str, Any]) -> str:
    """The Markdown tables of ``bench/RESULTS.md``."""
    cases = run["cases"]
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(r) + " |" for r in table_rows(cases)]
    out += ["", "| target | figure | limit | verdict |", "|---|---|---|---|"]
    for t in run["targets"]:
        verdict = "n/a" if t["value"] is None else "holds" if t["holds"] else "**fails**"
        out.append(f"| {t['target']} | {_fmt(t['value'])} | {t['limit']} | {verdict} |")
    return "\n".join(out)


def main() -> None:
    """Print the Markdown of a saved run."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
    print(render_markdown(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
