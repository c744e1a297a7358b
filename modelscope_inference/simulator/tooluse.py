"""How the brain decides which tool to call next, for OpenAI tools and for ReAct prompts.

The rule: read the latest user message; call, in order of first mention, each offered tool
that is mentioned (by name, name stem, or an operator such as "+" for `add`) and has not been
called since that message. Numbers come from a pool: the numbers in the message, where each
tool result replaces the operands its call used. With nothing left to call, answer in text
from the tool results.

>>> tools = [ToolSpec("add", "", _TWO_INTS), ToolSpec("multiply", "", _TWO_INTS)]
>>> turn = Turn("What is (3 + 4) * 5?", ())
>>> [(c.name, c.arguments) for c in plan(tools, turn, ToolChoice())]
[('add', {'a': 3, 'b': 4})]
>>> turn = Turn("What is (3 + 4) * 5?", (PastCall("add", {"a": 3, "b": 4}, "7"),))
>>> [(c.name, c.arguments) for c in plan(tools, turn, ToolChoice())]
[('multiply', {'a': 7, 'b': 5})]
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .jsonfill import FillContext, fill
from .text import message_text, numbers_in

__all__ = [
    "PastCall",
    "PlannedCall",
    "ToolChoice",
    "ToolSpec",
    "Turn",
    "answer_from_results",
    "format_number",
    "plan",
    "react_tools",
    "render_react_answer",
    "render_react_call",
    "tools_from_openai",
    "turn_from_openai",
    "turn_from_react",
]

_TWO_INTS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
_GENERIC_WORDS = {"get", "my", "tool", "the", "fn", "func", "function", "do", "run", "call", "of"}
_GENERIC_WORDS |= {"calc", "compute", "calculate", "fetch", "lookup", "find", "a", "to", "and"}
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "add": ("add", "plus", "sum", "+"),
    "sum": ("sum", "add", "plus", "+"),
    "multiply": ("multiply", "times", "product", "*", "×"),
    "mul": ("multiply", "times", "product", "*", "×"),
    "product": ("product", "multiply", "times", "*", "×"),
    "subtract": ("subtract", "minus", "difference", "-"),
    "sub": ("subtract", "minus", "-"),
    "minus": ("minus", "subtract", "-"),
    "divide": ("divide", "divided", "quotient", "/", "÷"),
    "div": ("divide", "divided", "/", "÷"),
    "power": ("power", "^", "**"),
}
_OPERATOR = "(?<=[\\d)])\\s*{}\\s*(?=[\\d(-])"
_SPLIT_NAME = re.compile(r"[_\-\s.]+|(?<=[a-z0-9])(?=[A-Z])")
_PARALLEL = re.compile(r"\b(parallel|simultaneous(?:ly)?|at once|at the same time|both)\b", re.I)
_REACT_TOOL = re.compile(
    r"> Tool Name: (?P<name>[^\n]+)\nTool Description: (?P<desc>.*?)\n"
    r"Tool Args: (?P<args>\{[^\n]*\})",
    re.DOTALL,
)
_REACT_ACTION = re.compile(r"Action:\s*([^\n]+?)\s*\nAction Input:\s*(\{.*\})", re.DOTALL)


@dataclass(frozen=True)
class ToolSpec:
    """A tool the request offers: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class PastCall:
    """A tool call made since the latest user message, with its result once known."""

    name: str
    arguments: Mapping[str, Any]
    result: str | None


@dataclass(frozen=True)
class Turn:
    """The latest user message and the tool calls made since."""

    question: str
    calls: tuple[PastCall, ...]


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the brain decided to make."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolChoice:
    """`tool_choice` normalised: "auto", "none", "required" (also "any"), or a tool name."""

    mode: str = "auto"
    name: str | None = None

    @property
    def forced(self) -> bool:
        """True for "required" and for a named tool (the thinking-mode restriction, §4.1)."""
        return self.mode == "required" or self.name is not None


def tools_from_openai(tools: Sequence[Any]) -> list[ToolSpec]:
    """Tool specs from an OpenAI `tools` array (entries that are not functions are skipped)."""
    specs = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            specs.append(
                ToolSpec(
                    fn["name"],
                    str(fn.get("description") or ""),
                    params if isinstance(params, Mapping) else {},
                )
            )
    return specs


def turn_from_openai(messages: Sequence[Mapping[str, Any]]) -> Turn:
    """The latest user message and the OpenAI-style tool calls and results after it."""
    start = _last_index(messages, lambda m: m.get("role") == "user")
    question = message_text(messages[start]) if start >= 0 else ""
    later = messages[start + 1 :]
    results = {m.get("tool_call_id"): message_text(m) for m in later if m.get("role") == "tool"}
    calls = []
    for message in later:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            args = _loads_object(fn.get("arguments"))
            calls.append(PastCall(str(fn.get("name")), args, results.get(call.get("id"))))
    return Turn(question, tuple(calls))


def react_tools(messages: Sequence[Mapping[str, Any]]) -> list[ToolSpec]:
    """Tools listed in a LlamaIndex-style ReAct system prompt, or [] if it is not one."""
    for message in messages:
        if message.get("role") != "system":
            continue
        text = message_text(message)
        if "Action Input" not in text or "> Tool Name:" not in text:
            continue
        return [
            ToolSpec(m["name"].strip(), m["desc"].strip(), _loads_object(m["args"]))
            for m in _REACT_TOOL.finditer(text)
        ]
    return []


def turn_from_react(messages: Sequence[Mapping[str, Any]]) -> Turn:
    """The question and the `Action`/`Observation` pairs of a ReAct transcript."""
    start = _last_index(
        messages,
        lambda m: (
            m.get("role") == "user" and not message_text(m).lstrip().startswith("Observation:")
        ),
    )
    question = message_text(messages[start]) if start >= 0 else ""
    calls: list[PastCall] = []
    for message in messages[start + 1 :]:
        text = message_text(message).strip()
        if message.get("role") == "assistant":
            match = _REACT_ACTION.search(text)
            if match:
                calls.append(PastCall(match.group(1).strip(), _loads_object(match.group(2)), None))
        elif text.startswith("Observation:") and calls and calls[-1].result is None:
            last = calls[-1]
            calls[-1] = PastCall(last.name, last.arguments, text[len("Observation:") :].strip())
    return Turn(question, tuple(calls))


def plan(
    tools: Sequence[ToolSpec], turn: Turn, choice: ToolChoice, parallel: bool = True
) -> list[PlannedCall]:
    """The tool calls to make now; [] means answer in text."""
    if not tools or choice.mode == "none":
        return []
    ctx = FillContext.from_text(turn.question, _number_pool(turn))
    if choice.name is not None:
        named = next((t for t in tools if t.name == choice.name), tools[0])
        return [_call(named, ctx)]
    called = {c.name for c in turn.calls}
    pending = [t for t in _mentioned(tools, turn.question) if t.name not in called]
    if pending:
        chosen = pending if parallel and _PARALLEL.search(turn.question) else pending[:1]
        return [_call(t, ctx) for t in chosen]
    if choice.mode == "required" or not turn.calls:
        return [_call(tools[0], ctx)]
    return []


def answer_from_results(turn: Turn) -> str:
    """A text answer that cites each tool result and ends with the latest one."""
    results = [(c.name, (c.result or "").strip()) for c in turn.calls if c.result is not None]
    if not results:
        return "I could not get a result from the tools."
    cited = "; ".join(f"{name} returned {result[:200]}" for name, result in results)
    final = results[-1][1][:200]
    number = _number_of(final)
    shown = format_number(number) if number is not None else final
    return f"Based on the tool results ({cited}), the answer is {shown}."


def render_react_call(call: PlannedCall, question: str) -> str:
    """One ReAct step in the exact format LlamaIndex's ReAct output parser expects."""
    return (
        f"Thought: The current language of the user is: {_language(question)}. "
        "I need to use a tool to help me answer the question.\n"
        f"Action: {call.name}\n"
        f"Action Input: {json.dumps(call.arguments, ensure_ascii=False)}"
    )


def render_react_answer(answer: str) -> str:
    """The final ReAct step."""
    return (
        "Thought: I can answer without using any more tools. "
        f"I'll use the user's language to answer\nAnswer: {answer}"
    )


def format_number(value: float) -> str:
    """`7.0` → `"7"`, `2.5` → `"2.5"`."""
    return str(int(value)) if value == int(value) else repr(value)


def _call(tool: ToolSpec, ctx: FillContext) -> PlannedCall:
    args = fill(tool.parameters, ctx) if tool.parameters.get("properties") else {}
    return PlannedCall(tool.name, args if isinstance(args, dict) else {})


def _mentioned(tools: Sequence[ToolSpec], text: str) -> list[ToolSpec]:
    found = [
        (pos, i, t) for i, t in enumerate(tools) if (pos := _mention(t.name, text)) is not None
    ]
    return [t for _, _, t in sorted(found, key=lambda item: (item[0], item[1]))]


def _mention(name: str, text: str) -> int | None:
    lowered = text.lower()
    positions = [lowered.find(name.lower())] if name.lower() in lowered else []
    for word in _name_words(name):
        for stem in _stems(word):
            for keyword in (stem, *_SYNONYMS.get(stem, ())):
                match = _keyword_pattern(keyword).search(lowered)
                if match:
                    positions.append(match.start())
    return min(positions) if positions else None


def _name_words(name: str) -> list[str]:
    words = [w.lower() for w in _SPLIT_NAME.split(name) if w]
    return [w for w in words if w not in _GENERIC_WORDS and len(w) > 1]


def _stems(word: str) -> set[str]:
    stems = {word}
    if len(word) > 4 and word.endswith("er"):
        stems.add(word[:-2])  # adder -> add
    if len(word) > 5 and word.endswith("ing"):
        stems.add(word[:-3])
    if len(word) > 3 and word.endswith("s"):
        stems.add(word[:-1])
    return stems


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    if not keyword[0].isalnum():
        return re.compile(_OPERATOR.format(re.escape(keyword)))
    root = keyword[:-1] + "(?:y|i)" if keyword.endswith("y") else re.escape(keyword)
    return re.compile(rf"\b{root}(?:s|es|ed|d|ing|er|ers|ition|ies|ied)?\b")


def _number_pool(turn: Turn) -> list[float]:
    pool = numbers_in(turn.question)
    for call in turn.calls:
        first: int | None = None
        for used in _numeric_values(call.arguments):
            if used in pool:
                index = pool.index(used)
                first = index if first is None else min(first, index)
                pool.pop(index)
        result = _number_of(call.result or "")
        if result is not None:
            pool.insert(first if first is not None else 0, result)
    return pool


def _numeric_values(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, Mapping):
        return [n for v in value.values() for n in _numeric_values(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numeric_values(v)]
    return []


def _number_of(text: str) -> float | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    values = _numeric_values(parsed) if parsed is not None else []
    if values:
        return values[0]
    found = numbers_in(text)
    return found[-1] if found else None


def _loads_object(raw: Any) -> dict[str, Any]:
    """JSON object text, or a Python dict repr (LlamaIndex writes `Action Input: {'a': 3}`)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            return {}
    return value if isinstance(value, dict) else {}


def _last_index(messages: Sequence[Mapping[str, Any]], predicate: Any) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if predicate(messages[index]):
            return index
    return -1


def _language(text: str) -> str:
    return "Chinese" if re.search(r"[\u4e00-\u9fff]", text) else "English"
