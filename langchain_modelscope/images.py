"""ModelScope image generation for LangChain: a tool for agents, and a Runnable for chains.

Submitting, polling, parameter checks, retries and quota are the core's
(:class:`modelscope_inference.images.ImageClient`); this module only converts types.

Example:
    >>> from langchain.agents import create_agent
    >>> agent = create_agent(ChatModelScope(model="Qwen/Qwen3-32B"),
    ...                      tools=[ModelScopeImageTool()])
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from langchain_modelscope._connection import ModelScopeConnection
from modelscope_inference import ImageRequest, ImageResult
from modelscope_inference._lazy import caught
from modelscope_inference.images import DEFAULT_IMAGE_MODEL, DEFAULT_TIMEOUT


class ImageToolInput(BaseModel):
    """What the model fills in when it calls the tool."""

    prompt: str = Field(description="What the image should show, in detail (< 2000 characters).")
    negative_prompt: str | None = Field(default=None, description="What the image must not show.")
    size: str | None = Field(default=None, description="WIDTHxHEIGHT, e.g. 1024x1024.")
    seed: int | None = Field(default=None, description="A seed, for a reproducible image.")


class ModelScopeImageTool(ModelScopeConnection, BaseTool):
    """Generate an image with a ModelScope AIGC model; usable by ``create_agent`` and LangGraph.

    The tool answers with the image URL(s) as content and the task's details
    (:meth:`ImageResult.to_dict`) as the artifact (``response_format="content_and_artifact"``).
    Parameter and task failures come back to the model as the tool's error text.

    Example:
        >>> tool = ModelScopeImageTool(model="Qwen/Qwen-Image", size="1024x1024")
        >>> tool.invoke({"prompt": "a golden cat"})
        'https://.../0.png'
    """

    name: str = "generate_image"
    description: str = (
        "Generate an image from a text description and return its URL. Use it when the user "
        "asks to draw, paint, picture or generate an image."
    )
    args_schema: type[BaseModel] = ImageToolInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool = True
    model: str = DEFAULT_IMAGE_MODEL
    """The image model id, e.g. ``Qwen/Qwen-Image`` or ``Tongyi-MAI/Z-Image-Turbo``."""
    size: str | None = None
    """The default ``WIDTHxHEIGHT`` when the model gives none; None: the service's default."""
    steps: int | None = None
    guidance: float | None = None
    wait_timeout: float = DEFAULT_TIMEOUT
    """Seconds one call waits for its task (``timeout`` is the per-request HTTP timeout)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    def _request(
        self, prompt: str, negative_prompt: str | None, size: str | None, seed: int | None
    ) -> ImageRequest:
        return ImageRequest(
            prompt=prompt,
            model=self.model,
            negative_prompt=negative_prompt,
            size=size or self.size,
            seed=seed,
            steps=self.steps,
            guidance=self.guidance,
        )

    def _run(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        size: str | None = None,
        seed: int | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        request = self._request(prompt, negative_prompt, size, seed)
        try:
            result = self._core.images.generate(request, timeout=self.wait_timeout)
        except (caught.ImageParameterError, caught.ImageTaskError) as exc:
            raise ToolException(str(exc)) from exc
        return _content_and_artifact(result)

    async def _arun(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        size: str | None = None,
        seed: int | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        request = self._request(prompt, negative_prompt, size, seed)
        try:
            result = await self._core.images.agenerate(request, timeout=self.wait_timeout)
        except (caught.ImageParameterError, caught.ImageTaskError) as exc:
            raise ToolException(str(exc)) from exc
        return _content_and_artifact(result)

    def as_runnable(self) -> Runnable[Any, ImageResult]:
        """A Runnable for chains: a prompt in (a string, a ``PromptValue`` or a message), the
        :class:`~modelscope_inference.ImageResult` out. Errors are raised, not returned.

        Example:
            >>> chain = ChatPromptTemplate.from_template("a poster of {topic}") | tool.as_runnable()
            >>> chain.invoke({"topic": "tea"}).url
        """

        def generate(prompt: Any) -> ImageResult:
            return self._core.images.generate(
                self._request(_prompt_text(prompt), None, None, None), timeout=self.wait_timeout
            )

        async def agenerate(prompt: Any) -> ImageResult:
            request = self._request(_prompt_text(prompt), None, None, None)
            return await self._core.images.agenerate(request, timeout=self.wait_timeout)

        return RunnableLambda(generate, afunc=agenerate, name="modelscope_image")


def _content_and_artifact(result: ImageResult) -> tuple[str, dict[str, Any]]:
    """The URLs, one a line, for the model; the task's details for the program."""
    return "\n".join(result.images), result.to_dict()


def _prompt_text(prompt: Any) -> str:
    """The text of what a chain hands over: a string, a prompt value or a message."""
    if isinstance(prompt, PromptValue):
        return prompt.to_string()
    text = getattr(prompt, "text", None)
    if isinstance(text, str):
        return text
    return prompt if isinstance(prompt, str) else str(prompt)
