"""ModelScope image generation for LlamaIndex: a tool spec for ``FunctionAgent``/``ReActAgent``.

Submitting, polling, parameter checks, retries and quota are the core's
(:class:`modelscope_inference.images.ImageClient`); this module only converts types.

Example:
    >>> from llama_index.core.agent.workflow import FunctionAgent
    >>> agent = FunctionAgent(tools=ModelScopeImageToolSpec().to_tool_list(), llm=llm)
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ImageBlock
from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec

from modelscope_inference import ImageRequest, ImageResult, ModelScopeClient
from modelscope_inference._lazy import caught
from modelscope_inference.images import DEFAULT_IMAGE_MODEL, DEFAULT_TIMEOUT


class ModelScopeImageToolSpec(BaseToolSpec):
    """One tool, ``generate_image`` (sync and async), answering with the image URL(s); the
    last result is kept as :attr:`last_result`, and :meth:`image_block` gives an ``ImageBlock``.
    Parameter and task failures are returned to the agent as text saying what went wrong.

    Example:
        >>> spec = ModelScopeImageToolSpec(model="Tongyi-MAI/Z-Image-Turbo", size="1024x1024")
        >>> spec.generate_image("a golden cat")
        'https://.../0.png'
    """

    spec_functions: list[SPEC_FUNCTION_TYPE] = [("generate_image", "agenerate_image")]  # noqa: RUF012 (the base class declares it so)

    def __init__(
        self,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        size: str | None = None,
        wait_timeout: float = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        api_base: str | None = None,
        **client_options: Any,
    ) -> None:
        self.model = model
        self.size = size
        self.wait_timeout = wait_timeout
        self.client = ModelScopeClient.create(api_key=api_key, base_url=api_base, **client_options)
        self.last_result: ImageResult | None = None

    def _request(self, prompt: str, size: str | None, seed: int | None) -> ImageRequest:
        return ImageRequest(prompt=prompt, model=self.model, size=size or self.size, seed=seed)

    def generate_image(self, prompt: str, size: str | None = None, seed: int | None = None) -> str:
        """Generate an image from a text description and return its URL.

        Use it when the user asks to draw, paint, picture or generate an image. ``prompt``
        describes the image (< 2000 characters); ``size`` is WIDTHxHEIGHT, e.g. 1024x1024.
        """
        try:
            result = self.client.images.generate(
                self._request(prompt, size, seed), timeout=self.wait_timeout
            )
        except (caught.ImageParameterError, caught.ImageTaskError) as exc:
            return f"Error: {exc}"
        return self._keep(result)

    async def agenerate_image(
        self, prompt: str, size: str | None = None, seed: int | None = None
    ) -> str:
        """Generate an image from a text description and return its URL.

        Use it when the user asks to draw, paint, picture or generate an image. ``prompt``
        describes the image (< 2000 characters); ``size`` is WIDTHxHEIGHT, e.g. 1024x1024.
        """
        try:
            result = await self.client.images.agenerate(
                self._request(prompt, size, seed), timeout=self.wait_timeout
            )
        except (caught.ImageParameterError, caught.ImageTaskError) as exc:
            return f"Error: {exc}"
        return self._keep(result)

    def _keep(self, result: ImageResult) -> str:
        self.last_result = result
        return "\n".join(result.images)

    def image_block(self, result: ImageResult | None = None, *, index: int = 0) -> ImageBlock:
        """An ``ImageBlock`` of ``result`` (default: the last one), for a multimodal message.

        Example:
            >>> ChatMessage(role="user", blocks=[spec.image_block(), TextBlock(text="Describe")])
        """
        chosen = result or self.last_result
        if chosen is None:
            raise ValueError("no image yet: call generate_image first, or pass a result")
        return ImageBlock(url=chosen.images[index], image_mimetype="image/png")
