"""ModelScope API-Inference as a LlamaIndex ``FunctionCallingLLM``: type conversion only.

Every call goes through the core's :class:`~modelscope_inference.chat.ChatClient`, which owns
the ModelScope rules (thinking, quota, fallback models, retries). This module converts
LlamaIndex messages and tools to OpenAI wire dicts, and core results back to ``ChatResponse``.

Example:
    >>> from llama_index_modelscope import ModelScopeLLM
    >>> llm = ModelScopeLLM(model="Qwen/Qwen3-32B")  # token from MODELSCOPE_API_KEY
    >>> print(llm.complete("Say hi").text)
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    ContentBlock,
    ImageBlock,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.bridge.pydantic import Field, field_validator
from llama_index.core.constants import DEFAULT_NUM_OUTPUTS
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import Model, PydanticProgramMode

from llama_index_modelscope._connection import CoreClientMixin
from modelscope_inference._lazy import errors
from modelscope_inference.catalog import lookup
from modelscope_inference.chat import ChatDelta, ChatRequest, ChatResult, Usage
from modelscope_inference.messages import data_url, image_part
from modelscope_inference.quota import QuotaStatus
from modelscope_inference.structured import JSON_OBJECT, default_method
from modelscope_inference.tools import ParsedToolCall, parse_arguments, tool_call_to_openai
from modelscope_inference.validation import check_model, warn_unknown_params

if TYPE_CHECKING:
    from llama_index.core.program.utils import FlexibleModel
    from llama_index.core.tools.types import BaseTool

    from modelscope_inference.errors import ToolArgumentsError

logger = logging.getLogger("modelscope_inference")

# LlamaIndex roles that OpenAI-compatible servers do not know, mapped to ones they do.
_ROLES = {"chatbot": "assistant", "model": "assistant", "developer": "system"}


# --- LlamaIndex -> wire ---------------------------------------------------------------------


def _image_url(block: ImageBlock) -> dict[str, Any]:
    """OpenAI ``image_url`` part: the URL as is, or the bytes (or file at ``path``) as a data
    URI; ModelScope rejects ``type: "image"`` (reference: modelscope-api.md §8.3)."""
    if block.url:
        return image_part(str(block.url), block.detail)
    data = block.resolve_image(as_base64=True).read().decode("utf-8")
    return image_part(data_url(data, block.image_mimetype), block.detail)


def _video_url(block: VideoBlock) -> dict[str, Any]:
    """OpenAI-style ``video_url`` part, which ModelScope accepts (reference: §8.3)."""
    if block.url:
        url = str(block.url)
    else:
        data = block.resolve_video(as_base64=True).read().decode("utf-8")
        url = f"data:{block.video_mimetype or 'video/mp4'};base64,{data}"
    return {"type": "video_url", "video_url": {"url": url}}


def _tool_call_to_wire(block: ToolCallBlock) -> dict[str, Any]:
    arguments = block.tool_kwargs
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return tool_call_to_openai(block.tool_call_id or "", block.tool_name, text)


def _legacy_tool_call(call: Any) -> dict[str, Any]:
    """``additional_kwargs["tool_calls"]`` items may be dicts or openai SDK objects."""
    return dict(call.model_dump() if hasattr(call, "model_dump") else call)


def to_wire_message(message: ChatMessage) -> dict[str, Any]:
    """One ``ChatMessage`` as an OpenAI wire dict; reasoning goes in ``reasoning_content``
    (the core drops it unless ``pass_back_reasoning``)."""
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_image_url(block))
        elif isinstance(block, VideoBlock):
            parts.append(_video_url(block))
        elif isinstance(block, ThinkingBlock):
            reasoning.append(block.content or "")
        elif isinstance(block, ToolCallBlock):
            tool_calls.append(_tool_call_to_wire(block))
        elif not isinstance(block, CachePoint):
            raise ValueError(
                f"ModelScope chat accepts text, image and video content only, not "
                f"{type(block).__name__}; convert it to text first."
            )
    extra = message.additional_kwargs
    wire: dict[str, Any] = {"role": _ROLES.get(message.role.value, message.role.value)}
    wire["content"] = parts or ""
    if not tool_calls and extra.get("tool_calls"):
        tool_calls = [_legacy_tool_call(c) for c in extra["tool_calls"]]
    if tool_calls:
        wire["tool_calls"] = tool_calls
    if "tool_call_id" in extra:
        wire["tool_call_id"] = extra["tool_call_id"]
    reasoning_text = "".join(reasoning) or extra.get("reasoning_content")
    if reasoning_text:
        wire["reasoning_content"] = reasoning_text
    return wire


# --- core -> LlamaIndex ---------------------------------------------------------------------


def _tool_call_block(call: ParsedToolCall) -> ToolCallBlock:
    """Valid arguments as a dict; invalid ones as the raw string, never ``{}``."""
    return ToolCallBlock(
        tool_call_id=call.id,
        tool_name=call.name,
        tool_kwargs=call.args if call.args is not None else call.raw_arguments,
    )


def _wire_tool_call(call: ParsedToolCall) -> dict[str, Any]:
    arguments = json.dumps(call.args, ensure_ascii=False) if call.valid else call.raw_arguments
    return tool_call_to_openai(call.id, call.name, arguments)


def _assistant_message(
    content: str,
    reasoning: str,
    tool_calls: Sequence[ParsedToolCall] = (),
    usage: Usage | None = None,
) -> ChatMessage:
    """Reasoning as a ``ThinkingBlock`` (and ``reasoning_content``), never in the text."""
    blocks: list[ContentBlock] = []
    extra: dict[str, Any] = {}
    if reasoning:
        tokens = usage.reasoning_tokens if usage else None
        blocks.append(ThinkingBlock(content=reasoning, num_tokens=tokens))
        extra["reasoning_content"] = reasoning
    blocks.append(TextBlock(text=content))
    blocks.extend(_tool_call_block(call) for call in tool_calls)
    if tool_calls:
        extra["tool_calls"] = [_wire_tool_call(call) for call in tool_calls]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=extra)


def _usage_kwargs(usage: Usage | None) -> dict[str, Any]:
    """Token counts under the names LlamaIndex's ``TokenCountingHandler`` reads."""
    if usage is None:
        return {}
    counts: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.reasoning_tokens is not None:
        counts["reasoning_tokens"] = usage.reasoning_tokens
    return counts


class _Answer(Protocol):
    """What a complete answer carries: a :class:`ChatResult`, or the closing :class:`ChatDelta`."""

    @property
    def model(self) -> str | None: ...
    @property
    def id(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def usage(self) -> Usage | None: ...
    @property
    def quota(self) -> QuotaStatus | None: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...


def _closing_response(
    answer: _Answer, message: ChatMessage, finish_reason: str | None, delta: str | None = None
) -> ChatResponse:
    """The response that ends an answer, with a plain-dict summary in ``raw`` (JSON-safe, no
    token) and token counts in ``additional_kwargs``."""
    usage = _usage_kwargs(answer.usage)
    return ChatResponse(
        message=message,
        delta=delta,
        raw={
            "id": answer.id,
            "model": answer.model,
            "request_id": answer.request_id,
            "finish_reason": finish_reason,
            "usage": dict(usage) or None,
            "quota": answer.quota.to_dict() if answer.quota else None,
            "warnings": list(answer.warnings),
        },
        additional_kwargs={**usage, "model": answer.model},
    )


@functools.lru_cache(maxsize=256)
def _metadata(model: str, context_window: int | None, max_tokens: int | None) -> LLMMetadata:
    """What :attr:`ModelScopeLLM.metadata` reports for this configuration: from the catalog's
    families, which are fixed (what the service teaches at run time, thinking modes, is not
    in it)."""
    info = lookup(model)
    return LLMMetadata(
        context_window=context_window or info.context_window,
        num_output=max_tokens or info.max_output or DEFAULT_NUM_OUTPUTS,
        is_chat_model=True,
        is_function_calling_model=info.is_chat and info.tool_calling,
        model_name=model,
    )


def response_from_result(result: ChatResult) -> ChatResponse:
    """A core :class:`ChatResult` as a LlamaIndex ``ChatResponse``."""
    first = result.first
    message = _assistant_message(first.content, first.reasoning, first.tool_calls, result.usage)
    return _closing_response(result, message, first.finish_reason)


@dataclass
class StreamAccumulator:
    """Turns core deltas into cumulative ``ChatResponse`` s, as LlamaIndex streams expect.

    Reasoning arrives as ``additional_kwargs["thinking_delta"]`` with an empty ``delta``
    (the convention of llama-index-llms-openai); the closing response carries tool calls,
    usage and the answering model.
    """

    content: str = ""
    reasoning: str = ""

    def add(self, delta: ChatDelta) -> ChatResponse | None:
        """The response for one delta, or None when it adds nothing to choice 0."""
        if delta.done:
            return self._final(delta)
        if delta.choice_index != 0 or not (delta.content or delta.reasoning):
            return None
        self.content += delta.content
        self.reasoning += delta.reasoning
        extra = {"thinking_delta": delta.reasoning} if delta.reasoning else {}
        return ChatResponse(
            message=_assistant_message(self.content, self.reasoning),
            delta=delta.content,
            additional_kwargs=extra,
        )

    def _final(self, delta: ChatDelta) -> ChatResponse:
        message = _assistant_message(self.content, self.reasoning, delta.tool_calls, delta.usage)
        return _closing_response(delta, message, delta.finish_reason, delta="")


def _selection(block: ToolCallBlock) -> ToolSelection:
    arguments = block.tool_kwargs
    if isinstance(arguments, str):
        parsed, error = parse_arguments(arguments)
        if parsed is None:
            raise errors.ToolArgumentsError(
                block.tool_name, block.tool_call_id, arguments, error or ""
            )
        arguments = parsed
    return ToolSelection(
        tool_id=block.tool_call_id or "", tool_name=block.tool_name, tool_kwargs=arguments
    )


def _legacy_blocks(tool_calls: object) -> list[ToolCallBlock]:
    """Tool calls stored only in ``additional_kwargs`` (messages built by other code)."""
    if not isinstance(tool_calls, list):
        return []
    blocks = []
    for call in tool_calls:
        wire = _legacy_tool_call(call)
        function = wire.get("function") or {}
        blocks.append(
            ToolCallBlock(
                tool_call_id=wire.get("id"),
                tool_name=function.get("name") or "",
                tool_kwargs=function.get("arguments") or "",
            )
        )
    return blocks


# --- the LLM --------------------------------------------------------------------------------


class ModelScopeLLM(CoreClientMixin, FunctionCallingLLM):
    """A ModelScope API-Inference chat model for LlamaIndex (agents, RAG, structured output).

    Thinking, quota, ``fallback_models`` and retries follow the core's rules; the token is
    read from ``api_key`` or ``MODELSCOPE_API_KEY`` and never serialized.

    Example:
        >>> llm = ModelScopeLLM(model="Qwen/Qwen3-32B", fallback_models=["Qwen/Qwen3-8B"])
        >>> llm.chat([ChatMessage(role="user", content="hi")]).message.content
    """

    model: str = Field(description="The ModelScope model id, e.g. 'Qwen/Qwen3-32B'.")
    temperature: float | None = Field(default=None, description="Sampling temperature.")
    max_tokens: int | None = Field(default=None, gt=0, description="Max tokens to generate.")
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra top-level request body fields."
    )
    enable_thinking: bool | None = Field(
        default=None, description="Thinking switch for hybrid models; None leaves it unsent."
    )
    thinking_budget: int | None = Field(
        default=None, gt=0, description="Max reasoning tokens when thinking."
    )
    context_window: int | None = Field(
        default=None, gt=0, description="Override the catalog's context window."
    )
    fallback_models: list[str] = Field(
        default_factory=list,
        description="Model ids to try, in order, when a model's daily quota is exhausted.",
    )
    pass_back_reasoning: bool = Field(
        default=False, description="Send earlier turns' reasoning back to the model."
    )
    stream_usage: bool = Field(default=True, description="Ask for token usage on streams.")

    @field_validator("model")
    @classmethod
    def _check_model(cls, model: str) -> str:
        """An empty id would reach the service, which answers an opaque 400."""
        check_model(model)
        return model

    def __init__(self, **data: Any) -> None:
        """Validate the fields, then resolve the token and base URL, so a bad configuration
        raises :class:`ConfigurationError` here (pydantic would wrap it in a post-init hook)."""
        super().__init__(**data)
        self._connect()
        info = lookup(self.model)
        if not info.known:
            logger.warning(
                "Model %r is not in the modelscope-inference catalog; using defaults "
                "(context window %d, tool calling on). Pass context_window= to override.",
                self.model,
                info.context_window,
            )

    @classmethod
    def class_name(cls) -> str:
        return "ModelScopeLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """Capabilities from the core catalog: no flags needed for agents. A copy of one made
        per configuration: LlamaIndex reads it on every call (bench: concurrency)."""
        return _metadata(self.model, self.context_window, self.max_tokens).model_copy()

    @property
    def quota_status(self) -> QuotaStatus:
        """The last-seen daily quota for the account and this model.

        Example:
            >>> llm.quota_status.model_remaining
        """
        return self._core().quota_status(self.model)

    def forget_quota(self) -> None:
        """Forget what is known about the account's and this model's quota, refusals
        included: the next call asks the service (after buying credits, say).

        Example:
            >>> llm.forget_quota()
        """
        self._core().forget_quota(self.model)

    # -- request building --------------------------------------------------------------------

    def _request(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatRequest:
        """A core request from LlamaIndex messages; per-call kwargs override the fields."""
        tools = kwargs.pop("tools", None)
        tool_choice = kwargs.pop("tool_choice", None)
        parallel = kwargs.pop("parallel_tool_calls", None)
        enable_thinking = kwargs.pop("enable_thinking", self.enable_thinking)
        thinking_budget = kwargs.pop("thinking_budget", self.thinking_budget)
        extra_body = kwargs.pop("extra_body", None) or {}  # sent as is, without a warning
        if kwargs:
            warn_unknown_params(kwargs, stacklevel=5)
        params = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.additional_kwargs,
            **extra_body,
            **kwargs,
        }
        return ChatRequest(
            model=self.model,
            messages=[to_wire_message(m) for m in messages],
            params=params,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel,
            enable_thinking=enable_thinking,
            thinking_budget=thinking_budget,
            stream_usage=self.stream_usage,
            fallback_models=tuple(self.fallback_models),
            pass_back_reasoning=self.pass_back_reasoning,
        )

    # -- chat --------------------------------------------------------------------------------

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return response_from_result(self._core().chat.complete(self._request(messages, **kwargs)))

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        result = await self._core().chat.acomplete(self._request(messages, **kwargs))
        return response_from_result(result)

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        request = self._request(messages, **kwargs)

        def gen() -> ChatResponseGen:
            accumulator = StreamAccumulator()
            for delta in self._core().chat.stream(request):
                response = accumulator.add(delta)
                if response is not None:
                    yield response

        return gen()

    async def _astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        request = self._request(messages, **kwargs)

        async def gen() -> ChatResponseAsyncGen:
            accumulator = StreamAccumulator()
            async for delta in self._core().chat.astream(request):
                response = accumulator.add(delta)
                if response is not None:
                    yield response

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """One answer; thinking-only models stream internally and aggregate."""
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async twin of :meth:`chat`."""
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Cumulative responses; reasoning comes as ``thinking_delta``, never in ``delta``."""
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async twin of :meth:`stream_chat`."""
        return await self._astream_chat(messages, **kwargs)

    # -- complete (always the chat endpoint: ModelScope has no /v1/completions, §1.3) ---------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """The prompt as one user message; reasoning in ``additional_kwargs``."""
        return chat_to_completion_decorator(self._chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async twin of :meth:`complete`."""
        return await achat_to_completion_decorator(self._achat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Streamed :meth:`complete`."""
        return stream_chat_to_completion_decorator(self._stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Async twin of :meth:`stream_complete`."""
        return await astream_chat_to_completion_decorator(self._astream_chat)(prompt, **kwargs)

    # -- structured output (reference: modelscope-api.md §8.3) ------------------------------

    def _structured_runner(
        self, llm_kwargs: dict[str, Any] | None
    ) -> tuple[ModelScopeLLM, dict[str, Any] | None]:
        """The LLM that runs a structured-output program, and its ``llm_kwargs``.

        With ``pydantic_program_mode`` left at DEFAULT, a model that thinks (or cannot call
        tools) runs LlamaIndex's text-completion program, which writes the schema into the
        prompt, instead of forced function calling, which thinking mode refuses (§3.3). JSON
        programs ask for ``response_format={"type": "json_object"}``: ModelScope answers
        ``json_schema`` with no choices, but serves ``json_object`` (§8.3).
        """
        mode = self.pydantic_program_mode
        if mode is PydanticProgramMode.DEFAULT:
            if default_method(lookup(self.model), self.enable_thinking) != "json_mode":
                return self, llm_kwargs
            runner = self.model_copy(update={"pydantic_program_mode": PydanticProgramMode.LLM})
        elif mode is PydanticProgramMode.LLM:
            runner = self
        else:
            return self, llm_kwargs
        return runner, {"response_format": dict(JSON_OBJECT), **(llm_kwargs or {})}

    def structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """An ``output_cls`` object: by function calling, or, on models that think, by JSON
        mode with the schema in the prompt (see ``_structured_runner``).

        Example:
            >>> llm.structured_predict(City, PromptTemplate("Facts about {c}"), c="Hangzhou")
            City(name='Hangzhou', country='China', population=12500000)
        """
        runner, kwargs = self._structured_runner(llm_kwargs)
        result: Model = FunctionCallingLLM.structured_predict(
            runner, output_cls, prompt, kwargs, **prompt_args
        )
        return result

    async def astructured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """Async twin of :meth:`structured_predict`."""
        runner, kwargs = self._structured_runner(llm_kwargs)
        result: Model = await FunctionCallingLLM.astructured_predict(
            runner, output_cls, prompt, kwargs, **prompt_args
        )
        return result

    def stream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model | FlexibleModel, None, None]:
        """Partial objects as the answer streams; the method as in :meth:`structured_predict`."""
        runner, kwargs = self._structured_runner(llm_kwargs)
        return FunctionCallingLLM.stream_structured_predict(
            runner, output_cls, prompt, kwargs, **prompt_args
        )

    async def astream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model | FlexibleModel, None]:
        """Async twin of :meth:`stream_structured_predict`."""
        runner, kwargs = self._structured_runner(llm_kwargs)
        return await FunctionCallingLLM.astream_structured_predict(
            runner, output_cls, prompt, kwargs, **prompt_args
        )

    # -- tools -------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Tools as OpenAI tool dicts. ``strict`` and ``parallel_tool_calls`` are not sent
        (compatible servers reject or ignore them, user-needs.md §B.14);
        ``allow_parallel_tool_calls=False`` is enforced on the answer instead."""
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                ChatMessage(role=MessageRole.USER, content=user_msg)
                if isinstance(user_msg, str)
                else user_msg
            )
        if tool_choice is None and tool_required:
            tool_choice = "required"
        return {
            "messages": messages,
            "tools": specs or None,
            "tool_choice": tool_choice if specs else None,
            **kwargs,
        }

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keep only the first tool call unless parallel calls were allowed."""
        if not allow_parallel_tool_calls:
            _keep_first_tool_call(response.message)
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The tool calls as ``ToolSelection`` s.

        Raises:
            ToolArgumentsError: a call's arguments are not a JSON object (never run as ``{}``).
            ValueError: there is no tool call and ``error_on_no_tool_call`` is True.
        """
        message = response.message
        blocks = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
        if not blocks:
            blocks = _legacy_blocks(message.additional_kwargs.get("tool_calls"))
        if not blocks:
            if error_on_no_tool_call:
                raise ValueError(
                    f"Expected at least one tool call from {self.model!r}, got none; the "
                    f"answer was {message.content!r}."
                )
            return []
        return [_selection(block) for block in blocks]


def _keep_first_tool_call(message: ChatMessage) -> None:
    calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if len(calls) <= 1:
        return
    message.blocks = [b for b in message.blocks if not isinstance(b, ToolCallBlock)] + calls[:1]
    wire = message.additional_kwargs.get("tool_calls")
    if isinstance(wire, list):
        message.additional_kwargs["tool_calls"] = wire[:1]


if not TYPE_CHECKING:  # type checkers see the import above, and no catch-all attribute

    def __getattr__(name: str) -> Any:
        """``ToolArgumentsError``, re-exported on first use (its module imports ``openai``)."""
        if name == "ToolArgumentsError":
            return errors.ToolArgumentsError
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ModelScopeLLM", "StreamAccumulator", "ToolArgumentsError", "to_wire_message"]
