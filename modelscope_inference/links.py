"""Pages of modelscope.cn that messages point to, in a module that imports nothing.

Both :mod:`~modelscope_inference.settings` (no token) and :mod:`~modelscope_inference.errors`
(a refused token) name the token page; keeping it here lets errors import no settings, so
``settings -> _lazy -> errors`` is not a circle.

Example:
    >>> TOKEN_PAGE
    'https://modelscope.cn/my/myaccesstoken'
"""

from __future__ import annotations

__all__ = ["TOKEN_PAGE"]

TOKEN_PAGE = "https://modelscope.cn/my/myaccesstoken"
