"""Outbound message hygiene that every model needs, whichever framework built the messages.

Example:
    >>> prepare_messages([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    [{'role': 'user', 'content': 'hi'}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def flatten_text_content(content: object) -> object:
    """Join a text-only content list into one string; keep lists with images as they are.

    Some ModelScope models reject ``[{"type": "text"}]`` lists, so LiteLLM flattens them
    (reference: modelscope-api.md §4.6).
    """
    if not isinstance(content, list):
        return content
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping) and part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        else:
            return content
    return "".join(texts)


def prepare_messages(
    messages: Iterable[Mapping[str, Any]], *, pass_back_reasoning: bool = False
) -> list[dict[str, Any]]:
    """Copy messages for the wire: flatten text-only lists, and drop ``reasoning_content`` from
    assistant turns unless asked to keep it (user-needs.md §A.4: some providers reject it)."""
    prepared = []
    for message in messages:
        out = dict(message)
        if "content" in out:
            out["content"] = flatten_text_content(out["content"])
        if not pass_back_reasoning:
            out.pop("reasoning_content", None)
        prepared.append(out)
    return prepared


# First base64 characters of common image formats' magic numbers.
_BASE64_MAGIC = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
    ("Qk", "image/bmp"),
)


def image_part(url: str, detail: str | None = None) -> dict[str, Any]:
    """An OpenAI ``image_url`` content part, the only image form ModelScope accepts: it
    rejects ``type: "image"`` (reference: modelscope-api.md §8.3, §4.7).

    Example:
        >>> image_part("https://example.com/cat.png")
        {'type': 'image_url', 'image_url': {'url': 'https://example.com/cat.png'}}
    """
    image: dict[str, Any] = {"url": url}
    if detail:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def data_url(base64_data: str, mime_type: str | None = None) -> str:
    """A ``data:`` URL for base64 image data; the type is read from the data when not given.

    Example:
        >>> data_url("iVBORw0KGgoAAAA")[:22]
        'data:image/png;base64,'
    """
    mime = mime_type or guess_image_mime(base64_data)
    return f"data:{mime};base64,{base64_data}"


def guess_image_mime(base64_data: str) -> str:
    """The image type of base64 data from its first bytes; PNG when unknown."""
    return next(
        (mime for magic, mime in _BASE64_MAGIC if base64_data.startswith(magic)), "image/png"
    )


def has_image(messages: Iterable[Mapping[str, Any]]) -> bool:
    """True when any message carries an image part."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(p, Mapping) and p.get("type") == "image_url" for p in content
        ):
            return True
    return False
