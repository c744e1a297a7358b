"""Every Python block in README.md and docs/ runs, against the simulator.

Blocks are collected the way ``pytest --markdown-docs`` collects them (its own fence extractor,
so ``notest`` and ``continuation`` mean the same), and each runs in a fresh namespace with
``MODELSCOPE_API_KEY``/``MODELSCOPE_BASE_URL`` pointing at a simulator for that test only.
"""

from __future__ import annotations

import asyncio
import gc
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from pytest_markdown_docs.plugin import FenceSyntax, extract_fence_tests

from modelscope_inference.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_CONTAINER = re.compile(r"^(===|!!!|\?\?\?\+?) ")


def unindent_containers(text: str) -> str:
    """Dedent the bodies of mkdocs-material tabs and admonitions (``=== "..."``, ``!!! note``)
    so the fences inside them are seen as fences; line numbers are kept."""
    out, inside = [], False
    for line in text.splitlines():
        if _CONTAINER.match(line):
            inside = True
        elif inside and line.strip() and not line.startswith("    "):
            inside = False
        out.append(line[4:] if inside and line.startswith("    ") else line)
    return "\n".join(out) + "\n"


def _blocks() -> list[Any]:
    parser = MarkdownIt("commonmark")
    params = []
    for path in MARKDOWN:
        fences = extract_fence_tests(
            parser,
            unindent_containers(path.read_text("utf8")),
            start_line_offset=0,
            source_path=path,
            fence_syntax=FenceSyntax.superfences,
        )
        for fence in fences:
            name = f"{path.relative_to(ROOT)}:{fence.start_line}"
            params.append(pytest.param(path, fence.source, id=name))
    return params


BLOCKS = _blocks()


def test_the_readme_and_docs_have_python_blocks() -> None:
    files = {param.values[0] for param in BLOCKS}
    assert ROOT / "README.md" in files
    assert len(files) >= 8


def _close_the_left_event_loop() -> None:
    """Close an event loop a block left set on this thread. LlamaIndex's ``asyncio_run`` (its
    sync token counting, e.g. in a query engine) calls ``asyncio.get_event_loop()``, which
    creates one, and never closes it; collected during a later block, its ResourceWarning
    would fail that block instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)


@pytest.mark.parametrize(("path", "source"), BLOCKS)
def test_python_block_runs(path: Path, source: str, simulated_env: Simulator) -> None:
    code = compile(source, str(path), "exec")
    try:
        exec(code, {"__name__": "__markdown_block__"})
    finally:
        _close_the_left_event_loop()
        # Whatever else the block left unclosed is reported now, by this block's test, not
        # by a later one when the GC next happens to run.
        gc.collect()
