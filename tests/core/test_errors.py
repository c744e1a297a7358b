"""Every error body in the reference notes (modelscope-api.md §2–§3.3) maps to the right class,
which is also the matching ``openai`` exception, with a message that says what happened."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from modelscope_inference import (
    AccountBindingError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelNotSupportedError,
    ModelScopeError,
    QuotaExhaustedError,
    RateLimitError,
    ServiceUnavailableError,
    StreamInterruptedError,
    ThinkingModeError,
)
from modelscope_inference.errors import (
    BINDING_DOC,
    TOKEN_PAGE,
    classify_error,
    error_message_from_body,
    request_id_from,
)

from .fakes import FakeServer, reply

MODEL = "Qwen/Qwen2.5-7B-Instruct"
INVALID_TOKEN_BODY = {
    "errors": {
        "message": "Authenticaton failed, please make sure that a valid ModelScope token "
        "is supplied."
    },
    "request_id": "req-401-invalid",
}
BINDING_BODY = {
    "error": {
        "message": "Please bind your Alibaba Cloud account before use.",
        "request_id": "req-401-bind",
    }
}
LIMIT_BODY = {"errors": {"message": "Request limit exceeded.", "request_id": "req-429"}}
THINKING_STREAM_FALSE_BODY = {
    "error": {
        "code": "invalid_parameter_error",
        "message": "enable thinking can not be support when `stream=False`.",
        "type": "invalid_request_error",
    },
    "request_id": "req-400-thinking",
}
HYBRID_NON_STREAM_BODY = {
    "error": {
        "code": "invalid_parameter_error",
        "message": "parameter.enable_thinking must be set to false for non-streaming calls",
    }
}
STREAM_ONLY_BODY = {
    "error": {
        "code": "invalid_parameter_error",
        "param": None,
        "message": "This model only support stream mode, please enable the stream parameter "
        "to access the model. ",
        "type": "invalid_request_error",
    }
}
TOOL_CHOICE_BODY = {
    "error": {
        "code": "invalid_parameter_error",
        "message": "tool_choice does not support being set to required or object in thinking mode",
    }
}


def _raise_from(make_client: Any, responder: Any) -> Exception:
    """POST once through the transport (no chat-level logic) and return what it raised."""
    client = make_client(FakeServer(responder), max_retries=0)
    with pytest.raises(ModelScopeError) as caught:
        client.transport.post("/chat/completions", {"model": MODEL, "messages": []}, model=MODEL)
    return caught.value


def _says(exc: Exception, *fragments: str) -> None:
    text = str(exc)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


def test_invalid_token_401_is_authentication_error(make_client: Any) -> None:
    exc = _raise_from(make_client, reply(401, INVALID_TOKEN_BODY))

    assert type(exc) is AuthenticationError
    assert isinstance(exc, openai.AuthenticationError)
    assert exc.status_code == 401
    assert exc.request_id == "req-401-invalid"
    _says(exc, "HTTP 401", MODEL, "req-401-invalid", TOKEN_PAGE, "Authenticaton failed")


def test_binding_401_is_account_binding_error_with_doc_link(make_client: Any) -> None:
    exc = _raise_from(make_client, reply(401, BINDING_BODY))

    assert isinstance(exc, AccountBindingError)
    assert isinstance(exc, openai.AuthenticationError)
    assert exc.request_id == "req-401-bind"
    _says(exc, BINDING_DOC, "HTTP 401", MODEL, "req-401-bind")


def test_lower_case_binding_401_is_account_binding_error(make_client: Any) -> None:
    body = {"error": {"message": "please bind your alibaba cloud account"}}
    exc = _raise_from(make_client, reply(401, body))

    assert isinstance(exc, AccountBindingError)
    _says(exc, BINDING_DOC)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"error": {"message": "Access denied.", "request_id": "req-403"}},
    ],
    ids=["no-body", "generic-body"],
)
def test_403_is_account_binding_error_with_doc_link(make_client: Any, body: object) -> None:
    exc = _raise_from(make_client, reply(403, body))

    assert isinstance(exc, AccountBindingError)
    assert isinstance(exc, openai.AuthenticationError)
    _says(exc, BINDING_DOC, "HTTP 403", MODEL)


def test_429_with_account_remaining_zero_is_account_quota_exhaustion(make_client: Any) -> None:
    headers = {
        "modelscope-ratelimit-requests-limit": "2000",
        "modelscope-ratelimit-requests-remaining": "0",
    }
    exc = _raise_from(make_client, reply(429, LIMIT_BODY, headers=headers))

    assert isinstance(exc, QuotaExhaustedError)
    assert not isinstance(exc, RateLimitError)
    assert isinstance(exc, openai.RateLimitError)
    assert exc.scope == "account"
    assert exc.limit == 2000
    assert exc.remaining == 0
    assert exc.resets_at is not None
    _says(exc, "HTTP 429", MODEL, "req-429", "account", exc.resets_at.isoformat())


def test_429_with_model_remaining_zero_is_model_quota_exhaustion(make_client: Any) -> None:
    headers = {
        "modelscope-ratelimit-requests-remaining": "1500",
        "modelscope-ratelimit-model-requests-limit": "200",
        "modelscope-ratelimit-model-requests-remaining": "0",
    }
    exc = _raise_from(make_client, reply(429, LIMIT_BODY, headers=headers))

    assert isinstance(exc, QuotaExhaustedError)
    assert exc.scope == "model"
    assert exc.limit == 200
    _says(exc, "HTTP 429", MODEL, "fallback_models")


@pytest.mark.parametrize(
    "headers",
    [
        {
            "modelscope-ratelimit-requests-remaining": "12",
            "modelscope-ratelimit-model-requests-remaining": "3",
        },
        {"modelscope-ratelimit-requests-remaining": "12"},
    ],
    ids=["remaining-above-zero", "account-remaining-only"],
)
def test_429_without_a_spent_count_is_transient_rate_limit(
    make_client: Any, headers: dict[str, str]
) -> None:
    exc = _raise_from(make_client, reply(429, LIMIT_BODY, headers=headers))

    assert type(exc) is RateLimitError
    assert isinstance(exc, openai.RateLimitError)
    _says(exc, "HTTP 429", MODEL, "req-429", "transient")


def test_429_with_no_body_and_no_headers_is_rate_limit_error(make_client: Any) -> None:
    exc = _raise_from(make_client, reply(429))

    assert type(exc) is RateLimitError
    assert exc.status_code == 429
    assert exc.model == MODEL
    assert exc.retry_after is None
    assert exc.body is None
    _says(exc, "HTTP 429", MODEL, "no body")


@pytest.mark.parametrize(
    "body",
    [THINKING_STREAM_FALSE_BODY, HYBRID_NON_STREAM_BODY, STREAM_ONLY_BODY, TOOL_CHOICE_BODY],
    ids=["stream-false", "enable-thinking-false", "stream-only", "tool-choice"],
)
def test_thinking_mode_400s_are_thinking_mode_errors(make_client: Any, body: object) -> None:
    exc = _raise_from(make_client, reply(400, body))

    assert isinstance(exc, ThinkingModeError)
    assert isinstance(exc, BadRequestError)
    assert isinstance(exc, openai.BadRequestError)
    _says(exc, "HTTP 400", MODEL)


def test_thinking_400_message_carries_request_id(make_client: Any) -> None:
    exc = _raise_from(make_client, reply(400, THINKING_STREAM_FALSE_BODY))

    _says(exc, "req-400-thinking")


def test_400_with_no_body_is_bad_request_with_status_model_and_url(make_client: Any) -> None:
    exc = _raise_from(make_client, reply(400))

    assert type(exc) is BadRequestError
    assert isinstance(exc, openai.BadRequestError)
    _says(
        exc,
        "HTTP 400",
        MODEL,
        "https://api-inference.modelscope.cn/v1/chat/completions",
        "no body",
    )


def test_404_is_model_not_supported(make_client: Any) -> None:
    exc = _raise_from(make_client, reply(404, content=b"404 page not found"))

    assert isinstance(exc, ModelNotSupportedError)
    assert isinstance(exc, openai.NotFoundError)
    _says(exc, "HTTP 404", MODEL, "Qwen/Qwen3-32B")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_service_unavailable(make_client: Any, status: int) -> None:
    exc = _raise_from(make_client, reply(status, content=b"upstream error"))

    assert isinstance(exc, ServiceUnavailableError)
    assert isinstance(exc, openai.InternalServerError)
    assert exc.status_code == status
    _says(exc, f"HTTP {status}", MODEL)


def test_request_id_falls_back_to_the_x_request_id_header(make_client: Any) -> None:
    responder = reply(500, {"error": {"message": "boom"}}, headers={"x-request-id": "hdr-1"})
    exc = _raise_from(make_client, responder)

    assert exc.request_id == "hdr-1"  # type: ignore[attr-defined]
    _says(exc, "hdr-1")


def test_connection_error_is_openai_connection_error(make_client: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    exc = _raise_from(make_client, refuse)

    assert type(exc) is APIConnectionError
    assert isinstance(exc, openai.APIConnectionError)
    _says(exc, MODEL, "ConnectError")


def test_timeout_is_openai_timeout_error(make_client: Any) -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    exc = _raise_from(make_client, stall)

    assert isinstance(exc, APITimeoutError)
    assert isinstance(exc, openai.APITimeoutError)
    _says(exc, MODEL, "timeout")


def test_2xx_body_that_is_not_json_is_invalid_response(make_client: Any) -> None:
    exc = _raise_from(make_client, reply(200, content=b"<html>gateway</html>"))

    assert isinstance(exc, InvalidResponseError)
    assert isinstance(exc, openai.APIResponseValidationError)
    _says(exc, MODEL, "HTTP 200")


def test_stream_interrupted_is_an_openai_connection_error() -> None:
    exc = StreamInterruptedError("broke", request=httpx.Request("POST", "https://x/v1"), text="ab")

    assert isinstance(exc, APIConnectionError)
    assert isinstance(exc, openai.APIConnectionError)
    assert exc.text == "ab"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "a"}}, "a"),
        ({"errors": {"message": "b"}}, "b"),
        ({"error": "c"}, "c"),
        ({"message": "d"}, "d"),
        ({"errors": {"code": 500}}, None),
        ("plain text", None),
        (None, None),
    ],
)
def test_error_message_is_read_from_either_body_shape(body: object, expected: str | None) -> None:
    assert error_message_from_body(body) == expected


def test_request_id_is_found_at_top_level_or_inside_the_error_object() -> None:
    assert request_id_from({"request_id": "top", "errors": {}}, {}) == "top"
    assert request_id_from({"error": {"request_id": "inner"}}, {}) == "inner"
    assert request_id_from({"errors": {"request_id": "plural"}}, {}) == "plural"
    assert request_id_from(None, {}) is None


def test_classify_error_uses_the_given_quota_scope_only_for_its_decision() -> None:
    request = httpx.Request("POST", "https://api-inference.modelscope.cn/v1/chat/completions")
    calls_left = {"modelscope-ratelimit-requests-remaining": "12"}
    response = httpx.Response(429, json=LIMIT_BODY, headers=calls_left, request=request)

    transient = classify_error(response, model=MODEL)
    spent = classify_error(response, model=MODEL, quota_scope="model")

    assert type(transient) is RateLimitError
    assert isinstance(spent, QuotaExhaustedError)
    assert spent.scope == "model"


def test_quota_wording_in_a_429_body_means_exhaustion_without_headers() -> None:
    request = httpx.Request("POST", "https://api-inference.modelscope.cn/v1/chat/completions")
    body = {"error": {"message": "Free allocated quota exceeded."}}
    response = httpx.Response(429, json=body, request=request)

    exc = classify_error(response, model=MODEL)

    assert isinstance(exc, QuotaExhaustedError)
    assert exc.scope == "account"
