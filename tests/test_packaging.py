"""environment.yml and pyproject.toml declare the same packages; the README holds the two commands;
the maintainer's notebook tool (tools/notebooks.py, outside the package) cleans notebooks."""

import importlib.util
import re
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_NAMES = {"pytorch": "torch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("dev", "animations", "laptop"):
        reqs += project["optional-dependencies"][extra]
    return {_name(r) for r in reqs}


def environment_packages() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        stripped = line.strip()
        if not stripped.startswith("- "):
            continue
        item = stripped[2:].strip()
        if item.startswith(("pip", "-", ".")):  # the pip section installs this project itself
            continue
        name = _name(item.split("::")[-1])
        if name in ("python", "pip"):
            continue
        names.add(CONDA_NAMES.get(name, name))
    return names


def test_environment_yml_matches_pyproject():
    env, py = environment_packages(), pyproject_packages()
    assert env - py == set(), f"only in environment.yml: {sorted(env - py)}"
    assert py - env == set(), f"only in pyproject.toml: {sorted(py - env)}"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_tests():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2
    assert "make demo" in blocks[0] and "make test" in blocks[1]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_notebook_tool_cleans_metadata_refuses_absolute_paths_and_make_runs_it(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("notebook_tool", ROOT / "tools" / "notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.metadata["widgets"] = {"state": {}}
    nb.cells[0].metadata["execution"] = {"iopub.execute_input": "2024-01-01"}
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    assert tool.main(["clean", str(path)]) == 0
    cleaned = nbformat.read(path, as_version=4)
    assert "widgets" not in cleaned.metadata and "execution" not in cleaned.cells[0].metadata
    assert cleaned.metadata["kernelspec"]["name"] == "python3"
    nb.cells[0].source = "open('/home/someone/data.csv')"
    nbformat.write(nb, path)
    assert tool.main(["clean", str(path)]) == 2
    assert "contains an absolute path (/home/...)" in capsys.readouterr().err
    assert "$(BIN)/python tools/notebooks.py execute notebooks/*.ipynb" in (ROOT / "Makefile").read_text()


def test_the_runtime_line_names_the_device_and_the_chosen_profile(monkeypatch):
    import os

    import torch

    import spectralkd_lite as skd

    monkeypatch.setenv("SPECTRALKD_PROFILE", "tiny")
    line = skd.runtime_summary()
    assert "profile: tiny (" in line
    if not torch.cuda.is_available():
        assert f"CPU, {os.cpu_count()} cores, no GPU" in line
