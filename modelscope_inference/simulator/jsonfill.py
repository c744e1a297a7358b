"""Build a JSON value that satisfies a JSON schema, using what the prompt mentions.

The brain uses this for tool-call arguments and `response_format` replies. Numbers come from a
pool (the numbers in the prompt, updated by tool results), strings from quotes, capitalised
names, the topic after "about", or the question itself, depending on the property's name.

>>> ctx = FillContext.from_text("Add 3 and 4")
>>> fill({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
...       "required": ["a", "b"]}, ctx)
{'a': 3, 'b': 4}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .text import content_words, numbers_in, quoted_in

__all__ = ["FillContext", "fill"]

_QUERY_NAMES = {"input", "query", "question", "q", "prompt", "text", "message", "search", "request"}
_PLACE_WORDS = ("location", "city", "place", "address", "region", "country", "where")
_NAMEISH_WORDS = ("name", "style", "title", "language", "company", "person", "user", "author")
_ABOUT = re.compile(r"\babout\s+([^.?!,;\n]+)", re.IGNORECASE)
_PLACE = re.compile(r"\b(?:in|at|near|for|of)\s+([A-Z][\w.'-]*(?:,?\s+[A-Z][\w.'-]*)*)")
_CAPITALISED = re.compile(r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MAX_DEPTH = 8

# A few well-known places, so that a structured answer about one is plausible (a city's country
# is not the city's own name, its population is not 1). Figures are rounded, for demos only.
_PLACES: dict[str, tuple[str, int]] = {
    "Beijing": ("China", 21_900_000),
    "Shanghai": ("China", 24_900_000),
    "Hangzhou": ("China", 12_500_000),
    "Chengdu": ("China", 21_400_000),
    "Shenzhen": ("China", 17_600_000),
    "Xi'an": ("China", 13_000_000),
    "Guangzhou": ("China", 18_800_000),
    "Tokyo": ("Japan", 14_000_000),
    "Paris": ("France", 2_100_000),
    "Lyon": ("France", 520_000),
    "London": ("United Kingdom", 8_900_000),
    "Berlin": ("Germany", 3_700_000),
    "New York": ("United States", 8_300_000),
    "Singapore": ("Singapore", 5_900_000),
}
# Numbers that fit a property's name when the prompt gives none.
_NUMBER_BY_NAME = (
    ("population", 1_000_000),
    ("year", 2025),
    ("age", 30),
    ("rating", 4),
    ("score", 80),
    ("percent", 50),
    ("price", 10),
    ("cost", 10),
    ("count", 3),
    ("number", 3),
    ("quantity", 3),
)


@dataclass
class FillContext:
    """What a schema is filled from; the number pool and quotes are consumed as used."""

    question: str
    numbers: list[float] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    topic: str = ""

    @classmethod
    def from_text(cls, question: str, numbers: list[float] | None = None) -> FillContext:
        """Context for `question`; `numbers` overrides the pool (e.g. after tool results)."""
        pool = numbers_in(question) if numbers is None else list(numbers)
        return cls(question.strip(), pool, quoted_in(question), _topic(question))


def fill(schema: Mapping[str, Any], ctx: FillContext) -> Any:
    """A value valid for `schema` (a pragmatic subset of JSON Schema)."""
    return _Filler(schema, ctx).value(schema, "", 0)


class _Filler:
    def __init__(self, root: Mapping[str, Any], ctx: FillContext) -> None:
        self.root = root
        self.ctx = ctx
        self.used: set[str] = set()  # strings already given, so siblings do not repeat one

    def value(self, schema: Mapping[str, Any], name: str, depth: int) -> Any:
        schema = self._resolve(schema)
        if depth > _MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self._enum(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.value(_first_non_null(schema[key]), name, depth + 1)
        if "allOf" in schema:
            return self.value(_merge_all_of(schema["allOf"]), name, depth + 1)
        kind = _type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind in ("integer", "number"):
            return self._number(schema, kind == "integer", name)
        if kind == "boolean":
            return bool(schema.get("default", False))
        if kind == "null":
            return None
        return self._string(schema, name)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        required = schema.get("required")
        names = [n for n in props if required is None or n in required]
        return {n: self.value(props[n], n, depth + 1) for n in names}

    def _array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        items = self._resolve(schema.get("items") or {})
        if _type_of(items) in ("integer", "number") and self.ctx.numbers:
            integer = _type_of(items) == "integer"
            values = [self._number(items, integer, name) for _ in self.ctx.numbers]
        else:
            values = [self.value(items, name, depth + 1)]
        minimum = int(schema.get("minItems", 0))
        while len(values) < minimum:
            values.append(values[-1])
        return values

    def _number(self, schema: Mapping[str, Any], integer: bool, name: str = "") -> float | int:
        if self.ctx.numbers:
            raw = self.ctx.numbers.pop(0)
        elif "default" in schema:
            raw = float(schema["default"])
        else:
            raw = float(_number_for(name, self.ctx.question))
        value = _clamp(raw, schema)
        return round(value) if integer or value == int(value) else value

    def _enum(self, options: list[Any]) -> Any:
        lowered = self.ctx.question.lower()
        for option in options:
            if isinstance(option, str) and option.lower() in lowered:
                return option
        return options[0]

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if fmt == "date":
            return "2025-01-01"
        if fmt == "date-time":
            return "2025-01-01T00:00:00+08:00"
        text = self._string_for(name)
        if text in self.used and name:
            text = _generic(name, self.ctx)  # a second property would repeat a value
        self.used.add(text)
        max_len = schema.get("maxLength")
        if isinstance(max_len, int):
            text = text[:max_len]
        return text.ljust(int(schema.get("minLength", 0)), ".")

    def _string_for(self, name: str) -> str:
        ctx, lowered = self.ctx, name.lower()
        if lowered in _QUERY_NAMES or not name:
            return ctx.question or "hello"
        known = _known_place(ctx.question)
        if known and "country" in lowered:
            return _PLACES[known][0]
        if known and any(word in lowered for word in (*_PLACE_WORDS, "name")):
            return known
        if any(word in lowered for word in _PLACE_WORDS):
            return (
                self._pop_quoted()
                or _place(ctx.question)
                or _capitalised(ctx.question)
                or (ctx.topic or ctx.question)
            )
        if any(word in lowered for word in _NAMEISH_WORDS):
            return self._pop_quoted() or _capitalised(ctx.question) or _generic(name, ctx)
        return self._pop_quoted() or _generic(name, ctx)

    def _pop_quoted(self) -> str:
        return self.ctx.quoted.pop(0) if self.ctx.quoted else ""


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _first_non_null(options: Any) -> Mapping[str, Any]:
    for option in options or []:
        if isinstance(option, Mapping) and option.get("type") != "null":
            return option
    return {"type": "null"}


def _merge_all_of(parts: Any) -> Mapping[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts or []:
        if isinstance(part, Mapping):
            merged.update(part)
    return merged


def _clamp(value: float, schema: Mapping[str, Any]) -> float:
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, (int, float)) and value < low:
        value = float(low)
    if isinstance(ex_low, (int, float)) and value <= ex_low:
        value = float(ex_low) + 1
    if isinstance(high, (int, float)) and value > high:
        value = float(high)
    if isinstance(ex_high, (int, float)) and value >= ex_high:
        value = float(ex_high) - 1
    return value


def _known_place(text: str) -> str:
    """The first well-known place the text names (see ``_PLACES``), or ""."""
    found = [(text.find(place), place) for place in _PLACES if place in text]
    return min(found)[1] if found else ""


def _number_for(name: str, question: str) -> int:
    """A plausible number for a property called ``name`` when the prompt gives none."""
    lowered = name.lower()
    known = _known_place(question)
    if known and "population" in lowered:
        return _PLACES[known][1]
    return next((value for word, value in _NUMBER_BY_NAME if word in lowered), 1)


def _topic(text: str) -> str:
    match = _ABOUT.search(text)
    if match:
        return match.group(1).strip()
    words = sorted(content_words(text), key=text.lower().find)
    return words[-1] if words else ""


def _place(text: str) -> str:
    match = _PLACE.search(text)
    return match.group(1).strip(" ,") if match else ""


def _capitalised(text: str) -> str:
    for match in _CAPITALISED.finditer(text):
        before = text[: match.start()].rstrip()
        if before and before[-1] not in ".!?:\n" and match.group(0) != "I":
            return match.group(0)
    return ""


def _generic(name: str, ctx: FillContext) -> str:
    label = _CAMEL.sub(" ", name).replace("_", " ").strip().capitalize() or "Value"
    if ctx.topic:
        return f"{label} about {ctx.topic}"
    return f"{label}: {ctx.question[:80]}" if ctx.question else label
