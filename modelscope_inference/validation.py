"""Inputs the service cannot take, refused before any request with a message that says what to
change: both adapters call these, so LangChain and LlamaIndex refuse the same inputs alike.

Each check is a few dictionary reads on the call path; the one that needs to look at every
value (is the body JSON, and UTF-8?) only runs after ``json.dumps`` itself has failed.

Example:
    >>> check_model("")
    Traceback (most recent call last):
    RequestValidationError: model must be a ModelScope model id such as 'Qwen/Qwen3-32B', ...
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from modelscope_inference._lazy import errors

__all__ = [
    "KNOWN_PARAMS",
    "TOOL_CHOICE_MODES",
    "check_model",
    "check_request",
    "check_tool_choice",
    "unencodable_body",
    "warn_unknown_params",
]

TOOL_CHOICE_MODES = ("auto", "none", "any", "required")

KNOWN_PARAMS: frozenset[str] = frozenset(
    {
        # OpenAI chat-completions body fields that OpenAI-compatible servers read.
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "seed",
        "stop",
        "stream_options",
        "temperature",
        "top_logprobs",
        "top_p",
        "user",
        # ModelScope / DashScope extras (reference: modelscope-api.md §4.1).
        "enable_thinking",
        "thinking_budget",
        "top_k",
        "repetition_penalty",
        "min_p",
        "enable_search",
        "extra_body",
    }
)
"""Body fields sent without a warning when passed as call keywords (see
:func:`warn_unknown_params`)."""

_warned: set[str] = set()


def check_model(model: object, what: str = "model") -> None:
    """Refuse an empty or non-string model id (the service would answer an opaque 400).

    Example:
        >>> check_model("Qwen/Qwen3-32B")  # fine: returns None
    """
    if not isinstance(model, str) or not model.strip():
        raise errors.RequestValidationError(
            f"{what} must be a ModelScope model id such as 'Qwen/Qwen3-32B', got {model!r}. "
            "List the served ids with `modelscope-inference models`."
        )


def check_tool_choice(choice: object, names: Collection[str]) -> None:
    """Refuse a ``tool_choice`` naming no bound tool, before any request.

    Accepts the modes of :data:`TOOL_CHOICE_MODES`, a bound tool's name, and the OpenAI object
    form ``{"type": "function", "function": {"name": ...}}`` naming a bound tool.

    Example:
        >>> check_tool_choice("add", ["add"])  # fine: returns None
    """
    if choice is None or choice in TOOL_CHOICE_MODES:
        return
    name = choice
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if name is None:  # another object form: the service judges it
            return
    if name not in names:
        raise errors.RequestValidationError(
            f"tool_choice={choice!r} is not a bound tool; use one of {list(TOOL_CHOICE_MODES)} "
            f"or a bound tool's name: {sorted(names)}."
        )


def _tool_names(tools: Iterable[Mapping[str, Any]]) -> list[str]:
    names = []
    for tool in tools:
        function = tool.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


def _check_max_tokens(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.RequestValidationError(
            f"max_tokens must be a positive integer, got {value!r}. Leave it unset (None) for "
            "the model's default limit."
        )


class ChatRequestFields(Protocol):
    """The fields of :class:`~modelscope_inference.chat.ChatRequest` checked here (a protocol:
    :mod:`.chat` imports this module, so this one does not import it)."""

    @property
    def model(self) -> str: ...
    @property
    def fallback_models(self) -> Sequence[str]: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def tools(self) -> Sequence[Mapping[str, Any]] | None: ...
    @property
    def tool_choice(self) -> str | Mapping[str, Any] | None: ...


def check_request(request: ChatRequestFields, *, stream: bool) -> None:
    """Refuse a request the service cannot take as asked; ``stream`` when the caller streams.

    Example:
        >>> check_request(ChatRequest(model="Qwen/Qwen3-32B", messages=[]), stream=False)
    """
    check_model(request.model)
    for fallback in request.fallback_models:
        check_model(fallback, "each of fallback_models")
    params = request.params
    _check_max_tokens(params.get("max_tokens"))
    n = params.get("n")
    if stream and isinstance(n, int) and n > 1:
        # The frameworks merge a stream into one message, so a second answer would be lost.
        raise errors.RequestValidationError(
            f"n={n} cannot be streamed: a stream carries one answer. Stream with n=1, or call "
            "without streaming to get several answers."
        )
    if request.tools and request.tool_choice is not None:
        check_tool_choice(request.tool_choice, _tool_names(request.tools))


def warn_unknown_params(names: Iterable[str], stacklevel: int = 3) -> None:
    """Warn, once per name and process, about call keywords that are not known body fields.

    They are still sent: OpenAI-compatible servers take extra fields, and LangChain's (and
    LlamaIndex's) convention is that call keywords reach the request. The warning catches a
    misspelling (``max_token=``) that the service would silently ignore; ``extra_body`` (or
    ``model_kwargs`` / ``additional_kwargs``) sends a field without one.

    Example:
        >>> warn_unknown_params(["temperature", "max_token"])  # warns about max_token only
    """
    unknown = [name for name in names if name not in KNOWN_PARAMS and name not in _warned]
    if not unknown:
        return
    _warned.update(unknown)
    warnings.warn(
        f"Sending unknown keyword argument(s) {unknown} as top-level request body fields. If "
        "this is a misspelling, fix it; to send a provider field on purpose without this "
        "warning, pass it in extra_body={...}.",
        UserWarning,
        stacklevel=stacklevel,
    )


# --- bodies that are not JSON (looked at only after json.dumps failed) -----------------------


def unencodable_body(body: Mapping[str, Any], cause: Exception) -> errors.RequestValidationError:
    """The error for a request body that is not JSON or not UTF-8, naming the bad value.

    Example:
        >>> unencodable_body({"temperature": float("nan")}, ValueError("nan"))
        RequestValidationError('The request cannot be sent: temperature is NaN or Infinity ...')
    """
    found = _find_bad_value(body, "", set())
    where, what, advice = found or ("the request", f"not JSON ({cause})", _JSON_ADVICE)
    return errors.RequestValidationError(
        f"The request cannot be sent: {where} is {what}. {advice} Nothing was sent."
    )


_JSON_ADVICE = (
    "Request fields must be JSON values (str, int, float, bool, None, list, dict): convert it "
    "first (a datetime with .isoformat(), for example), in the call's keyword arguments, "
    "model_kwargs / extra_body (LangChain) or additional_kwargs (LlamaIndex)."
)
_SURROGATE_ADVICE = (
    "UTF-8 cannot encode a lone surrogate, so the text cannot be sent: remove it, or clean the "
    "text first with text.encode('utf-8', 'replace').decode('utf-8')."
)
_NAN_ADVICE = "NaN and Infinity are not JSON: pass a finite number."


def _find_bad_value(value: object, path: str, seen: set[int]) -> tuple[str, str, str] | None:
    """``(where, what, advice)`` for the first value ``json.dumps`` + UTF-8 cannot take."""
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, str):
        return _bad_string(value, path or "a value")
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "NaN or Infinity", _NAN_ADVICE)
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in seen:
            return (path, "a container that contains itself", _JSON_ADVICE)
        seen.add(id(value))
        return _bad_item(value, path, seen)
    return (path or "a value", f"a {type(value).__name__}, which is not JSON", _JSON_ADVICE)


def _bad_item(
    value: Mapping[Any, Any] | Sequence[Any], path: str, seen: set[int]
) -> tuple[str, str, str] | None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (bad := _bad_string(key, f"the key {key_path!r}")):
                return bad
            if (found := _find_bad_value(item, key_path, seen)) is not None:
                return found
        return None
    for index, item in enumerate(value):
        if (found := _find_bad_value(item, f"{path}[{index}]", seen)) is not None:
            return found
    return None


def _bad_string(text: str, where: str) -> tuple[str, str, str] | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        return (
            where,
            f"text with a lone surrogate ({char!r} at position {exc.start})",
            _SURROGATE_ADVICE,
        )
    return None
