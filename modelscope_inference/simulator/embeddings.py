"""Deterministic, semantically useful embeddings: hashed bag of words and character trigrams.

Each lower-cased word (each CJK character and CJK bigram) and each character trigram is hashed
into one signed dimension; the vector is L2-normalised. Texts sharing words therefore have a
higher cosine similarity, which is enough for retrieval demos and RAG tests.

>>> a, b, c = (embed(t, 64) for t in ("cats purr softly", "the cat purrs", "stock prices fell"))
>>> cosine(a, b) > cosine(a, c)
True
>>> len(encode_base64(a)) > 0
True
"""

from __future__ import annotations

import base64
import math
import re
import struct
import zlib
from collections.abc import Iterator, Sequence

from .text import STOPWORDS

__all__ = ["cosine", "embed", "encode_base64", "normalize"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_WORD_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.35


def embed(text: str, dimension: int) -> list[float]:
    """A unit vector of length `dimension` for `text` (an empty text gets a fixed vector)."""
    vector = [0.0] * dimension
    features = list(_features(text, skip_stopwords=True)) or list(_features(text, False))
    for feature, weight in features:
        code = zlib.crc32(feature.encode())
        vector[code % dimension] += weight if (code >> 16) & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


def normalize(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a shortened vector must stay comparable by cosine)."""
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else [1.0] + [0.0] * (len(vector) - 1)


def encode_base64(vector: Sequence[float]) -> str:
    """Little-endian float32 bytes, base64-encoded, as OpenAI's `encoding_format="base64"`."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two unit vectors (their dot product)."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def _features(text: str, skip_stopwords: bool) -> Iterator[tuple[str, float]]:
    for word in _WORD.findall(text.lower()):
        if _CJK.search(word):
            yield from _cjk_features(word)
            continue
        if skip_stopwords and word in STOPWORDS:
            continue
        stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
        yield "w:" + stem, _WORD_WEIGHT
        padded = f"#{stem}#"
        for i in range(len(padded) - 2):
            yield "t:" + padded[i : i + 3], _TRIGRAM_WEIGHT


def _cjk_features(word: str) -> Iterator[tuple[str, float]]:
    for i, char in enumerate(word):
        yield "c:" + char, _WORD_WEIGHT
        if i + 1 < len(word):
            yield "b:" + word[i : i + 2], _WORD_WEIGHT
