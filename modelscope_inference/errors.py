"""The exception tree, and the one classifier that maps an HTTP answer to it.

Every class also subclasses the matching ``openai`` exception, so code written against the
openai SDK (``except openai.RateLimitError``) keeps working. So this module imports ``openai``,
and the rest of the library imports it only on first use (see :mod:`modelscope_inference._lazy`),
which keeps ``import langchain_modelscope`` fast. Catch what you mean::

    ModelScopeError
    ├── ConfigurationError              token or base URL missing or unsafe (also ValueError)
    ├── RequestValidationError          a call's input cannot be sent; nothing was (ValueError)
    ├── APIStatusError                  the service answered with an error status
    │   ├── AuthenticationError         401: the token is wrong
    │   │   └── AccountBindingError     401/403: the account is not bound to Alibaba Cloud
    │   ├── QuotaExhaustedError         429 with a spent daily quota: do not retry today
    │   ├── RateLimitError              429, transient: retry after a pause
    │   │   └── AmbiguousRateLimitError 429 "Request limit exceeded." with no quota headers
    │   ├── ModelNotSupportedError      404, or 400 "has no provider supported": not served
    │   │   └── ModelRetiredError       429 insufficient_balance_error (1008): model retired
    │   ├── BadRequestError             400/422
    │   │   └── ThinkingModeError       a thinking model called without streaming
    │   └── ServiceUnavailableError     5xx
    ├── APIConnectionError              no answer
    │   ├── APITimeoutError
    │   └── StreamInterruptedError      a stream broke after output began
    ├── InvalidResponseError            an answer we could not parse
    │   └── JSONSchemaUnsupportedError  ``choices: null`` for a ``json_schema`` response_format
    ├── ToolArgumentsError              a tool call whose arguments are not a JSON object
    ├── ImageParameterError             an image parameter outside its documented range
    └── ImageTaskError                  an image task did not give images (carries task_id)
        ├── ImageTaskFailedError        the task ended FAILED (or cancelled by the service)
        ├── ImageTaskNotFoundError      "task not found": wrong id, host or task-type header
        └── ImageTaskTimeoutError       still running at ``timeout``: ``wait(task_id)`` resumes

Example:
    >>> try:
    ...     llm.invoke("hi")
    ... except QuotaExhaustedError as exc:
    ...     print(exc.scope, exc.resets_at)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import openai

from modelscope_inference.links import TOKEN_PAGE as TOKEN_PAGE

# QuotaScope and TOKEN_PAGE live where importing them does not import openai; re-exported here.
from modelscope_inference.ratelimit import USUAL_RESET, QuotaStatus, parse_quota_headers, utc_now
from modelscope_inference.ratelimit import QuotaScope as QuotaScope
from modelscope_inference.redaction import (
    redact,
    redact_data,
    redacted_request,
    redacted_response,
)

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


class StateStoreError(ModelScopeError):
    """The shared state store (``MODELSCOPE_STATE``, ``state=``) could not be reached or used:
    a Redis server down, a SQLite file that cannot be opened. Never swallowed into per-process
    state, which would let every process spend its own call on a spent quota (docs/state.md).

    Example:
        >>> ModelScopeClient.create(state="redis://127.0.0.1:1/0")
        Traceback (most recent call last):
        StateStoreError: Could not use the shared state store redis://127.0.0.1:1/0 ...
    """


class RequestValidationError(ModelScopeError, ValueError):
    """A call's input cannot be sent as asked (an empty model id, ``max_tokens`` below 1, a
    value that is not JSON, a lone surrogate in a message, ...); raised before any request, so
    nothing was sent or counted. The message names the input and what to change.

    Example:
        >>> llm.invoke("hi", max_tokens=0)
        Traceback (most recent call last):
        RequestValidationError: max_tokens must be a positive integer, got 0. ...
    """


class APIStatusError(ModelScopeError, openai.APIStatusError):
    """The service answered with an error status.

    Attributes: ``status_code``, ``model``, ``request_id``, ``body`` (parsed, or None),
    ``response`` (a redacted copy of the ``httpx.Response``: the token, should the service
    echo it in the body or a header, reads ``***``, and so does ``Authorization`` in
    ``response.request.headers``), ``quota`` (the ``modelscope-ratelimit-*`` figures
    the answer carried, or None when it carried none: error answers carry them too,
    reference: modelscope-api.md §8.1).

    Example:
        >>> except APIStatusError as exc:
        ...     print(exc.status_code, exc.request_id, exc.quota)
    """

    quota: QuotaStatus | None = None

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object | None,
        model: str | None = None,
        request_id: str | None = None,
    ) -> None:
        # Every framework reads exc.response (LangChain copies its body and headers into the
        # run that tracers upload): only a redacted copy leaves the library.
        super().__init__(
            redact(message), response=redacted_response(response), body=redact_data(body)
        )
        self.model = model
        self.request_id = redact(request_id) if request_id else request_id


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


class AmbiguousRateLimitError(RateLimitError):
    """A 429 "Request limit exceeded." with no quota headers: spent quota or a transient limit.

    The service does not say which. The one real capture of this body was a spent per-model
    quota (reference: modelscope-api.md §8.1, claude-code-router#462), but a transient limit
    cannot be ruled out. Policy: it is retried once after the wait (whatever ``max_retries``
    says, if ``max_retries`` allows a retry at all); if the retry answers the same, the call
    raises :meth:`as_spent_quota`, a ``QuotaExhaustedError(scope="model")``, so
    ``fallback_models`` take over. It is not recorded as a known-spent scope in the shared
    quota tracker: without headers the figures are unknown (§8.1), so the next call asks again.

    Example:
        >>> except AmbiguousRateLimitError as exc:
        ...     raise exc.as_spent_quota() from exc
    """

    def as_spent_quota(self) -> QuotaExhaustedError:
        """The same answer read as this model's quota being spent (after its one retry)."""
        error = QuotaExhaustedError(
            f"ModelScope answered 429 'Request limit exceeded.' again, without quota headers "
            f"({_describe_error(self)}): read as this model's quota being spent (reference: "
            "modelscope-api.md §8.1). Switch to another model (see fallback_models), or try "
            "later: ModelScope usually resets daily counts at 00:00 UTC+8.",
            response=self.response,
            body=self.body,
            scope="model",
            model=self.model,
            remaining=None,
            request_id=self.request_id,
        )
        error.quota = self.quota
        return error


class ModelNotSupportedError(APIStatusError, openai.NotFoundError):
    """The model id is not served by API-Inference (404, or 400 "has no provider supported"),
    retired, or the base URL is wrong. Never retried; ``fallback_models`` move on from it.

    Example:
        >>> except ModelNotSupportedError as exc:
        ...     print(f"{exc.model} is not served; pick another model")
    """


class ModelRetiredError(ModelNotSupportedError):
    """429 ``insufficient_balance_error`` "insufficient balance (1008)": the model was retired.

    ModelScope answers a retired ("已下线") model this way (reference: modelscope-api.md §8.1,
    modelscope/modelscope#1691). The status is 429, but this is deliberately *not* an
    ``openai.RateLimitError``: retry loops written for the openai SDK (and ours) retry those,
    and each retry spends a counted call on a model that will never answer again.

    Example:
        >>> except ModelRetiredError as exc:
        ...     print(f"{exc.model} was retired; list another model in fallback_models")
    """


class BadRequestError(APIStatusError, openai.BadRequestError):
    """The service rejected the request's content (400/422)."""


class ThinkingModeError(BadRequestError):
    """A thinking model was called in a way it refuses (non-streaming, or forced tool choice)."""


class ServiceUnavailableError(APIStatusError, openai.InternalServerError):
    """The service failed (5xx). Retried automatically; raised when retries run out."""


class APIConnectionError(ModelScopeError, openai.APIConnectionError):
    """No answer came back: DNS, refused connection, reset, TLS. ``request`` is a redacted copy
    (``Authorization: Bearer ***``)."""

    def __init__(self, message: str, *, request: httpx.Request, model: str | None = None) -> None:
        super().__init__(message=redact(message), request=redacted_request(request))
        self.model = model


class APITimeoutError(APIConnectionError, openai.APITimeoutError):
    """The request did not complete within ``timeout``."""

    def __init__(self, message: str, *, request: httpx.Request, model: str | None = None) -> None:
        # In this MRO, super() from APIConnectionError reaches openai.APITimeoutError.__init__,
        # which takes no message; initialise its parent directly instead.
        openai.APIConnectionError.__init__(
            self, message=redact(message), request=redacted_request(request)
        )
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
    """The service answered 2xx with a body or stream we could not parse. ``response`` and
    ``body`` are redacted copies, as on :class:`APIStatusError`."""

    def __init__(
        self, message: str, *, response: httpx.Response, body: object | None, model: str | None
    ) -> None:
        super().__init__(redacted_response(response), redact_data(body), message=redact(message))
        self.model = model


class JSONSchemaUnsupportedError(InvalidResponseError):
    """A ``response_format: json_schema`` request was answered with ``"choices": null``.

    The service does not serve ``json_schema`` output (reference: modelscope-api.md §8.3); ask
    for ``{"type": "json_object"}`` with the schema in the prompt instead, which is what
    ``with_structured_output`` (LangChain) and ``structured_predict`` (LlamaIndex) do by default.
    Not retried: the same request gets the same answer.

    Example:
        >>> except JSONSchemaUnsupportedError:
        ...     llm.with_structured_output(City, method="json_mode")
    """


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


class ImageParameterError(ModelScopeError, ValueError):
    """An image-generation parameter is outside its documented range; no request was sent.

    ``parameter`` names it and ``limit`` states the range (reference: modelscope-api.md §1.6,
    §8.3), so the message can say what to change.

    Example:
        >>> except ImageParameterError as exc:
        ...     print(exc.parameter, exc.limit)
        size 64x64 to 1664x1664
    """

    def __init__(self, parameter: str, limit: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.limit = limit


class ImageTaskError(ModelScopeError):
    """An image task that gave no images. ``task_id`` identifies it on the service, ``status``
    is the last ``task_status`` seen, ``model`` the model it was submitted to.

    Example:
        >>> except ImageTaskError as exc:
        ...     print(exc.task_id, exc.status)
    """

    def __init__(
        self, message: str, *, task_id: str, model: str | None = None, status: str | None = None
    ) -> None:
        super().__init__(redact(message))
        self.task_id = task_id
        self.model = model
        self.status = status


class ImageTaskFailedError(ImageTaskError):
    """The task ended ``FAILED`` (or was cancelled by the service); ``reason`` is what the
    service said, if anything. Submitting again may work: the failure can be transient.

    Example:
        >>> except ImageTaskFailedError as exc:
        ...     print(exc.reason)
    """

    def __init__(
        self,
        message: str,
        *,
        task_id: str,
        model: str | None = None,
        status: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, task_id=task_id, model=model, status=status)
        self.reason = redact(reason) if reason else reason


class ImageTaskNotFoundError(ImageTaskError):
    """The service answered "task not found" (reference: modelscope-api.md §1.6, §3.3): the id
    is wrong or expired, it was submitted with another token or host, or the poll lacked the
    ``X-ModelScope-Task-Type: image_generation`` header."""


class ImageTaskTimeoutError(ImageTaskError, TimeoutError):
    """The task was still running when ``timeout`` ran out. It may still finish: resume with
    ``client.images.wait(exc.task_id)``; ``elapsed`` is how long was waited, ``polls`` how many
    polls were made.

    Example:
        >>> except ImageTaskTimeoutError as exc:
        ...     result = client.images.wait(exc.task_id, timeout=600)
    """

    def __init__(
        self,
        message: str,
        *,
        task_id: str,
        model: str | None = None,
        status: str | None = None,
        elapsed: float = 0.0,
        polls: int = 0,
    ) -> None:
        super().__init__(message, task_id=task_id, model=model, status=status)
        self.elapsed = elapsed
        self.polls = polls


# --- classification ---------------------------------------------------------------------------

# Lower-case fragments of the messages in reference: modelscope-api.md §3.3 and §8.1.
_QUOTA_TEXTS = ("quota exceeded", "allocated quota", "exceeded your current quota")
_REQUEST_LIMIT_TEXTS = ("request limit exceeded",)
_RETIRED_TEXTS = ("insufficient balance (1008)", "insufficient_balance")
_UNSERVED_TEXTS = ("has no provider supported", "no provider supported")
_BINDING_TEXTS = ("bind your alibaba cloud", "alibaba cloud account", "绑定")
_REAL_NAME_TEXTS = ("real name", "real-name", "realname", "实名")
# "parameter.enable_thinking must be set to false" is DashScope's text (§8.1): handled too.
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


def _describe_error(exc: APIStatusError) -> str:
    url = str(exc.response.request.url.copy_with(query=None))
    return _describe(exc.status_code, exc.model, exc.request_id, url)


@dataclass(frozen=True)
class _Answer:
    """What one error answer says, read once: the classifier's rules only look at this."""

    status: int
    text: str
    error_type: str
    quota: QuotaStatus | None
    where: str
    common: dict[str, Any]

    @property
    def said(self) -> str:
        return f" The service said: {self.text!r}." if self.text else " The response had no body."

    def mentions(self, fragments: tuple[str, ...]) -> bool:
        lowered = self.text.lower()
        return any(fragment in lowered for fragment in fragments)


def _read_answer(response: httpx.Response, model: str | None, body: object | None) -> _Answer:
    if body is None:
        body = parse_body(response.content) if _has_content(response) else None
    text = error_message_from_body(body) or (body if isinstance(body, str) else "") or ""
    request_id = request_id_from(body, response.headers)
    url = str(response.request.url.copy_with(query=None))
    return _Answer(
        status=response.status_code,
        text=text,
        error_type=_error_type(body),
        # reference: modelscope-api.md §8.1, error answers carry the quota headers too (or none)
        quota=parse_quota_headers(response.headers, model=model, now=utc_now()),
        where=_describe(response.status_code, model, request_id, url),
        common={"response": response, "body": body, "model": model, "request_id": request_id},
    )


def _error_type(body: object) -> str:
    """``error.type`` (or ``errors.type``), lower-cased; "" when absent."""
    if isinstance(body, Mapping):
        for key in ("error", "errors"):
            inner = body.get(key)
            if isinstance(inner, Mapping) and isinstance(inner.get("type"), str):
                return str(inner["type"]).lower()
    return ""


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

    Handles every answer of reference §3.3 and §8.1, in the ``error`` and the ``errors``
    envelope, with ``request_id`` at the top level or inside. ``quota_scope`` is the scope the
    ``modelscope-ratelimit-*`` headers show as spent (the caller reads them with
    :mod:`modelscope_inference.quota`); a 429 without it is transient unless the body itself
    speaks of quota, of a retired model, or is the header-less "Request limit exceeded.".

    Example:
        >>> exc = classify_error(response, model="Qwen/Qwen3-32B")
        >>> isinstance(exc, openai.APIStatusError)
        True
    """
    answer = _read_answer(response, model, body)
    error = _classify(answer, _LimitHints(quota_scope, quota_limit, resets_at, retry_after))
    error.quota = answer.quota
    return error


@dataclass(frozen=True)
class _LimitHints:
    """What the caller learnt from the headers, for a 429: spent scope, limit, reset, wait."""

    scope: QuotaScope | None
    limit: int | None
    resets_at: datetime | None
    retry_after: float | None


def _classify(answer: _Answer, hints: _LimitHints) -> APIStatusError:
    status = answer.status
    if status in (401, 403):
        return _access_error(answer)
    if status == 429:
        return _limit_error(answer, hints)
    if status == 404 or (status == 400 and answer.mentions(_UNSERVED_TEXTS)):
        return _unserved_model_error(answer)
    if status in (400, 422):
        return _bad_request_error(answer)
    if status >= 500:
        return ServiceUnavailableError(
            f"ModelScope service error ({answer.where}).{answer.said} Retried automatically; "
            "try again later or another model.",
            **answer.common,
        )
    return APIStatusError(
        f"ModelScope answered with an error ({answer.where}).{answer.said}", **answer.common
    )


def _access_error(answer: _Answer) -> APIStatusError:
    """401/403: binding, real-name verification, or the token itself."""
    if answer.mentions(_REAL_NAME_TEXTS):
        # reference: modelscope-api.md §8.1, 403 "...is real name verified." (with a space)
        return AccountBindingError(
            f"The Alibaba Cloud account bound to ModelScope is not real-name verified "
            f"({answer.where}).{answer.said} Complete real-name verification on Alibaba Cloud, "
            f"then retry: {BINDING_DOC}",
            **answer.common,
        )
    if answer.mentions(_BINDING_TEXTS):
        return AccountBindingError(
            f"ModelScope account not bound to Alibaba Cloud ({answer.where}).{answer.said} Bind "
            f"it and complete real-name verification: {BINDING_DOC}",
            **answer.common,
        )
    if answer.status == 401:
        # reference: modelscope-api.md §8.1, "Authentication failed" (2026) and "Authenticaton
        # failed" (older, typo) alike: any other 401 is the token.
        return AuthenticationError(
            f"ModelScope refused the token ({answer.where}).{answer.said} Check "
            f"MODELSCOPE_API_KEY or create a token at {TOKEN_PAGE}.",
            **answer.common,
        )
    return AccountBindingError(
        f"ModelScope denied access ({answer.where}).{answer.said} The account may not be bound "
        f"to Alibaba Cloud or verified, or the model is restricted: {BINDING_DOC}",
        **answer.common,
    )


def _limit_error(answer: _Answer, hints: _LimitHints) -> APIStatusError:
    """429: a retired model, a spent quota, the ambiguous header-less one, or transient."""
    if answer.error_type == "insufficient_balance_error" or answer.mentions(_RETIRED_TEXTS):
        return _retired_model_error(answer)
    scope = hints.scope
    if scope is None and answer.mentions(_QUOTA_TEXTS):
        scope = "account"
    if scope is not None:
        return _quota_error(answer, scope, hints.limit, hints.resets_at)
    retry_after = hints.retry_after
    wait = f" Advised wait: {retry_after:g} s." if retry_after is not None else ""
    if answer.quota is None and answer.mentions(_REQUEST_LIMIT_TEXTS):
        # reference: modelscope-api.md §8.1, the header-less 429 is a spent per-model quota in
        # the one capture, but could be transient: retried once, then a spent model quota.
        return AmbiguousRateLimitError(
            f"ModelScope rate limit without quota headers ({answer.where}).{answer.said}{wait} "
            "The service does not say whether this model's quota is spent or the limit is "
            "transient: retried once; if it comes again the call fails with "
            "QuotaExhaustedError (scope 'model') and fallback_models take over.",
            retry_after=retry_after,
            **answer.common,
        )
    # reference: modelscope-api.md §8.1, an upstream "too_many_requests" 429 while the headers
    # show calls left is transient, like any 429 whose counts are not at 0.
    return RateLimitError(
        f"ModelScope rate limit, transient ({answer.where}).{answer.said}{wait} Retried "
        "automatically; lower concurrency or raise max_retries if this persists (each retry "
        "may be counted against the quota).",
        retry_after=retry_after,
        **answer.common,
    )


def _quota_error(
    answer: _Answer, scope: QuotaScope, limit: int | None, resets_at: datetime | None
) -> QuotaExhaustedError:
    advice = (
        "Switch to another model (see fallback_models)"
        if scope == "model"
        else "Wait for credits to come back"
    )
    # reference: modelscope-api.md §8.2, a reset at 00:00 UTC+8 is usual, not promised.
    reset = (
        f" {USUAL_RESET}, so it probably resets at {resets_at.isoformat()}; credits can come "
        "back sooner."
        if resets_at
        else ""
    )
    return QuotaExhaustedError(
        f"ModelScope {scope} daily quota exhausted ({answer.where}).{answer.said}{reset} "
        f"{advice}; retrying at once will not help.",
        scope=scope,
        limit=limit,
        remaining=0,
        resets_at=resets_at,
        **answer.common,
    )


def _retired_model_error(answer: _Answer) -> ModelRetiredError:
    # reference: modelscope-api.md §8.1, a retired model answers 429 insufficient_balance_error
    return ModelRetiredError(
        f"The model was probably retired from ModelScope API-Inference ({answer.where})."
        f"{answer.said} ModelScope answers a retired model with this 429; it is not a rate "
        "limit and retrying will not help. Pick another model (`modelscope-inference models` "
        f"or {MODELS_PAGE}) or list one in fallback_models. If every model answers this, the "
        "account's credit balance may be spent instead.",
        **answer.common,
    )


def _unserved_model_error(answer: _Answer) -> ModelNotSupportedError:
    # reference: modelscope-api.md §8.1, an unserved id answers 400 "... has no provider
    # supported" (404 per §3.3 in older material)
    if answer.status == 404 and _lacks_v1(answer.common["response"]):
        return _missing_v1_error(answer)
    return ModelNotSupportedError(
        f"Model not served by ModelScope API-Inference, or wrong base URL ({answer.where})."
        f"{answer.said} The id may be misspelt, retired or never offered. Use a full id such "
        f"as 'Qwen/Qwen3-32B' from `modelscope-inference models` or {MODELS_PAGE}, or list "
        "another model in fallback_models.",
        **answer.common,
    )


def _lacks_v1(response: httpx.Response) -> bool:
    """True when the request's URL path has no ``/v1`` segment: the API is served under
    ``/v1`` (see ``DEFAULT_BASE_URL``), so a 404 there is the base URL's fault, not the model's."""
    return "v1" not in response.request.url.path.split("/")


def _missing_v1_error(answer: _Answer) -> ModelNotSupportedError:
    return ModelNotSupportedError(
        f"Nothing is served at this URL ({answer.where}).{answer.said} The base URL has no "
        "/v1 in its path, and ModelScope API-Inference is served under /v1: add /v1 to "
        "base_url (e.g. https://api-inference.modelscope.cn/v1).",
        **answer.common,
    )


def _bad_request_error(answer: _Answer) -> BadRequestError:
    if answer.mentions(_THINKING_TEXTS):
        return ThinkingModeError(
            f"The model refused this call in thinking mode ({answer.where}).{answer.said} Stream "
            "the call, or pass enable_thinking=False for hybrid models; the adapters do this for "
            "known thinking models.",
            **answer.common,
        )
    return BadRequestError(
        f"ModelScope rejected the request ({answer.where}).{answer.said} Check the parameters "
        "and the message format for this model.",
        **answer.common,
    )


def _has_content(response: httpx.Response) -> bool:
    try:
        return bool(response.content)
    except httpx.ResponseNotRead:
        return False


class ConcurrencyTimeoutError(ModelScopeError, TimeoutError):
    """No concurrency slot came free for the model within the call's ``timeout``: the adaptive
    limiter (:mod:`modelscope_inference.limiter`) held the call back, no request was sent and no
    quota was spent. Never retried (it would only wait again).

    Example:
        >>> except ConcurrencyTimeoutError as exc:
        ...     print(exc.model, exc.limit)
    """

    def __init__(self, message: str, *, model: str, limit: int) -> None:
        super().__init__(message)
        self.model = model
        self.limit = limit


class EmbeddingBatchError(ModelScopeError):
    """Some batches of a bulk embedding call failed, others succeeded. ``failed_indices`` are
    the positions (in the texts given) that have no vector; ``vectors`` holds one entry per
    text, the vector or None; ``errors`` the error of each failed batch. The first failure is
    also the ``__cause__``.

    Example:
        >>> except EmbeddingBatchError as exc:
        ...     retry = [texts[i] for i in exc.failed_indices]
    """

    def __init__(
        self,
        message: str,
        *,
        failed_indices: list[int],
        vectors: list[list[float] | None],
        errors: list[BaseException],
    ) -> None:
        super().__init__(message)
        self.failed_indices = failed_indices
        self.vectors = vectors
        self.errors = errors
