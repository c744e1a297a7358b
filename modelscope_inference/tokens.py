"""An offline token estimate, for frameworks that count tokens before calling the service.

ModelScope serves many model families with different tokenizers, and downloading one (tiktoken,
``transformers``) fails offline and behind proxies (user-needs.md §B.20). So the count here is
an *estimate*: a CJK character, a run of up to four letters, up to three digits, or one other
symbol is one piece. It is deterministic and needs no network; use the ``usage`` the service
reports when you need exact numbers.

Example:
    >>> estimate_tokens("Hello, 世界")
    5
    >>> token_pieces("Hello, 世界")
    ['Hell', 'o', ',', '世', '界']
"""

from __future__ import annotations

import re
import zlib

_PIECE = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"  # CJK, kana, hangul
    r"|[^\W\d_]{1,4}"  # letters, in runs of up to four (about one BPE token each)
    r"|\d{1,3}"
    r"|[^\w\s]"
)


def token_pieces(text: str) -> list[str]:
    """Split ``text`` into estimated token pieces (see the module docstring)."""
    return _PIECE.findall(text)


def estimate_token_ids(text: str) -> list[int]:
    """Stable integer ids for :func:`token_pieces` (CRC-32 of each piece), for APIs that want ids.

    Example:
        >>> estimate_token_ids("hi") == estimate_token_ids("hi")
        True
    """
    return [zlib.crc32(piece.encode("utf-8")) for piece in token_pieces(text)]


def estimate_tokens(text: str) -> int:
    """The estimated token count of ``text``."""
    return len(token_pieces(text))
