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
    for extra in ("dev", "animations", "laptop", "hub"):
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


def _colab_install_line() -> str:
    readme = (ROOT / "README.md").read_text()
    lines = [line.strip() for line in readme.splitlines() if line.strip().startswith("%pip install")]
    assert len(lines) == 1, f"the README should give one Colab install line, found {lines}"
    return lines[0]


def test_every_notebook_starts_with_the_readme_install_and_the_runtime_line():
    install = _colab_install_line()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code").source
        assert install in first, f"{path.name}: its first cell does not install as the README says"
        assert re.search(rf'skd\.runtime_summary\((PROFILE, )?notebook="{path.stem}"\)', first), path.name


def test_runtime_line_gives_the_recorded_time_of_the_profile(monkeypatch):
    import json

    import spectralkd_lite as skd

    monkeypatch.setenv("SPECTRALKD_PROFILE", "laptop")
    recorded = json.loads(skd.profiles.NOTEBOOK_TIMES.read_text())
    assert set(recorded) == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    line = skd.runtime_summary(notebook="05_spectral_distillation")
    run = recorded["05_spectral_distillation"]["laptop"]
    where = "this device" if run["device"] == skd.profiles.device_summary() else run["device"]
    assert f"expected time in laptop: {run['seconds'] / 60:.1f} min" in line
    assert where in line


def test_executing_a_notebook_records_its_time_under_the_profile(tmp_path, monkeypatch):
    import json

    spec = importlib.util.spec_from_file_location("notebook_tool", ROOT / "tools" / "notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setenv("SPECTRALKD_PROFILE", "tiny")
    path = tmp_path / "07_quick.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), path)
    times = tmp_path / "times.json"
    times.write_text(json.dumps({"01_old": {"laptop": {"seconds": 3.0, "device": "x", "date": "d"}}}))
    tool.execute([path], times=times)
    recorded = json.loads(times.read_text())
    assert recorded["01_old"]["laptop"]["seconds"] == 3.0  # other notebooks' entries stay
    run = recorded["07_quick"]["tiny"]
    assert run["seconds"] > 0 and ("cores" in run["device"] or "GPU" in run["device"])
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["data"]["text/plain"] == "2"
