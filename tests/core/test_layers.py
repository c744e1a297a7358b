"""The house's layers: the framework-free core imports no adapter and no CLI, and its modules
import each other without circles (STYLE.md: data flows one way, no import circles).

Imports are read from the source (every ``import``, at module level, under ``TYPE_CHECKING``
or inside a function, and every ``LazyModule("...")``/``IfImported("...")`` name), so a
circle hidden behind a deferred import is found too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "modelscope_inference"
# Above the core: they may import anything; nothing in the core may import them.
ABOVE_THE_CORE = {
    "modelscope_inference.__main__",
    "modelscope_inference.cli",
    "modelscope_inference.cli_simulator",
    "modelscope_inference.demo",
}
FORBIDDEN_PREFIXES = (
    "langchain_modelscope",
    "llama_index_modelscope",
    "langchain",
    "llama_index",
    *ABOVE_THE_CORE,
)
_LAZY_HANDLES = {"LazyModule", "IfImported"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
CORE = {name: path for name, path in MODULES.items() if name not in ABOVE_THE_CORE}


def _resolve(name: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Every module name ``path`` imports, anywhere in it (``from a import b`` gives ``a.b``
    when that is a module of the package, else ``a``)."""
    for node in ast.walk(ast.parse(path.read_text("utf8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path, node)
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in _LAZY_HANDLES
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            yield str(node.args[0].value)


def core_graph() -> dict[str, set[str]]:
    """Core module -> the core modules it imports."""
    return {
        name: {m for m in imported_names(name, path) if m in CORE and m != name}
        for name, path in CORE.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), i.e. import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            if group:
                found.append(sorted([*group, node]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walker_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_walker_sees_deferred_imports() -> None:
    settings = MODULES["modelscope_inference.settings"]
    assert "modelscope_inference._lazy" in set(imported_names("x", settings))
    lazy = MODULES["modelscope_inference._lazy"]
    assert "modelscope_inference.errors" in set(imported_names("modelscope_inference._lazy", lazy))


def _forbidden(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in FORBIDDEN_PREFIXES)


def test_the_core_never_imports_an_adapter_a_framework_or_the_cli() -> None:
    offenders = {
        name: sorted(m for m in imported_names(name, path) if _forbidden(m))
        for name, path in CORE.items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_core_modules_import_each_other_without_circles() -> None:
    assert cycles(core_graph()) == []


def test_the_cli_and_the_demo_import_each_other_without_circles() -> None:
    graph = {
        name: {m for m in imported_names(name, path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }
    assert cycles(graph) == []


def test_importing_the_core_loads_no_framework() -> None:
    code = (
        "import sys, modelscope_inference, modelscope_inference.client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'langchain', 'langchain_core', 'llama_index', 'langchain_modelscope', "
        "'llama_index_modelscope', 'openai'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=110
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
