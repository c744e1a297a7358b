"""API-Provider routing in the simulator (modelscope-api.md §8.3): `Org/Model:Provider` works
for every served model, with the base model's rules, and is exempt from the free tier: never
counted, never refused for quota, and answered without quota headers (the headers report the
free tier's counters, §3.2, which do not apply to provider-billed calls)."""

from __future__ import annotations

from typing import Any

import httpx
import openai

from modelscope_inference.simulator import Simulator

FREE = "Qwen/Qwen3-32B"
ROUTED = "Qwen/Qwen3-32B:DashScope"
HELLO: Any = [{"role": "user", "content": "Hello there"}]
QUOTA_PREFIX = "modelscope-ratelimit-"


def chat(http: httpx.Client, model: str, **body: Any) -> httpx.Response:
    body.setdefault("enable_thinking", False)
    return http.post("/chat/completions", json={"model": model, "messages": HELLO, **body})


def test_a_routed_id_is_served_and_echoed(
    modelscope_simulator: Simulator, http: httpx.Client
) -> None:
    response = chat(http, ROUTED)

    assert response.status_code == 200
    assert response.json()["model"] == ROUTED
    assert [r.model for r in modelscope_simulator.requests] == [ROUTED]


def test_a_routed_answer_has_no_quota_headers_and_spends_no_free_quota(
    modelscope_simulator: Simulator, http: httpx.Client
) -> None:
    response = chat(http, ROUTED)
    free = chat(http, FREE)

    assert not [h for h in response.headers if h.startswith(QUOTA_PREFIX)]
    assert free.headers[QUOTA_PREFIX + "requests-remaining"] == str(
        int(free.headers[QUOTA_PREFIX + "requests-limit"]) - 1
    )


def test_a_routed_id_answers_when_its_model_and_the_account_are_spent(
    modelscope_simulator: Simulator, http: httpx.Client
) -> None:
    modelscope_simulator.set_quota(model_limits={FREE: 0})
    assert chat(http, FREE).status_code == 429
    assert chat(http, ROUTED).status_code == 200

    modelscope_simulator.set_quota(account_limit=0)
    assert chat(http, "Qwen/Qwen3-8B").status_code == 429
    assert chat(http, ROUTED).status_code == 200


def test_a_routed_id_keeps_its_base_models_rules(http: httpx.Client) -> None:
    thinking_only = chat(http, "Qwen/QwQ-32B:DashScope", enable_thinking=None)
    assert thinking_only.status_code == 400
    assert "stream=False" in thinking_only.json()["error"]["message"]


def test_a_provider_suffix_on_an_unserved_model_is_still_unknown(http: httpx.Client) -> None:
    response = chat(http, "Nobody/Nothing:DashScope")
    # reference: modelscope-api.md §3.3 (404) and §8.1 (2026: 400 "has no provider supported")
    assert response.status_code in (400, 404)
    assert "Nobody/Nothing:DashScope" in response.text


def test_the_openai_sdk_streams_from_a_routed_thinking_model(
    modelscope_simulator: Simulator,
) -> None:
    sim = modelscope_simulator
    client = openai.OpenAI(base_url=sim.base_url, api_key=sim.token, max_retries=0)
    stream = client.chat.completions.create(
        model="Qwen/QwQ-32B:DashScope", messages=HELLO, stream=True
    )
    chunks = [c for c in stream if c.choices]
    reasoning = "".join(c.choices[0].delta.reasoning_content for c in chunks)  # type: ignore[attr-defined]
    assert reasoning and "".join(c.choices[0].delta.content or "" for c in chunks)
