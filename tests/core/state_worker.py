"""One worker process of the shared-state tests (run as a script, never collected).

``calls``: make ``--calls`` chat calls on a shared store and print what each did. ``--first``
makes one call before touching ``--signal``; the others wait for ``--wait-for`` first.
``--offset`` moves the quota clock forward (a probe is due without anyone sleeping).
``--until-settled``: call until no probe is in flight any more (recovery after a crash).
``hold``: take the half-open probe claim and a slot, say so in ``--signal``, then hang (the
test kills it with SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from pathlib import Path

from modelscope_inference import ChatRequest, ModelScopeClient, QuotaExhaustedError
from modelscope_inference.quota import utc_now

IN_FLIGHT = "asking the service right now"
SLOTS_KEY = "test:slots"
LIVENESS = 60.0  # seconds: a bound on waiting for a file, never a timing assertion


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("calls", "hold"))
    for name in ("--base-url", "--token", "--state", "--model"):
        parser.add_argument(name, required=True)
    parser.add_argument("--interval", type=float, default=3600.0)
    parser.add_argument("--offset", type=float, default=0.0)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--first", action="store_true")
    parser.add_argument("--until-settled", action="store_true")
    parser.add_argument("--wait-for", default="")
    parser.add_argument("--signal", default="")
    return parser.parse_args()


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + LIVENESS
    while path and not Path(path).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {path}")
        time.sleep(0.02)


def _call(client: ModelScopeClient, model: str) -> str:
    request = ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}])
    try:
        client.chat.complete(request)
    except QuotaExhaustedError as exc:
        return "in-flight" if IN_FLIGHT in str(exc) else "refused"
    return "ok"


def main() -> None:
    args = _args()
    client = ModelScopeClient.create(
        api_key=args.token,
        base_url=args.base_url,
        state=args.state,
        max_retries=0,
        quota_probe_interval=args.interval,
    )
    outcomes: list[str] = []
    if args.first:
        outcomes.append(_call(client, args.model))
        Path(args.signal).touch()
    _wait_for(args.wait_for)
    if args.offset:
        client.quota.clock = lambda: utc_now() + timedelta(seconds=args.offset)
    if args.mode == "hold":
        _hold(client, args)
    deadline = time.monotonic() + LIVENESS
    for _ in range(args.calls):
        outcomes.append(_call(client, args.model))
    while args.until_settled and outcomes[-1] == "in-flight" and time.monotonic() < deadline:
        time.sleep(0.05)
        outcomes.append(_call(client, args.model))
    print(json.dumps(outcomes))


def _hold(client: ModelScopeClient, args: argparse.Namespace) -> None:
    """Become the prober and take the one slot, record when, then hang until killed."""
    store = client.quota.store
    assert store is not None
    before = time.time()
    admission = client.quota.admit(args.model, probe_interval=args.interval)
    slot = store.acquire_slot(SLOTS_KEY, capacity=1)
    held = {"before": before, "probe": bool(admission.claims), "slot": slot is not None}
    Path(args.signal).write_text(json.dumps(held))
    time.sleep(LIVENESS * 10)


if __name__ == "__main__":
    main()
