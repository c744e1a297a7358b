"""Structured output rules (reference §8.3): the method per model, JSON mode's prompt, and the
typed error for a json_schema request answered with ``choices: null``."""

from __future__ import annotations

from typing import Any

import pytest

from modelscope_inference import ChatRequest, InvalidResponseError, JSONSchemaUnsupportedError
from modelscope_inference.catalog import lookup
from modelscope_inference.retry import is_retryable
from modelscope_inference.structured import (
    default_method,
    is_json_schema_format,
    with_schema_instruction,
)

from .conftest import ClientFactory
from .fakes import FakeServer, reply, sse

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "A", "schema": SCHEMA}}
NULL_CHOICES = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": None}
USER = [{"role": "user", "content": "hi"}]


# --- the method per model -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "enable_thinking", "method"),
    [
        ("Qwen/Qwen3-235B-A22B-Thinking-2507", None, "json_mode"),
        ("deepseek-ai/DeepSeek-R1-0528", None, "json_mode"),
        ("Qwen/QVQ-72B-Preview", None, "json_mode"),  # no tool calling
        ("Qwen/Qwen3-32B", None, "function_calling"),  # thinking turned off for the call
        ("Qwen/Qwen3-32B", False, "function_calling"),
        ("Qwen/Qwen3-32B", True, "json_mode"),
        ("Qwen/Qwen2.5-7B-Instruct", None, "function_calling"),
        ("deepseek-ai/DeepSeek-V3.1", None, "function_calling"),
    ],
)
def test_default_method_per_model(model: str, enable_thinking: bool | None, method: str) -> None:
    assert default_method(lookup(model), enable_thinking) == method


def test_no_catalog_model_claims_json_schema_support() -> None:
    assert not lookup("Qwen/Qwen3-32B").json_schema
    assert not lookup("Org/Unknown-Model").json_schema


def test_is_json_schema_format() -> None:
    assert is_json_schema_format(JSON_SCHEMA)
    assert not is_json_schema_format({"type": "json_object"})
    assert not is_json_schema_format(None)


# --- the schema in the prompt ---------------------------------------------------------------


def test_the_schema_goes_into_a_new_first_system_message() -> None:
    messages = with_schema_instruction(USER, SCHEMA)

    assert [m["role"] for m in messages] == ["system", "user"]
    assert '"properties": {"a": {"type": "integer"}}' in messages[0]["content"]


def test_the_schema_is_appended_to_an_existing_system_message_without_changing_the_input() -> None:
    original = [{"role": "system", "content": "Be brief."}, *USER]

    messages = with_schema_instruction(original, SCHEMA)

    assert len(messages) == 2 and messages[0]["content"].startswith("Be brief.\n\nAnswer with")
    assert original[0]["content"] == "Be brief."


def test_a_system_message_with_content_parts_gets_a_text_part() -> None:
    system = {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}

    [first, _] = with_schema_instruction([system, *USER], SCHEMA)

    assert first["content"][0] == {"type": "text", "text": "Be brief."}
    assert first["content"][1]["type"] == "text" and "JSON" in first["content"][1]["text"]


# --- choices: null --------------------------------------------------------------------------


def _request(model: str = "Qwen/Qwen2.5-7B-Instruct", **params: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=USER, params=params)


def test_null_choices_for_json_schema_is_a_typed_error_naming_the_fix(
    make_client: ClientFactory,
) -> None:
    server = FakeServer(reply(200, NULL_CHOICES))
    client = make_client(server, max_retries=3)

    with pytest.raises(JSONSchemaUnsupportedError) as info:
        client.chat.complete(_request(response_format=JSON_SCHEMA))

    message = str(info.value)
    assert "json_mode" in message and "function_calling" in message and "json_object" in message
    assert isinstance(info.value, InvalidResponseError)
    assert not is_retryable(info.value)
    assert server.count == 1


async def test_null_choices_for_json_schema_async(make_client: ClientFactory) -> None:
    client = make_client(FakeServer(reply(200, NULL_CHOICES)))

    with pytest.raises(JSONSchemaUnsupportedError):
        await client.chat.acomplete(_request(response_format=JSON_SCHEMA))


def test_null_choices_without_json_schema_stays_a_plain_invalid_response(
    make_client: ClientFactory,
) -> None:
    client = make_client(FakeServer(reply(200, NULL_CHOICES)))

    with pytest.raises(InvalidResponseError) as info:
        client.chat.complete(_request())

    assert not isinstance(info.value, JSONSchemaUnsupportedError)


def test_a_stream_without_choices_for_json_schema_is_the_typed_error(
    make_client: ClientFactory,
) -> None:
    chunk = {**NULL_CHOICES, "object": "chat.completion.chunk"}
    client = make_client(FakeServer(sse(chunk)))

    with pytest.raises(JSONSchemaUnsupportedError):
        list(client.chat.stream(_request(response_format=JSON_SCHEMA)))


async def test_a_thinking_models_internal_stream_without_choices_is_the_typed_error(
    make_client: ClientFactory,
) -> None:
    chunk = {**NULL_CHOICES, "object": "chat.completion.chunk"}
    client = make_client(FakeServer(sse(chunk)))
    request = _request("Qwen/Qwen3-235B-A22B-Thinking-2507", response_format=JSON_SCHEMA)

    with pytest.raises(JSONSchemaUnsupportedError):
        await client.chat.acomplete(request)
