"""Keep ModelScope tokens out of messages, logs and traces.

The token is a bearer credential for the whole account (its daily quota, its Alibaba Cloud
binding), so every text that leaves the library passes through :func:`redact` first.

Example:
    >>> register_secret("ms-1234-abcd-5678")
    >>> redact("Authorization: Bearer ms-1234-abcd-5678")
    'Authorization: Bearer ***'
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import traceback
from typing import Any

import httpx

_MASK = "***"
# New tokens are "ms-" + UUID; old ones are a bare UUID (reference: modelscope-api.md §2).
# Hosts such as ``ms-ens-<id>.api-inference…`` and model ids such as ``iic/ms-marco-…`` are not
# tokens and stay readable; registered tokens are masked whatever their shape.
_TOKEN_PATTERN = re.compile(r"(?<![/\w.-])ms-[A-Za-z0-9][A-Za-z0-9_-]{6,}(?![\w.-]*\.[A-Za-z])")
_BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)[^\s'\",}]+")

_known_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str) -> None:
    """Remember a token so that :func:`redact` masks it even without the ``ms-`` prefix."""
    if len(secret) >= 4:
        with _lock:
            _known_secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every known token, ``ms-…`` token and bearer credential masked.

    Example:
        >>> redact("token ms-abcdef123456 leaked")
        'token *** leaked'
    """
    for secret in tuple(_known_secrets):
        if secret in text:
            text = text.replace(secret, _MASK)
    text = _BEARER_PATTERN.sub(lambda m: m.group(1) + _MASK, text)
    return _TOKEN_PATTERN.sub(_MASK, text)


def redact_data(value: object) -> object:
    """:func:`redact` applied to every string inside parsed JSON (an error body that echoes the
    token must not carry it into ``exc.body``)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value


def redact_bytes(content: bytes) -> bytes:
    """:func:`redact` for a body of any charset: Latin-1 maps every byte to one character and
    back, so the bytes around a (printable ASCII) token survive unchanged."""
    return redact(content.decode("latin-1")).encode("latin-1")


class RedactedDict(dict[str, Any]):
    """A dict whose ``repr`` is redacted: request and response headers held in a local variable
    must not show the token in ``TracebackException(capture_locals=True)`` or Sentry's frame
    dumps, which render each local with ``repr``. Lookups cost what a dict's cost.

    Example:
        >>> RedactedDict({"Authorization": "Bearer ms-1234567890"})
        {'Authorization': 'Bearer ***'}
    """

    def __repr__(self) -> str:
        return redact(super().__repr__())


def redacted_dataclass_repr(self: Any) -> str:
    """A dataclass ``__repr__`` (assign it in the class body) with the token masked: for the
    objects that hold an answer's raw headers or body and so sit in traceback locals.

    Example:
        >>> @dataclass(repr=False)
        ... class Answer:
        ...     body: str
        ...     __repr__ = redacted_dataclass_repr
    """
    fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
    return redact(f"{type(self).__name__}({fields})")


# Recomputed by httpx for the copy's (already decoded, possibly shorter) content.
_RECOMPUTED_HEADERS_RAW = frozenset({b"content-length", b"content-encoding", b"transfer-encoding"})
_REDACTED_MARK = "modelscope_inference.redacted"


def _redacted_headers(headers: httpx.Headers) -> list[tuple[bytes, bytes]]:
    # As bytes: a value that is not ASCII (b"\x80") cannot be turned back from str by httpx.
    return [
        (redact_bytes(name), redact_bytes(value))
        for name, value in headers.raw
        if name.lower() not in _RECOMPUTED_HEADERS_RAW
    ]


def redacted_request(request: httpx.Request) -> httpx.Request:
    """A copy of ``request`` with the token masked in its URL, headers and body
    (``Authorization: Bearer ***``), for an exception to carry. Idempotent.

    Example:
        >>> redacted_request(request).headers["authorization"]
        'Bearer ***'
    """
    if request.extensions.get(_REDACTED_MARK):
        return request
    try:
        content = redact_bytes(request.content)
    except httpx.RequestNotRead:  # a streamed upload: nothing to copy
        content = b""
    return httpx.Request(
        request.method,
        redact(str(request.url)),
        headers=_redacted_headers(request.headers),
        content=content,
        extensions={_REDACTED_MARK: True},
    )


def redacted_response(response: httpx.Response) -> httpx.Response:
    """A copy of ``response`` with the token masked in its headers, its body and its request,
    so that whatever a framework reads from an exception (``.text``, ``.json()``,
    ``.headers``, ``.request.headers``) is safe to log or trace. The body is the decoded one
    (no ``content-encoding``); an unread streamed body is left empty. Idempotent.

    Example:
        >>> redacted_response(response).text
        '{"error": {"message": "bad token ***"}}'
    """
    if response.extensions.get(_REDACTED_MARK):
        return response
    try:
        content = redact_bytes(response.content)
    except httpx.ResponseNotRead:
        content = b""
    try:
        request: httpx.Request | None = redacted_request(response.request)
    except RuntimeError:  # httpx: "The request instance has not been set"
        request = None
    extensions = {k: v for k, v in response.extensions.items() if k in _KEPT_EXTENSIONS}
    return httpx.Response(
        response.status_code,
        headers=_redacted_headers(response.headers),
        content=content,
        request=request,
        extensions={**extensions, _REDACTED_MARK: True},
    )


# What httpx reads back from a response's extensions (``http_version``, ``reason_phrase``); the
# rest (the network stream) must not be kept alive by an exception.
_KEPT_EXTENSIONS = frozenset({"http_version", "reason_phrase"})


def forget_locals(exc: BaseException) -> None:
    """Clear the frame locals of the HTTP stack under ``exc`` and its causes.

    A connection error's traceback runs through httpx, httpcore and aiohttp frames whose locals
    hold the request headers (``Authorization: Bearer …``) in types whose ``repr`` we do not
    control; ``capture_locals`` tracebacks and Sentry would print them. Only frames that
    finished are cleared (``frame.clear`` refuses running ones), so the caller's own stay.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__


def mask_token(token: str) -> str:
    """Show just enough of a token to tell two apart: ``ms-ab***``."""
    return token[:5] + _MASK if len(token) > 8 else _MASK


class RedactingFilter(logging.Filter):
    """A logging filter that redacts tokens from every record's message and arguments.

    Example:
        >>> logging.getLogger("httpx").addFilter(RedactingFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


# Filters do not apply to records that propagate from child loggers, so each emitting logger
# is named.
_FILTERED_LOGGERS = (
    "modelscope_inference",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "openai",
    "openai._base_client",
)
_filter = RedactingFilter()


def install_log_filters() -> None:
    """Attach the redacting filter to our logger and to the HTTP stack's loggers (idempotent)."""
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
