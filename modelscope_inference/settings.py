"""Where the token and the base URL come from, and the checks that keep them safe.

Resolution order (reference: modelscope-api.md §2 "Environment variable names seen", §7):
token from the argument, then ``MODELSCOPE_API_KEY``, ``MODELSCOPE_SDK_TOKEN``,
``MODELSCOPE_API_TOKEN``; base URL from the argument, then ``MODELSCOPE_BASE_URL``,
``MODELSCOPE_API_BASE``, then the default. ``OPENAI_*`` variables are never read: a stale
OpenAI key must not be sent to ModelScope (user-needs.md §A.11).

Example:
    >>> settings = Settings.resolve(api_key=None, base_url=None)  # from the environment
    >>> settings.base_url
    'https://api-inference.modelscope.cn/v1'
"""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from modelscope_inference._lazy import errors
from modelscope_inference.links import TOKEN_PAGE as TOKEN_PAGE
from modelscope_inference.redaction import mask_token, register_secret
from modelscope_inference.store import MEMORY_URL, STATE_ENV_VAR, check_state_url

DEFAULT_BASE_URL = "https://api-inference.modelscope.cn/v1"
INTERNATIONAL_BASE_URL = "https://api-inference.modelscope.ai/v1"
TOKEN_ENV_VARS = ("MODELSCOPE_API_KEY", "MODELSCOPE_SDK_TOKEN", "MODELSCOPE_API_TOKEN")
BASE_URL_ENV_VARS = ("MODELSCOPE_BASE_URL", "MODELSCOPE_API_BASE")
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/embeddings", "/models")


def resolve_api_key(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The token: ``explicit``, else the first ``MODELSCOPE_*`` variable that is set.

    Raises :class:`ConfigurationError` naming ``MODELSCOPE_API_KEY`` and the token page.

    Example:
        >>> resolve_api_key("ms-xxxx")
        'ms-xxxx'
    """
    env = os.environ if environ is None else environ
    candidates = [("api_key", explicit), *((name, env.get(name)) for name in TOKEN_ENV_VARS)]
    for source, candidate in candidates:
        if candidate and candidate.strip():
            # Surrounding whitespace is a file's or a shell's newline, not part of the token.
            token = candidate.strip()
            register_secret(token)
            check_token(token, source)
            return token
    raise errors.ConfigurationError(
        "No ModelScope token found. Pass api_key=... or set MODELSCOPE_API_KEY "
        f"(MODELSCOPE_SDK_TOKEN also works). Create a token at {TOKEN_PAGE}; the account must "
        "be bound to Alibaba Cloud. OPENAI_API_KEY is deliberately not used."
    )


def check_token(token: str, source: str = "api_key") -> None:
    """Refuse a token that cannot be sent as ``Authorization: Bearer …``: it must be printable
    ASCII without whitespace (RFC 9110 token68 is narrower still). A pasted zero-width space,
    a line break or an ``é`` would otherwise fail on the first call with a bare
    ``UnicodeEncodeError`` whose args hold the whole header (error trackers store those), or
    be retried as a connection error. The message shows at most 3 + 2 of its characters.

    Example:
        >>> check_token("ms-abc\u200bdef")
        Traceback (most recent call last):
        ConfigurationError: The ModelScope token from api_key ('ms-...ef') contains U+200B ...
    """
    bad = next((i for i, char in enumerate(token) if not "!" <= char <= "~"), None)
    if bad is None:
        return
    char = token[bad]
    name = unicodedata.name(char, "a control character").lower()
    raise errors.ConfigurationError(
        f"The ModelScope token from {source} ({token_preview(token)}) contains U+{ord(char):04X} "
        f"({name}) at position {bad + 1} of {len(token)}: a token is printable ASCII with no "
        "spaces, so it cannot be sent in the Authorization header. Copy it again (invisible "
        f"characters often come with a paste), or create a new one at {TOKEN_PAGE}."
    )


def token_preview(token: str) -> str:
    """At most the first 3 and last 2 characters of ``token``, quoted and escaped (an invisible
    character shows as ``\u200b``); just ``'...'`` for a token too short to hide anything."""
    if len(token) < 12:
        return "'...'"
    return ascii(f"{token[:3]}...{token[-2:]}")


def resolve_base_url(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The base URL without a trailing slash; refuses endpoint URLs and malformed ones.

    Example:
        >>> resolve_base_url("https://api-inference.modelscope.ai/v1/")
        'https://api-inference.modelscope.ai/v1'
    """
    env = os.environ if environ is None else environ
    raw = explicit or next((env[n] for n in BASE_URL_ENV_VARS if env.get(n)), DEFAULT_BASE_URL)
    url = raw.strip().rstrip("/")
    shown = _USERINFO.sub(r"\1***@", url)  # messages never echo a password
    for suffix in _ENDPOINT_SUFFIXES:
        if url.endswith(suffix):
            raise errors.ConfigurationError(
                f"base_url {shown!r} ends in {suffix!r}: pass the API root instead, e.g. "
                f"{shown[: -len(suffix)]!r} (the default is {DEFAULT_BASE_URL!r})."
            )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ConfigurationError(
            f"base_url {shown!r} is not an http(s) URL; use e.g. {DEFAULT_BASE_URL!r}."
        )
    _refuse_credentials(url)
    return url


# The authority's "user:password@" part, with or without a scheme in front.
_USERINFO = re.compile(r"^([^/?#]*//)?[^/?#@]*@")


def _refuse_credentials(url: str) -> None:
    """ModelScope authenticates with the bearer token only; a ``user:password@`` in the base
    URL would be sent as Basic auth by nobody and shown by everything that prints the URL."""
    match = _USERINFO.match(url)
    if match is None:
        return
    secret = match.group(0).removeprefix(match.group(1) or "").removesuffix("@")
    register_secret(secret.partition(":")[2] or secret)
    # The graver problem first: over plain http the token itself would travel in clear.
    check_transport_security(url)
    shown = _USERINFO.sub(r"\1***@", url)
    raise errors.ConfigurationError(
        f"base_url {shown!r} contains credentials (user:password@). "
        "ModelScope authenticates with the token alone: remove them from the URL and pass the "
        "token as api_key=... or MODELSCOPE_API_KEY. (A proxy that needs a password goes in "
        "proxy=..., where it is kept out of messages.)"
    )


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 or ::1 literals."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport_security(base_url: str) -> None:
    """Refuse to send a bearer token over plain http to anything but loopback."""
    parts = urlsplit(base_url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise errors.ConfigurationError(
            f"Refusing to send the ModelScope token over plain http to {parts.hostname!r}. "
            "Use https, or a loopback address (http://127.0.0.1:...) for a local simulator."
        )


def resolve_state(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The state store URL: ``explicit``, else ``MODELSCOPE_STATE``, else ``memory://``;
    checked without I/O (a bad one is a :class:`ConfigurationError` before any request).

    Example:
        >>> resolve_state(None, {"MODELSCOPE_STATE": "sqlite:///state.db"})
        'sqlite:///state.db'
    """
    env = os.environ if environ is None else environ
    return check_state_url(explicit or env.get(STATE_ENV_VAR))


def resolve_proxy(proxy: str | None) -> str | None:
    """An explicit proxy URL, checked; None leaves the choice to the environment
    (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, read by httpx's rules).

    Async calls run on aiohttp, which speaks to ``http://`` and ``https://`` proxies only, so
    other schemes are refused here rather than on the first async call.

    Example:
        >>> resolve_proxy("http://proxy.corp:3128")
        'http://proxy.corp:3128'
    """
    if proxy is None or not proxy.strip():
        return None
    url = proxy.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ConfigurationError(
            f"proxy {mask_proxy(url)!r} is not an http:// or https:// URL; use e.g. "
            "'http://proxy.example.com:3128' (SOCKS proxies are not supported for async calls)."
        )
    if parts.password:
        register_secret(parts.password)
    return url


def mask_proxy(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def token_from_environment() -> str | None:
    """The token the environment provides (as :func:`resolve_api_key` reads it), or None when
    there is none or it is unusable: the adapters show it as ``api_key`` at construction
    (LangChain's ``secret_from_env`` convention) and building the client reports the problem.

    Example:
        >>> os.environ["MODELSCOPE_API_KEY"] = "ms-xxxx"; token_from_environment()
        'ms-xxxx'
    """
    try:
        return resolve_api_key(None)
    except errors.ConfigurationError:
        return None


@dataclass(frozen=True)
class Settings:
    """A resolved, validated client configuration. The token is hidden from ``repr``.

    Example:
        >>> Settings.resolve(api_key="ms-xxx", base_url="http://127.0.0.1:8000/v1", timeout=5)
        Settings(base_url='http://127.0.0.1:8000/v1', token='ms-xx***', timeout=5.0, ...)
    """

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_wait: float = 60.0
    deadline: float | None = None
    preflight: bool = True
    default_headers: tuple[tuple[str, str], ...] = ()
    proxy: str | None = field(default=None, repr=False)
    state: str = MEMORY_URL
    """Where quota state shared across processes lives (docs/state.md)."""

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_wait: float | None = None,
        deadline: float | None = None,
        preflight: bool = True,
        default_headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        state: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Resolve from arguments and the environment, then validate."""
        url = resolve_base_url(base_url, environ)
        check_transport_security(url)
        if max_retries is not None and max_retries < 0:
            raise errors.ConfigurationError(f"max_retries must be >= 0, got {max_retries}.")
        if max_wait is not None and max_wait < 0:
            raise errors.ConfigurationError(f"max_wait must be >= 0 seconds, got {max_wait}.")
        if timeout is not None and timeout <= 0:
            raise errors.ConfigurationError(f"timeout must be > 0 seconds, got {timeout}.")
        return cls(
            api_key=resolve_api_key(api_key, environ),
            base_url=url,
            timeout=float(timeout) if timeout is not None else DEFAULT_TIMEOUT,
            max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
            max_wait=60.0 if max_wait is None else float(max_wait),
            deadline=deadline,
            preflight=preflight,
            default_headers=tuple(sorted((default_headers or {}).items())),
            proxy=resolve_proxy(proxy),
            state=resolve_state(state, environ),
        )

    @property
    def masked_token(self) -> str:
        """The token as safe to show: ``ms-ab***``."""
        return mask_token(self.api_key)

    def __repr__(self) -> str:
        return (
            f"Settings(base_url={self.base_url!r}, token={self.masked_token!r}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )
