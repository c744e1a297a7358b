"""Importing the library, and every successful call, leave ``openai`` unimported.

``import openai`` is about half of the library's import time, and only the error classes need it
(each subclasses its ``openai`` twin). So the errors module, and with it ``openai``, is imported
when the first error is raised or when ``Transport.openai_client()`` is used, never before.
A fresh interpreter checks this (this test process has long imported both); the simulator runs
in another process, so its imports do not count either.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import httpx
import pytest

import modelscope_inference
import modelscope_inference.errors
from modelscope_inference._lazy import IfImported

TOKEN = "ms-lazy-openai-test"

# The client side, run in a fresh interpreter: argv[1] and argv[2] are the simulator's base URL
# and token.
CLIENT = textwrap.dedent(
    """
    import asyncio
    import sys

    import httpx
    from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM

    BASE_URL, TOKEN = sys.argv[1], sys.argv[2]
    PLAIN = "Qwen/Qwen2.5-7B-Instruct"
    THINKING = "Qwen/Qwen3-235B-A22B-Thinking-2507"
    EMBEDDING = "Qwen/Qwen3-Embedding-0.6B"
    ADD = {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    }


    def unimported(when):
        for name in ("openai", "modelscope_inference.errors"):
            assert name not in sys.modules, f"{name} imported {when}"


    class Stall(httpx.AsyncBaseTransport):
        \"\"\"Never answers, so a call can be cancelled while it waits inside the library.\"\"\"

        def __init__(self):
            self.arrived = asyncio.Event()

        async def handle_async_request(self, request):
            self.arrived.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")


    async def cancel_while_waiting(call):
        stall = Stall()
        llm = ChatModelScope(
            model=PLAIN, api_key=TOKEN, base_url=BASE_URL,
            http_async_client=httpx.AsyncClient(transport=stall),
        )
        task = asyncio.create_task(call(llm))
        await stall.arrived.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return
        raise AssertionError("the call was not cancelled")


    async def drain(stream):
        return [chunk async for chunk in stream]


    async def langchain_async(chat):
        assert (await chat.ainvoke("hi")).content
        assert len(await drain(chat.astream("hi"))) > 1
        async for _ in chat.astream("hi"):
            break
        await cancel_while_waiting(lambda llm: llm.ainvoke("hi"))
        await cancel_while_waiting(lambda llm: drain(llm.astream("hi")))


    async def llama_async(llm, messages):
        assert (await llm.achat(messages)).message.content
        assert [r async for r in await llm.astream_chat(messages)]


    unimported("by the imports")

    chat = ChatModelScope(model=PLAIN, api_key=TOKEN, base_url=BASE_URL)
    assert chat.invoke("hi").content
    assert len(list(chat.stream("hi"))) > 1
    for _ in chat.stream("hi"):
        break
    asyncio.run(langchain_async(chat))
    thinking = ChatModelScope(model=THINKING, api_key=TOKEN, base_url=BASE_URL)
    assert thinking.invoke("hi").content  # streamed inside, aggregated
    called = chat.bind_tools([ADD]).invoke("What is 3 + 4?")
    assert called.tool_calls and called.tool_calls[0]["name"] == "add"
    vectors = ModelScopeEmbeddings(model=EMBEDDING, api_key=TOKEN, base_url=BASE_URL)
    assert len(vectors.embed_documents(["a", "b"])) == 2

    llm = ModelScopeLLM(model=PLAIN, api_key=TOKEN, api_base=BASE_URL)
    messages = [ChatMessage(role="user", content="hi")]
    assert llm.chat(messages).message.content
    assert list(llm.stream_chat(messages))
    asyncio.run(llama_async(llm, messages))
    embed = ModelScopeEmbedding(model_name=EMBEDDING, api_key=TOKEN, api_base=BASE_URL)
    assert len(embed.get_text_embedding_batch(["a", "b"])) == 2

    unimported("by successful calls")

    wrong = ChatModelScope(model=PLAIN, api_key="ms-wrong-token", base_url=BASE_URL)
    try:
        wrong.invoke("hi")
    except Exception as exc:
        assert "openai" in sys.modules, "the error was raised without importing openai"
        import openai
        from modelscope_inference import AuthenticationError

        assert isinstance(exc, AuthenticationError), repr(exc)
        assert isinstance(exc, openai.AuthenticationError), repr(exc)
    else:
        raise AssertionError("a wrong token was accepted")
    print("ok")
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MODELSCOPE_", "OPENAI_"))}


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """``modelscope-inference simulate`` in its own process; yields its base URL."""
    port = _free_port()
    command = [sys.executable, "-m", "modelscope_inference", "simulate", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_environ(),
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/models", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environ(),
    )


def test_successful_calls_never_import_openai_and_the_first_error_does(simulator_url: str) -> None:
    done = _run(CLIENT, simulator_url, TOKEN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_importing_the_core_imports_neither_openai_nor_the_errors() -> None:
    done = _run(
        "import sys, modelscope_inference, modelscope_inference.cli;"
        "print(sorted({'openai', 'modelscope_inference.errors'} & set(sys.modules)))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_openai_client_imports_openai() -> None:
    done = _run(
        "import sys; from modelscope_inference import ModelScopeClient;"
        "client = ModelScopeClient.create(api_key='ms-x');"
        "assert 'openai' not in sys.modules;"
        "import openai; assert isinstance(client.transport.openai_client(), openai.OpenAI);"
        "print('ok')"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_error_names_of_the_package_are_the_errors_module_classes() -> None:
    from modelscope_inference import ToolArgumentsError
    from modelscope_inference.errors import QuotaExhaustedError

    assert modelscope_inference.QuotaExhaustedError is QuotaExhaustedError
    assert ToolArgumentsError is modelscope_inference.errors.ToolArgumentsError


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    listed = dir(modelscope_inference)
    for name in modelscope_inference.__all__:
        assert getattr(modelscope_inference, name) is not None
        assert name in listed


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchError"):
        _ = modelscope_inference.NoSuchError  # type: ignore[attr-defined]


def test_a_class_whose_module_is_not_imported_matches_nothing() -> None:
    absent = IfImported("no_module_of_this_name")
    assert not isinstance(ValueError(), absent.SomeError)
    with pytest.raises(ValueError):
        try:
            raise ValueError("passes through")
        except (absent.SomeError, absent.OtherError):
            pytest.fail("matched an exception of another class")


def test_a_class_whose_module_is_imported_is_that_class() -> None:
    caught = IfImported("modelscope_inference.errors")
    assert caught.RateLimitError is modelscope_inference.errors.RateLimitError
