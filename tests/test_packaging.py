"""environment.yml and pyproject.toml declare the same packages; the README holds the two commands."""

import re
import tomllib
from pathlib import Path

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
