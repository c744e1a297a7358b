"""Structured output on ModelScope: which method works for which model, and JSON mode's prompt.

The real service answers ``response_format: {"type": "json_schema"}`` with HTTP 200 and
``"choices": null``, while ``{"type": "json_object"}`` works (reference: modelscope-api.md
§8.3, §4.5). So JSON output always goes out as ``json_object`` with the schema written into the
prompt, and the framework adapters pick, per model:

- ``"function_calling"`` when the model calls tools and will not be thinking (a forced
  ``tool_choice`` is what makes it reliable, and thinking mode refuses one, §3.3); hybrid
  models (Qwen3) qualify, since the core turns their thinking off for a forced tool call;
- ``"json_mode"`` (``json_object`` + the schema in a system message) otherwise: thinking-only
  models, hybrid models asked to think, and models without tool calling.

Example:
    >>> default_method(lookup("Qwen/Qwen3-235B-A22B-Thinking-2507"))
    'json_mode'
    >>> default_method(lookup("Qwen/Qwen3-32B"))
    'function_calling'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from modelscope_inference.catalog import ModelInfo

__all__ = [
    "JSON_OBJECT",
    "StructuredMethod",
    "default_method",
    "is_json_schema_format",
    "schema_instruction",
    "with_schema_instruction",
]

StructuredMethod = Literal["function_calling", "json_mode"]

JSON_OBJECT: Mapping[str, str] = {"type": "json_object"}
"""The ``response_format`` that works on ModelScope (reference: modelscope-api.md §8.3)."""


def default_method(info: ModelInfo, enable_thinking: bool | None = None) -> StructuredMethod:
    """The structured-output method that works for a model (see the module docstring).

    Example:
        >>> default_method(lookup("Qwen/Qwen3-32B"), enable_thinking=True)
        'json_mode'
    """
    thinks = info.thinking == "always" or (info.thinking == "hybrid" and enable_thinking is True)
    return "function_calling" if info.tool_calling and not thinks else "json_mode"


def is_json_schema_format(response_format: object) -> bool:
    """True for a ``response_format`` of type ``json_schema``, which ModelScope answers with
    ``choices: null`` (reference: modelscope-api.md §8.3)."""
    return isinstance(response_format, Mapping) and response_format.get("type") == "json_schema"


def schema_instruction(schema: Mapping[str, Any]) -> str:
    """The prompt text that asks for one JSON object fitting ``schema``.

    Example:
        >>> schema_instruction({"type": "object", "properties": {"a": {"type": "integer"}}})[:36]
        'Answer with one JSON object, and no'
    """
    text = json.dumps(schema, ensure_ascii=False, indent=None)
    return (
        "Answer with one JSON object, and nothing else, that is valid against this JSON "
        f"schema:\n{text}\nUse the schema's property names as keys; do not repeat the schema."
    )


def with_schema_instruction(
    messages: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``messages`` (OpenAI wire dicts) with :func:`schema_instruction` added to the system
    message, or in a new first system message: Qwen chat templates take one system message,
    at the start.

    Example:
        >>> with_schema_instruction([{"role": "user", "content": "hi"}], {"type": "object"})[0][
        ...     "role"]
        'system'
    """
    instruction = schema_instruction(schema)
    out = [dict(message) for message in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = _append_text(out[0].get("content"), instruction)
        return out
    return [{"role": "system", "content": instruction}, *out]


def _append_text(content: object, text: str) -> object:
    """A system message's content with ``text`` after it (a string, or a list of parts)."""
    if isinstance(content, list):
        return [*content, {"type": "text", "text": "\n\n" + text}]
    if isinstance(content, str) and content:
        return f"{content}\n\n{text}"
    return text
