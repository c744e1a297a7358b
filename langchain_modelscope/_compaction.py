"""Keep ``BaseChatModel.stream`` from holding every chunk of a long answer.

langchain-core's ``stream`` and ``astream`` append each chunk to a local list, ``chunks``, and
merge the list once at the end for ``on_llm_end``. A long answer (a thinking model's reasoning
runs to tens of thousands of chunks) then keeps about ten GC-tracked objects per chunk alive,
49 MB for 20,000 chunks, and CPython's cyclic GC walks the whole heap again each time they grow
by a quarter of it. The cost per chunk grows with the length of the stream (bench: 20,000 chunks
took 14.2× the time of 2,000, against 10× for our core alone).

Adding chunks is associative, so every :data:`COMPACT_EVERY` chunks the list is merged, in
place, into a single chunk: it stays short, ``on_llm_end`` gets the same merged generation, and
the chunks already yielded to the caller are not touched (merging builds new objects).

The list is found by name in the suspended generator's frame. If a langchain-core release
renames it, nothing is compacted and the stream is exactly langchain-core's own.

Example:
    >>> def stream(self, input, config=None, *, stop=None, **kwargs):
    ...     return compacting(super().stream(input, config, stop=stop, **kwargs))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import TypeVar

from langchain_core.outputs import ChatGenerationChunk
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks

COMPACT_EVERY = 32
CHUNK_LIST_NAME = "chunks"  # the local that langchain-core's stream and astream collect into

T = TypeVar("T")


def chunk_list(frame: FrameType | None) -> list[ChatGenerationChunk] | None:
    """The list of chunks a suspended ``stream``/``astream`` holds, or None if there is none."""
    if frame is None:  # the generator has finished
        return None
    chunks = frame.f_locals.get(CHUNK_LIST_NAME)
    return chunks if type(chunks) is list else None


def compact(frame: FrameType | None) -> None:
    """Merge the held chunks into one, in place, once there are :data:`COMPACT_EVERY` of them."""
    chunks = chunk_list(frame)
    if chunks is None or len(chunks) < COMPACT_EVERY:
        return
    if not isinstance(chunks[0], ChatGenerationChunk):  # not the list we know: leave it be
        return
    merged = merge_chat_generation_chunks(chunks)
    if merged is not None:
        chunks[:] = [merged]


def compacting(stream: Iterator[T]) -> Iterator[T]:
    """``stream``'s items, compacting its held chunks between them; closing closes ``stream``.

    Anything but a generator (no frame to look into) passes through unchanged.
    """
    try:
        for count, item in enumerate(stream, start=1):
            yield item
            if count % COMPACT_EVERY == 0:
                compact(getattr(stream, "gi_frame", None))
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def acompacting(stream: AsyncIterator[T]) -> AsyncIterator[T]:
    """The async twin of :func:`compacting`."""
    try:
        count = 0
        async for item in stream:
            yield item
            count += 1
            if count % COMPACT_EVERY == 0:
                compact(getattr(stream, "ag_frame", None))
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
