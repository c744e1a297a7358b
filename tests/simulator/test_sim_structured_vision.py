"""The simulator answers structured-output and image requests as the real service does (§8.3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelscope_inference.simulator import Simulator

CHAT = "Qwen/Qwen2.5-7B-Instruct"
THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
VISION = "Qwen/Qwen3-VL-8B-Instruct"
CITY_SCHEMA = {
    "title": "City",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "country": {"type": "string"},
        "population": {"type": "integer"},
    },
    "required": ["name", "country", "population"],
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "City", "schema": CITY_SCHEMA}}


@pytest.fixture(autouse=True)
def sim(modelscope_simulator: Simulator) -> Simulator:
    return modelscope_simulator


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sim.token}"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=10) as client:
        yield client


def chat(http: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", CHAT)
    body.setdefault("messages", [{"role": "user", "content": "Tell me about Hangzhou."}])
    return http.post("/chat/completions", json=body)


def sse_payloads(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


# -- json_schema: 200 with choices null ------------------------------------------------------


def test_json_schema_is_answered_with_200_and_null_choices(http: httpx.Client) -> None:
    response = chat(http, response_format=JSON_SCHEMA)

    assert response.status_code == 200
    body = response.json()
    assert "choices" in body and body["choices"] is None
    assert body["object"] == "chat.completion"


def test_json_schema_calls_are_counted(http: httpx.Client, sim: Simulator) -> None:
    before = sim.quota(CHAT).model_remaining

    chat(http, response_format=JSON_SCHEMA)

    assert sim.quota(CHAT).model_remaining == before - 1


def test_a_streamed_json_schema_request_gets_one_chunk_with_null_choices(
    http: httpx.Client,
) -> None:
    response = chat(http, model=THINKING, stream=True, response_format=JSON_SCHEMA)

    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    assert [json.loads(p)["choices"] for p in payloads[:-1]] == [None]


def test_json_schema_is_filled_when_served_and_reset_restores_the_real_behaviour(
    http: httpx.Client, sim: Simulator
) -> None:
    sim.json_schema_supported = True
    filled = chat(http, response_format=JSON_SCHEMA).json()["choices"][0]["message"]["content"]
    sim.reset()

    assert json.loads(filled)["country"] == "China"
    assert chat(http, response_format=JSON_SCHEMA).json()["choices"] is None


# -- json_object: fills the schema found in the prompt ---------------------------------------


def test_json_object_fills_a_schema_written_into_the_prompt_plausibly(http: httpx.Client) -> None:
    system = (
        f"Answer with one JSON object valid against this JSON schema:\n{json.dumps(CITY_SCHEMA)}"
    )
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Tell me about Hangzhou."},
    ]

    response = chat(http, messages=messages, response_format={"type": "json_object"})

    city = json.loads(response.json()["choices"][0]["message"]["content"])
    assert city == {"name": "Hangzhou", "country": "China", "population": 12_500_000}


def test_sibling_string_properties_do_not_repeat_one_value(http: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "region": {"type": "string"}},
        "required": ["city", "region"],
    }
    messages = [
        {"role": "system", "content": f"Reply in JSON following {json.dumps(schema)}"},
        {"role": "user", "content": "Describe Springfield"},
    ]

    response = chat(http, messages=messages, response_format={"type": "json_object"})

    value = json.loads(response.json()["choices"][0]["message"]["content"])
    assert value["city"] != value["region"]


# -- content parts ---------------------------------------------------------------------------


def test_an_image_typed_part_is_refused_with_the_services_400(http: httpx.Client) -> None:
    part = {"type": "image", "url": "https://example.com/cat.png"}
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, part]}]

    response = chat(http, model=VISION, messages=messages)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == (
        "Invalid value: image. Supported values are: 'text','image_url','video_url' and 'video'."
    )


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "video_url", "video_url": {"url": "https://example.com/cat.mp4"}},
        {"type": "video", "video": ["https://example.com/1.jpg", "https://example.com/2.jpg"]},
    ],
)
def test_image_url_and_video_parts_are_accepted(http: httpx.Client, part: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, part]}]

    assert chat(http, model=VISION, messages=messages).status_code == 200
