"""The error answers seen in real ModelScope traffic, byte for byte, with what each must become.

Quoted from ``shared/reference/modelscope-api.md`` §8.1 (and the older rows of §3.3 that §8.1
keeps). Where the reference elides a part ("…"), the filled-in part is marked [INFERRED]:
request ids (only their first 8 hex digits were published, when any), the no-token message
after "Authentication failed", the 403 envelope, and the quota header values of the 400
(the log says the four headers were there, not their values).

Each :class:`RealAnswer` names the simulator answer that reproduces it
(``Fault.real_answer(name)``), so one table drives the classifier tests, the simulator's
fidelity test and the replay through both adapters.

Example:
    >>> ANSWERS["model_retired"].status
    429
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

MODEL = "Qwen/Qwen2.5-7B-Instruct-1M"  # the id of the §8.1 "model id not served" capture

CONTENT_TYPE = {"content-type": "application/json; charset=utf-8"}  # §8.1, real answers

# reference: §8.1 "upstream usage cap": the headers still showed 1897/2000 and 458/500 left
CALLS_LEFT = {
    "modelscope-ratelimit-requests-limit": "2000",
    "modelscope-ratelimit-requests-remaining": "1897",
    "modelscope-ratelimit-model-requests-limit": "500",
    "modelscope-ratelimit-model-requests-remaining": "458",
}


@dataclass(frozen=True)
class RealAnswer:
    """One captured answer: status, body bytes, headers; and the library's expected reading.

    ``error`` is the exception class name; ``attempts`` how many requests one call sends with
    ``max_retries=2`` when the service keeps answering this; ``request_id`` the id in the body.
    """

    name: str
    status: int
    body: bytes
    request_id: str
    error: str
    attempts: int
    headers: dict[str, str] = field(default_factory=dict)
    says: tuple[str, ...] = ()

    @property
    def all_headers(self) -> dict[str, str]:
        return {**CONTENT_TYPE, **self.headers}

    def json(self) -> object:
        return json.loads(self.body)


def _answer(
    name: str,
    status: int,
    body: str,
    request_id: str,
    error: str,
    attempts: int = 1,
    headers: dict[str, str] | None = None,
    says: tuple[str, ...] = (),
) -> RealAnswer:
    raw = body.replace("<rid>", request_id).encode()
    return RealAnswer(name, status, raw, request_id, error, attempts, headers or {}, says)


REAL_ANSWERS: tuple[RealAnswer, ...] = (
    # §8.1 invalid token (2026), zai-org/Open-AutoGLM#95: spelled right, request_id inside.
    _answer(
        "invalid_token",
        401,
        '{"errors":{"message":"Authentication failed, please make sure that a valid ModelScope '
        'token is supplied.","request_id":"<rid>"}}',
        "6c1f3a52-4b7e-4d0a-9c1e-2f8a4b6d0e11",
        "AuthenticationError",
        says=("MODELSCOPE_API_KEY",),
    ),
    # §8.1 no token at all (2026): singular "error", no quota headers. Message [INFERRED].
    _answer(
        "missing_token",
        401,
        '{"error":{"message":"Authentication failed, please make sure that a valid ModelScope '
        'token is supplied.","request_id":"<rid>"}}',
        "0b9d2e7c-5a31-4f6e-8d24-7c1b9e3f5a02",
        "AuthenticationError",
        says=("MODELSCOPE_API_KEY",),
    ),
    # §8.1 invalid token (older) = §2/§3.3: the "Authenticaton" typo, top-level request_id.
    _answer(
        "legacy_invalid_token",
        401,
        '{"errors":{"message":"Authenticaton failed, please make sure that a valid ModelScope '
        'token is supplied."},"request_id":"<rid>"}',
        "9e4a7b10-2c8d-4e3f-a516-0d7c2b9e8f33",
        "AuthenticationError",
        says=("MODELSCOPE_API_KEY",),
    ),
    # §8.1 account not bound, agentscope-ai/QwenPaw#1644.
    _answer(
        "unbound_account",
        401,
        '{"error":{"message":"Please bind your Alibaba Cloud account before use.",'
        '"request_id":"<rid>"}}',
        "3f7b2c9e-8a14-4d6b-b0e2-5c9d1a7f4e44",
        "AccountBindingError",
        says=("aliyun-binding",),
    ),
    # §8.1 bound but not real-name verified: message verbatim; envelope [INFERRED].
    _answer(
        "not_real_name_verified",
        403,
        '{"error":{"message":"To use API-Inference,please make sure your associated Aliyun '
        'account is real name verified.","request_id":"<rid>"}}',
        "7a2e9c41-6b0d-4f8a-9e3c-1b5d7f2a8c55",
        "AccountBindingError",
        says=("real-name verif",),
    ),
    # §8.1 model id not served: 400 (not 404) WITH the four quota headers (values [INFERRED]).
    _answer(
        "model_not_served",
        400,
        '{"errors":{"message":"Model id : Qwen/Qwen2.5-7B-Instruct-1M , has no provider '
        'supported","request_id":"<rid>"}}',
        "d41c8e3a-9f27-4b05-8a6e-3e2b7c9d1f66",
        "ModelNotSupportedError",
        headers=CALLS_LEFT,
        says=("has no provider supported", "fallback_models"),
    ),
    # §8.1 model retired ("已下线"), modelscope/modelscope#1691.
    _answer(
        "model_retired",
        429,
        '{"error":{"http_code":"429","message":"insufficient balance (1008)",'
        '"type":"insufficient_balance_error"},"request_id":"<rid>"}',
        "5e8b1d73-0c4a-4a9f-b7d2-6f3e9a1c2b77",
        "ModelRetiredError",
        says=("retired", "fallback_models"),
    ),
    # §8.1 upstream usage cap while the headers show calls left: transient, retried.
    _answer(
        "upstream_limit",
        429,
        '{"error":{"code":"too_many_requests","message":"AppId:**wP34 达到使用量上限",'
        '"type":"rate_limit_error"},"request_id":"<rid>"}',
        "b2f6e4a8-1d3c-4e7b-9a05-8c2d6f1e3a88",
        "RateLimitError",
        attempts=3,
        headers=CALLS_LEFT,
        says=("transient",),
    ),
    # §8.1 = §3.3 spent quota, pasted without headers (claude-code-router#462): ambiguous;
    # retried once, then read as the model's spent quota.
    _answer(
        "request_limit",
        429,
        '{"errors":{"message":"Request limit exceeded.","request_id":"<rid>"}}',
        "30da26a6-7e1b-4c2d-8f3a-9b0e5d4c1a99",
        "QuotaExhaustedError",
        attempts=2,
        says=("Request limit exceeded.", "fallback_models"),
    ),
)

# §8.1/§3.3 thinking-mode 400s: produced by the simulator's own rules, not by a Fault.
THINKING_STREAM_FALSE = _answer(
    "thinking_stream_false",
    400,
    '{"error":{"code":"invalid_parameter_error","message":"enable thinking can not be support '
    'when `stream=False`.","type":"invalid_request_error"},"request_id":"<rid>"}',
    "214720c8-3b6e-4f1d-a9c2-7e5b0d8f4a10",
    "ThinkingModeError",
)
# §3.3: DashScope's text (§8.1: not seen from ModelScope, handled anyway); no request id seen.
DASHSCOPE_ENABLE_THINKING = _answer(
    "dashscope_enable_thinking",
    400,
    '{"error":{"code":"invalid_parameter_error","message":"parameter.enable_thinking must be '
    'set to false for non-streaming calls"}}',
    "",
    "ThinkingModeError",
)

ANSWERS = {answer.name: answer for answer in REAL_ANSWERS}
