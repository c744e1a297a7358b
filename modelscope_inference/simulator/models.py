"""The catalog of simulated models: which ids exist and what each kind accepts.

The simulator serves a fixed set of ModelScope ids, one or more per kind of model the real
API-Inference service exposes (reference: modelscope-api.md §1.5, §4.1, §4.7, §4.8):

>>> from modelscope_inference.simulator.models import DEFAULT_MODELS, ModelKind
>>> [m.id for m in DEFAULT_MODELS if m.kind is ModelKind.EMBEDDING][0]
'Qwen/Qwen3-Embedding-0.6B'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

__all__ = [
    "DEFAULT_MODELS",
    "EDIT_MODELS",
    "IMAGE_MODELS",
    "ModelKind",
    "ModelSpec",
    "build_catalog",
    "classify_model_id",
    "find_model",
]

_CREATED = 1_735_660_800  # 2025-01-01T00:00:00+08:00, a fixed "created" for /v1/models


class ModelKind(str, Enum):
    """What a simulated model does, which decides the rules the simulator applies to it.

    >>> ModelKind.HYBRID.value
    'hybrid'
    """

    CHAT = "chat"
    """Plain chat model with tool calling; never thinks."""
    HYBRID = "hybrid"
    """Qwen3 hybrid: thinks by default when streaming; non-stream needs enable_thinking=false."""
    THINKING = "thinking"
    """Thinking-only: always reasons and must be streamed."""
    VISION = "vision"
    """Chat model that also accepts image_url content parts."""
    EMBEDDING = "embedding"
    """Served on /v1/embeddings only."""
    IMAGE = "image"
    """AIGC: served on the async /v1/images/generations task API only (§1.6)."""


@dataclass(frozen=True)
class ModelSpec:
    """One simulated model id and its capabilities.

    >>> ModelSpec("Org/My-Embed", ModelKind.EMBEDDING, dimension=8).is_embedding
    True
    """

    id: str
    kind: ModelKind
    dimension: int = 0
    """Vector length for embedding models; 0 for chat models."""
    owned_by: str = ""
    created: int = _CREATED
    provider: str | None = None
    """The API provider of a `Org/Model:Provider` id (§8.3); None on the free tier."""
    quota_headers: bool = True
    """False: answers for this model carry no ``modelscope-ratelimit-*`` header at all, as for
    some 2026 models (reference: modelscope-api.md §8.1)."""

    def __post_init__(self) -> None:
        if self.kind is ModelKind.EMBEDDING and self.dimension <= 0:
            raise ValueError(f"embedding model {self.id!r} needs a positive dimension")
        if not self.owned_by:
            object.__setattr__(self, "owned_by", self.id.split("/", 1)[0])

    @property
    def is_embedding(self) -> bool:
        """True for models served on /v1/embeddings rather than chat."""
        return self.kind is ModelKind.EMBEDDING

    @property
    def is_image(self) -> bool:
        """True for AIGC models, served by the image task API rather than chat."""
        return self.kind is ModelKind.IMAGE

    @property
    def free_tier(self) -> bool:
        """False for provider-routed ids: billed by the provider, no free quota (§8.3)."""
        return self.provider is None

    @property
    def accepts_images(self) -> bool:
        """True when image_url content parts are allowed."""
        return self.kind is ModelKind.VISION

    def listing(self) -> dict[str, object]:
        """The OpenAI-style `/v1/models` entry (reference: modelscope-api.md §1.5)."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
        }


# "-Thinking" with or without a date (Qwen3-...-Thinking-2507, Qwen3-Next-80B-A3B-Thinking),
# "Thinker" anywhere, R1 and QwQ: the ways thinking-only ids are named (§4.1).
_THINKING_ONLY = re.compile(
    r"-Thinking(?:-\d+)?$|Thinker|^deepseek-ai/DeepSeek-R1|/QwQ-", re.IGNORECASE
)
_HYBRID = re.compile(r"^Qwen/Qwen3-\d+(?:\.\d+)?B(?:-A\d+B)?$")  # Qwen3-32B, Qwen3-235B-A22B
_VISION = re.compile(r"-VL-|/QVQ-", re.IGNORECASE)
_EMBEDDING = re.compile(r"Embedding|/bge-|/gte-", re.IGNORECASE)


def classify_model_id(model_id: str, dimension: int = 1024) -> ModelSpec:
    """Guess a model's kind from its id, the way ModelScope ids are named (§4.1, §4.7).

    >>> classify_model_id("Qwen/Qwen3-14B").kind
    <ModelKind.HYBRID: 'hybrid'>
    >>> classify_model_id("Acme/NewThinker-Thinking").kind
    <ModelKind.THINKING: 'thinking'>
    """
    if _EMBEDDING.search(model_id):
        return ModelSpec(model_id, ModelKind.EMBEDDING, dimension=dimension)
    if _VISION.search(model_id):
        return ModelSpec(model_id, ModelKind.VISION)
    if _THINKING_ONLY.search(model_id):
        return ModelSpec(model_id, ModelKind.THINKING)
    if _HYBRID.search(model_id):
        return ModelSpec(model_id, ModelKind.HYBRID)
    return ModelSpec(model_id, ModelKind.CHAT)


# reference: modelscope-api.md §1.6, §8.3: the AIGC ids and their size ranges (min, max side)
IMAGE_MODELS: dict[str, tuple[int, int]] = {
    "Qwen/Qwen-Image": (64, 1664),
    "Qwen/Qwen-Image-Edit": (64, 1664),
    "Qwen/Qwen-Image-Edit-2509": (64, 1664),
    "Tongyi-MAI/Z-Image-Turbo": (512, 2048),
    "MAILAND/majicflus_v1": (64, 1024),
    "black-forest-labs/FLUX.1-Krea-dev": (64, 1024),
    "AI-ModelScope/stable-diffusion-xl-base-1.0": (64, 2048),
}
EDIT_MODELS = frozenset({"Qwen/Qwen-Image-Edit", "Qwen/Qwen-Image-Edit-2509"})

DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    # plain chat with tools (reference: modelscope-api.md §4.3, §4.8)
    ModelSpec("Qwen/Qwen2.5-7B-Instruct", ModelKind.CHAT),
    ModelSpec("Qwen/Qwen2.5-Coder-32B-Instruct", ModelKind.CHAT),
    ModelSpec("Qwen/Qwen3-235B-A22B-Instruct-2507", ModelKind.CHAT),
    ModelSpec("deepseek-ai/DeepSeek-V3.1", ModelKind.CHAT),
    # hybrid thinking (reference: modelscope-api.md §4.1)
    ModelSpec("Qwen/Qwen3-32B", ModelKind.HYBRID),
    ModelSpec("Qwen/Qwen3-8B", ModelKind.HYBRID),
    ModelSpec("Qwen/Qwen3-235B-A22B", ModelKind.HYBRID),
    # thinking-only, stream-only (reference: modelscope-api.md §4.1, §3.3)
    ModelSpec("Qwen/Qwen3-235B-A22B-Thinking-2507", ModelKind.THINKING),
    ModelSpec("deepseek-ai/DeepSeek-R1-0528", ModelKind.THINKING),
    ModelSpec("Qwen/QwQ-32B", ModelKind.THINKING),
    # vision (reference: modelscope-api.md §4.7)
    ModelSpec("Qwen/Qwen2.5-VL-72B-Instruct", ModelKind.VISION),
    ModelSpec("Qwen/Qwen3-VL-8B-Instruct", ModelKind.VISION),
    # embeddings (reference: modelscope-api.md §1.4, §4.8; serverless support unconfirmed)
    ModelSpec("Qwen/Qwen3-Embedding-0.6B", ModelKind.EMBEDDING, dimension=1024),
    ModelSpec("Qwen/Qwen3-Embedding-8B", ModelKind.EMBEDDING, dimension=4096),
    ModelSpec("BAAI/bge-large-zh-v1.5", ModelKind.EMBEDDING, dimension=1024),
    # AIGC, listed by /v1/models like the rest: the real list mixes them in (§1.5)
    *(ModelSpec(model_id, ModelKind.IMAGE) for model_id in IMAGE_MODELS),
)


_PROVIDER_ROUTED = re.compile(r"^(?P<base>[^:]+):(?P<provider>[A-Za-z0-9][\w.-]*)$")


def find_model(catalog: Mapping[str, ModelSpec], model_id: str) -> ModelSpec | None:
    """The served model `model_id` names, `Org/Model:Provider` ids included.

    API-Provider routing (reference: modelscope-api.md §8.3) serves any model of the catalog
    through a named provider; the spec keeps the base model's kind under the full id.

    >>> find_model(build_catalog(), "Qwen/Qwen3-32B:DashScope").provider
    'DashScope'
    """
    spec = catalog.get(model_id)
    match = _PROVIDER_ROUTED.match(model_id) if spec is None else None
    base = catalog.get(match["base"]) if match else None
    if match is None or base is None:
        return spec
    return replace(base, id=model_id, provider=match["provider"])


def build_catalog(extra: Iterable[ModelSpec | str] | None = ()) -> dict[str, ModelSpec]:
    """The default catalog, with `extra` models added or replacing same-id defaults.

    A plain string is classified by :func:`classify_model_id`.

    >>> "Org/New-Model" in build_catalog(["Org/New-Model"])
    True
    """
    catalog = {spec.id: spec for spec in DEFAULT_MODELS}
    for item in extra or ():
        spec = classify_model_id(item) if isinstance(item, str) else item
        catalog[spec.id] = spec
    return catalog
