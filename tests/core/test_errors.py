"""Every error body in the reference notes (modelscope-api.md §2–§3.3) maps to the right class,
which is also the matching ``openai`` exception, with a message that says what happened."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from real_answers import (
    ANSWERS,
    DASHSCOPE_ENABLE_THINKING,
    REAL_ANSWERS,
    THINKING_STREAM_FALSE,
    RealAnswer,
)

from modelscope_inference import (
    AccountBindingError,
    AmbiguousRateLimitError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    InvalidResponseError,
    ModelNotSupportedError,
    ModelRetiredError,
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

from .fakes import FakeServer, chat_completion, reply

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


# --- every answer of reference §8.1, byte for byte (tests/real_answers.py) -------------------

ALL_REAL = [*REAL_ANSWERS, THINKING_STREAM_FALSE, DASHSCOPE_ENABLE_THINKING]
# What one request (no retry layer) raises; the chat-level outcome is in REAL_ANSWERS.error.
FIRST_ANSWER = {"request_limit": "AmbiguousRateLimitError"}


def _verbatim(answer: RealAnswer) -> Any:
    return reply(answer.status, content=answer.body, headers=answer.all_headers)


@pytest.mark.parametrize("answer", ALL_REAL, ids=lambda a: a.name)
def test_each_real_answer_is_classified_with_its_request_id(
    make_client: Any, answer: RealAnswer
) -> None:
    exc = _raise_from(make_client, _verbatim(answer))

    assert type(exc).__name__ == FIRST_ANSWER.get(answer.name, answer.error)
    assert isinstance(exc, APIStatusError)
    assert exc.status_code == answer.status
    assert exc.request_id == (answer.request_id or None)
    _says(exc, f"HTTP {answer.status}", MODEL)
    if answer.request_id:
        _says(exc, answer.request_id)


@pytest.mark.parametrize("answer", REAL_ANSWERS, ids=lambda a: a.name)
def test_each_real_answer_carries_the_quota_figures_of_its_headers(
    make_client: Any, answer: RealAnswer
) -> None:
    exc = _raise_from(make_client, _verbatim(answer))

    assert isinstance(exc, APIStatusError)
    if not answer.headers:  # §8.1: no header means unknown, not fine and not spent
        assert exc.quota is None
        return
    assert exc.quota is not None
    assert exc.quota.account_remaining == 1897
    assert exc.quota.model_remaining == 458
    assert exc.quota.model_limit == 500


def test_retired_model_429_is_model_not_supported_and_not_a_rate_limit(make_client: Any) -> None:
    exc = _raise_from(make_client, _verbatim(ANSWERS["model_retired"]))

    assert isinstance(exc, ModelRetiredError)
    assert isinstance(exc, ModelNotSupportedError)
    assert not isinstance(exc, openai.RateLimitError)  # generic retry loops must not retry it
    assert exc.status_code == 429
    _says(exc, "retired", "fallback_models", "insufficient balance (1008)")


def test_unserved_model_400_says_what_to_do(make_client: Any) -> None:
    exc = _raise_from(make_client, _verbatim(ANSWERS["model_not_served"]))

    assert isinstance(exc, ModelNotSupportedError)
    assert not isinstance(exc, ModelRetiredError)
    _says(exc, "HTTP 400", "has no provider supported", "Qwen/Qwen3-32B", "fallback_models")


def test_upstream_too_many_requests_with_calls_left_is_transient(make_client: Any) -> None:
    exc = _raise_from(make_client, _verbatim(ANSWERS["upstream_limit"]))

    assert type(exc) is RateLimitError
    _says(exc, "transient", "达到使用量上限")


def test_header_less_request_limit_is_ambiguous_but_still_a_rate_limit(make_client: Any) -> None:
    exc = _raise_from(make_client, _verbatim(ANSWERS["request_limit"]))

    assert type(exc) is AmbiguousRateLimitError
    assert isinstance(exc, RateLimitError)
    assert exc.quota is None
    _says(exc, "without quota headers", "retried once", "fallback_models")


@pytest.mark.parametrize(
    "message",
    [
        "To use API-Inference,please make sure your associated Aliyun account is real name "
        "verified.",
        "Your Aliyun account is not real-name verified.",
    ],
    ids=["real-name-with-space", "real-name-with-hyphen"],
)
@pytest.mark.parametrize("status", [401, 403])
def test_real_name_verification_text_is_account_binding(
    make_client: Any, message: str, status: int
) -> None:
    exc = _raise_from(make_client, reply(status, {"error": {"message": message}}))

    assert isinstance(exc, AccountBindingError)
    _says(exc, "real-name verif", BINDING_DOC)


@pytest.mark.parametrize("spelling", ["Authentication", "Authenticaton"])
@pytest.mark.parametrize("envelope", ["error", "errors"])
def test_both_auth_spellings_in_both_envelopes_are_authentication_errors(
    make_client: Any, spelling: str, envelope: str
) -> None:
    body = {envelope: {"message": f"{spelling} failed, ...", "request_id": "rid-a"}}
    exc = _raise_from(make_client, reply(401, body))

    assert type(exc) is AuthenticationError
    assert exc.request_id == "rid-a"  # type: ignore[attr-defined]


# --- the ambiguous 429 through the retry layer (policy: AmbiguousRateLimitError) ---------------

REQUEST = ChatRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}])
REQUEST_LIMIT = ANSWERS["request_limit"]


def test_header_less_request_limit_twice_is_the_models_spent_quota(
    make_client: Any, sleeps: Any
) -> None:
    server = FakeServer(_verbatim(REQUEST_LIMIT))

    with pytest.raises(QuotaExhaustedError) as caught:
        make_client(server, max_retries=5).chat.complete(REQUEST)

    assert server.count == 2  # one retry only, whatever max_retries allows
    assert len(sleeps.waits) == 1
    assert caught.value.scope == "model"
    assert caught.value.remaining is None  # not known: no headers
    assert caught.value.request_id == REQUEST_LIMIT.request_id
    assert isinstance(caught.value.__cause__, AmbiguousRateLimitError)
    _says(caught.value, "Request limit exceeded.", "fallback_models", "00:00 UTC+8")


def test_header_less_request_limit_once_then_an_answer_succeeds(make_client: Any) -> None:
    server = FakeServer(_verbatim(REQUEST_LIMIT), reply(200, chat_completion("done")))

    assert make_client(server).chat.complete(REQUEST).content == "done"
    assert server.count == 2


def test_header_less_request_limit_is_not_marked_spent_in_the_tracker(make_client: Any) -> None:
    server = FakeServer(_verbatim(REQUEST_LIMIT))
    client = make_client(server)

    for _ in range(2):
        with pytest.raises(QuotaExhaustedError):
            client.chat.complete(REQUEST)

    assert server.count == 4  # each call asks again: without headers the figures are unknown


def test_header_less_request_limit_without_retries_stays_ambiguous(make_client: Any) -> None:
    server = FakeServer(_verbatim(REQUEST_LIMIT))

    with pytest.raises(AmbiguousRateLimitError):
        make_client(server, max_retries=0).chat.complete(REQUEST)

    assert server.count == 1


def test_header_less_request_limit_on_a_stream_is_settled_the_same_way(make_client: Any) -> None:
    server = FakeServer(_verbatim(REQUEST_LIMIT))

    with pytest.raises(QuotaExhaustedError):
        list(make_client(server, max_retries=3).chat.stream(REQUEST))

    assert server.count == 2


async def test_header_less_request_limit_async_is_settled_the_same_way(make_client: Any) -> None:
    server = FakeServer(_verbatim(REQUEST_LIMIT))

    with pytest.raises(QuotaExhaustedError):
        await make_client(server, max_retries=3).chat.acomplete(REQUEST)

    assert server.count == 2


# --- fallback_models move on from every model-specific refusal ---------------------------------

FALLBACK = "Qwen/Qwen2.5-72B-Instruct"


def _by_model(answer: RealAnswer) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == MODEL:
            return httpx.Response(answer.status, content=answer.body, headers=answer.all_headers)
        return httpx.Response(200, json=chat_completion("from fallback", model=FALLBACK))

    return respond


@pytest.mark.parametrize("name", ["model_not_served", "model_retired", "request_limit"])
def test_fallback_models_take_over_from_an_unserved_retired_or_spent_model(
    make_client: Any, name: str
) -> None:
    server = FakeServer(_by_model(ANSWERS[name]))
    request = ChatRequest(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], fallback_models=[FALLBACK]
    )

    result = make_client(server).chat.complete(request)

    assert result.content == "from fallback"
    assert result.model == FALLBACK
    assert server.count == ANSWERS[name].attempts + 1


@pytest.mark.parametrize("name", ["invalid_token", "unbound_account", "upstream_limit"])
def test_fallback_models_do_not_move_on_from_account_or_transient_errors(
    make_client: Any, name: str
) -> None:
    server = FakeServer(_by_model(ANSWERS[name]))
    request = ChatRequest(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], fallback_models=[FALLBACK]
    )

    with pytest.raises(APIStatusError):
        make_client(server).chat.complete(request)

    assert all(json.loads(r.content)["model"] == MODEL for r in server.requests)
