"""Quota headers (modelscope-api.md §3.2), the 00:00 Asia/Shanghai reset, the shared tracker,
and the rule that a spent quota costs one request and then none until the reset."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from modelscope_inference import ChatRequest, QuotaExhaustedError
from modelscope_inference.quota import (
    SHANGHAI,
    QuotaTracker,
    next_reset,
    parse_quota_headers,
    tracker_for,
)

from .fakes import FakeClock, FakeServer, chat_completion, reply

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
MODEL = "Qwen/Qwen2.5-72B-Instruct"
ALL_HEADERS = {
    "modelscope-ratelimit-requests-limit": "2000",
    "modelscope-ratelimit-requests-remaining": "1987",
    "modelscope-ratelimit-model-requests-limit": "500",
    "modelscope-ratelimit-model-requests-remaining": "412",
}
ACCOUNT_SPENT = {"modelscope-ratelimit-requests-remaining": "0"}
LIMIT_BODY = {"errors": {"message": "Request limit exceeded.", "request_id": "r-1"}}


# --- parse_quota_headers -----------------------------------------------------------------


def test_all_four_headers_are_parsed() -> None:
    status = parse_quota_headers(ALL_HEADERS, model=MODEL, now=NOW)

    assert status is not None
    assert (status.account_limit, status.account_remaining) == (2000, 1987)
    assert (status.model_limit, status.model_remaining) == (500, 412)
    assert status.model == MODEL
    assert status.seen_at == NOW
    assert status.exhausted_scope is None


def test_headers_are_matched_case_insensitively() -> None:
    headers = httpx.Headers({"ModelScope-RateLimit-Requests-Remaining": "7"})

    status = parse_quota_headers(headers, model=MODEL, now=NOW)

    assert status is not None
    assert status.account_remaining == 7


def test_no_quota_headers_gives_none() -> None:
    assert parse_quota_headers({"content-type": "application/json"}, model=MODEL, now=NOW) is None


def test_unreadable_values_are_ignored_and_all_unreadable_gives_none() -> None:
    assert (
        parse_quota_headers(
            {"modelscope-ratelimit-requests-remaining": "lots"}, model=MODEL, now=NOW
        )
        is None
    )
    status = parse_quota_headers(
        {
            "modelscope-ratelimit-requests-remaining": "lots",
            "modelscope-ratelimit-model-requests-remaining": " 12.0 ",
        },
        model=MODEL,
        now=NOW,
    )
    assert status is not None
    assert status.account_remaining is None
    assert status.model_remaining == 12


@pytest.mark.parametrize(
    "value", ["-3", "-5", "-0", "+4", "1.5", "nan", "inf", "", " ", "1e400", "9" * 5000]
)
def test_values_that_are_not_non_negative_integers_are_ignored_never_clamped(value: str) -> None:
    # reference: modelscope-api.md §8.1/§8.2 and issue 14: a clamped "-5" locked an account.
    status = parse_quota_headers(
        {"modelscope-ratelimit-model-requests-remaining": value}, model=MODEL, now=NOW
    )

    assert status is None


def test_account_scope_wins_when_both_counts_are_zero() -> None:
    headers = {
        "modelscope-ratelimit-requests-remaining": "0",
        "modelscope-ratelimit-model-requests-remaining": "0",
    }
    status = parse_quota_headers(headers, model=MODEL, now=NOW)

    assert status is not None
    assert status.exhausted_scope == "account"


def test_status_reports_its_reset_time_in_plain_data() -> None:
    status = parse_quota_headers(ALL_HEADERS, model=MODEL, now=NOW)
    assert status is not None

    data = status.to_dict()

    assert data["account_remaining"] == 1987
    assert data["seen_at"] == NOW.isoformat()
    assert data["resets_at"] == "2026-03-02T00:00:00+08:00"


# --- next_reset ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "expected_utc"),
    [
        # 23:59:59 in Shanghai: the reset is one second away.
        (datetime(2026, 1, 1, 15, 59, 59, tzinfo=timezone.utc), datetime(2026, 1, 1, 16, 0)),
        # exactly 00:00 in Shanghai: the reset just happened, the next is a day later.
        (datetime(2026, 1, 1, 16, 0, 0, tzinfo=timezone.utc), datetime(2026, 1, 2, 16, 0)),
        (datetime(2026, 1, 1, 16, 0, 1, tzinfo=timezone.utc), datetime(2026, 1, 2, 16, 0)),
        (datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc), datetime(2026, 1, 1, 16, 0)),
        # across a month and a year end
        (datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc), datetime(2027, 1, 1, 16, 0)),
        (datetime(2026, 2, 28, 17, 0, tzinfo=timezone.utc), datetime(2026, 3, 1, 16, 0)),
    ],
)
def test_next_reset_is_the_next_shanghai_midnight(utc: datetime, expected_utc: datetime) -> None:
    reset = next_reset(utc)

    assert reset == expected_utc.replace(tzinfo=timezone.utc)
    assert reset > utc
    local = reset.astimezone(SHANGHAI)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def test_next_reset_accepts_any_timezone() -> None:
    in_shanghai = datetime(2026, 1, 2, 0, 0, 0, tzinfo=SHANGHAI)

    assert next_reset(in_shanghai) == datetime(2026, 1, 3, 0, 0, tzinfo=SHANGHAI)


# --- QuotaTracker ----------------------------------------------------------------------------


def test_tracker_records_and_reports_last_seen_counts() -> None:
    tracker = QuotaTracker(clock=FakeClock(NOW))

    tracker.record(MODEL, ALL_HEADERS)
    status = tracker.status(MODEL)

    assert (status.account_remaining, status.model_remaining) == (1987, 412)
    assert status.resets_at == datetime(2026, 3, 1, 16, 0, tzinfo=timezone.utc)
    assert tracker.status("other/Model").model_remaining is None
    assert tracker.status("other/Model").account_remaining == 1987


def test_tracker_ignores_responses_without_quota_headers() -> None:
    tracker = QuotaTracker(clock=FakeClock(NOW))
    tracker.record(MODEL, ALL_HEADERS)

    assert tracker.record(MODEL, {}) is None
    assert tracker.status(MODEL).model_remaining == 412


def test_spent_account_blocks_every_model_until_the_reset() -> None:
    clock = FakeClock(NOW)
    tracker = QuotaTracker(clock=clock)
    tracker.record(MODEL, ACCOUNT_SPENT)

    assert tracker.spent_scope(MODEL) == "account"
    assert tracker.spent_scope("other/Model") == "account"
    clock.now = datetime(2026, 3, 1, 15, 59, 59, tzinfo=timezone.utc)
    assert tracker.spent_scope(MODEL) == "account"
    clock.now = datetime(2026, 3, 1, 16, 0, 0, tzinfo=timezone.utc)
    assert tracker.spent_scope(MODEL) is None


def test_spent_model_blocks_only_that_model() -> None:
    tracker = QuotaTracker(clock=FakeClock(NOW))
    tracker.record(MODEL, {"modelscope-ratelimit-model-requests-remaining": "0"})

    assert tracker.spent_scope(MODEL) == "model"
    assert tracker.spent_scope("other/Model") is None


def test_mark_exhausted_without_headers_and_reset_forgets() -> None:
    tracker = QuotaTracker(clock=FakeClock(NOW))

    tracker.mark_exhausted("model", MODEL)
    assert tracker.spent_scope(MODEL) == "model"
    tracker.mark_exhausted("account", MODEL)
    assert tracker.spent_scope("other/Model") == "account"

    tracker.reset()
    assert tracker.spent_scope(MODEL) is None
    assert tracker.status(MODEL).account_remaining is None


def test_tracker_is_shared_per_token_and_base_url(token: str) -> None:
    base = "https://api-inference.modelscope.cn/v1"

    shared = tracker_for(token, base)

    assert tracker_for(token, base + "/") is shared
    assert tracker_for(token + "x", base) is not shared
    assert tracker_for(token, "https://api-inference.modelscope.ai/v1") is not shared


def test_tracker_registry_never_holds_the_token(token: str) -> None:
    from modelscope_inference import quota

    tracker_for(token, "https://api-inference.modelscope.cn/v1")

    assert all(token not in repr(key) for key in quota._trackers)


def test_clients_with_the_same_token_and_base_url_share_quota_state(
    make_client: Any, clock: FakeClock
) -> None:
    first = make_client(FakeServer(reply(200, chat_completion(), headers=ALL_HEADERS)))
    second = make_client(FakeServer(reply(200, chat_completion())))
    request = ChatRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}])

    first.chat.complete(request)

    assert second.transport is not first.transport
    assert second.quota_status(MODEL).model_remaining == 412


def test_tracker_is_thread_safe_under_concurrent_updates() -> None:
    tracker = QuotaTracker(clock=FakeClock(NOW))
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def hammer(worker: int) -> None:
        try:
            start.wait()
            for i in range(300):
                model = f"org/model-{(worker + i) % 5}"
                tracker.record(model, {"modelscope-ratelimit-model-requests-remaining": str(i)})
                tracker.spent_scope(model)
                tracker.status(model)
                if i % 50 == 0:
                    tracker.mark_exhausted("model", model)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    tracker.record("org/model-0", {"modelscope-ratelimit-model-requests-remaining": "9"})
    assert tracker.status("org/model-0").model_remaining == 9


def test_tracker_for_returns_one_instance_across_threads(token: str) -> None:
    found: list[QuotaTracker] = []
    start = threading.Barrier(8)

    def get() -> None:
        start.wait()
        found.append(tracker_for(token, "https://api-inference.modelscope.cn/v1"))

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(found) == 8
    assert all(t is found[0] for t in found)


# --- one request, then none until the reset --------------------------------------------------


def _request(model: str = MODEL) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}])


def test_exhausted_429_costs_one_request_then_none_until_the_probe_interval(
    make_client: Any, clock: FakeClock
) -> None:
    server = FakeServer(
        reply(429, LIMIT_BODY, headers=ACCOUNT_SPENT),
        reply(200, chat_completion("back")),
    )
    client = make_client(server)

    with pytest.raises(QuotaExhaustedError) as first:
        client.chat.complete(_request())
    assert first.value.scope == "account"
    assert server.count == 1

    with pytest.raises(QuotaExhaustedError) as again:
        client.chat.complete(_request())
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request("Qwen/Qwen3-32B"))
    assert server.count == 1
    assert again.value.scope == "account"
    assert again.value.resets_at == datetime(2026, 3, 1, 16, 0, tzinfo=timezone.utc)
    assert "no request was sent" in str(again.value)
    assert MODEL in str(again.value)

    # reference: modelscope-api.md §8.2, credits can come back within the day, so the refusal
    # lasts quota_probe_interval (300 s by default), not until 00:00 UTC+8.
    clock.advance(seconds=299)
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())
    assert server.count == 1

    clock.advance(seconds=1)
    assert client.chat.complete(_request()).content == "back"
    assert server.count == 2


async def test_exhausted_429_blocks_async_calls_too(make_client: Any, clock: FakeClock) -> None:
    server = FakeServer(
        reply(429, LIMIT_BODY, headers=ACCOUNT_SPENT),
        reply(200, chat_completion("back")),
    )
    client = make_client(server)

    with pytest.raises(QuotaExhaustedError):
        await client.chat.acomplete(_request())
    with pytest.raises(QuotaExhaustedError):
        await client.chat.acomplete(_request())
    assert server.count == 1

    clock.advance(days=1)
    assert (await client.chat.acomplete(_request())).content == "back"
    assert server.count == 2


def test_pre_flight_is_shared_with_streaming_and_other_clients(make_client: Any) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=ACCOUNT_SPENT))
    client = make_client(server)
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())

    other = make_client(server)
    with pytest.raises(QuotaExhaustedError):
        list(other.chat.stream(_request()))

    assert server.count == 1


def test_exhaustion_learned_from_the_body_alone_also_blocks(make_client: Any) -> None:
    body = {"error": {"message": "Free allocated quota exceeded."}}
    server = FakeServer(reply(429, body))
    client = make_client(server)

    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())

    assert server.count == 1


def test_pre_flight_can_be_turned_off(make_client: Any) -> None:
    server = FakeServer(reply(429, LIMIT_BODY, headers=ACCOUNT_SPENT))
    client = make_client(server, preflight=False)

    for _ in range(2):
        with pytest.raises(QuotaExhaustedError):
            client.chat.complete(_request())

    assert server.count == 2


def test_success_with_zero_remaining_blocks_the_next_call(make_client: Any) -> None:
    server = FakeServer(reply(200, chat_completion(), headers=ACCOUNT_SPENT))
    client = make_client(server)

    client.chat.complete(_request())
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(_request())

    assert server.count == 1
    assert client.quota_status().resets_at is not None
    assert client.quota_status().resets_at - NOW < timedelta(days=1)


@pytest.mark.parametrize(
    "seen_at",
    [
        datetime(2026, 1, 1, 15, 59, 59, 999999, tzinfo=timezone.utc),  # 23:59:59.999999 +08
        datetime(2026, 1, 1, 16, 0, tzinfo=timezone.utc),  # midnight in Shanghai
        datetime(2026, 12, 31, 16, 0, 1, tzinfo=timezone.utc),  # a new year there
        datetime(2024, 2, 28, 20, 0, tzinfo=timezone(timedelta(hours=-5))),  # leap day, -05:00
        *(datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=37 * k) for k in range(80)),
    ],
)
def test_the_reset_time_in_metadata_is_the_next_shanghai_midnight(seen_at: datetime) -> None:
    from modelscope_inference.ratelimit import QuotaStatus, next_reset, next_reset_iso

    assert next_reset_iso(seen_at) == next_reset(seen_at).isoformat()
    assert QuotaStatus(account_remaining=1, seen_at=seen_at).to_dict()["resets_at"] == (
        next_reset(seen_at).isoformat()
    )
