"""Griffe extension for the API reference: render the code's docstring habits well.

The package's docstrings say ``Example:`` and show ``>>>`` lines (sometimes with no section
header) and use Sphinx roles such as :class:`X`. Markdown would render ``>>>`` as nested block
quotes and the roles literally, so before parsing, each docstring is rewritten: ``Example:``
becomes a Google ``Examples:`` section (code blocks), loose ``>>>`` runs are fenced as
``pycon``, and roles become inline code. The source files are not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj|ref|py:\w+):`~?([^`]+)`")
_SECTION = re.compile(r"^(\s*)Example:\s*$")
_DOCTEST = re.compile(r"^\s*(>>>|\.\.\.)( |$)")


def rewrite(text: str) -> str:
    """The docstring text with examples sections, fenced doctests and plain roles."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    lines = [_SECTION.sub(r"\1Examples:", line) for line in text.splitlines()]
    out: list[str] = []
    in_examples = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "Examples:" and not line.startswith(" "):
            in_examples = True
        elif line and not line.startswith(" ") and line.rstrip().endswith(":"):
            in_examples = False
        if not in_examples and _DOCTEST.match(line) and not line.startswith(" "):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```pycon", *block, "```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class DoctestExamples(griffe.Extension):
    """Rewrite every docstring once, as objects are loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
