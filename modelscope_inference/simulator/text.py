"""Small text helpers shared by the brain and the embeddings: tokens, words, numbers, quotes.

Token counts are approximate (a word, a CJK character or a punctuation mark is one token), but
they are positive and consistent: truncating to N tokens leaves exactly N.

>>> count_tokens("Hello, world")
3
>>> truncate_tokens("one two three", 2)
('one two', True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "STOPWORDS",
    "content_words",
    "count_tokens",
    "message_text",
    "numbers_in",
    "quoted_in",
    "sentences",
    "split_words",
    "truncate_tokens",
]

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|\w+|[^\w\s]")
_WORD_CHUNK = re.compile(r"\s*\S+\s*|\s+")
_NUMBER = re.compile(
    r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w])(?:\s+(thousand|million|billion)\b)?", re.IGNORECASE
)
# "a city of 12 million people": a structured answer's population is 12000000, not 12
_SCALE = {"": 1, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_QUOTED = re.compile(
    r"(?<!\w)'([^'\n]{1,200}?)'(?!\w)|\"([^\"\n]{1,200}?)\"|“([^”\n]{1,200}?)”|`([^`\n]{1,200}?)`"
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_STOPWORD_TEXT = """
a an the and or but if of to in on at for by with from as is are was were be been being
it its this that these those what which who whom whose when where why how do does did
can could should would will shall may might must not no yes i you he she we they me him
her us them my your our their there here than then so such too very just about into
over under again also any all some each other only own same both few more most please
tell give answer question query context information given use using following based
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def count_tokens(text: str) -> int:
    """Approximate token count: words, CJK characters and punctuation marks."""
    return len(_TOKEN.findall(text))


def truncate_tokens(text: str, limit: int) -> tuple[str, bool]:
    """Cut `text` after `limit` tokens; report whether anything was cut."""
    if limit <= 0:
        return "", bool(text)
    for i, match in enumerate(_TOKEN.finditer(text)):
        if i == limit:
            return text[: match.start()].rstrip(), True
    return text, False


def split_words(text: str) -> list[str]:
    """Word-sized stream chunks whose concatenation is exactly `text`."""
    return _WORD_CHUNK.findall(text)


def numbers_in(text: str) -> list[float]:
    """Standalone numbers in reading order ("Qwen3" and "8B" are not numbers), scaled by a
    following "thousand", "million" or "billion".

    >>> numbers_in("Add 3 and 4.5; Hangzhou has 12 million people")
    [3.0, 4.5, 12000000.0]
    """
    return [float(n) * _SCALE[scale.lower()] for n, scale in _NUMBER.findall(text)]


def quoted_in(text: str) -> list[str]:
    """Strings in single, double, curly or back quotes, in reading order."""
    return [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(text)]


def sentences(text: str) -> list[str]:
    """Sentences and lines, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stopwords, with a crude plural strip, for overlap scoring."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return words


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_part_texts(content))
    return ""


def _part_texts(parts: Iterable[Any]) -> Iterable[str]:
    for part in parts:
        if isinstance(part, str):
            yield part
        elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
            yield part["text"]
