"""Model families and what they can do, matched by pattern so new ids of a known family work.

The service's ``/v1/models`` lists ids only, with no capabilities (reference:
modelscope-api.md §1.5), and its catalogue churns (§4.8), so capabilities come from families.
Unknown ids get safe defaults, and the service's answers correct them at run time: a
thinking-mode 400 marks the id as a thinking model for the rest of the process.

Example:
    >>> info = lookup("Qwen/Qwen3-32B")
    >>> info.thinking, info.tool_calling, info.context_window
    ('hybrid', True, 131072)
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, replace
from typing import Literal

ThinkingMode = Literal["none", "hybrid", "always"]
# "image": text-to-image models served by the async /images/generations API (§1.6), not chat.
ModelKind = Literal["chat", "vision", "embedding", "image"]

UNKNOWN_CONTEXT_WINDOW = 32_768


@dataclass(frozen=True)
class ModelInfo:
    """What a model id can do. ``known`` is False when no family matched (defaults apply).

    Example:
        >>> lookup("deepseek-ai/DeepSeek-R1-0528").thinking
        'always'
    """

    id: str
    family: str
    kind: ModelKind = "chat"
    tool_calling: bool = True
    thinking: ThinkingMode = "none"
    context_window: int = UNKNOWN_CONTEXT_WINDOW
    max_output: int | None = None
    embedding_dim: int | None = None
    embedding_batch: int | None = None
    """For embedding models: texts per request by default (no official number: the library's
    choice, kept where it worked; override with ``batch_size``)."""
    json_schema: bool = False
    """Whether ``response_format: json_schema`` works: never, so far. The service answers it
    with 200 and ``choices: null`` (reference: modelscope-api.md §8.3); use ``json_object``."""
    known: bool = True
    image_sides: tuple[int, int] | None = None
    """For image models: the smallest and largest width or height in pixels a ``size`` may
    have (reference: modelscope-api.md §1.6, §8.3); None for other kinds."""
    image_edit: bool = False
    """For image models: True when the model edits a given picture (it needs ``image_url``)."""

    @property
    def is_chat(self) -> bool:
        """True for chat and vision models (anything served by /chat/completions)."""
        return self.kind in ("chat", "vision")

    @property
    def accepts_images(self) -> bool:
        """True for vision models."""
        return self.kind == "vision"


@dataclass(frozen=True)
class _Family:
    name: str
    pattern: re.Pattern[str]
    kind: ModelKind = "chat"
    tool_calling: bool = True
    thinking: ThinkingMode = "none"
    context_window: int = UNKNOWN_CONTEXT_WINDOW
    max_output: int | None = None
    embedding_dim: int | None = None
    embedding_batch: int | None = None
    image_sides: tuple[int, int] | None = None
    image_edit: bool = False


def _family(name: str, pattern: str, **caps: object) -> _Family:
    return _Family(name, re.compile(pattern, re.IGNORECASE), **caps)  # type: ignore[arg-type]


# Ordered: the first match wins, so specific patterns come before general ones.
# Context windows: LobeChat's model bank (reference: modelscope-api.md §4.8); 2507 Qwen3 models
# and Qwen3-Coder per their model cards.
FAMILIES: tuple[_Family, ...] = (
    _family(
        "qwen3-embedding",
        r"^Qwen/Qwen3-Embedding-0\.6B",
        kind="embedding",
        embedding_batch=32,
        tool_calling=False,
        embedding_dim=1024,
        context_window=32_768,
    ),
    _family(
        "qwen3-embedding",
        r"^Qwen/Qwen3-Embedding-4B",
        kind="embedding",
        embedding_batch=32,
        tool_calling=False,
        embedding_dim=2560,
        context_window=32_768,
    ),
    _family(
        "qwen3-embedding",
        r"^Qwen/Qwen3-Embedding-8B",
        kind="embedding",
        embedding_batch=32,
        tool_calling=False,
        embedding_dim=4096,
        context_window=32_768,
    ),
    _family(
        "bge",
        r"^(BAAI|AI-ModelScope)/bge-(large|m3)",
        kind="embedding",
        embedding_batch=32,
        tool_calling=False,
        embedding_dim=1024,
        context_window=512,
    ),
    _family(
        "bge",
        r"^(BAAI|AI-ModelScope)/bge-base",
        kind="embedding",
        embedding_batch=32,
        tool_calling=False,
        embedding_dim=768,
        context_window=512,
    ),
    _family(
        "bge",
        r"^(BAAI|AI-ModelScope)/bge-small",
        kind="embedding",
        embedding_batch=32,
        tool_calling=False,
        embedding_dim=512,
        context_window=512,
    ),
    _family(
        "qvq",
        r"^Qwen/QVQ",
        kind="vision",
        thinking="always",
        tool_calling=False,
        context_window=32_768,
    ),
    _family(
        "qwen3-vl-thinking",
        r"^Qwen/Qwen3-VL-.*Thinking",
        kind="vision",
        thinking="always",
        context_window=131_072,
    ),
    _family("qwen3-vl", r"^Qwen/Qwen3-VL-", kind="vision", context_window=131_072),
    _family("qwen2.5-vl", r"^Qwen/Qwen2\.5-VL-", kind="vision", context_window=32_768),
    _family(
        "qwen3.5", r"^Qwen/Qwen3\.5-", kind="vision", thinking="hybrid", context_window=262_144
    ),
    _family(
        "qwen3-thinking-2507", r"^Qwen/Qwen3-.*Thinking", thinking="always", context_window=262_144
    ),
    _family("qwen3-instruct-2507", r"^Qwen/Qwen3-.*Instruct", context_window=262_144),
    _family("qwen3-coder", r"^Qwen/Qwen3-Coder", context_window=262_144),
    _family("qwen3", r"^Qwen/Qwen3-\d", thinking="hybrid", context_window=131_072),
    _family("qwq", r"^Qwen/QwQ", thinking="always", context_window=131_072),
    _family("qwen2.5", r"^Qwen/Qwen2\.5-", context_window=32_768),
    _family("deepseek-r1", r"^deepseek-ai/DeepSeek-R1", thinking="always", context_window=131_072),
    _family("deepseek-v3", r"^deepseek-ai/DeepSeek-V\d", context_window=131_072),
    _family("glm", r"^ZhipuAI/GLM-", context_window=131_072),
    _family("kimi", r"^moonshotai/Kimi-", context_window=131_072),
    _family("minimax", r"^MiniMax/MiniMax-", context_window=196_608),
    _family("llama-4", r"^LLM-Research/Llama-4", kind="vision", context_window=131_072),
    # AIGC models (reference: modelscope-api.md §1.6 size ranges, §8.3): Qwen-Image up to
    # 1664², FLUX (majicflus is a FLUX fine-tune) up to 1024², Z-Image-Turbo 512-2048, SD up to
    # 2048². Edit models take image_url. Other AIGC ids get the widest documented range.
    _family(
        "qwen-image-edit",
        r"^Qwen/Qwen-Image-Edit",
        kind="image",
        tool_calling=False,
        image_sides=(64, 1664),
        image_edit=True,
    ),
    _family(
        "qwen-image", r"^Qwen/Qwen-Image", kind="image", tool_calling=False, image_sides=(64, 1664)
    ),
    _family(
        "z-image", r"^Tongyi-MAI/Z-Image", kind="image", tool_calling=False, image_sides=(512, 2048)
    ),
    _family(
        "flux",
        r"^(MAILAND/majicflus|black-forest-labs/FLUX|[\w.-]+/[\w.-]*FLUX)",
        kind="image",
        tool_calling=False,
        image_sides=(64, 1024),
    ),
    _family(
        "stable-diffusion",
        r"^[\w.-]+/[\w.-]*(stable-diffusion|sdxl|sd-?3|sd-?1\.5)",
        kind="image",
        tool_calling=False,
        image_sides=(64, 2048),
    ),
    _family(
        "aigc",
        r"^(Tongyi-MAI/|MAILAND/|black-forest-labs/)",
        kind="image",
        tool_calling=False,
        image_sides=(64, 2048),
    ),
)

_learned: dict[str, ThinkingMode] = {}
_learned_lock = threading.Lock()


_PROVIDER_SUFFIX = re.compile(r"^(?P<base>[^:]+):(?P<provider>[A-Za-z0-9][\w.-]*)$")


def split_provider(model_id: str) -> tuple[str, str | None]:
    """``(base id, provider)`` of an API-Provider routed id; provider None for a plain id.

    ModelScope routes ``Org/Model:Provider`` to that provider, billed by it and exempt from the
    free tier's limits (reference: modelscope-api.md §8.3).

    Example:
        >>> split_provider("Qwen/Qwen3-32B:DashScope")
        ('Qwen/Qwen3-32B', 'DashScope')
    """
    match = _PROVIDER_SUFFIX.match(model_id)
    return (match["base"], match["provider"]) if match else (model_id, None)


def is_provider_routed(model_id: str) -> bool:
    """True for ``Org/Model:Provider`` ids (reference: modelscope-api.md §8.3).

    Example:
        >>> is_provider_routed("Qwen/Qwen3-32B:DashScope"), is_provider_routed("Qwen/Qwen3-32B")
        (True, False)
    """
    return split_provider(model_id)[1] is not None


def lookup(model_id: str) -> ModelInfo:
    """Capabilities for ``model_id``: from its family, corrected by what the service taught us.

    A provider-routed id (``Qwen/Qwen3-32B:DashScope``, §8.3) has its base model's
    capabilities; ``id`` stays the full id. What the service taught us about the full id
    wins over what it taught us about the base.

    Example:
        >>> lookup("Qwen/Qwen3-235B-A22B-Thinking-2507").thinking
        'always'
    """
    info = _from_family(model_id)
    learned = _learned.get(model_id)
    if learned is None and ":" in model_id:
        learned = _learned.get(split_provider(model_id)[0])
    return replace(info, thinking=learned) if learned else info


@functools.lru_cache(maxsize=1024)  # a regex scan per call, on the hot path of every request
def _from_family(model_id: str) -> ModelInfo:
    base, _ = split_provider(model_id)  # reference: modelscope-api.md §8.3, by the base id
    for fam in FAMILIES:
        if fam.pattern.search(base):
            return ModelInfo(
                id=model_id,
                family=fam.name,
                kind=fam.kind,
                tool_calling=fam.tool_calling,
                thinking=fam.thinking,
                context_window=fam.context_window,
                max_output=fam.max_output,
                embedding_dim=fam.embedding_dim,
                embedding_batch=fam.embedding_batch,
                image_sides=fam.image_sides,
                image_edit=fam.image_edit,
            )
    return ModelInfo(id=model_id, family="unknown", known=False)


def is_image_model(model_id: str) -> bool:
    """True for AIGC ids served by the async image API (reference: modelscope-api.md §1.6),
    whose quota may be a budget of its own (§3.1: "AIGC models may have separate limits").

    Example:
        >>> is_image_model("Qwen/Qwen-Image"), is_image_model("Qwen/Qwen3-32B")
        (True, False)
    """
    return _from_family(model_id).kind == "image"


def learn_thinking(model_id: str, mode: ThinkingMode) -> None:
    """Record, for this process, that the service treats ``model_id`` as a thinking model."""
    with _learned_lock:
        _learned[model_id] = mode


def forget_learned() -> None:
    """Drop run-time corrections (tests)."""
    with _learned_lock:
        _learned.clear()


def looks_like_model_id(model_id: str) -> bool:
    """API-Inference ids are namespaced repo ids, ``Org/Model`` (reference: §4.8), with an
    optional ``:Provider`` suffix (§8.3)."""
    return bool(re.fullmatch(r"[\w.-]+/[\w.+-]+(?::[A-Za-z0-9][\w.-]*)?", model_id))
