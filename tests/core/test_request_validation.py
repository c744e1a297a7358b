"""Issue 15, findings 6 and 9 in the core: the checks both adapters share, alone."""

from __future__ import annotations

import math

import httpx
import pytest

from modelscope_inference.chat import ChatRequest
from modelscope_inference.errors import (
    ModelNotSupportedError,
    RequestValidationError,
    classify_error,
)
from modelscope_inference.tools import parse_arguments, parse_call
from modelscope_inference.validation import (
    check_request,
    check_tool_choice,
    unencodable_body,
)

TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {}}}]


@pytest.mark.parametrize("raw", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_finding_9_nan_and_infinity_arguments_are_not_json(raw: str) -> None:
    args, error = parse_arguments(raw)

    assert args is None and error is not None and "not a JSON value" in error


def test_finding_4_a_complete_call_without_a_name_is_invalid() -> None:
    assert parse_call("", '{"a": 1}') == (None, "the tool call has no function name")
    assert parse_call("add", '{"a": 1}') == ({"a": 1}, None)


def test_finding_6_the_error_names_the_path_of_a_lone_surrogate() -> None:
    body = {"messages": [{"role": "user", "content": "ok"}, {"content": "a\ud800"}]}

    error = unencodable_body(body, ValueError("surrogates not allowed"))

    assert isinstance(error, RequestValidationError)
    assert "messages[1].content" in str(error) and "position 1" in str(error)


def test_finding_6_the_error_names_a_value_that_is_not_json() -> None:
    error = unencodable_body({"extra": {"when": object()}}, TypeError("not serializable"))

    assert "extra.when is a object, which is not JSON" in str(error)


def test_finding_6_a_self_containing_body_is_named_not_recursed_forever() -> None:
    loop: list[object] = []
    loop.append(loop)

    assert "contains itself" in str(unencodable_body({"x": loop}, ValueError("circular")))


def test_finding_9_nan_in_a_body_is_named() -> None:
    assert "temperature is NaN" in str(unencodable_body({"temperature": math.inf}, ValueError()))


@pytest.mark.parametrize("choice", ["bogus", {"type": "function", "function": {"name": "bogus"}}])
def test_finding_9_a_tool_choice_naming_no_bound_tool_is_refused(choice: object) -> None:
    with pytest.raises(RequestValidationError, match="is not a bound tool"):
        check_tool_choice(choice, ["add"])


@pytest.mark.parametrize("choice", ["auto", "none", "any", "required", "add", None])
def test_finding_9_tool_choice_modes_and_bound_names_pass(choice: object) -> None:
    check_tool_choice(choice, ["add"])


def test_finding_9_the_core_checks_tool_choice_against_the_request_tools() -> None:
    request = ChatRequest(model="m/x", messages=[], tools=TOOLS, tool_choice="sub")

    with pytest.raises(RequestValidationError):
        check_request(request, stream=False)


@pytest.mark.parametrize("max_tokens", [0, -1, 1.5, True, "10"])
def test_finding_9_max_tokens_must_be_a_positive_integer(max_tokens: object) -> None:
    request = ChatRequest(model="m/x", messages=[], params={"max_tokens": max_tokens})

    with pytest.raises(RequestValidationError, match="max_tokens"):
        check_request(request, stream=False)


def test_finding_9_n_above_one_is_refused_for_streams_only() -> None:
    request = ChatRequest(model="m/x", messages=[], params={"n": 2})

    check_request(request, stream=False)
    with pytest.raises(RequestValidationError, match="n=2 cannot be streamed"):
        check_request(request, stream=True)


def _answer_404(url: str) -> httpx.Response:
    return httpx.Response(404, json={"detail": "Not Found"}, request=httpx.Request("POST", url))


def test_finding_9_a_404_without_v1_in_the_path_advises_adding_v1() -> None:
    error = classify_error(_answer_404("https://proxy.example/chat/completions"), model="m/x")

    assert isinstance(error, ModelNotSupportedError)
    assert "add /v1 to base_url" in str(error)


def test_finding_9_a_404_under_v1_keeps_the_model_advice() -> None:
    error = classify_error(_answer_404("https://proxy.example/v1/chat/completions"), model="m/x")

    assert "add /v1" not in str(error) and "model" in str(error).lower()
