"""Deferred imports, so that importing the library does not import ``openai``.

Every error class subclasses its ``openai`` twin, so :mod:`modelscope_inference.errors` imports
``openai``, which alone costs about half a second. The modules that raise or catch those errors
reach them through the handles here instead:

- ``errors.X`` imports :mod:`~modelscope_inference.errors` (and ``openai``) on first use: for
  building and raising errors, and in annotations;
- ``caught.X`` and ``caught_openai.X`` never import: each is the exception class once its module
  was imported, and a class that is never raised before that. An exception can only be an
  instance of a class whose module was imported, so ``except caught.X`` and
  ``isinstance(exc, caught.X)`` match exactly what naming ``X`` would, and a ``GeneratorExit``
  (a stream closed early) or a ``CancelledError`` passing through the clause imports nothing.

Type checkers see all three as the modules themselves.

Example:
    >>> try:
    ...     raise errors.ToolArgumentsError("add", None, "{", "not JSON")
    ... except caught.ToolArgumentsError as exc:
    ...     print(exc.tool_name)
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

__all__ = ["IfImported", "LazyModule", "caught", "caught_openai", "errors"]


class LazyModule:
    """A module imported on first attribute access (thread-safe: the import system locks it).

    Example:
        >>> json = LazyModule("json")
        >>> json.dumps([])
        '[]'
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"


class _NeverRaised(Exception):
    """Stands in for an exception class whose module is not imported yet: nothing raises it."""


class IfImported:
    """Exception classes of a module, without importing it: a class if the module is imported,
    else :class:`_NeverRaised`. For ``except`` clauses and ``isinstance`` checks only.

    Example:
        >>> isinstance(ValueError(), IfImported("openai").APIError)  # openai not imported
        False
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        # getattr with a default: the module may be in sys.modules half-imported by a thread.
        return getattr(sys.modules.get(self._name), attribute, _NeverRaised)

    def __repr__(self) -> str:
        return f"IfImported({self._name!r})"


if TYPE_CHECKING:
    import openai as caught_openai

    from modelscope_inference import errors
    from modelscope_inference import errors as caught
else:
    errors = LazyModule("modelscope_inference.errors")
    caught = IfImported("modelscope_inference.errors")
    caught_openai = IfImported("openai")
