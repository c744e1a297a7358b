"""Image generation: the core client, then the LangChain tool and a chain, on one token.

ModelScope's image models answer through an asynchronous task API: the request is submitted,
answered with a ``task_id``, and polled until the image is ready. ``client.images.generate``
does all of it and returns the image URL; ``save`` downloads the PNG.
``ModelScopeImageTool`` is the same call as a LangChain tool (for ``create_agent`` or LangGraph),
and ``tool.as_runnable()`` puts it at the end of a chain.

With no ``MODELSCOPE_API_KEY`` it runs against the local simulator, whose images are small
gradients made from the prompt and seed. Run it with
``python examples/image_generation.py [output.png]`` (default: ``cat.png`` in a new temporary
directory).
"""

from __future__ import annotations

import struct
import sys
import tempfile
from pathlib import Path

from _common import modelscope_service
from langchain_core.prompts import PromptTemplate

from langchain_modelscope import ModelScopeImageTool
from modelscope_inference import ImageRequest, ModelScopeClient

MODEL = "Qwen/Qwen-Image"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (bytes 16-24), with no image library."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def main(target: Path) -> None:
    # 1. The core client: submit, poll, and download, with the documented checks first.
    client = ModelScopeClient.create()  # token and base URL from the environment
    request = ImageRequest(prompt="a golden cat on a red cushion", model=MODEL, size="512x384")
    result = client.images.generate(request)
    client.images.save(result, target)
    width, height = png_size(target)
    print(f"1. core client  -> task {result.task_id}: {result.status}, polls: {result.polls}")
    print(f"   saved {target} ({width}x{height} PNG)")

    # 2. The LangChain tool: the URL as content (what a model reads), the task as artifact.
    tool = ModelScopeImageTool(model=MODEL, size="256x256")
    call = {"type": "tool_call", "id": "call-1", "name": tool.name, "args": {"prompt": "a fox"}}
    message = tool.invoke(call)
    print(f"2. LangChain tool -> content {message.content}")
    print(f"   artifact: status {message.artifact['status']}, polls {message.artifact['polls']}")

    # 3. A chain: a prompt template whose text becomes the image prompt.
    chain = PromptTemplate.from_template("a poster of {topic}, flat colours") | tool.as_runnable()
    poster = chain.invoke({"topic": "green tea"})
    print(f"3. chain        -> {poster.url}")


if __name__ == "__main__":
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    with modelscope_service():
        main(output or Path(tempfile.mkdtemp(prefix="modelscope-image-")) / "cat.png")
