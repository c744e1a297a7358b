"""The simulator's deterministic "model": good enough for agent loops and standard test suites.

Given a validated :class:`ChatRequest`, :func:`respond` decides, in this order:

1. tool calls, when tools are offered and `tool_choice` is not "none" (see :mod:`.tooluse`);
2. a ReAct step, when the system prompt is LlamaIndex's ReAct header;
3. JSON, for `response_format` `json_schema` / `json_object`, or a schema embedded in the prompt;
4. an answer from tool results already in the conversation;
5. the best-overlapping context sentence, for RAG prompts (a context block and a question);
6. otherwise a short sentence quoting the last user message.

Thinking adds `reasoning` first; `stop` and `max_tokens` then cut the content.

>>> from modelscope_inference.simulator.models import ModelKind, ModelSpec
>>> req = ChatRequest(ModelSpec("Org/M", ModelKind.CHAT), [{"role": "user", "content": "Hi"}])
>>> respond(req).content
'You said: "Hi". This is a deterministic reply from the simulated Org/M.'
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .jsonfill import FillContext, fill
from .models import ModelSpec
from .text import (
    content_words,
    count_tokens,
    message_text,
    quoted_in,
    sentences,
    truncate_tokens,
)
from .tooluse import (
    PlannedCall,
    ToolChoice,
    ToolSpec,
    answer_from_results,
    plan,
    react_tools,
    render_react_answer,
    render_react_call,
    turn_from_openai,
    turn_from_react,
)

__all__ = ["ChatRequest", "Completion", "ToolCallOut", "respond", "usage_of"]

_QUESTION_MARK = re.compile(r"(?:Query|Question|问题)\s*[:：]\s*([^\n]+)", re.IGNORECASE)
_LABEL = re.compile(r"^(?:context|document|passage|source|text)\s*[:：]\s*", re.IGNORECASE)
_KEY_NAME = re.compile(r"^[A-Za-z_][\w-]{0,40}$")


@dataclass(frozen=True)
class ChatRequest:
    """A chat request after validation: only what the brain and the renderer need."""

    model: ModelSpec
    messages: Sequence[Mapping[str, Any]]
    tools: Sequence[ToolSpec] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True
    response_format: Mapping[str, Any] | None = None
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    thinking: bool = False
    thinking_budget: int | None = None
    stream: bool = False
    include_usage: bool = False


@dataclass(frozen=True)
class ToolCallOut:
    """A tool call in a completion: id, function name and JSON argument string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Completion:
    """What the model produced, before it is rendered as JSON or SSE."""

    content: str
    reasoning: str = ""
    tool_calls: tuple[ToolCallOut, ...] = ()
    finish_reason: str = "stop"
    chunks: tuple[str, ...] | None = None
    """Exact content stream deltas (scripted replies); None splits `content` by words."""
    encoded_chunks: tuple[bytes, ...] | None = None
    """Pre-encoded `{"content": ...}` deltas matching `chunks`."""
    usage: Mapping[str, Any] | None = None
    """A usage override (scripted replies); None computes usage from the text."""


def respond(req: ChatRequest) -> Completion:
    """The deterministic reply to `req`."""
    content, calls = _draft(req)
    reasoning = _reasoning(req, bool(calls)) if req.thinking else ""
    if calls:
        return Completion(content, reasoning, tuple(_tool_call_out(c) for c in calls), "tool_calls")
    content, finish = _apply_limits(content, req)
    return Completion(content, reasoning, finish_reason=finish)


def usage_of(req: ChatRequest, completion: Completion) -> dict[str, Any]:
    """OpenAI-style usage; `completion_tokens` includes reasoning tokens, as OpenAI counts."""
    if completion.usage is not None:
        return dict(completion.usage)
    prompt = sum(count_tokens(message_text(m)) + 4 for m in req.messages) or 1
    reasoning = count_tokens(completion.reasoning)
    if completion.chunks is not None:
        answer = len(completion.chunks)  # one scripted chunk is one token
    else:
        answer = count_tokens(completion.content)
    answer += sum(count_tokens(c.arguments) + 1 for c in completion.tool_calls)
    completion_tokens = max(answer + reasoning, 1)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _draft(req: ChatRequest) -> tuple[str, list[PlannedCall]]:
    if req.tools and req.tool_choice.mode != "none":
        turn = turn_from_openai(req.messages)
        calls = plan(req.tools, turn, req.tool_choice, req.parallel_tool_calls)
        if calls:
            return "", calls
        return _final_text(req, answer_from_results(turn)), []
    react = react_tools(req.messages)
    if react:
        return _react_step(req, react), []
    if req.response_format is not None:
        return _json_reply(req), []
    embedded = _embedded_schema(req.messages)
    if embedded is not None:
        return json.dumps(fill(embedded, _fill_context(req)), ensure_ascii=False), []
    turn = turn_from_openai(req.messages)
    if turn.calls:
        return answer_from_results(turn), []
    return _rag_answer(req.messages) or _echo(req), []


def _final_text(req: ChatRequest, text: str) -> str:
    return _json_reply(req) if req.response_format is not None else text


def _react_step(req: ChatRequest, tools: list[ToolSpec]) -> str:
    turn = turn_from_react(req.messages)
    calls = plan(tools, turn, ToolChoice(), parallel=False)
    if calls:
        return render_react_call(calls[0], turn.question)
    return render_react_answer(answer_from_results(turn))


def _json_reply(req: ChatRequest) -> str:
    fmt = req.response_format or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        return json.dumps(fill(schema, _fill_context(req)), ensure_ascii=False)
    if fmt.get("type") == "json_object":
        # JSON mode with the schema written into the prompt (how clients use json_object, since
        # json_schema is not served: reference: modelscope-api.md §8.3): fill that schema.
        embedded = _embedded_schema(req.messages)
        value = _json_object(req) if embedded is None else fill(embedded, _fill_context(req))
        return json.dumps(value, ensure_ascii=False)
    return _echo(req)


def _json_object(req: ChatRequest) -> dict[str, Any]:
    """Keys named in quotes or backticks anywhere in the prompt; values from the question."""
    ctx = _fill_context(req)
    keys: list[str] = []
    for quoted in _all_quoted(req.messages):
        if _KEY_NAME.match(quoted) and quoted not in keys:
            keys.append(quoted)
    if not keys:
        return {"answer": _echo(req)}
    ctx.quoted.clear()  # the quotes were key names, not values
    schema = {"type": "object", "properties": {k: {"type": "string"} for k in keys}}
    value = fill(schema, ctx)
    return value if isinstance(value, dict) else {}


def _all_quoted(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [q for m in messages for q in quoted_in(message_text(m))]


def _embedded_schema(messages: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A JSON schema pasted into the prompt with a request for JSON (LlamaIndex programs).

    LlamaIndex's output parser sends the schema with its braces still doubled (``{{``) in chat
    prompts; real models read it anyway, so the simulator does too."""
    for message in reversed(messages):
        text = message_text(message)
        if "json" not in text.lower() or '"properties"' not in text:
            continue
        found = _schema_in(text)
        if found is None and "{{" in text:
            found = _schema_in(text.replace("{{", "{").replace("}}", "}"))
        if found is not None:
            return found
    return None


def _schema_in(text: str) -> Mapping[str, Any] | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("properties"), dict):
            return value
    return None


def _rag_answer(messages: Sequence[Mapping[str, Any]]) -> str | None:
    texts = [message_text(m) for m in messages if m.get("role") in ("system", "user")]
    joined = "\n".join(texts)
    if not texts or "context" not in joined.lower():
        return None
    question = _rag_question(texts[-1])
    wanted = content_words(question)
    best, best_score = None, 0
    for sentence in sentences(joined):
        if question in sentence or sentence in question:
            continue
        score = len(wanted & content_words(sentence))
        if score > best_score:
            best, best_score = sentence, score
    return _LABEL.sub("", best) if best else None


def _rag_question(text: str) -> str:
    marked = _QUESTION_MARK.findall(text)
    if marked:
        return str(marked[-1]).strip()
    asked = [s for s in sentences(text) if s.endswith(("?", "？"))]
    return asked[-1] if asked else text.strip()


def _echo(req: ChatRequest) -> str:
    user = _last_user_text(req.messages)
    words = user.split()
    quote = " ".join(words[:12]) + (" …" if len(words) > 12 else "")
    images = _image_count(req.messages)
    if images:
        noun = "image" if images == 1 else "images"
        return (
            f'I looked at {images} {noun}. You asked: "{quote}". '
            f"The picture is described by the simulated {req.model.id}."
        )
    return f'You said: "{quote}". This is a deterministic reply from the simulated {req.model.id}.'


def _reasoning(req: ChatRequest, calling: bool) -> str:
    quote = " ".join(_last_user_text(req.messages).split()[:12])
    plan_text = (
        "A tool can give me the facts, so I will call it."
        if calling
        else "I will work out what is being asked and answer briefly."
    )
    text = (
        f'The user wrote: "{quote}". {plan_text} First I identify the key terms, '
        "then I check the details against what I know, and finally I write the answer."
    )
    if req.thinking_budget is not None:
        text, _ = truncate_tokens(text, req.thinking_budget)
    return text


def _apply_limits(content: str, req: ChatRequest) -> tuple[str, str]:
    finish = "stop"
    cut = min((i for s in req.stop if s and (i := content.find(s)) >= 0), default=-1)
    if cut >= 0:
        content = content[:cut]
    if req.max_tokens is not None:
        content, truncated = truncate_tokens(content, req.max_tokens)
        if truncated:
            finish = "length"
    return content, finish


def _tool_call_out(call: PlannedCall) -> ToolCallOut:
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    return ToolCallOut(f"call_{uuid.uuid4().hex[:24]}", call.name, arguments)


def _fill_context(req: ChatRequest) -> FillContext:
    return FillContext.from_text(_last_user_text(req.messages))


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def _image_count(messages: Sequence[Mapping[str, Any]]) -> int:
    count = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(
                1 for p in content if isinstance(p, Mapping) and p.get("type") == "image_url"
            )
    return count
