"""Send a request to API-Inference and return plain parsed data, sync and async.

One :class:`Transport` per configuration (token, base URL, timeout, headers) is shared by every
model instance and both frameworks, so they share one connection pool and one quota tracker.
It owns the ``httpx`` clients and hands the same pool to the ``openai`` clients it exposes
(built with ``max_retries=0``: retries live in :mod:`modelscope_inference.retry` only).

The hot path skips the SDK's typed models: bodies and SSE lines are parsed straight into dicts,
which is what makes a call cheaper than ``chat.completions.create`` (issue: a raw POST plus
``json.loads`` costs about half the SDK's time, and SSE parsing about a fifth).

Example:
    >>> transport = get_transport(Settings.resolve())
    >>> reply = transport.post("/chat/completions", body, model="Qwen/Qwen3-32B")
    >>> reply.data["choices"][0]["message"]["content"]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import aclosing, asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, cast

import httpx

from modelscope_inference import async_http
from modelscope_inference._lazy import errors
from modelscope_inference.async_http import AsyncPool, ClientOptions, LoopPools
from modelscope_inference.quota import QuotaStatus, QuotaTracker, next_reset, tracker_for
from modelscope_inference.redaction import (
    RedactedDict,
    forget_locals,
    install_log_filters,
    redact,
    redacted_dataclass_repr,
    redacted_request,
)
from modelscope_inference.retry import retry_after_seconds
from modelscope_inference.settings import Settings
from modelscope_inference.validation import unencodable_body

if TYPE_CHECKING:
    import openai

try:
    __version__ = version("modelscope-inference")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

USER_AGENT = f"modelscope-inference/{__version__}"
# Every connection stays alive (ClientOptions.limits): reopening them each wave cost ~1.5x at
# 200 concurrent calls.
MAX_CONNECTIONS = 100


@dataclass(frozen=True, repr=False)
class JSONResponse:
    """A parsed 2xx answer: the body as a dict, the headers, and the quota they carried.

    ``headers`` answers lookups by lower-case name (an ``httpx.Headers`` or a plain dict).
    Its ``repr`` is redacted: a service may echo the token, and tracebacks print locals.
    """

    data: dict[str, Any]
    headers: Mapping[str, str]
    status: int
    request_id: str | None
    quota: QuotaStatus | None

    __repr__ = redacted_dataclass_repr


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder yielding parsed ``data:`` payloads.

    Pure and shared by the sync and async streams. ``done`` turns True at ``data: [DONE]``.

    Example:
        >>> decoder = SSEDecoder()
        >>> decoder.feed(b'data: {"a": 1}\\n\\ndata: [DONE]\\n\\n')
        [{'a': 1}]
    """

    __slots__ = ("_buffer", "_pending", "done")

    def __init__(self) -> None:
        self._buffer = b""
        self._pending: MalformedEventError | None = None
        self.done = False

    def feed(self, data: bytes) -> list[Any]:
        """Decode every complete line in ``data`` (plus what was buffered)."""
        if self._pending is not None:
            raise self._pending
        if self._buffer:
            data = self._buffer + data
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        events = []
        for line in lines:
            if not line.startswith(b"data:") or self.done:
                continue  # blank separators, comments, "event:" and "id:" fields
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                continue
            if payload:
                try:
                    events.append(_loads_event(payload))
                except MalformedEventError as exc:
                    if not events:
                        raise
                    # Deliver the good events first and raise on the next call, so what the
                    # caller gets does not depend on how the network split the bytes.
                    self._pending = exc
                    break
        return events

    def flush(self) -> list[Any]:
        """Decode a last line that had no newline (the stream ended)."""
        if self._pending is not None:
            raise self._pending
        rest, self._buffer = self._buffer, b""
        return self.feed(rest + b"\n") if rest.strip() else []


def _is_error_event(event: object) -> bool:
    """A stream chunk that is an error object rather than a completion chunk."""
    return (
        # type() first: an ABC isinstance check costs ~1 µs, and this runs on every chunk.
        (type(event) is dict or isinstance(event, Mapping))
        and "choices" not in event
        and isinstance(event.get("error") or event.get("errors"), (Mapping, str))
    )


class MalformedEventError(ValueError):
    """An SSE ``data:`` line that is not JSON."""


def _loads_event(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise MalformedEventError(payload[:200].decode("utf-8", "replace")) from exc


class EventStream:
    """An open SSE answer: ``headers``/``quota`` at once, then events by iteration.

    Raises :class:`APIConnectionError` if the connection breaks or ends without ``[DONE]``,
    and :class:`InvalidResponseError` for a line that is not JSON.
    """

    def __init__(self, response: httpx.Response, model: str, quota: QuotaStatus | None) -> None:
        self.response = response
        self.headers = response.headers
        self.model = model
        self.quota = quota
        self.request_id = _request_id(response.headers, {})
        self._decoder = SSEDecoder()

    def _check_end(self) -> None:
        if not self._decoder.done:
            raise errors.APIConnectionError(
                f"The stream from ModelScope ended before [DONE] (model {self.model!r}).",
                request=self.response.request,
                model=self.model,
            )

    def _decode(self, raw: bytes) -> list[Any]:
        try:
            events = self._decoder.feed(raw)
        except MalformedEventError as exc:
            raise errors.InvalidResponseError(
                f"ModelScope sent a stream line that is not JSON (model {self.model!r}): {exc}",
                response=self.response,
                body=str(exc),
                model=self.model,
            ) from None
        for event in events:
            if _is_error_event(event):
                raise self._error_event(event)
        return events

    def _error_event(self, event: Mapping[str, Any]) -> errors.APIStatusError:
        """An error object sent inside a 200 stream, classified as if it were the status."""
        inner = event.get("error") or event.get("errors")
        code = inner.get("code") if isinstance(inner, Mapping) else None
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        synthetic = httpx.Response(status, headers=self.headers, request=self.response.request)
        return errors.classify_error(synthetic, model=self.model, body=dict(event))

    def __iter__(self) -> Iterator[Any]:
        try:
            # iter_bytes, not iter_raw: a response that was already read (a mock transport,
            # a caching layer) or is content-encoded must still decode.
            for raw in self.response.iter_bytes():
                yield from self._decode(raw)
                if self._decoder.done:
                    return
            yield from self._decode_tail()
        except httpx.RequestError as exc:
            raise request_failed(exc, self.response.request, self.model) from exc
        except Exception as exc:  # an error event or a malformed line
            # Tracebacks print locals (capture_locals, Sentry); the decoding frames under this
            # one, and this one's ``raw``, hold the answer's words, which may echo the token.
            # (Not ``except errors.…``: evaluating it imports openai, and a stream closed early
            # passes GeneratorExit through here; that is no Exception.)
            forget_locals(exc)
            raw = b""
            raise
        self._check_end()

    async def __aiter__(self) -> AsyncGenerator[Any, None]:
        try:
            # aclosing: an async generator left suspended is finalized by the event loop later,
            # and warns ("Task was destroyed but it is pending") if the loop is gone by then.
            async with aclosing(
                cast(AsyncGenerator[bytes, None], self.response.aiter_bytes())
            ) as parts:
                async for raw in parts:
                    for event in self._decode(raw):
                        yield event
                    if self._decoder.done:
                        return
            for event in self._decode_tail():
                yield event
        except httpx.RequestError as exc:
            raise request_failed(exc, self.response.request, self.model) from exc
        except Exception as exc:  # as in __iter__
            forget_locals(exc)
            raw = b""
            raise
        self._check_end()

    def _decode_tail(self) -> list[Any]:
        try:
            return self._decoder.flush()
        except MalformedEventError as exc:
            raise errors.InvalidResponseError(
                f"ModelScope sent a stream line that is not JSON (model {self.model!r}): {exc}",
                response=self.response,
                body=str(exc),
                model=self.model,
            ) from None


def request_failed(
    exc: BaseException, request: httpx.Request, model: str
) -> errors.APIConnectionError:
    """The typed error for a request that got no answer: a timeout, or a broken connection.

    ``exc`` becomes its cause, so it is scrubbed first: its ``request`` (httpx's errors keep
    one, ``Authorization`` and all) is replaced by a redacted copy, and the HTTP stack's frames
    under it lose their locals (see :func:`~modelscope_inference.redaction.forget_locals`).
    """
    _scrub(exc)
    if async_http.is_timeout(exc):
        return _timeout(exc, request, model)
    return _broken(exc, request, model)


def _scrub(exc: BaseException) -> None:
    forget_locals(exc)
    if isinstance(exc, httpx.RequestError):
        # RuntimeError: httpx's "The .request property has not been set."
        with contextlib.suppress(RuntimeError):
            exc.request = redacted_request(exc.request)


def _timeout(exc: BaseException, request: httpx.Request, model: str) -> errors.APITimeoutError:
    return errors.APITimeoutError(
        f"ModelScope did not answer in time (model {model!r}, {type(exc).__name__}). Raise "
        "timeout=... for large reasoning models, or retry later.",
        request=request,
        model=model,
    )


def _broken(exc: BaseException, request: httpx.Request, model: str) -> errors.APIConnectionError:
    return errors.APIConnectionError(
        f"Could not reach ModelScope or the connection broke (model {model!r}, "
        f"{type(exc).__name__}: {exc}). Check the network and base_url.",
        request=request,
        model=model,
    )


class Transport:
    """Pooled HTTP to one API-Inference configuration (see module docstring).

    Sync calls go through one ``httpx.Client``; async calls through one aiohttp-backed
    ``httpx.AsyncClient`` per event loop (:mod:`modelscope_inference.async_http`), closed when
    its loop shuts down. Both honour ``proxy`` and the environment (``HTTPS_PROXY``,
    ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``) by httpx's rules. A user's
    own ``http_client`` / ``async_http_client`` is used as given, for its path only.

    Example:
        >>> with transport.stream("/chat/completions", body, model=m) as events:
        ...     for event in events: ...
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        install_log_filters()
        self.settings = settings
        self.quota: QuotaTracker = tracker_for(settings.api_key, settings.base_url, settings.state)
        # A RedactedDict: these headers are a local in the HTTP frames of every traceback.
        self._headers = RedactedDict(
            {
                "Authorization": f"Bearer {settings.api_key}",
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                "Accept": "application/json",
                **dict(settings.default_headers),
            }
        )
        self._custom_client = http_client
        self._custom_async_client = async_http_client
        self._client: httpx.Client | None = None
        self._pools = LoopPools(self._build_pool)
        self._lock = threading.Lock()
        self._httpx_timeout = httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0))
        self._timeout = self._httpx_timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}

    def __repr__(self) -> str:
        return f"Transport(base_url={self.settings.base_url!r})"

    # -- clients -----------------------------------------------------------------------------

    @cached_property
    def client_options(self) -> ClientOptions:
        """Timeouts, limits, proxy and the one SSL context of every client built here (built
        on first use: loading the CA bundle takes ~20 ms)."""
        return ClientOptions(
            timeout=self._httpx_timeout,
            max_connections=MAX_CONNECTIONS,
            proxy=self.settings.proxy,
            ssl_context=httpx.create_ssl_context(trust_env=True),
        )

    @cached_property
    def _aiohttp_timeout(self) -> Any:
        return async_http.aiohttp_timeout(self._httpx_timeout)

    def _build_pool(self) -> AsyncPool:
        return AsyncPool.build(self.client_options)

    @property
    def http_client(self) -> httpx.Client:
        """The shared synchronous ``httpx.Client`` (the user's own, when one was given)."""
        if self._custom_client is not None:
            return self._custom_client
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(**self.client_options.httpx_kwargs())
        return self._client

    @property
    def async_http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` for the running event loop (pools cannot cross loops)."""
        if self._custom_async_client is not None:
            return self._custom_async_client
        return self._pools.current().client

    async def _asend(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send ``request`` on the running loop's client; the body is read unless ``stream``."""
        return await async_http.send(self.async_http_client, request, stream=stream)

    def openai_client(self) -> openai.OpenAI:
        """An ``openai.OpenAI`` on the same pool and auth, for endpoints this library does not
        wrap (e.g. images). Its retries are off.

        Example:
            >>> transport.openai_client().models.list()
        """
        import openai  # here, not at the top: it takes ~0.5 s and most programs never need it

        return openai.OpenAI(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url,
            max_retries=0,
            timeout=self.settings.timeout,
            http_client=self.http_client,
            default_headers={"User-Agent": USER_AGENT, **dict(self.settings.default_headers)},
        )

    def async_openai_client(self) -> openai.AsyncOpenAI:
        """The async twin of :meth:`openai_client` (call inside a running event loop)."""
        import openai

        return openai.AsyncOpenAI(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url,
            max_retries=0,
            timeout=self.settings.timeout,
            http_client=self.async_http_client,
            default_headers={"User-Agent": USER_AGENT, **dict(self.settings.default_headers)},
        )

    def close(self) -> None:
        """Close the connections this transport opened (never the user's own clients), the
        sync ones and those of event loops that are not running. The next call reopens."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self._pools.close_idle()

    async def aclose(self) -> None:
        """Close the running loop's connections (and the sync ones). The next call reopens."""
        await self._pools.aclose()
        self.close()

    # -- requests ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None) -> httpx.Request:
        return self._request_with(method, path, _encode(body) if body is not None else None)

    def _request_with(self, method: str, path: str, content: bytes | None) -> httpx.Request:
        return httpx.Request(
            method,
            self._url(path),
            content=content,
            headers=self._headers,
            extensions={"timeout": self._timeout},
        )

    def _url(self, path: str) -> httpx.URL:
        """The parsed URL of ``path``, cached: parsing it cost more than the rest of the request."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.settings.base_url + path)
        return url

    def _accept(self, response: httpx.Response, model: str) -> QuotaStatus | None:
        """Record quota headers, and raise the classified error for a non-2xx answer."""
        # reference: modelscope-api.md §8.1, error answers carry the quota headers too.
        quota = self.quota.record(model, response.headers, success=response.is_success)
        if response.is_success:
            return quota
        raise self._classify(response, model, quota)

    def _classify(
        self, response: httpx.Response, model: str, quota: QuotaStatus | None
    ) -> errors.APIStatusError:
        body = errors.parse_body(response.content)
        scope = quota.exhausted_scope if quota else None
        limit = None
        if quota is not None:
            limit = quota.account_limit if scope == "account" else quota.model_limit
        error = errors.classify_error(
            response,
            model=model,
            body=body,
            quota_scope=scope if response.status_code == 429 else None,
            quota_limit=limit,
            resets_at=next_reset(self.quota.clock()),
            retry_after=retry_after_seconds(response.headers),
        )
        if scope is None and isinstance(error, errors.QuotaExhaustedError):
            self.quota.mark_exhausted(error.scope, model)
        return error

    def _send(self, request: httpx.Request, model: str, *, stream: bool = False) -> httpx.Response:
        try:
            # The user's own client may follow redirects; a redirect must not be followed here.
            return self.http_client.send(request, stream=stream, follow_redirects=False)
        except httpx.RequestError as exc:
            raise request_failed(exc, request, model) from exc

    async def _asend_typed(
        self, request: httpx.Request, model: str, *, stream: bool = False
    ) -> httpx.Response:
        try:
            return await self._asend(request, stream=stream)
        except httpx.RequestError as exc:
            raise request_failed(exc, request, model) from exc

    def post(self, path: str, body: Mapping[str, Any], *, model: str) -> JSONResponse:
        """POST JSON and return the parsed 2xx body; raises a classified error otherwise."""
        request = self._request("POST", path, body)
        return self._parse(self._send(request, model), model)

    async def apost(self, path: str, body: Mapping[str, Any], *, model: str) -> JSONResponse:
        """Async twin of :meth:`post`."""
        if self._custom_async_client is None:
            session = self._pools.current().session
            if session is not None:
                return await self._apost_direct(session, path, _encode(body), model)
        request = self._request("POST", path, body)
        return self._parse(await self._asend_typed(request, model), model)

    async def _apost_direct(
        self, session: Any, path: str, content: bytes, model: str
    ) -> JSONResponse:
        """:meth:`apost` straight on the loop's aiohttp session (nothing to route, see
        :mod:`~modelscope_inference.async_http`), with no httpx ``Request``/``Response``
        unless the answer needs one (an error, an encoded body): ~100 µs less per call, which
        is what many concurrent calls wait on (bench: concurrency)."""
        url = str(self._url(path))
        try:
            answer = await async_http.post_bytes(
                session, url, content, self._headers, self._aiohttp_timeout
            )
        except httpx.RequestError as exc:
            raise request_failed(exc, self._request_with("POST", path, content), model) from exc
        headers = _header_map(answer.raw_headers)
        if 200 <= answer.status < 300 and "content-encoding" not in headers:
            data = _json_object(answer.content)
            if data is not None:
                quota = self.quota.record(model, headers, success=True)
                return JSONResponse(data, headers, answer.status, _request_id(headers, data), quota)
        # The rare answers: the full httpx Response (it decodes, and errors carry it).
        request = self._request_with("POST", path, content)
        response = httpx.Response(
            answer.status, headers=list(answer.raw_headers), content=answer.content, request=request
        )
        return self._parse(response, model)

    def _parse(self, response: httpx.Response, model: str) -> JSONResponse:
        quota = self._accept(response, model)
        data = _json_object(response.content)
        if data is None:
            raise errors.InvalidResponseError(
                f"ModelScope answered HTTP {response.status_code} with a body that is not a JSON "
                f"object (model {model!r}).",
                response=response,
                body=errors.parse_body(response.content),
                model=model,
            )
        return JSONResponse(
            data, response.headers, response.status_code, _request_id(response.headers, data), quota
        )

    @contextmanager
    def stream(self, path: str, body: Mapping[str, Any], *, model: str) -> Iterator[EventStream]:
        """POST with ``stream: true`` and yield the open :class:`EventStream`; closes it after."""
        request = self._request("POST", path, body)
        response = self._send(request, model, stream=True)
        try:
            if not response.is_success:
                _read_error_body(response, model)
            yield EventStream(response, model, self._accept(response, model))
        finally:
            response.close()

    @asynccontextmanager
    async def astream(
        self, path: str, body: Mapping[str, Any], *, model: str
    ) -> AsyncIterator[EventStream]:
        """Async twin of :meth:`stream`."""
        request = self._request("POST", path, body)
        response = await self._asend_typed(request, model, stream=True)
        try:
            if not response.is_success:
                try:
                    await response.aread()
                except httpx.RequestError as exc:
                    raise request_failed(exc, request, model) from exc
            yield EventStream(response, model, self._accept(response, model))
        finally:
            await response.aclose()

    def get(self, path: str, *, model: str = "") -> JSONResponse:
        """GET JSON (e.g. ``/models``, which needs no token but accepts one)."""
        request = self._request("GET", path, None)
        return self._parse(self._send(request, model), model)

    # -- the AIGC task API (reference: modelscope-api.md §1.6) ---------------------------------

    def _request_headed(
        self, method: str, path: str, body: Mapping[str, Any] | None, headers: Mapping[str, str]
    ) -> httpx.Request:
        """A request to ``path`` with extra headers (the task API's ``X-ModelScope-*`` ones)."""
        request = self._request(method, path, body)
        request.headers.update(headers)
        return request

    def send_json(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        model: str,
        headers: Mapping[str, str],
    ) -> JSONResponse:
        """A JSON request with extra headers, parsed and classified like :meth:`post`.

        Example:
            >>> transport.send_json("GET", "/tasks/t1", model=m,
            ...                     headers={"X-ModelScope-Task-Type": "image_generation"})
        """
        request = self._request_headed(method, path, body, headers)
        return self._parse(self._send(request, model), model)

    async def asend_json(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        model: str,
        headers: Mapping[str, str],
    ) -> JSONResponse:
        """Async twin of :meth:`send_json`."""
        request = self._request_headed(method, path, body, headers)
        return self._parse(await self._asend_typed(request, model), model)

    def _download_request(self, url: str) -> httpx.Request:
        """A GET of a result file: no token (it is on another host, e.g. object storage)."""
        return httpx.Request(
            "GET", url, headers={"User-Agent": USER_AGENT}, extensions={"timeout": self._timeout}
        )

    def download(self, url: str) -> bytes:
        """The bytes at ``url`` (an image result), fetched without credentials.

        Example:
            >>> transport.download(result.images[0])[:4]
            b'\\x89PNG'
        """
        request = self._download_request(url)
        return _downloaded(self._send(request, ""))

    async def adownload(self, url: str) -> bytes:
        """Async twin of :meth:`download`."""
        request = self._download_request(url)
        return _downloaded(await self._asend_typed(request, ""))


def _downloaded(response: httpx.Response) -> bytes:
    """The body of a 2xx download; the classified error otherwise (no quota is recorded)."""
    if not response.is_success:
        raise errors.classify_error(response, model=None)
    return response.content


def _read_error_body(response: httpx.Response, model: str) -> None:
    try:
        response.read()
    except httpx.RequestError as exc:
        raise request_failed(exc, response.request, model) from exc


def _json_object(content: bytes) -> dict[str, Any] | None:
    """``content`` parsed, if it is a JSON object; None for anything else or nothing."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _encode(body: Mapping[str, Any]) -> bytes:
    """The body as UTF-8 JSON; a value that is neither (``NaN``, a ``datetime``, a lone
    surrogate) raises :class:`RequestValidationError` naming it, before any request."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        # Not chained: a UnicodeEncodeError holds the whole body, which may hold secrets.
        raise unencodable_body(body, exc) from None


def _header_map(raw: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    """Raw response headers by lower-case name, each value UTF-8 or else Latin-1, repeats
    joined by ", " as ``httpx.Headers`` joins them; a plain dict, because ``httpx.Headers``
    lookups cost ~1.5 µs each and every answer is looked up for six (bench: concurrency).

    Example:
        >>> _header_map(((b"X-Request-Id", b"r1"), (b"Via", b"a"), (b"via", b"b")))
        {'x-request-id': 'r1', 'via': 'a, b'}
    """
    headers: dict[str, str] = RedactedDict()  # a local in tracebacks: repr without the token
    for name, value in raw:
        key = name.decode("latin-1").lower()
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _request_id(headers: Mapping[str, str], data: Mapping[str, Any]) -> str | None:
    """The answer's request id, redacted: it goes into every result's metadata, and a service
    (or a proxy) that echoes the token there must not put it in the user's traces. The real
    service sends none (reference: modelscope-api.md §8.1), so this costs nothing there."""
    header: str | None = headers.get("x-request-id")
    if header:
        return redact(header)
    value = data.get("request_id")
    return redact(value) if isinstance(value, str) else None


_transports: dict[tuple[object, ...], Transport] = {}
_transports_lock = threading.Lock()


def get_transport(
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    async_http_client: httpx.AsyncClient | None = None,
) -> Transport:
    """The shared :class:`Transport` for ``settings`` (a new one when custom clients are given).

    Example:
        >>> get_transport(settings) is get_transport(settings)
        True
    """
    if http_client is not None or async_http_client is not None:
        return Transport(settings, http_client=http_client, async_http_client=async_http_client)
    key = (
        hashlib.sha256(settings.api_key.encode()).hexdigest(),
        settings.base_url,
        settings.timeout,
        settings.default_headers,
        settings.proxy,
        settings.state,
    )
    with _transports_lock:
        transport = _transports.get(key)
        if transport is None:
            transport = _transports[key] = Transport(settings)
        return transport
