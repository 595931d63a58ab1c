"""The public surface: every module states its public names in ``__all__`` at its top, and the
notebooks use only public names (``skd.<name>`` from the package's ``__all__``, ``skd.<module>.<name>``
from that module's ``__all__``, the module itself exported by the package)."""

from __future__ import annotations

import ast
import importlib
import json
import types
from pathlib import Path

import pytest

import spectralkd_lite as skd

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spectralkd_lite"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def _code(cell_source: str) -> str:
    """A code cell as Python: IPython magics and shell lines become ``pass`` (indentation kept)."""
    lines = []
    for line in cell_source.splitlines():
        stripped = line.lstrip()
        lines.append(line[: len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def skd_uses(source: str) -> list[tuple[str, ...]]:
    """Every ``skd.X`` and ``skd.X.Y`` the code reads, as ("X",) or ("X", "Y"), in order."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        if isinstance(node.value, ast.Name) and node.value.id == "skd":
            uses.append((node.attr,))
        elif (
            isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "skd"
        ):
            uses.append((node.value.attr, node.attr))
    return uses


def not_public(use: tuple[str, ...]) -> str | None:
    """Why ``skd.<use>`` is not a public name, or None when it is."""
    head = use[0]
    if head not in skd.__all__:
        return f"skd.{head} is not in spectralkd_lite.__all__"
    value = getattr(skd, head, None)
    if len(use) == 2 and isinstance(value, types.ModuleType):
        if use[1] not in getattr(value, "__all__", ()):
            return f"skd.{head}.{use[1]} is not in spectralkd_lite.{head}.__all__"
    return None  # a class's attribute (skd.LayerMapping.load) is public with its class


def notebook_uses(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        (i, use)
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code"
        for use in skd_uses(_code("".join(cell["source"])))
    ]


def test_the_checker_finds_private_and_undeclared_names():
    assert set(skd_uses("x = skd.resolve('top', 4, 2)\nskd.losses.feature_loss\nskd.plots._private")) == {
        ("resolve",),
        ("losses", "feature_loss"),
        ("losses",),
        ("plots", "_private"),
        ("plots",),
    }
    assert not_public(("plots", "_private")) is not None
    assert not_public(("io",)) is not None  # a module the package does not export
    assert not_public(("losses", "feature_loss")) is None
    assert not_public(("LayerMapping", "load")) is None
    assert skd_uses(_code("if True:\n    %timeit skd.analyze\n!ls")) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_notebooks_use_only_public_names(notebook):
    uses = notebook_uses(notebook)
    assert uses, f"{notebook.name} uses no skd names: is the parser reading its cells?"
    bad = sorted({f"cell {i}: {not_public(use)}" for i, use in uses if not_public(use)})
    assert not bad, f"{notebook.name} uses names that are not public:\n" + "\n".join(bad)


def test_every_name_the_package_exports_exists():
    missing = [name for name in skd.__all__ if not hasattr(skd, name)]
    assert not missing


@pytest.mark.parametrize("module", MODULES)
def test_every_module_states_its_public_names_at_its_top(module):
    """``__all__`` comes right after the imports (only the docstring, imports and ``__version__``
    before it), and every name in it exists in the module."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    for i, node in enumerate(tree.body):
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(getattr(t, "id", None) == "__all__" for t in targets):
            break
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        version = any(getattr(t, "id", None) == "__version__" for t in targets)
        assert docstring or version or isinstance(node, (ast.Import, ast.ImportFrom)), (
            f"{module}.py: line {node.lineno} comes before __all__; state the public names right after the imports"
        )
    else:
        pytest.fail(f"{module}.py has no __all__")
    names = importlib.import_module(f"spectralkd_lite.{module}").__all__
    loaded = importlib.import_module(f"spectralkd_lite.{module}")
    assert [n for n in names if not hasattr(loaded, n)] == []
    assert len(set(names)) == len(names)


def _parameter_counts() -> dict[str, int]:
    """Parameters (keyword-only and ``**kwargs`` included, ``self``/``cls`` not) of every public
    function and public method of a public class, by qualified name."""
    import dataclasses
    import inspect

    counts = {}
    for module_name in MODULES:
        module = importlib.import_module(f"spectralkd_lite.{module_name}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                counts[f"{module_name}.{name}"] = len(inspect.signature(obj).parameters)
            elif inspect.isclass(obj) and obj.__module__ == module.__name__:
                members = [
                    (m, f) for m, f in vars(obj).items() if inspect.isfunction(f) and not m.startswith("_")
                ]
                if not dataclasses.is_dataclass(obj) and "__init__" in vars(obj):
                    members.append(("__init__", obj.__init__))
                for m, f in members:
                    params = [p for p in inspect.signature(f).parameters if p not in ("self", "cls")]
                    counts[f"{module_name}.{name}.{m}"] = len(params)
    return counts


def test_no_public_function_takes_more_than_eight_parameters():
    counts = _parameter_counts()
    assert len(counts) > 100  # the walk found the public surface
    assert counts["compare.run_comparison"] == 8  # teacher ... seeds, then **options (a RunOptions)
    long = {name: n for name, n in counts.items() if n > 8}
    assert long == {}, f"configuration travels as small dataclasses, not long parameter lists: {long}"
