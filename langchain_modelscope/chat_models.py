"""ModelScope API-Inference as a LangChain chat model: LangChain types in, core types out.

Everything ModelScope-specific (thinking rules, quota, ``fallback_models``, retries, tool-call
merging and argument parsing) happens once, in :mod:`modelscope_inference`; this module only
converts LangChain messages, tools and options to a :class:`~modelscope_inference.ChatRequest`,
and the core's answer back to ``AIMessage`` / ``AIMessageChunk``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import LangSmithParams, LanguageModelInput, ModelProfile
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolMessage,
    is_data_content_block,
)
from langchain_core.messages.ai import UsageMetadata, add_ai_message_chunks
from langchain_core.messages.block_translators.openai import convert_to_openai_data_block
from langchain_core.messages.tool import (
    ToolCall,
    invalid_tool_call,
    tool_call,
    tool_call_chunk,
)
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, Generation
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks
from langchain_core.runnables import Runnable, RunnableConfig, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import (
    convert_to_openai_function,
    convert_to_openai_tool,
)
from langchain_core.utils.pydantic import is_basemodel_subclass
from langchain_core.utils.utils import _build_model_kwargs
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from langchain_modelscope._compaction import acompacting, compacting
from langchain_modelscope._connection import ModelScopeConnection
from modelscope_inference import ChatRequest, QuotaStatus, Usage, lookup
from modelscope_inference import ChatResult as CoreChatResult
from modelscope_inference.chat import ChatChoice, ChatDelta
from modelscope_inference.messages import data_url, image_part
from modelscope_inference.structured import (
    JSON_OBJECT,
    default_method,
    with_schema_instruction,
)
from modelscope_inference.tokens import estimate_token_ids
from modelscope_inference.tools import ParsedToolCall, parse_call, tool_call_to_openai
from modelscope_inference.validation import (
    check_model,
    check_tool_choice,
    warn_unknown_params,
)

PROVIDER = "modelscope"
StructuredOutputMethod = Literal["function_calling", "json_mode", "json_schema"]


class ChatModelScope(BaseChatModel, ModelScopeConnection):
    """ModelScope API-Inference chat models (Qwen, DeepSeek, GLM, Kimi, …) for LangChain.

    Setup:
        Install ``modelscope-inference[langchain]`` and set ``MODELSCOPE_API_KEY`` (a token from
        https://modelscope.cn/my/myaccesstoken; ``OPENAI_API_KEY`` is never read).

        .. code-block:: bash

            pip install "modelscope-inference[langchain]"
            export MODELSCOPE_API_KEY="ms-..."

    Key init args — completion params:
        model: str
            A ModelScope model id, e.g. ``"Qwen/Qwen3-32B"`` (also accepted as ``model_name``).
        temperature, top_p, max_tokens, stop, seed, presence_penalty, frequency_penalty, n:
            Sampling options, sent only when set.
        enable_thinking: bool | None
            Thinking on/off for hybrid models (Qwen3); None leaves the model's default. A
            non-streaming call to a hybrid model sends ``enable_thinking: false`` unless you
            ask for thinking; a thinking-only model is streamed internally and aggregated.
        thinking_budget: int | None
            Cap on reasoning tokens.
        pass_back_reasoning: bool
            Send earlier turns' ``reasoning_content`` back to the model (default False).
        fallback_models: list[str]
            Models tried in order when a model's own daily quota is spent.

    Key init args — client params:
        api_key: SecretStr | None
            Defaults to ``MODELSCOPE_API_KEY`` (then ``MODELSCOPE_SDK_TOKEN``).
        base_url: str | None
            Defaults to ``MODELSCOPE_BASE_URL``, then ``https://api-inference.modelscope.cn/v1``.
        timeout, max_retries (default 2), default_headers, http_client, http_async_client.

    Instantiate:
        .. code-block:: python

            from langchain_modelscope import ChatModelScope

            llm = ChatModelScope(model="Qwen/Qwen3-32B", temperature=0.3)

    Invoke:
        .. code-block:: python

            llm.invoke("What is ModelScope?").content

    Stream:
        .. code-block:: python

            for chunk in llm.stream("Tell me a joke"):
                print(chunk.additional_kwargs.get("reasoning_content", ""), chunk.text, end="")

    Tool calling:
        .. code-block:: python

            def add(a: int, b: int) -> int:
                \"\"\"Add two integers.\"\"\"
                return a + b

            llm.bind_tools([add], tool_choice="auto").invoke("What is 3 + 4?").tool_calls
            # [{'name': 'add', 'args': {'a': 3, 'b': 4}, 'id': 'call_...', 'type': 'tool_call'}]

        Arguments that are not a JSON object land in ``invalid_tool_calls`` with the raw string.

    Structured output:
        .. code-block:: python

            class Joke(BaseModel):
                setup: str
                punchline: str

            llm.with_structured_output(Joke).invoke("Tell me a joke about cats")

        The default method is function calling, or JSON mode with the schema in the prompt for
        models that think (thinking mode rejects the forced ``tool_choice`` function calling
        needs). ModelScope does not serve ``json_schema`` output, so ``method="json_schema"``
        runs as JSON mode too (reference: modelscope-api.md §8.3).

    Reasoning:
        Reasoning is in ``additional_kwargs["reasoning_content"]`` and in ``content_blocks``
        as a ``{"type": "reasoning"}`` block; it is never mixed into ``content``.

    Usage and quota:
        .. code-block:: python

            msg = llm.invoke("hi")
            msg.usage_metadata  # {'input_tokens': 9, 'output_tokens': 12, 'total_tokens': 21}
            msg.response_metadata["model_name"], msg.response_metadata["quota"]
            llm.quota_status.model_remaining

        ``QuotaExhaustedError`` is raised at once, without retries, so
        ``llm.with_fallbacks([...])`` switches promptly.

    Pickles carry no token: an unpickled model reads ``MODELSCOPE_API_KEY`` when first used.
    """

    model_name: str = Field(alias="model")
    """A ModelScope model id, e.g. ``Qwen/Qwen3-32B``."""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    """Most tokens to generate; positive (``-1`` is refused, as LlamaIndex does)."""
    stop: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("stop", "stop_sequences")
    )
    """Stop sequences (also accepted as ``stop_sequences``)."""
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n: int | None = None
    """Number of answers per call (not with streaming)."""
    streaming: bool = False
    """Stream even under ``invoke``, so ``on_llm_new_token`` fires."""
    stream_usage: bool = True
    """Ask for token usage in streams (``stream_options.include_usage``)."""
    enable_thinking: bool | None = None
    """Thinking on/off for hybrid models; None leaves the model's default (see class doc)."""
    thinking_budget: int | None = None
    """Cap on reasoning tokens, sent only when thinking is not off."""
    pass_back_reasoning: bool = False
    """Send earlier turns' ``reasoning_content`` back (off: some providers reject it)."""
    fallback_models: list[str] = Field(default_factory=list)
    """Models tried in order when a model's own daily quota is spent."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra top-level body fields."""
    extra_body: dict[str, Any] | None = None
    """Extra top-level body fields (the openai SDK's name for ``model_kwargs``)."""

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _move_unknown_to_model_kwargs(cls, values: Any) -> Any:
        """LangChain's convention (as in ``ChatOpenAI``): an unknown keyword goes into
        ``model_kwargs``, sent as a top-level body field, with a warning that names it; never
        silently dropped."""
        if not isinstance(values, dict):
            return values
        return _build_model_kwargs(dict(values), _field_names(cls))

    @field_validator("model_name")
    @classmethod
    def _check_model(cls, model: str) -> str:
        """An empty id would reach the service, which answers an opaque 400."""
        check_model(model)
        return model

    @model_validator(mode="after")
    def _check_streaming_n(self) -> Self:
        if self.streaming and (self.n or 1) > 1:
            raise ValueError("n > 1 is not supported with streaming=True.")
        return self

    # -- LangChain metadata -------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model id (same as ``model_name``)."""
        return self.model_name

    @property
    def quota_status(self) -> QuotaStatus:
        """The daily quota the service last reported for this token and model.

        Example:
            >>> llm.invoke("hi"); llm.quota_status.model_remaining
        """
        return self._core.quota_status(self.model_name)

    def forget_quota(self) -> None:
        """Forget what is known about the account's and this model's quota, refusals
        included: the next call asks the service (after buying credits, say).

        Example:
            >>> llm.forget_quota()
        """
        self._core.forget_quota(self.model_name)

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "MODELSCOPE_API_KEY"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_modelscope", "chat_models"]

    @property
    def _llm_type(self) -> str:
        return "modelscope-chat"

    @property
    def _default_params(self) -> dict[str, Any]:
        """Sampling options that are set (the body leaves the rest to the service)."""
        params = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "n": self.n,
        }
        return {key: value for key, value in params.items() if value is not None}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What identifies a configuration in traces and caches; never the token."""
        thinking = {
            "enable_thinking": self.enable_thinking,
            "thinking_budget": self.thinking_budget,
        }
        return {
            "model_name": self.model_name,
            **self._default_params,
            **{key: value for key, value in thinking.items() if value is not None},
        }

    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # langchain-core's version reads the same ``asdict()`` through the deprecated
        # ``dict()`` and a warnings guard: ~3 µs on every call (bench: concurrency).
        return {**self.asdict(), "stop": stop, **kwargs}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # Per-call kwargs win over fields, as in the invocation params (not rebuilt here:
        # LangChain has just built them for the same call).
        model = kwargs.get("model")
        ls_params = LangSmithParams(
            ls_provider=PROVIDER,
            ls_model_name=model if isinstance(model, str) and model else self.model_name,
            ls_model_type="chat",
        )
        if isinstance(temperature := kwargs.get("temperature", self.temperature), (int, float)):
            ls_params["ls_temperature"] = temperature
        if isinstance(max_tokens := kwargs.get("max_tokens", self.max_tokens), int):
            ls_params["ls_max_tokens"] = max_tokens
        if ls_stop := stop or self.stop:
            ls_params["ls_stop"] = ls_stop
        return ls_params

    def _resolve_model_profile(self) -> ModelProfile | None:
        """Capabilities from the core's catalog (used by agents and middleware)."""
        info = lookup(self.model_name)
        if not info.is_chat:
            return None
        profile = ModelProfile(
            max_input_tokens=info.context_window,
            text_inputs=True,
            image_inputs=info.accepts_images,
            image_url_inputs=info.accepts_images,
            reasoning_output=info.thinking != "none",
            tool_calling=info.tool_calling,
            # Thinking mode rejects a forced tool_choice (reference: modelscope-api.md §3.3).
            tool_choice=info.tool_calling and info.thinking != "always",
            text_outputs=True,
        )
        if info.max_output is not None:
            profile["max_output_tokens"] = info.max_output
        return profile

    def get_token_ids(self, text: str) -> list[int]:
        """An offline *estimate* (no tiktoken, no tokenizer download): see
        :mod:`modelscope_inference.tokens`. Exact counts are in ``usage_metadata``."""
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        return estimate_token_ids(text)

    # -- calls --------------------------------------------------------------------------------

    def _chat_request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]
    ) -> ChatRequest:
        """The core request for one call: fields, then per-call ``kwargs`` (bound or passed)."""
        options = dict(kwargs)
        options.pop("stream", None)  # the core decides when to stream
        request_options = {
            "model": options.pop("model", None) or self.model_name,
            "tools": options.pop("tools", None),
            "tool_choice": options.pop("tool_choice", None),
            "parallel_tool_calls": options.pop("parallel_tool_calls", None),
            "enable_thinking": options.pop("enable_thinking", self.enable_thinking),
            "thinking_budget": options.pop("thinking_budget", self.thinking_budget),
            "stream_usage": options.pop("stream_usage", self.stream_usage),
            "fallback_models": options.pop("fallback_models", self.fallback_models),
            "pass_back_reasoning": options.pop("pass_back_reasoning", self.pass_back_reasoning),
        }
        schema = options.pop("response_schema", None)
        if isinstance(options.get("response_format"), type):
            # A pydantic class as response_format: JSON mode with its schema in the prompt.
            schema = _schema_for_prompt(options["response_format"])
            options["response_format"] = dict(JSON_OBJECT)
        if options:
            warn_unknown_params(options, stacklevel=6)
        wire_messages = [_message_to_dict(message) for message in messages]
        if schema is not None:
            wire_messages = with_schema_instruction(wire_messages, schema)
        params = {
            **self._default_params,
            "stop": stop or self.stop or None,
            **self.model_kwargs,
            **(self.extra_body or {}),
            **(options.pop("extra_body", None) or {}),
            **options,
        }
        return ChatRequest(
            messages=wire_messages,
            params=params,
            **request_options,
        )

    def _should_stream(
        self,
        *,
        async_api: bool,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> bool:
        """``stream()`` asks with ``stream=True``; an ``invoke`` that should stream
        (``streaming=True``, a streaming callback) streams in ``_generate`` instead, because
        langchain-core would merge the chunks itself and read truncated tool arguments as
        valid (see :class:`_LastChunk`); ``_generate`` settles them."""
        if not kwargs.get("stream"):
            return False
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    def _streams_inside(
        self,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        kwargs: Mapping[str, Any],
        *,
        async_api: bool,
    ) -> bool:
        """Whether an ``invoke`` streams internally: langchain-core's own rule, asked only when
        one of its reasons to stream is there (``stream=True``, ``streaming=True``, a callback
        handler); without any, the answer is no, and asking costs ~6 µs a call under load
        (bench: concurrency)."""
        handlers = run_manager.handlers if run_manager is not None else None
        if not (kwargs.get("stream") or self.streaming is True or handlers):
            return False
        return BaseChatModel._should_stream(
            self, async_api=async_api, run_manager=run_manager, **kwargs
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._streams_inside(run_manager, kwargs, async_api=False):
            return _result_from_chunks(list(self._stream(messages, stop, run_manager, **kwargs)))
        result = self._core.chat.complete(self._chat_request(messages, stop, kwargs))
        return _chat_result(result)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._streams_inside(run_manager, kwargs, async_api=True):
            stream = self._astream(messages, stop, run_manager, **kwargs)
            return _result_from_chunks([chunk async for chunk in stream])
        result = await self._core.chat.acomplete(self._chat_request(messages, stop, kwargs))
        return _chat_result(result)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """langchain-core's ``stream``, holding a bounded number of chunks (see ``_compaction``)."""
        return compacting(super().stream(input, config, stop=stop, **kwargs))

    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """langchain-core's ``astream``, holding a bounded number of chunks."""
        return acompacting(super().astream(input, config, stop=stop, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._chat_request(messages, stop, kwargs)
        for delta in self._core.chat.stream(request):
            chunk = _chunk_from_delta(delta)
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._chat_request(messages, stop, kwargs)
        async for delta in self._core.chat.astream(request):
            chunk = _chunk_from_delta(delta)
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    # -- tools and structured output ----------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, pydantic models, functions or OpenAI dicts).

        ``tool_choice``: ``"auto"``, ``"none"``, ``"any"``/``"required"``, a tool name, or
        ``True`` (the single tool; ``"required"`` when there are several). Thinking mode
        rejects a forced choice, so the core then sends ``"auto"`` and logs one warning
        saying so (logger ``modelscope_inference``). ``strict`` and ``parallel_tool_calls``
        are sent only when given.

        Example:
            >>> llm.bind_tools([add, multiply], tool_choice="any").invoke("3 + 4?").tool_calls
        """
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        names = [t["function"]["name"] for t in formatted if isinstance(t.get("function"), dict)]
        choice = _tool_choice(tool_choice, names)
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: StructuredOutputMethod | None = None,
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """A runnable that answers with ``schema`` (pydantic class, TypedDict or JSON schema).

        ``method`` defaults, per model, to what works on ModelScope:
        ``"function_calling"`` (a forced tool call) for models that call tools and do not
        think (hybrid Qwen3 models included: thinking is turned off for the call), and
        ``"json_mode"`` for models that think (thinking mode refuses a forced ``tool_choice``,
        reference: modelscope-api.md §3.3) or cannot call tools. ``"json_mode"`` sends
        ``response_format={"type": "json_object"}`` and writes the schema into the system
        prompt. ``"json_schema"`` runs as ``"json_mode"``: the service answers a
        ``json_schema`` request with no choices at all (§8.3), and every call is counted.

        Example:
            >>> llm.with_structured_output(Joke).invoke("Tell me a joke about cats")
            Joke(setup='...', punchline='...')
        """
        method = self._structured_output_method(method)
        if schema is None and method != "json_mode":
            raise ValueError(f"with_structured_output(method={method!r}) needs a schema.")
        ls_format = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        llm: Runnable[Any, Any]
        if method == "function_calling":
            assert schema is not None
            tool_name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools(
                [schema],
                tool_choice=tool_name,
                strict=strict,
                ls_structured_output_format=ls_format,
                **kwargs,
            )
        else:
            if schema is not None:
                kwargs["response_schema"] = _schema_for_prompt(schema)
            llm = self.bind(
                response_format=dict(JSON_OBJECT), ls_structured_output_format=ls_format, **kwargs
            )
        parser = _structured_parser(schema, method)
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks(
            [unparsed], exception_key="parsing_error"
        )

    def _structured_output_method(
        self, method: StructuredOutputMethod | None
    ) -> Literal["function_calling", "json_mode"]:
        """The method that will run: the model's default (see :func:`default_method`) when
        none is given, and JSON mode for ``json_schema`` (reference: modelscope-api.md §8.3)."""
        if method is None:
            return default_method(lookup(self.model_name), self.enable_thinking)
        if method == "json_schema":
            return "json_mode"
        if method in ("function_calling", "json_mode"):
            return method
        raise ValueError(
            f"Unknown method {method!r}; use 'function_calling', 'json_mode' or 'json_schema'."
        )


# langchain-core inspects ``_generate``/``_agenerate`` on every call to see whether they take
# ``run_manager``; a signature computed once saves ~10 µs a call (bench: concurrency).
_inspected: tuple[Any, ...] = (ChatModelScope._generate, ChatModelScope._agenerate)
for _method in _inspected:
    _method.__signature__ = inspect.signature(_method)


def _field_names(cls: type[BaseModel]) -> set[str]:
    """Every name a field is accepted under: its name, alias and validation aliases."""
    names: set[str] = set()
    for name, info in cls.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        if isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
        elif isinstance(info.validation_alias, AliasChoices):
            names.update(c for c in info.validation_alias.choices if isinstance(c, str))
    return names


# --- LangChain -> wire ------------------------------------------------------------------------


def _message_to_dict(message: BaseMessage) -> dict[str, Any]:
    """One LangChain message as an OpenAI wire dict. The core then flattens text-only content
    lists and drops ``reasoning_content`` unless ``pass_back_reasoning`` is on."""
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": _content(message.content),
        }
    is_ai = isinstance(message, AIMessage)
    wire: dict[str, Any] = {"role": _role(message), "content": _content(message.content, is_ai)}
    if message.name:
        wire["name"] = message.name
    if isinstance(message, AIMessage):
        calls = [_tool_call_to_wire(call) for call in message.tool_calls]
        calls += [_invalid_tool_call_to_wire(call) for call in message.invalid_tool_calls]
        if calls:
            wire["tool_calls"] = calls
        reasoning = message.additional_kwargs.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            wire["reasoning_content"] = reasoning
    return wire


def _role(message: BaseMessage) -> str:
    if isinstance(message, ChatMessage):
        return message.role
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, FunctionMessage):
        return "function"
    raise TypeError(f"ChatModelScope cannot send a {type(message).__name__}.")


def _content(content: str | list[str | dict[Any, Any]], assistant: bool = False) -> Any:
    """Text stays text; images become OpenAI ``image_url`` parts. For assistant turns only text
    is kept: tool calls travel in ``tool_calls``, reasoning in ``reasoning_content``."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
        elif not isinstance(block, dict):
            continue
        elif block.get("type") == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif not assistant:
            parts.append(_content_part(block))
    return parts


def _content_part(block: dict[str, Any]) -> dict[str, Any]:
    """A non-text block on the wire. Images of every LangChain form (``image`` with ``url`` or
    ``base64``, the older ``source_type`` form, ``image_url`` with a string) become
    ``{"type": "image_url", "image_url": {"url": ...}}``: ModelScope rejects ``type: "image"``
    and accepts text, ``image_url``, ``video_url`` and ``video`` parts (reference:
    modelscope-api.md §8.3). Video parts and unknown blocks pass through."""
    kind = block.get("type")
    if kind == "image_url":
        image = block.get("image_url")
        return image_part(image) if isinstance(image, str) else block
    if kind != "image":
        return block
    if block.get("url") or block.get("source_type") == "url":
        return image_part(str(block["url"]), (block.get("extras") or {}).get("detail"))
    data = block.get("base64") or (
        block.get("data") if block.get("source_type") == "base64" else None
    )
    if isinstance(data, str):
        return image_part(data_url(data, block.get("mime_type")))
    if is_data_content_block(block) and block.get("source_type") != "id" and "file_id" not in block:
        return convert_to_openai_data_block(block)
    raise ValueError(
        "ModelScope takes images as an http(s) URL or base64 data; an image given by file id "
        f"cannot be sent ({sorted(block)}). Pass {{'type': 'image', 'url': ...}} or "
        "{'type': 'image', 'base64': ..., 'mime_type': ...}."
    )


def _tool_call_to_wire(call: ToolCall) -> dict[str, Any]:
    arguments = json.dumps(call["args"], ensure_ascii=False)
    return tool_call_to_openai(call.get("id") or "", call["name"], arguments)


def _invalid_tool_call_to_wire(call: InvalidToolCall) -> dict[str, Any]:
    """Broken arguments go back exactly as the model wrote them."""
    return tool_call_to_openai(call.get("id") or "", call.get("name") or "", call.get("args") or "")


def _tool_choice(
    choice: str | bool | dict[str, Any] | None, names: list[str]
) -> str | dict[str, Any] | None:
    """LangChain's ``tool_choice`` forms; the core turns "any" and names into wire forms."""
    if choice is None or choice is False:
        return None
    if choice is True:
        return names[0] if len(names) == 1 else "required"
    check_tool_choice(choice, names)
    return choice


def _schema_for_prompt(schema: dict[str, Any] | type) -> dict[str, Any]:
    """The JSON schema to write into the prompt for JSON mode: a JSON schema dict as given
    (or the ``schema`` of a named ``{"name", "schema"}`` dict), else LangChain's conversion of
    a pydantic class, TypedDict or function, titled with its name."""
    if isinstance(schema, dict) and schema.get("type") == "json_schema":
        schema = schema.get("json_schema") or {}
    if isinstance(schema, dict) and "name" in schema and isinstance(schema.get("schema"), dict):
        return dict(schema["schema"])
    if isinstance(schema, dict) and "properties" in schema:
        return schema
    function = convert_to_openai_function(schema)
    converted: dict[str, Any] = {"title": function["name"]}
    if function.get("description"):
        converted["description"] = function["description"]
    return {**converted, **function["parameters"]}


def _structured_parser(schema: dict[str, Any] | type | None, method: str) -> Runnable[Any, Any]:
    """The parser for a structured answer: tool-call arguments or the JSON text, into the
    pydantic class when ``schema`` is one, else into a dict."""
    is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    if method == "function_calling":
        assert schema is not None
        tool_name = convert_to_openai_tool(schema)["function"]["name"]
        if is_pydantic:
            return _StrictPydanticToolsParser(
                tools=[schema],  # type: ignore[list-item]
                first_tool_only=True,
                tool_name=tool_name,
            )
        return _StrictJsonKeyToolsParser(key_name=tool_name, first_tool_only=True)
    if is_pydantic:
        return PydanticOutputParser(pydantic_object=schema)  # type: ignore[arg-type]
    return JsonOutputParser()


def check_structured_answer(result: list[Generation], tool_name: str, *, partial: bool) -> None:
    """Raise ``OutputParserException`` when a finished answer holds no valid call of
    ``tool_name``: LangChain's tools parsers read only ``tool_calls``, so broken arguments (in
    ``invalid_tool_calls``) would come out as ``None`` and ``include_raw=True`` would report
    no ``parsing_error``. A stream is judged at its last chunk, when its calls are settled.

    Example:
        >>> check_structured_answer([ChatGeneration(message=AIMessage("no call"))], "Joke",
        ...                         partial=False)
        Traceback (most recent call last):
        OutputParserException: The model answered without calling 'Joke' ...
    """
    message = getattr(result[0], "message", None) if result else None
    if not isinstance(message, AIMessage):
        return
    if partial and getattr(message, "chunk_position", None) != "last":
        return
    if any(call["name"] == tool_name for call in message.tool_calls):
        return
    for broken in message.invalid_tool_calls:
        if broken.get("name") == tool_name:
            raise OutputParserException(
                f"The model called {tool_name!r} with arguments that are not a JSON object "
                f"({broken.get('error')}): {broken.get('args')!r}. Retry the call, or raise "
                "max_tokens if the answer was cut short.",
                llm_output=broken.get("args") or "",
            )
    raise OutputParserException(
        f"The model answered without calling {tool_name!r}, so there is no structured "
        f"output: {message.text[:200]!r}. Retry, or use method='json_mode'.",
        llm_output=message.text,
    )


class _StrictPydanticToolsParser(PydanticToolsParser):
    """``PydanticToolsParser`` that raises for a broken answer instead of returning None."""

    tool_name: str

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        check_structured_answer(result, self.tool_name, partial=partial)
        return super().parse_result(result, partial=partial)


class _StrictJsonKeyToolsParser(JsonOutputKeyToolsParser):
    """``JsonOutputKeyToolsParser`` that raises for a broken answer instead of returning None."""

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        check_structured_answer(result, self.key_name, partial=partial)
        return super().parse_result(result, partial=partial)


# --- wire -> LangChain ------------------------------------------------------------------------


class _LastChunk(AIMessageChunk):
    """A stream's closing chunk (``chunk_position="last"``), which settles its tool calls.

    langchain-core parses summed ``tool_call_chunks`` with ``parse_partial_json`` even once
    the stream has ended, so truncated arguments (``'{"city": "Hang'``) would look like a
    valid ``{"city": "Hang"}`` (langchain-ai/langchain#39275). Python lets this subclass's
    ``__radd__`` run for ``full + last``, so the sum's calls are judged as a non-streamed
    answer's are, invalid ones in ``invalid_tool_calls``. It serializes as ``AIMessageChunk``.
    """

    @classmethod
    def lc_id(cls) -> list[str]:
        return AIMessageChunk.lc_id()

    def __radd__(self, other: object) -> AIMessageChunk:
        if not isinstance(other, AIMessageChunk):
            return NotImplemented
        return settle_tool_calls(add_ai_message_chunks(other, self))


def settle_tool_calls(message: AIMessageChunk) -> AIMessageChunk:
    """``message`` (the sum of a finished stream) with each merged tool call parsed strictly,
    by the core's rule for complete calls (:func:`~modelscope_inference.tools.parse_call`).

    Example:
        >>> settle_tool_calls(AIMessageChunk("", tool_call_chunks=[tool_call_chunk(
        ...     name="f", args='{"a": ', id="c1", index=0)])).invalid_tool_calls[0]["args"]
        '{"a": '
    """
    if not message.tool_call_chunks:
        return message
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for chunk in message.tool_call_chunks:
        name, raw, call_id = chunk.get("name"), chunk.get("args") or "", chunk.get("id")
        args, error = parse_call(name, raw)
        if args is None:
            invalid.append(invalid_tool_call(name=name, args=raw, id=call_id, error=error))
        else:
            valid.append(tool_call(name=name or "", args=args, id=call_id))
    message.tool_calls, message.invalid_tool_calls = valid, invalid
    return message


def _result_from_chunks(chunks: list[ChatGenerationChunk]) -> ChatResult:
    """A ``streaming=True`` call's result: the chunks merged, tool calls settled (as
    :class:`_LastChunk` does for ``stream()``), as one ``AIMessage``."""
    generation = merge_chat_generation_chunks(chunks)
    if generation is None:
        raise ValueError("No generations found in stream.")
    message = settle_tool_calls(cast("AIMessageChunk", generation.message))
    return ChatResult(
        generations=[
            ChatGeneration(
                message=message_chunk_to_message(message),
                generation_info=generation.generation_info,
            )
        ]
    )


def _chat_result(result: CoreChatResult) -> ChatResult:
    generations = [
        ChatGeneration(
            message=_message_from_choice(choice, result, first=position == 0),
            generation_info={"finish_reason": choice.finish_reason},
        )
        for position, choice in enumerate(result.choices)
    ]
    llm_output = {"model_name": result.model, "id": result.id, "request_id": result.request_id}
    return ChatResult(generations=generations, llm_output=llm_output)


def _message_from_choice(choice: ChatChoice, result: CoreChatResult, *, first: bool) -> AIMessage:
    # Only what is there: an empty field left to its default is not validated again.
    fields: dict[str, Any] = {}
    if choice.reasoning:
        fields["additional_kwargs"] = {"reasoning_content": choice.reasoning}
    if choice.tool_calls:
        fields["tool_calls"] = [_tool_call(call) for call in choice.tool_calls if call.valid]
        fields["invalid_tool_calls"] = [
            _invalid_tool_call(call) for call in choice.tool_calls if not call.valid
        ]
    # Usage covers every choice: report it once so callbacks do not count it n times.
    if first and result.usage is not None:
        fields["usage_metadata"] = _usage_metadata(result.usage)
    return AIMessage(
        content=choice.content,
        response_metadata=_response_metadata(
            model=result.model,
            finish_reason=choice.finish_reason,
            id=result.id,
            request_id=result.request_id,
            quota=result.quota,
        ),
        id=result.id,
        **fields,
    )


def _tool_call(call: ParsedToolCall) -> ToolCall:
    return tool_call(name=call.name, args=call.args or {}, id=call.id)


def _invalid_tool_call(call: ParsedToolCall) -> InvalidToolCall:
    return invalid_tool_call(name=call.name, args=call.raw_arguments, id=call.id, error=call.error)


def _chunk_from_delta(delta: ChatDelta) -> ChatGenerationChunk:
    """One core delta as a LangChain chunk; the closing delta carries usage and metadata."""
    if delta.done:
        last = _LastChunk(
            content="",
            usage_metadata=_usage_metadata(delta.usage),
            response_metadata=_response_metadata(
                model=delta.model,
                finish_reason=delta.finish_reason,
                id=delta.id,
                request_id=delta.request_id,
                quota=delta.quota,
            ),
            id=delta.id,
            chunk_position="last",
        )
        return ChatGenerationChunk(
            message=last, generation_info={"finish_reason": delta.finish_reason}
        )
    message = AIMessageChunk(
        content=delta.content,
        additional_kwargs={"reasoning_content": delta.reasoning} if delta.reasoning else {},
        tool_call_chunks=[
            tool_call_chunk(name=c.name, args=c.arguments, id=c.id, index=c.index)
            for c in delta.tool_call_chunks
        ],
        response_metadata={"model_provider": PROVIDER},
    )
    return ChatGenerationChunk(message=message)


def _usage_metadata(usage: Usage | None) -> UsageMetadata | None:
    """The service's counts; None (not zeros) when it reported none (user-needs.md §B.13)."""
    if usage is None:
        return None
    # cast: mypy targets 3.10, where langchain-core's typing.NotRequired keys look required.
    metadata = cast(
        "UsageMetadata",
        {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        },
    )
    if usage.reasoning_tokens is not None:
        metadata["output_token_details"] = {"reasoning": usage.reasoning_tokens}
    if usage.cached_tokens is not None:
        metadata["input_token_details"] = {"cache_read": usage.cached_tokens}
    return metadata


def _response_metadata(
    *,
    model: str | None,
    finish_reason: str | None,
    id: str | None,
    request_id: str | None,
    quota: QuotaStatus | None,
) -> dict[str, Any]:
    """``model_name`` is the model that answered: a fallback, perhaps."""
    metadata = {
        "model_name": model,
        "model_provider": PROVIDER,
        "finish_reason": finish_reason,
        "id": id,
        "request_id": request_id,
        "quota": quota.to_dict() if quota is not None else None,
    }
    return {key: value for key, value in metadata.items() if value is not None}
