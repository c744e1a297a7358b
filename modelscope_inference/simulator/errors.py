"""The error bodies the simulator sends, each shaped like the one the real service sends.

ModelScope is inconsistent: some errors use OpenAI's `{"error": {...}}`, others
`{"errors": {...}}`, and the request id sits inside or outside the object depending on the
error (reference: modelscope-api.md §3.3, §8.1). Each constructor below copies one observed
shape; :data:`REAL_ANSWERS` names every §8.1 row so a `Fault` can select it.

>>> invalid_token().body("r1")["errors"]["message"][:21]
'Authentication failed'
>>> quota_exceeded().body("r1")
{'errors': {'message': 'Request limit exceeded.', 'request_id': 'r1'}}
>>> model_retired().body("r1")["error"]["type"]
'insufficient_balance_error'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "REAL_ANSWERS",
    "ApiError",
    "BodyShape",
    "invalid_parameter",
    "invalid_token",
    "legacy_invalid_token",
    "missing_token",
    "model_not_found",
    "model_not_served",
    "model_retired",
    "not_real_name_verified",
    "quota_exceeded",
    "server_error",
    "unbound_account",
    "upstream_limit",
]


class BodyShape(str, Enum):
    """Where the message and the request id go in an error body."""

    OPENAI = "openai"
    """`{"error": {["http_code"|"code"], "message", "type"}, "request_id"}`."""
    ERRORS = "errors"
    """`{"errors": {"message"}, "request_id"}`."""
    ERRORS_INNER_ID = "errors_inner_id"
    """`{"errors": {"message", "request_id"}}`."""
    ERROR_INNER_ID = "error_inner_id"
    """`{"error": {"message", "request_id"}}`."""


@dataclass(frozen=True)
class ApiError:
    """An HTTP error the simulator answers with; the request id is filled in per request.

    >>> ApiError(400, "bad", BodyShape.OPENAI).body("r")["error"]["code"]
    'invalid_parameter_error'
    """

    status: int
    message: str
    shape: BodyShape
    code: str | None = "invalid_parameter_error"
    error_type: str = "invalid_request_error"
    http_code: str | None = None
    quota_headers: bool = False
    """Whether the answer carries the four `modelscope-ratelimit-*` headers (§8.1)."""

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body for this error, carrying `request_id` where the real body does."""
        if self.shape is BodyShape.OPENAI:
            error: dict[str, Any] = {}
            if self.http_code is not None:
                error["http_code"] = self.http_code
            if self.code is not None:
                error["code"] = self.code
            error.update(message=self.message, type=self.error_type)
            return {"error": error, "request_id": request_id}
        if self.shape is BodyShape.ERRORS:
            return {"errors": {"message": self.message}, "request_id": request_id}
        if self.shape is BodyShape.ERRORS_INNER_ID:
            return {"errors": {"message": self.message, "request_id": request_id}}
        return {"error": {"message": self.message, "request_id": request_id}}

    def encode(self, request_id: str) -> bytes:
        """The body as compact JSON bytes, the way the service writes it."""
        return json.dumps(self.body(request_id), separators=(",", ":"), ensure_ascii=False).encode()


_AUTH_FAILED = "Authentication failed, please make sure that a valid ModelScope token is supplied."


def invalid_token() -> ApiError:
    """401 for an unknown token, as in 2026: spelled right, `request_id` inside `errors`."""
    # reference: modelscope-api.md §8.1, invalid token (2026), zai-org/Open-AutoGLM#95
    return ApiError(401, _AUTH_FAILED, BodyShape.ERRORS_INNER_ID)


def missing_token() -> ApiError:
    """401 for a request without a token (2026): singular `error`, no quota headers."""
    # reference: modelscope-api.md §8.1, "no token at all (2026)"; the note elides the message
    # after "Authentication failed…": the invalid-token text is assumed [INFERRED].
    return ApiError(401, _AUTH_FAILED, BodyShape.ERROR_INNER_ID)


def legacy_invalid_token() -> ApiError:
    """401 in the older shape: the "Authenticaton" typo, `request_id` at the top level."""
    # reference: modelscope-api.md §2/§3.3 and §8.1 "invalid token (older)"
    message = "Authenticaton failed, please make sure that a valid ModelScope token is supplied."
    return ApiError(401, message, BodyShape.ERRORS)


def not_real_name_verified() -> ApiError:
    """403 for an account bound to Alibaba Cloud but not real-name verified."""
    # reference: modelscope-api.md §8.1, message verbatim (no space after the comma, "real
    # name" with a space); the envelope was not captured: the binding error's is [INFERRED].
    message = (
        "To use API-Inference,please make sure your associated Aliyun account is real name "
        "verified."
    )
    return ApiError(403, message, BodyShape.ERROR_INNER_ID)


def model_not_served(model: str) -> ApiError:
    """400 for a model id the service does not serve, with the four quota headers (2026)."""
    # reference: modelscope-api.md §8.1, "model id not served", a committed request log
    message = f"Model id : {model} , has no provider supported"
    return ApiError(400, message, BodyShape.ERRORS_INNER_ID, quota_headers=True)


def model_retired() -> ApiError:
    """429 for a retired model: `insufficient_balance_error` (1008)."""
    # reference: modelscope-api.md §8.1, modelscope/modelscope#1691
    return ApiError(
        429,
        "insufficient balance (1008)",
        BodyShape.OPENAI,
        code=None,
        error_type="insufficient_balance_error",
        http_code="429",
    )


def upstream_limit(app_id: str = "**wP34") -> ApiError:
    """429 from the upstream provider's usage cap, while the quota headers show calls left."""
    # reference: modelscope-api.md §8.1, "upstream usage cap", a committed request log
    return ApiError(
        429,
        f"AppId:{app_id} 达到使用量上限",
        BodyShape.OPENAI,
        code="too_many_requests",
        error_type="rate_limit_error",
        quota_headers=True,
    )


def unbound_account() -> ApiError:
    """401 for a token whose account has no Alibaba Cloud binding."""
    # reference: modelscope-api.md §2/§3.3, binding error uses "error" with request_id inside.
    return ApiError(
        401, "Please bind your Alibaba Cloud account before use.", BodyShape.ERROR_INNER_ID
    )


def quota_exceeded() -> ApiError:
    """429 for a spent quota and for transient throttling alike (no distinct text exists)."""
    # reference: modelscope-api.md §3.3, 429 body uses "errors" with request_id inside; the
    # per-model, per-account and transient cases share it and differ only by headers.
    return ApiError(429, "Request limit exceeded.", BodyShape.ERRORS_INNER_ID)


def model_not_found(model: str) -> ApiError:
    """404 for a model id the service does not serve: the pre-2026 guess (see
    :func:`model_not_served` for what the service answers now)."""
    # [INFERRED] status per Cherry docs, modelscope-api.md §1/§6.1; body not captured.
    message = (
        f"Model '{model}' is not served by API-Inference. "
        "Check GET /v1/models for the model ids that are served."
    )
    return ApiError(404, message, BodyShape.ERRORS)


def server_error() -> ApiError:
    """5xx body used by the server_error fault."""
    # [INFERRED] modelscope-api.md §3.3 lists server overload bodies as "not found".
    return ApiError(500, "Internal server error", BodyShape.ERRORS)


def invalid_parameter(message: str) -> ApiError:
    """400 in the OpenAI-like shape the service uses for parameter errors."""
    # reference: modelscope-api.md §3.3, thinking errors use {"error": {code, message, type}}
    # with a top-level request_id; other 400 texts from the simulator are [INFERRED].
    return ApiError(400, message, BodyShape.OPENAI)


REAL_ANSWERS: dict[str, Callable[[str], ApiError]] = {
    "invalid_token": lambda model: invalid_token(),
    "missing_token": lambda model: missing_token(),
    "legacy_invalid_token": lambda model: legacy_invalid_token(),
    "unbound_account": lambda model: unbound_account(),
    "not_real_name_verified": lambda model: not_real_name_verified(),
    "model_not_served": model_not_served,
    "model_retired": lambda model: model_retired(),
    "upstream_limit": lambda model: upstream_limit(),
    "request_limit": lambda model: quota_exceeded(),
}
"""Every error answer of reference §8.1 by name, built for the requested model."""
