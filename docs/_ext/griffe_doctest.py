"""Griffe extension for the API reference: render the code's docstring habits well.

The package's docstrings say ``Example:`` and show ``>>>`` lines (sometimes with no section
header), use Sphinx roles such as :class:`X` and, in the LangChain classes, RST
``.. code-block::`` directives. Markdown would render ``>>>`` as nested block quotes and the
rest literally, so before parsing each docstring is rewritten: ``Example:`` becomes a Google
``Examples:`` section, loose ``>>>`` runs and code-block directives become fences, and roles
become inline code. The source files are not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj|ref|py:\w+):`~?([^`]+)`")
_SECTION = re.compile(r"^(\s*)Example:\s*$")
_DOCTEST = re.compile(r"^\s*(>>>|\.\.\.)( |$)")
_CODE_BLOCK = re.compile(r"^(\s*)\.\. code-block::\s*([\w+-]*)\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def fence_code_blocks(lines: list[str]) -> list[str]:
    """RST ``.. code-block:: lang`` directives (LangChain's docstring habit) as fences."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _CODE_BLOCK.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        pad, lang = match.group(1), match.group(2) or "text"
        i += 1
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(pad)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        cut = min((_indent(b) for b in body if b.strip()), default=0)
        out += [f"{pad}```{lang}", *(pad + b[cut:] if b.strip() else "" for b in body)]
        out += [f"{pad}```", ""]
    return out


def rewrite(text: str) -> str:
    """The docstring text with examples sections, fenced doctests and plain roles."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    lines = [_SECTION.sub(r"\1Examples:", line) for line in text.splitlines()]
    lines = fence_code_blocks(lines)
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
