"""The standard suites configured for ModelScope, shared by the simulator and the live runs.

Capability flags say what ``ChatModelScope`` supports on ModelScope: tool calling with
``tool_choice``, structured output, JSON mode, images (on vision models), and reasoning-token
usage (on thinking models). Left off, truthfully: PDF, audio and video inputs, images or PDFs
inside tool messages, Anthropic-style inputs (none is documented for API-Inference), and the
VCR benchmark (needs recorded cassettes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
)
from lc_helpers import EMBEDDING, HYBRID_SMALL, PLAIN, THINKING, VISION, tiny_png

from langchain_modelscope import ChatModelScope, ModelScopeEmbeddings


@pytest.fixture
def offline_image_download(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """test_image_inputs downloads a PNG from GitHub; serve a local one instead (no network)."""

    def fake_get(url: str, **_: Any) -> httpx.Response:
        return httpx.Response(200, content=tiny_png(), request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", fake_get)
    yield


class ChatSuite(ChatModelIntegrationTests):
    """``ChatModelIntegrationTests`` for ``ChatModelScope``; subclasses say where to connect."""

    plain_model = PLAIN
    vision_model = VISION
    thinking_model = THINKING
    override_model = HYBRID_SMALL
    offline_images = True

    def connection(self) -> dict[str, Any]:
        """``api_key`` / ``base_url`` for the service under test."""
        raise NotImplementedError

    @property
    def chat_model_class(self) -> type[ChatModelScope]:
        return ChatModelScope

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": self.plain_model, **self.connection()}

    @pytest.fixture
    def model(self, request: Any) -> BaseChatModel:
        """The suite's model, except that image tests use a vision model (ModelScope answers
        400 when a text-only model gets an image)."""
        extra = getattr(request, "param", None) or {}
        if request.node.name.startswith("test_image_inputs"):
            if self.offline_images:
                request.getfixturevalue("offline_image_download")
            extra = {**extra, "model": self.vision_model}
        return self.chat_model_class(
            **{**self.standard_chat_model_params, **self.chat_model_params, **extra}
        )

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return self.override_model

    @property
    def supported_usage_metadata_details(self) -> dict[Any, list[Any]]:
        return {"invoke": ["reasoning_output"], "stream": ["reasoning_output"]}

    def invoke_with_reasoning_output(self, *, stream: bool = False) -> AIMessage:
        """Reasoning tokens need a thinking model; the suite's model is a plain one."""
        llm = ChatModelScope(model=self.thinking_model, **self.connection())
        prompt = "Explain in one sentence why the sky is blue."
        if not stream:
            return llm.invoke(prompt)
        full: AIMessageChunk | None = None
        for chunk in llm.stream(prompt):
            full = chunk if full is None else full + chunk
        assert full is not None
        return AIMessage(
            content=full.content,
            additional_kwargs=full.additional_kwargs,
            usage_metadata=full.usage_metadata,
        )


class EmbeddingsSuite(EmbeddingsIntegrationTests):
    """``EmbeddingsIntegrationTests`` for ``ModelScopeEmbeddings``."""

    embedding_model = EMBEDDING

    def connection(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def embeddings_class(self) -> type[ModelScopeEmbeddings]:
        return ModelScopeEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": self.embedding_model, **self.connection()}
