"""``modelscope-inference demo``: a five-step tour of the library, printed step by step.

1. plain chat on the framework-free core (``ModelScopeClient``), which imports no framework,
   so the tour answers within a second while LangChain loads for the next steps;
2. streaming from a thinking model, the reasoning shown apart from the answer;
3. a LangChain agent with two tools;
4. a LlamaIndex RAG answer over a few bundled documents;
5. the quota left after those calls, and when it resets.

It uses the real service when a token is set (``MODELSCOPE_API_KEY``), otherwise the embedded
simulator, and says which. A step whose extra is not installed says how to install it. This is
the one module of the core that touches the adapters, and only inside the steps.

Example:
    >>> run_demo(DemoOptions(force_simulator=True))  # prints the tour
    0
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from modelscope_inference._lazy import caught
from modelscope_inference.redaction import redact
from modelscope_inference.settings import TOKEN_ENV_VARS, resolve_base_url

CHAT_MODEL = "Qwen/Qwen2.5-7B-Instruct"
THINKING_MODEL = "Qwen/Qwen3-235B-A22B-Thinking-2507"
EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"

CHAT_PROMPT = "In one sentence: what is ModelScope API-Inference?"
THINKING_PROMPT = "Is 221 a prime number? Answer in one short sentence."
AGENT_PROMPT = "What is (3 + 4) * 5? Use the tools."
RAG_QUESTION = "When does the daily quota reset?"

# The RAG step's corpus: short notes drawn from this project's reference notes.
DOCUMENTS: tuple[tuple[str, str], ...] = (
    (
        "Access tokens",
        "API-Inference authenticates with a ModelScope access token, created at "
        "https://modelscope.cn/my/myaccesstoken. The ModelScope account must be bound to an "
        "Alibaba Cloud account, with real-name verification, before the first call.",
    ),
    (
        "Daily quota",
        "The free tier allows a daily number of calls per account, with a lower limit per "
        "model. ModelScope usually resets daily counts at 00:00 UTC+8, and credits can come "
        "back within the day. When a quota runs out the service answers HTTP 429.",
    ),
    (
        "Model ids",
        "Model ids are namespaced repository ids such as Qwen/Qwen3-32B. Only models tagged "
        "API-Inference on modelscope.cn can be called, and the list changes often.",
    ),
    (
        "Thinking models",
        "Thinking-only models such as Qwen/Qwen3-235B-A22B-Thinking-2507 must be streamed. "
        "Hybrid Qwen3 models need enable_thinking set to false for non-streaming calls.",
    ),
)

# The package is not on the index yet: the hints give the install from a clone.
_LANGCHAIN_HINT = "pip install -e '.[langchain]' from a clone of modelscope-inference"
_LLAMA_INDEX_HINT = "pip install -e '.[llama-index]' from a clone of modelscope-inference"


@dataclass(frozen=True)
class DemoOptions:
    """What the tour uses; the defaults exist on the service and in the simulator."""

    force_simulator: bool = False
    chat_model: str = CHAT_MODEL
    thinking_model: str = THINKING_MODEL
    embedding_model: str = EMBEDDING_MODEL


@dataclass(frozen=True)
class Connection:
    """Where the tour sends its calls. ``None`` means "resolve from the environment"."""

    api_key: str | None
    base_url: str | None
    simulated: bool


class MissingExtra(ImportError):
    """A step cannot run because an optional dependency is not installed."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(f"needs {what}: {hint}")


Step = Callable[[Connection, DemoOptions, TextIO], None]


# --- output ---------------------------------------------------------------------------------


def _say(out: TextIO, label: str, text: str) -> None:
    lines = text.strip().splitlines() or [""]
    print(f"  {label:<10}{lines[0]}", file=out)
    for line in lines[1:]:
        print(f"  {'':<10}{line}", file=out)


class _StreamPrinter:
    """Writes streamed text under a label, indenting continuation lines; one label per phase."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.label: str | None = None

    def write(self, label: str, text: str) -> None:
        if not text:
            return
        if label != self.label:
            if self.label is not None:
                self.out.write("\n")
            self.out.write(f"  {label:<10}")
            self.label = label
            text = text.lstrip()
        self.out.write(text.replace("\n", "\n" + " " * 12))
        self.out.flush()

    def end(self) -> None:
        if self.label is not None:
            self.out.write("\n")


# --- steps ----------------------------------------------------------------------------------


def _chat_model(conn: Connection, model: str) -> Any:
    try:
        from pydantic import SecretStr

        from langchain_modelscope import ChatModelScope
    except ImportError as exc:
        raise MissingExtra("the LangChain extra", _LANGCHAIN_HINT) from exc
    api_key = SecretStr(conn.api_key) if conn.api_key else None
    return ChatModelScope(model=model, api_key=api_key, base_url=conn.base_url)


def step_plain_chat(conn: Connection, options: DemoOptions, out: TextIO) -> None:
    """One call on the core client. Importing LangChain and LlamaIndex is nine tenths of the
    tour's time (measured for issue 16), so the first answer comes from the core, which
    imports neither, and the framework steps follow."""
    from modelscope_inference.chat import ChatRequest
    from modelscope_inference.client import ModelScopeClient

    _say(out, "question", CHAT_PROMPT)
    client = ModelScopeClient.create(api_key=conn.api_key, base_url=conn.base_url)
    messages = [{"role": "user", "content": CHAT_PROMPT}]
    result = client.chat.complete(ChatRequest(model=options.chat_model, messages=messages))
    _say(out, "answer", result.content)


def step_thinking_stream(conn: Connection, options: DemoOptions, out: TextIO) -> None:
    """Stream a thinking model: reasoning arrives in its own field, before the answer."""
    _say(out, "question", THINKING_PROMPT)  # before the model: LangChain takes a moment to load
    llm = _chat_model(conn, options.thinking_model)
    printer = _StreamPrinter(out)
    for chunk in llm.stream(THINKING_PROMPT):
        printer.write("reasoning", str(chunk.additional_kwargs.get("reasoning_content") or ""))
        printer.write("answer", chunk.text)
    printer.end()


def _agent_tools() -> list[Any]:
    from langchain_core.tools import tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    return [add, multiply]


def _tool_loop(llm: Any, tools: Sequence[Any], question: str, max_turns: int = 6) -> list[Any]:
    """A minimal agent loop (bind_tools, run the calls, repeat) for when ``langchain`` is absent."""
    from langchain_core.messages import HumanMessage

    by_name = {t.name: t for t in tools}
    bound = llm.bind_tools(tools)
    messages: list[Any] = [HumanMessage(question)]
    for _ in range(max_turns):
        reply = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        messages.extend(by_name[call["name"]].invoke(call) for call in reply.tool_calls)
    return messages


def step_agent(conn: Connection, options: DemoOptions, out: TextIO) -> None:
    """A tool-calling agent: ``langchain.agents.create_agent`` when installed, else a loop."""
    _say(out, "question", AGENT_PROMPT)
    llm = _chat_model(conn, options.chat_model)
    tools = _agent_tools()
    try:
        from langchain.agents import create_agent
    except ImportError:
        _say(out, "agent", "a bind_tools loop (pip install langchain for create_agent)")
        messages = _tool_loop(llm, tools, AGENT_PROMPT)
    else:
        _say(out, "agent", "langchain.agents.create_agent with tools add and multiply")
        messages = create_agent(llm, tools).invoke({"messages": [("user", AGENT_PROMPT)]})[
            "messages"
        ]
    results = {getattr(m, "tool_call_id", None): m.content for m in messages if m.type == "tool"}
    for message in messages:
        for call in getattr(message, "tool_calls", None) or []:
            args = ", ".join(f"{k}={v!r}" for k, v in call["args"].items())
            _say(out, "tool call", f"{call['name']}({args}) -> {results.get(call['id'], '?')}")
    _say(out, "answer", str(messages[-1].content))


def step_rag(conn: Connection, options: DemoOptions, out: TextIO) -> None:
    """Index the bundled notes with ModelScope embeddings; answer with a ModelScope LLM."""
    try:
        from llama_index.core import Document, VectorStoreIndex

        from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM
    except ImportError as exc:
        raise MissingExtra("the LlamaIndex extra", _LLAMA_INDEX_HINT) from exc
    documents = [Document(text=text, metadata={"title": title}) for title, text in DOCUMENTS]
    embed_model = ModelScopeEmbedding(
        model_name=options.embedding_model, api_key=conn.api_key, api_base=conn.base_url
    )
    llm = ModelScopeLLM(model=options.chat_model, api_key=conn.api_key, api_base=conn.base_url)
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    _say(out, "indexed", f"{len(documents)} notes with {options.embedding_model}")
    _say(out, "question", RAG_QUESTION)
    response = index.as_query_engine(llm=llm, similarity_top_k=2).query(RAG_QUESTION)
    _say(out, "answer", str(response))
    titles = [str(n.node.metadata.get("title")) for n in response.source_nodes]
    _say(out, "sources", ", ".join(titles))


def step_quota(conn: Connection, options: DemoOptions, out: TextIO) -> None:
    """Read the quota the service reported on the calls above; this spends no call."""
    from modelscope_inference.client import ModelScopeClient
    from modelscope_inference.quota import reset_sentence, utc_now

    client = ModelScopeClient.create(api_key=conn.api_key, base_url=conn.base_url)
    account = client.quota_status()
    if account.account_remaining is not None:
        _say(out, "account", f"{account.account_remaining} of {account.account_limit} calls left")
    for model in dict.fromkeys(
        (options.chat_model, options.thinking_model, options.embedding_model)
    ):
        status = client.quota_status(model)
        if status.model_remaining is not None:
            _say(out, "model", f"{model}: {status.model_remaining} of {status.model_limit} left")
    _say(out, "reset", reset_sentence(account, utc_now()))


STEPS: tuple[tuple[str, Step], ...] = (
    ("Plain chat (ModelScopeClient, the framework-free core)", step_plain_chat),
    ("Streaming with reasoning (a thinking model)", step_thinking_stream),
    ("A LangChain agent with two tools", step_agent),
    ("LlamaIndex RAG over the bundled notes", step_rag),
    ("Quota after these calls", step_quota),
)


# --- the tour -------------------------------------------------------------------------------


def _token_in_environment() -> bool:
    return any(os.environ.get(name, "").strip() for name in TOKEN_ENV_VARS)


@contextmanager
def _connection(options: DemoOptions, out: TextIO) -> Iterator[Connection]:
    if _token_in_environment() and not options.force_simulator:
        url = resolve_base_url(None)
        print(f"Using the real ModelScope service at {url} (a token is set).", file=out)
        print("The tour spends about 8 calls of your daily quota.", file=out)
        yield Connection(api_key=None, base_url=None, simulated=False)
        return
    try:
        from modelscope_inference.simulator import Simulator
    except ImportError as exc:
        raise MissingExtra(
            "the simulator extra",
            "pip install -e '.[simulator]' from a clone of modelscope-inference",
        ) from exc
    with Simulator() as sim:
        reason = "--simulator given" if options.force_simulator else "no MODELSCOPE_API_KEY set"
        print(f"Using the embedded ModelScope simulator at {sim.base_url} ({reason}).", file=out)
        print(
            "It is a local stand-in for the service: no network, no quota spent, canned "
            "answers. Set MODELSCOPE_API_KEY to run the tour against the real service.",
            file=out,
        )
        yield Connection(api_key=sim.token, base_url=sim.base_url, simulated=True)


def _run_step(
    number: int, title: str, step: Step, conn: Connection, options: DemoOptions, out: TextIO
) -> bool:
    print(f"\n== [{number}/{len(STEPS)}] {title}", file=out)
    try:
        step(conn, options, out)
    except MissingExtra as exc:
        _say(out, "skipped", str(exc))
    except caught.ModelScopeError as exc:
        _say(out, "failed", redact(" ".join(str(exc).split())))
        return False
    return True


def run_demo(options: DemoOptions | None = None, out: TextIO | None = None) -> int:
    """Run the tour; returns the exit status (1 if a step failed, skipped steps are fine)."""
    options = options or DemoOptions()
    out = out or sys.stdout
    print("modelscope-inference demo", file=out)
    with _connection(options, out) as conn:
        results = [
            _run_step(n, title, step, conn, options, out)
            for n, (title, step) in enumerate(STEPS, start=1)
        ]
    where = "the simulator" if conn.simulated else "the real service"
    if all(results):
        print(f"\nDone: the tour ran against {where}.", file=out)
        print(
            "Next: `modelscope-inference models` lists the served models; "
            "`modelscope-inference check` validates your token; examples/ has runnable scripts.",
            file=out,
        )
        return 0
    print(f"\n{results.count(False)} step(s) failed against {where}; see above.", file=out)
    return 1
