"""Keep ModelScope tokens out of messages, logs and traces.

The token is a bearer credential for the whole account (its daily quota, its Alibaba Cloud
binding), so every text that leaves the library passes through :func:`redact` first.

Example:
    >>> register_secret("ms-1234-abcd-5678")
    >>> redact("Authorization: Bearer ms-1234-abcd-5678")
    'Authorization: Bearer ***'
"""

from __future__ import annotations

import logging
import re
import threading

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
