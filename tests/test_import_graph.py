"""The package's import graph, read from its source: no cycle, and no import hidden inside a function.

Every ``from .x import ...`` / ``from spectralkd_lite.x import ...`` / ``from . import x``
anywhere in a module (top level, inside a function, under ``if TYPE_CHECKING``) is an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "spectralkd_lite"


def _targets(node: ast.AST, modules: set[str]) -> list[str]:
    """The package modules an import statement names."""
    if isinstance(node, ast.ImportFrom):
        if node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
        elif node.level == 0 and node.module and node.module.split(".")[0] == "spectralkd_lite":
            parts = node.module.split(".")
            names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
        else:
            names = []
    elif isinstance(node, ast.Import):
        names = [a.name.split(".")[1] for a in node.names if a.name.startswith("spectralkd_lite.")]
    else:
        names = []
    return [n for n in names if n in modules]


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """module -> the package modules it imports; and (module, target, line) of every import below top level."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    nested = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            for target in _targets(node, modules):
                graph[path.stem].add(target)
                if id(node) not in top:
                    nested.append((path.stem, target, node.lineno))
    return graph, nested


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_closed_inside_a_function():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    graph, _ = import_graph()
    assert graph["config"] >= {"modelfiles"} and "distill" not in graph["config"]
    assert cycles(graph) == [], "import cycle(s) among spectralkd_lite modules"


def test_no_module_imports_the_package_inside_a_function():
    _, nested = import_graph()
    assert nested == [], f"imports below top level (module, target, line): {nested}"


def test_modelfiles_is_at_the_bottom():
    graph, _ = import_graph()
    assert graph["modelfiles"] == set()
