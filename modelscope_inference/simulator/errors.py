"""The error bodies the simulator sends, each shaped like the one the real service sends.

ModelScope is inconsistent: some errors use OpenAI's `{"error": {...}}`, others
`{"errors": {...}, "request_id": ...}`, and the request id sits inside or outside the object
depending on the error (reference: modelscope-api.md §3.3). Each constructor below copies one
observed shape.

>>> invalid_token().body("r1")["errors"]["message"][:20]
'Authenticaton failed'
>>> quota_exceeded().body("r1")
{'errors': {'message': 'Request limit exceeded.', 'request_id': 'r1'}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "ApiError",
    "BodyShape",
    "invalid_parameter",
    "invalid_token",
    "model_not_found",
    "quota_exceeded",
    "server_error",
    "unbound_account",
]


class BodyShape(str, Enum):
    """Where the message and the request id go in an error body."""

    OPENAI = "openai"
    """`{"error": {"code", "message", "type"}, "request_id"}`."""
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
    code: str = "invalid_parameter_error"

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body for this error, carrying `request_id` where the real body does."""
        if self.shape is BodyShape.OPENAI:
            error = {"code": self.code, "message": self.message, "type": "invalid_request_error"}
            return {"error": error, "request_id": request_id}
        if self.shape is BodyShape.ERRORS:
            return {"errors": {"message": self.message}, "request_id": request_id}
        if self.shape is BodyShape.ERRORS_INNER_ID:
            return {"errors": {"message": self.message, "request_id": request_id}}
        return {"error": {"message": self.message, "request_id": request_id}}

    def encode(self, request_id: str) -> bytes:
        """The body as compact JSON bytes, the way the service writes it."""
        return json.dumps(self.body(request_id), separators=(",", ":")).encode()


def invalid_token() -> ApiError:
    """401 for a missing or unknown token."""
    # reference: modelscope-api.md §2/§3.3, invalid token body uses "errors" and the typo
    # "Authenticaton", with request_id at the top level.
    message = "Authenticaton failed, please make sure that a valid ModelScope token is supplied."
    return ApiError(401, message, BodyShape.ERRORS)


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
    """404 for a model id the service does not serve."""
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
