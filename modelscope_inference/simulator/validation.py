"""The service's request rules: turn a JSON body into a validated request or an :class:`ApiError`.

Rules with a source carry a `reference:` comment; the rest are [INFERRED] OpenAI-compatible
checks with messages that say what to fix.

>>> from modelscope_inference.simulator.models import build_catalog
>>> err = parse_chat({"model": "Qwen/QwQ-32B", "messages": [{"role": "user", "content": "hi"}]},
...                  build_catalog())
>>> err.status
400
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .brain import ChatRequest
from .errors import ApiError, invalid_parameter, model_not_served
from .models import ModelKind, ModelSpec, find_model
from .tooluse import ToolChoice, tools_from_openai

__all__ = ["EmbeddingRequest", "parse_chat", "parse_embedding", "resolve_model"]

_ROLES = {"system", "user", "assistant", "tool", "developer", "function"}
_THINKING_ONLY_NON_STREAM = "enable thinking can not be support when `stream=False`."
_HYBRID_NON_STREAM = "parameter.enable_thinking must be set to false for non-streaming calls"
_TOOL_CHOICE_THINKING = (
    "tool_choice does not support being set to required or object in thinking mode"
)
_IMAGE_PREFIXES = ("http://", "https://", "data:image/")
_PART_TYPES = ("text", "image_url", "video_url", "video")


@dataclass(frozen=True)
class EmbeddingRequest:
    """A validated `/v1/embeddings` request."""

    model: ModelSpec
    inputs: tuple[str, ...]
    base64: bool
    dimensions: int | None = None


def resolve_model(body: Any, catalog: Mapping[str, ModelSpec]) -> ModelSpec | ApiError:
    """The model named in `body`, or the error for a missing or unknown id."""
    if not isinstance(body, Mapping):
        return invalid_parameter("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return invalid_parameter(
            "`model` is required: give a ModelScope model id such as Qwen/Qwen3-8B."
        )
    spec = find_model(catalog, model)  # `Org/Model:Provider` too (reference: §8.3)
    # reference: modelscope-api.md §8.1, an unserved id answers 400 (not 404) since 2026
    return model_not_served(model) if spec is None else spec


def parse_chat(body: Any, catalog: Mapping[str, ModelSpec]) -> ChatRequest | ApiError:
    """Validate a chat completions body against the model's rules."""
    spec = resolve_model(body, catalog)
    if isinstance(spec, ApiError):
        return spec
    if spec.is_embedding:
        return invalid_parameter(
            f"Model '{spec.id}' is an embedding model; call POST /v1/embeddings instead."
        )
    if spec.is_image:  # [INFERRED] the real wording for an AIGC model on chat is not known
        return invalid_parameter(
            f"Model '{spec.id}' is an image model; call POST /v1/images/generations instead."
        )
    messages = body.get("messages")
    problem = _check_messages(messages, spec)
    if problem is not None:
        return problem
    return _build_chat(body, spec, messages)


def parse_embedding(body: Any, catalog: Mapping[str, ModelSpec]) -> EmbeddingRequest | ApiError:
    """Validate an embeddings body: strings only, a known embedding model."""
    spec = resolve_model(body, catalog)
    if isinstance(spec, ApiError):
        return spec
    if not spec.is_embedding:
        route = "/v1/images/generations" if spec.is_image else "/v1/chat/completions"
        return invalid_parameter(
            f"Model '{spec.id}' is {'an image' if spec.is_image else 'a chat'} model; "
            f"call POST {route} instead."
        )
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs:
        return invalid_parameter("`input` must be a string or a non-empty list of strings.")
    if not all(isinstance(item, str) for item in inputs):
        return invalid_parameter(
            "Token-id inputs are not supported: send `input` as a string or a list of strings."
        )
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        return invalid_parameter("`encoding_format` must be 'float' or 'base64'.")
    # [INFERRED] Qwen3-Embedding models can shorten their vectors (OpenAI's `dimensions`); the
    # reference notes do not say whether API-Inference honours it (modelscope-api.md §1.4).
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int)
        or isinstance(dimensions, bool)
        or not 1 <= dimensions <= spec.dimension
    ):
        return invalid_parameter(
            f"`dimensions` must be an integer from 1 to {spec.dimension} for '{spec.id}'."
        )
    return EmbeddingRequest(spec, tuple(inputs), fmt == "base64", dimensions)


def _check_messages(messages: Any, spec: ModelSpec) -> ApiError | None:
    if not isinstance(messages, list) or not messages:
        return invalid_parameter("`messages` must be a non-empty list of message objects.")
    for message in messages:
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            return invalid_parameter(
                "Each message needs a `role` of system, user, assistant or tool."
            )
        problem = _check_content(message.get("content"), spec)
        if problem is not None:
            return problem
    return None


def _check_content(content: Any, spec: ModelSpec) -> ApiError | None:
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return invalid_parameter("Message `content` must be a string or a list of content parts.")
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            continue  # text parts are accepted by every model (§4.6)
        if kind not in _PART_TYPES:
            # reference: modelscope-api.md §8.3, the service's text for a `type: "image"` part
            # (dify-official-plugins#1843), in the OpenAI-style 400 body.
            return invalid_parameter(
                f"Invalid value: {kind}. Supported values are: 'text','image_url','video_url' "
                "and 'video'."
            )
        if kind != "image_url":
            continue  # video parts: accepted, not checked further [INFERRED]
        if not spec.accepts_images:
            # [INFERRED] text; reference: modelscope-api.md §4.7, only VL models take images.
            return invalid_parameter(
                f"Model '{spec.id}' does not accept image inputs; use a vision (VL) model "
                "such as Qwen/Qwen2.5-VL-72B-Instruct."
            )
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str) or not url.startswith(_IMAGE_PREFIXES):
            return invalid_parameter(
                "`image_url.url` must be an http(s) URL or a data:image/...;base64, URL."
            )
    return None


def _build_chat(
    body: Mapping[str, Any], spec: ModelSpec, messages: list[Any]
) -> ChatRequest | ApiError:
    stream = body.get("stream") is True
    # reference: modelscope-api.md §4.1, the openai SDK's extra_body puts enable_thinking and
    # thinking_budget at the top level of the JSON body.
    enable = body.get("enable_thinking")
    if spec.kind is ModelKind.THINKING and not stream:
        # reference: modelscope-api.md §3.3, thinking-only model with stream=false
        return invalid_parameter(_THINKING_ONLY_NON_STREAM)
    if spec.kind is ModelKind.HYBRID and not stream and enable is not False:
        # reference: modelscope-api.md §3.3/§4.1, hybrid non-stream needs enable_thinking=false
        return invalid_parameter(_HYBRID_NON_STREAM)
    thinking = spec.kind is ModelKind.THINKING or (
        spec.kind is ModelKind.HYBRID and enable is not False
    )
    choice = _tool_choice(body.get("tool_choice"))
    if isinstance(choice, ApiError):
        return choice
    if thinking and choice.forced:
        # reference: modelscope-api.md §4.1 (Qwen thinking mode restriction, DashScope text)
        return invalid_parameter(_TOOL_CHOICE_THINKING)
    options = _options(body)
    if isinstance(options, ApiError):
        return options
    stop, max_tokens, budget, response_format = options
    stream_options = body.get("stream_options")
    include_usage = (
        isinstance(stream_options, Mapping) and stream_options.get("include_usage") is True
    )
    return ChatRequest(
        model=spec,
        messages=messages,
        tools=tools_from_openai(body.get("tools") or []),
        tool_choice=choice,
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        response_format=response_format,
        stop=stop,
        max_tokens=max_tokens,
        thinking=thinking,
        thinking_budget=budget,
        stream=stream,
        include_usage=include_usage,
    )


def _tool_choice(raw: Any) -> ToolChoice | ApiError:
    if raw is None or raw == "auto":
        return ToolChoice("auto")
    if raw == "none":
        return ToolChoice("none")
    if raw in ("required", "any"):
        return ToolChoice("required")
    if isinstance(raw, Mapping):
        fn = raw.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if isinstance(name, str):
            return ToolChoice("named", name)
    return invalid_parameter(
        "`tool_choice` must be 'auto', 'none', 'required' or {\"type\": \"function\", "
        '"function": {"name": ...}}.'
    )


_Options = tuple[tuple[str, ...], int | None, int | None, Mapping[str, Any] | None]


def _options(body: Mapping[str, Any]) -> _Options | ApiError:
    stop = body.get("stop")
    stops: Sequence[Any] = [stop] if isinstance(stop, str) else (stop or [])
    if not isinstance(stops, list | tuple) or not all(isinstance(s, str) for s in stops):
        return invalid_parameter("`stop` must be a string or a list of strings.")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return invalid_parameter("`max_tokens` must be a positive integer.")
    budget = body.get("thinking_budget")
    if budget is not None and (not isinstance(budget, int) or budget < 1):
        return invalid_parameter("`thinking_budget` must be a positive integer.")
    fmt = _response_format(body.get("response_format"))
    if isinstance(fmt, ApiError):
        return fmt
    return tuple(stops), max_tokens, budget, fmt


def _response_format(raw: Any) -> Mapping[str, Any] | ApiError | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return raw  # type: ignore[no-any-return]
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
            return raw  # type: ignore[no-any-return]
        return invalid_parameter(
            "`response_format.json_schema.schema` must be a JSON schema object."
        )
    return invalid_parameter(
        "`response_format.type` must be 'text', 'json_object' or 'json_schema'."
    )
