"""Execute the tutorial notebooks and store them with clean, reproducible metadata.

    python tools/notebooks.py execute notebooks/*.ipynb
    python tools/notebooks.py clean notebooks/*.ipynb

Cleaning drops widget state, execution timestamps and kernel-specific metadata,
and refuses to store a notebook that mentions an absolute path of this machine.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ABSOLUTE_PATH = re.compile(r"(/work/|/tmp/|/root/|/home/|/Users/)")


def clean(nb) -> None:
    """Strip widget state, timings and kernel metadata in place."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            data.pop("application/vnd.jupyter.widget-view+json", None)


def check_paths(path: Path, text: str) -> None:
    match = ABSOLUTE_PATH.search(text)
    if match:
        line = text[: match.start()].count("\n") + 1
        raise ValueError(
            f"{path}: contains an absolute path ({match.group(0)}...) near line {line}; do not commit it"
        )


def execute(paths: list[Path], timeout: int = 1200) -> None:
    for path in paths:
        start = time.time()
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        clean(nb)
        text = nbformat.writes(nb) + "\n"
        check_paths(path, text)
        path.write_text(text, encoding="utf-8")
        print(f"{path}: executed in {time.time() - start:.0f} s")


def clean_files(paths: list[Path]) -> None:
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        clean(nb)
        text = nbformat.writes(nb) + "\n"
        check_paths(path, text)
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/notebooks.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["execute", "clean"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        (execute if args.action == "execute" else clean_files)(args.notebooks)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
