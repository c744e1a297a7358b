"""Model families (modelscope-api.md §4.1, §4.7, §4.8): ids of a known family get its
capabilities; unknown ids get safe defaults and say so."""

from __future__ import annotations

import pytest

from modelscope_inference import catalog
from modelscope_inference.catalog import UNKNOWN_CONTEXT_WINDOW, looks_like_model_id, lookup


@pytest.mark.parametrize(
    ("model_id", "thinking"),
    [
        ("Qwen/Qwen3-32B", "hybrid"),
        ("Qwen/Qwen3-8B", "hybrid"),
        ("Qwen/Qwen3-235B-A22B", "hybrid"),
        ("Qwen/Qwen3-235B-A22B-Thinking-2507", "always"),
        ("Qwen/Qwen3-30B-A3B-Thinking-2507", "always"),
        ("Qwen/Qwen3-Next-80B-A3B-Thinking", "always"),
        ("Qwen/Qwen3-235B-A22B-Instruct-2507", "none"),
        ("Qwen/Qwen3-Coder-480B-A35B-Instruct", "none"),
        ("deepseek-ai/DeepSeek-R1", "always"),
        ("deepseek-ai/DeepSeek-R1-0528", "always"),
        ("deepseek-ai/DeepSeek-V3.1", "none"),
        ("Qwen/QwQ-32B", "always"),
        ("Qwen/QVQ-72B-Preview", "always"),
        ("Qwen/Qwen2.5-Coder-32B-Instruct", "none"),
    ],
)
def test_thinking_mode_by_family(model_id: str, thinking: str) -> None:
    info = lookup(model_id)

    assert info.thinking == thinking
    assert info.known


def test_qwen3_32b_is_a_hybrid_chat_model_with_tools() -> None:
    info = lookup("Qwen/Qwen3-32B")

    assert (info.family, info.kind, info.tool_calling) == ("qwen3", "chat", True)
    assert info.context_window == 131_072
    assert info.is_chat and not info.accepts_images


@pytest.mark.parametrize(
    "model_id",
    [
        "Qwen/Qwen2.5-VL-72B-Instruct",
        "Qwen/Qwen3-VL-8B-Instruct",
        "Qwen/Qwen3-VL-235B-A22B-Instruct",
        "Qwen/QVQ-72B-Preview",
        "Qwen/Qwen3.5-397B-A17B",
    ],
)
def test_vision_models_accept_images(model_id: str) -> None:
    info = lookup(model_id)

    assert info.kind == "vision"
    assert info.accepts_images
    assert info.is_chat


@pytest.mark.parametrize(
    ("model_id", "dim"),
    [
        ("Qwen/Qwen3-Embedding-0.6B", 1024),
        ("Qwen/Qwen3-Embedding-4B", 2560),
        ("Qwen/Qwen3-Embedding-8B", 4096),
        ("BAAI/bge-large-zh-v1.5", 1024),
        ("AI-ModelScope/bge-large-zh-v1.5", 1024),
        ("BAAI/bge-base-en-v1.5", 768),
        ("BAAI/bge-small-zh-v1.5", 512),
    ],
)
def test_embedding_models_have_dimensions(model_id: str, dim: int) -> None:
    info = lookup(model_id)

    assert info.kind == "embedding"
    assert info.embedding_dim == dim
    assert not info.is_chat
    assert not info.tool_calling


@pytest.mark.parametrize(
    "model_id", ["acme/Brand-New-1", "Qwen3-32B", "", "openai/gpt-4o", "meta/llama-3"]
)
def test_unknown_ids_get_safe_defaults(model_id: str) -> None:
    info = lookup(model_id)

    assert info.known is False
    assert info.family == "unknown"
    assert info.thinking == "none"
    assert info.kind == "chat"
    assert info.context_window == UNKNOWN_CONTEXT_WINDOW
    assert info.id == model_id


def test_family_match_ignores_case() -> None:
    assert lookup("qwen/qwen3-32b").thinking == "hybrid"


def test_learned_thinking_overrides_the_family_until_forgotten() -> None:
    catalog.learn_thinking("acme/Brand-New-1", "always")

    assert lookup("acme/Brand-New-1").thinking == "always"
    assert lookup("acme/Brand-New-2").thinking == "none"

    catalog.forget_learned()
    assert lookup("acme/Brand-New-1").thinking == "none"


@pytest.mark.parametrize(
    ("model_id", "ok"),
    [
        ("Qwen/Qwen3-32B", True),
        ("deepseek-ai/DeepSeek-V3.1", True),
        ("Qwen3-32B", False),
        ("a/b/c", False),
        ("", False),
    ],
)
def test_model_ids_are_namespaced(model_id: str, ok: bool) -> None:
    assert looks_like_model_id(model_id) is ok
