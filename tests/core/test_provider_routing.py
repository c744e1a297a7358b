"""API-Provider routing (modelscope-api.md §8.3): ``Org/Model:Provider`` ids are accepted, have
their base model's capabilities, are their own quota scope, are exempt from the free tier's
account budget, and are usable as ``fallback_models``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from modelscope_inference import ChatRequest, QuotaExhaustedError, catalog
from modelscope_inference.catalog import looks_like_model_id, lookup, split_provider
from modelscope_inference.chat import plan_call
from modelscope_inference.quota import QuotaTracker

from .fakes import FakeServer, chat_completion, chunk, sse

FREE = "Qwen/Qwen3-32B"
ROUTED = "Qwen/Qwen3-32B:DashScope"
OTHER_FREE = "Qwen/Qwen2.5-72B-Instruct"
HI = [{"role": "user", "content": "hi"}]
MODEL_SPENT = {
    "modelscope-ratelimit-requests-remaining": "1500",
    "modelscope-ratelimit-model-requests-remaining": "0",
}
ACCOUNT_SPENT = {
    "modelscope-ratelimit-requests-remaining": "0",
    "modelscope-ratelimit-model-requests-remaining": "10",
}
LIMIT_BODY = {"errors": {"message": "Request limit exceeded."}}


def _free_tier_spent(headers: dict[str, str]) -> Any:
    """Every free-tier id answers the quota 429; routed ids answer without quota headers."""

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if not catalog.is_provider_routed(body["model"]):
            return httpx.Response(429, json=LIMIT_BODY, headers=headers)
        if body.get("stream"):
            return sse(chunk("from the provider"), chunk(finish="stop"))(request)
        return httpx.Response(200, json=chat_completion("from the provider"))

    return respond


# --- ids and the catalog ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        (ROUTED, (FREE, "DashScope")),
        ("Qwen/Qwen3-1.7B:DashScope", ("Qwen/Qwen3-1.7B", "DashScope")),
        (FREE, (FREE, None)),
        ("Qwen/Qwen3-32B:", ("Qwen/Qwen3-32B:", None)),
    ],
)
def test_split_provider_separates_the_base_id(
    model_id: str, expected: tuple[str, str | None]
) -> None:
    assert split_provider(model_id) == expected


def test_provider_routed_ids_look_like_model_ids() -> None:
    assert looks_like_model_id(ROUTED)
    assert not looks_like_model_id("Qwen3-32B:DashScope")


@pytest.mark.parametrize(
    ("routed", "thinking", "tools", "family"),
    [
        (ROUTED, "hybrid", True, "qwen3"),
        ("Qwen/QwQ-32B:DashScope", "always", True, "qwq"),
        ("Qwen/Qwen2.5-VL-72B-Instruct:DashScope", "none", True, "qwen2.5-vl"),
    ],
)
def test_lookup_uses_the_base_id_and_keeps_the_full_id(
    routed: str, thinking: str, tools: bool, family: str
) -> None:
    info = lookup(routed)
    assert (info.id, info.known, info.family) == (routed, True, family)
    assert (info.thinking, info.tool_calling) == (thinking, tools)
    assert info.context_window == lookup(split_provider(routed)[0]).context_window


def test_what_the_service_taught_about_the_base_applies_to_the_routed_id() -> None:
    catalog.learn_thinking("acme/Brand-New-1", "always")
    assert lookup("acme/Brand-New-1:DashScope").thinking == "always"
    catalog.learn_thinking("acme/Brand-New-1:Other", "hybrid")
    assert lookup("acme/Brand-New-1:Other").thinking == "hybrid"


def test_a_routed_hybrid_id_is_planned_with_its_base_thinking_rules() -> None:
    plan = plan_call(ChatRequest(model=ROUTED, messages=HI), ROUTED, want_stream=False)
    assert plan.body["model"] == ROUTED
    assert (plan.body["enable_thinking"], plan.stream) == (False, False)


# --- quota scopes -----------------------------------------------------------------------------


def test_a_routed_id_is_its_own_model_scope() -> None:
    tracker = QuotaTracker()
    tracker.record(FREE, MODEL_SPENT)

    assert tracker.spent_scope(FREE) == "model"
    assert tracker.spent_scope(ROUTED) is None
    assert tracker.status(ROUTED).model_remaining is None


def test_a_spent_account_does_not_refuse_a_routed_id_locally(make_client: Any) -> None:
    server = FakeServer(_free_tier_spent(ACCOUNT_SPENT))
    client = make_client(server)
    with pytest.raises(QuotaExhaustedError):
        client.chat.complete(ChatRequest(model=FREE, messages=HI))

    result = client.chat.complete(ChatRequest(model=ROUTED, messages=HI))

    assert [b["model"] for b in server.bodies] == [FREE, ROUTED]
    assert result.content == "from the provider"


# --- fallback ---------------------------------------------------------------------------------


def test_model_quota_spent_falls_back_to_the_routed_id(make_client: Any) -> None:
    server = FakeServer(_free_tier_spent(MODEL_SPENT))
    client = make_client(server)
    request = ChatRequest(model=FREE, messages=HI, fallback_models=[ROUTED])

    assert client.chat.complete(request).model == ROUTED
    assert client.chat.complete(request).model == ROUTED  # the spent scope: no request

    assert [b["model"] for b in server.bodies] == [FREE, ROUTED, ROUTED]


async def test_async_stream_falls_back_to_the_routed_id(make_client: Any) -> None:
    server = FakeServer(_free_tier_spent(MODEL_SPENT))
    request = ChatRequest(model=FREE, messages=HI, fallback_models=[ROUTED])

    deltas = [d async for d in make_client(server).chat.astream(request)]

    assert "".join(d.content for d in deltas) == "from the provider"
    assert deltas[-1].model == ROUTED


def test_account_quota_spent_skips_free_fallbacks_to_reach_a_routed_id(make_client: Any) -> None:
    server = FakeServer(_free_tier_spent(ACCOUNT_SPENT))
    request = ChatRequest(model=FREE, messages=HI, fallback_models=[OTHER_FREE, ROUTED])

    result = make_client(server).chat.complete(request)

    # OTHER_FREE is refused locally: the account is known to be spent after the first 429.
    assert [b["model"] for b in server.bodies] == [FREE, ROUTED]
    assert result.model == ROUTED


def test_account_quota_spent_without_a_routed_fallback_still_raises(make_client: Any) -> None:
    server = FakeServer(_free_tier_spent(ACCOUNT_SPENT))
    request = ChatRequest(model=FREE, messages=HI, fallback_models=[OTHER_FREE])

    with pytest.raises(QuotaExhaustedError) as caught:
        make_client(server).chat.complete(request)

    assert caught.value.scope == "account"
    assert server.count == 1
