"""The exception tree, and the one classifier that maps an HTTP answer to it.

Every class also subclasses the matching ``openai`` exception, so code written against the
openai SDK (``except openai.RateLimitError``) keeps working. So this module imports ``openai``,
and the rest of the library imports it only on first use (see :mod:`modelscope_inference._lazy`),
which keeps ``import langchain_modelscope`` fast. Catch what you mean::

    ModelScopeError
    ├── ConfigurationError              token or base URL missing or unsafe (also ValueError)
    ├── APIStatusError                  the service answered with an error status
    │   ├── AuthenticationError         401: the token is wrong
    │   │   └── AccountBindingError     401/403: the account is not bound to Alibaba Cloud
    │   ├── QuotaExhaustedError         429 with a spent daily quota: do not retry today
    │   ├── RateLimitError              429, transient: retry after a pause
    │   ├── ModelNotSupportedError      404: the id is not served by API-Inference
    │   ├── BadRequestError             400/422
    │   │   └── ThinkingModeError       a thinking model called without streaming
    │   └── ServiceUnavailableError     5xx
    ├── APIConnectionError              no answer
    │   ├── APITimeoutError
    │   └── StreamInterruptedError      a stream broke after output began
    ├── InvalidResponseError            an answer we could not parse
    └── ToolArgumentsError              a tool call whose arguments are not a JSON object

Example:
    >>> try:
    ...     llm.invoke("hi")
    ... except QuotaExhaustedError as exc:
    ...     print(exc.scope, exc.resets_at)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
import openai

# QuotaScope and TOKEN_PAGE live where importing them does not import openai; re-exported here.
from modelscope_inference.quota import USUAL_RESET
from modelscope_inference.quota import QuotaScope as QuotaScope
from modelscope_inference.redaction import redact, redact_data
from modelscope_inference.settings import TOKEN_PAGE as TOKEN_PAGE

BINDING_DOC = "https://modelscope.cn/docs/accounts/aliyun-binding-and-authorization"
MODELS_PAGE = "https://modelscope.cn/models?filter=inference_type"


class ModelScopeError(Exception):
    """Root of every error this library raises on purpose."""


class ConfigurationError(ModelScopeError, ValueError):
    """The client cannot be built as configured: missing token, bad or unsafe base URL.

    Example:
        >>> ChatModelScope(model="Qwen/Qwen3-32B")  # with no MODELSCOPE_API_KEY set
        Traceback (most recent call last):
        ConfigurationError: No ModelScope token found. ...
    """


class APIStatusError(ModelScopeError, openai.APIStatusError):
    """The service answered with an error status.

    Attributes: ``status_code``, ``model``, ``request_id``, ``body`` (parsed, or None),
    ``response`` (the ``httpx.Response``).
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object | None,
        model: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(redact(message), response=response, body=redact_data(body))
        self.model = model
        self.request_id = request_id


class AuthenticationError(APIStatusError, openai.AuthenticationError):
    """401: the token was refused. Create a new one at https://modelscope.cn/my/myaccesstoken."""


# openai types status_code as Literal[401] and Literal[403] on the two bases; ours is the real one.
class AccountBindingError(AuthenticationError, openai.PermissionDeniedError):  # type: ignore[misc]
    """The ModelScope account is not bound to an Alibaba Cloud account (or not verified)."""


class QuotaExhaustedError(APIStatusError, openai.RateLimitError):
    """A daily quota is spent (429 with a remaining count of 0). Retrying today only wastes time.

    ``scope`` is ``"model"`` (switch models: see ``fallback_models``) or ``"account"``
    (wait: ``resets_at`` is the next 00:00 Asia/Shanghai, when ModelScope usually resets daily
    counts; credits can come back sooner, and the library asks again after
    ``quota_probe_interval``).

    Example:
        >>> except QuotaExhaustedError as exc:
        ...     print(f"{exc.scope} quota for {exc.model} resets at {exc.resets_at}")
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object | None,
        scope: QuotaScope,
        model: str | None = None,
        limit: int | None = None,
        remaining: int | None = 0,
        resets_at: datetime | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, response=response, body=body, model=model, request_id=request_id)
        self.scope: QuotaScope = scope
        self.limit = limit
        self.remaining = remaining
        self.resets_at = resets_at


class RateLimitError(APIStatusError, openai.RateLimitError):
    """A transient 429 (concurrency or burst limit); ``retry_after`` is the advised wait in s."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object | None,
        model: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, response=response, body=body, model=model, request_id=request_id)
        self.retry_after = retry_after


class ModelNotSupportedError(APIStatusError, openai.NotFoundError):
    """The model id is unknown to API-Inference, retired, or the base URL is wrong."""


class BadRequestError(APIStatusError, openai.BadRequestError):
    """The service rejected the request's content (400/422)."""


class ThinkingModeError(BadRequestError):
    """A thinking model was called in a way it refuses (non-streaming, or forced tool choice)."""


class ServiceUnavailableError(APIStatusError, openai.InternalServerError):
    """The service failed (5xx). Retried automatically; raised when retries run out."""


class APIConnectionError(ModelScopeError, openai.APIConnectionError):
    """No answer came back: DNS, refused connection, reset, TLS."""

    def __init__(self, message: str, *, request: httpx.Request, model: str | None = None) -> None:
        super().__init__(message=redact(message), request=request)
        self.model = model


class APITimeoutError(APIConnectionError, openai.APITimeoutError):
    """The request did not complete within ``timeout``."""

    def __init__(self, message: str, *, request: httpx.Request, model: str | None = None) -> None:
        # In this MRO, super() from APIConnectionError reaches openai.APITimeoutError.__init__,
        # which takes no message; initialise its parent directly instead.
        openai.APIConnectionError.__init__(self, message=redact(message), request=request)
        self.model = model


class StreamInterruptedError(APIConnectionError):
    """A stream broke after output reached the caller; it is never retried (that would duplicate
    text). Carries what arrived before the break: ``text``, ``reasoning``, ``tool_calls``
    (raw fragments as dicts).

    Example:
        >>> except StreamInterruptedError as exc:
        ...     print("partial answer:", exc.text)
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        model: str | None = None,
        text: str = "",
        reasoning: str = "",
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, request=request, model=model)
        self.text = text
        self.reasoning = reasoning
        self.tool_calls = tool_calls or []


class InvalidResponseError(ModelScopeError, openai.APIResponseValidationError):
    """The service answered 2xx with a body or stream we could not parse."""

    def __init__(
        self, message: str, *, response: httpx.Response, body: object | None, model: str | None
    ) -> None:
        super().__init__(response, body, message=redact(message))
        self.model = model


class ToolArgumentsError(ModelScopeError, ValueError):
    """A tool call's arguments are not a JSON object, so the tool must not run.

    Frameworks that need valid arguments to run a tool raise this instead of running it with
    ``{}`` (user-needs.md §B.17); it keeps the raw text.

    Example:
        >>> except ToolArgumentsError as exc:
        ...     print(exc.tool_name, exc.raw_arguments)
    """

    def __init__(self, tool_name: str, tool_id: str | None, raw_arguments: str, reason: str):
        super().__init__(
            f"The model called tool {tool_name!r} (id {tool_id!r}) with arguments that are not "
            f"a JSON object ({reason}): {raw_arguments!r}. The tool was not run; retry the "
            "turn or fix the arguments."
        )
        self.tool_name = tool_name
        self.tool_id = tool_id
        self.raw_arguments = raw_arguments


# --- classification ---------------------------------------------------------------------------

_QUOTA_TEXTS = ("quota exceeded", "allocated quota", "exceeded your current quota")
_BINDING_TEXTS = ("bind your alibaba cloud", "alibaba cloud account", "real-name", "实名", "绑定")
_THINKING_TEXTS = ("enable thinking", "enable_thinking", "thinking mode", "stream mode")


def error_message_from_body(body: object) -> str | None:
    """The human text of an error body: ``error.message`` or ``errors.message``.

    ModelScope uses both the OpenAI ``{"error": {...}}`` and its own ``{"errors": {...}}``
    (reference: modelscope-api.md §3.3).
    """
    if not isinstance(body, Mapping):
        return None
    for key in ("error", "errors"):
        inner = body.get(key)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    message = body.get("message")
    return message if isinstance(message, str) else None


def request_id_from(body: object, headers: Mapping[str, str]) -> str | None:
    """The request id, from the body (top level or inside ``error``/``errors``) or headers."""
    if isinstance(body, Mapping):
        candidates = [body, body.get("error"), body.get("errors")]
        for candidate in candidates:
            if isinstance(candidate, Mapping) and isinstance(candidate.get("request_id"), str):
                return str(candidate["request_id"])
    for header in ("x-request-id", "request-id", "x-acs-request-id"):
        value = headers.get(header)
        if value:
            return value
    return None


def parse_body(content: bytes) -> object | None:
    """Parse an error body leniently: JSON when it is JSON, the text otherwise, None if empty."""
    if not content.strip():
        return None
    try:
        parsed: object = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return content.decode("utf-8", "replace")[:500]
    return parsed


def _describe(status: int, model: str | None, request_id: str | None, url: str) -> str:
    parts = [f"HTTP {status}"]
    if model:
        parts.append(f"model {model!r}")
    if request_id:
        parts.append(f"request id {request_id}")
    parts.append(f"URL {url}")
    return ", ".join(parts)


def classify_error(
    response: httpx.Response,
    *,
    model: str | None,
    body: object | None = None,
    quota_scope: QuotaScope | None = None,
    quota_limit: int | None = None,
    resets_at: datetime | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """Map an error answer to the most precise exception, with a message that says what to do.

    ``quota_scope`` is the scope the ``modelscope-ratelimit-*`` headers show as spent (the caller
    reads them with :mod:`modelscope_inference.quota`); a 429 without it is transient unless the
    body itself speaks of quota.

    Example:
        >>> exc = classify_error(response, model="Qwen/Qwen3-32B")
        >>> isinstance(exc, openai.APIStatusError)
        True
    """
    status = response.status_code
    if body is None:
        body = parse_body(response.content) if _has_content(response) else None
    text = error_message_from_body(body) or (body if isinstance(body, str) else "") or ""
    lowered = text.lower()
    request_id = request_id_from(body, response.headers)
    where = _describe(status, model, request_id, str(response.request.url.copy_with(query=None)))
    said = f" The service said: {text!r}." if text else " The response had no body."
    common: dict[str, Any] = {
        "response": response,
        "body": body,
        "model": model,
        "request_id": request_id,
    }

    if status in (401, 403) and any(t in lowered for t in _BINDING_TEXTS):
        return AccountBindingError(
            f"ModelScope account not bound to Alibaba Cloud ({where}).{said} Bind it and "
            f"complete real-name verification: {BINDING_DOC}",
            **common,
        )
    if status == 401:
        return AuthenticationError(
            f"ModelScope refused the token ({where}).{said} Check MODELSCOPE_API_KEY or create "
            f"a token at {TOKEN_PAGE}.",
            **common,
        )
    if status == 403:
        return AccountBindingError(
            f"ModelScope denied access ({where}).{said} The account may not be bound to Alibaba "
            f"Cloud or verified, or the model is restricted: {BINDING_DOC}",
            **common,
        )
    if status == 429:
        if quota_scope is None and any(t in lowered for t in _QUOTA_TEXTS):
            quota_scope = "account"
        if quota_scope is not None:
            advice = (
                "Switch to another model (see fallback_models)"
                if quota_scope == "model"
                else "Wait for credits to come back"
            )
            # reference: modelscope-api.md §8.2, a reset at 00:00 UTC+8 is usual, not promised.
            reset = (
                f" {USUAL_RESET}, so it probably resets at {resets_at.isoformat()}; credits can "
                "come back sooner."
                if resets_at
                else ""
            )
            return QuotaExhaustedError(
                f"ModelScope {quota_scope} daily quota exhausted ({where}).{said}{reset} "
                f"{advice}; retrying at once will not help.",
                scope=quota_scope,
                limit=quota_limit,
                remaining=0,
                resets_at=resets_at,
                **common,
            )
        wait = f" Advised wait: {retry_after:g} s." if retry_after is not None else ""
        return RateLimitError(
            f"ModelScope rate limit, transient ({where}).{said}{wait} Retried automatically; "
            "lower concurrency or raise max_retries if this persists.",
            retry_after=retry_after,
            **common,
        )
    if status == 404:
        return ModelNotSupportedError(
            f"Model not served by ModelScope API-Inference, or wrong base URL ({where}).{said} "
            f"Use a full id such as 'Qwen/Qwen3-32B' from `modelscope-inference models` or "
            f"{MODELS_PAGE}.",
            **common,
        )
    if status in (400, 422):
        if any(t in lowered for t in _THINKING_TEXTS):
            return ThinkingModeError(
                f"The model refused this call in thinking mode ({where}).{said} Stream the call, "
                "or pass enable_thinking=False for hybrid models; the adapters do this for known "
                "thinking models.",
                **common,
            )
        return BadRequestError(
            f"ModelScope rejected the request ({where}).{said} Check the parameters and the "
            "message format for this model.",
            **common,
        )
    if status >= 500:
        return ServiceUnavailableError(
            f"ModelScope service error ({where}).{said} Retried automatically; try again later "
            "or another model.",
            **common,
        )
    return APIStatusError(f"ModelScope answered with an error ({where}).{said}", **common)


def _has_content(response: httpx.Response) -> bool:
    try:
        return bool(response.content)
    except httpx.ResponseNotRead:
        return False
