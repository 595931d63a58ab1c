"""Execute the tutorial notebooks and store them with clean, reproducible metadata.

    python tools/notebooks.py execute notebooks/*.ipynb
    python tools/notebooks.py execute --no-times notebooks/06_*.ipynb   # on a busy machine
    python tools/notebooks.py clean notebooks/*.ipynb

Cleaning drops widget state, execution timestamps and kernel-specific metadata,
and refuses to store a notebook that mentions an absolute path of this machine.
Executing also records each notebook's wall time, profile and device in
spectralkd_lite/notebook_times.json, which a notebook's first cell reports on Colab.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TIMES = Path(__file__).resolve().parent.parent / "spectralkd_lite" / "notebook_times.json"
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


def record_time(path: Path, seconds: float, times: Path = TIMES) -> None:
    """Store the wall time of ``path`` under its profile and this device in ``times`` (atomically)."""
    from spectralkd_lite.io import write_json_atomic
    from spectralkd_lite.profiles import choose_profile, device_summary

    runs = json.loads(times.read_text()) if times.is_file() else {}
    runs.setdefault(path.stem, {})[choose_profile()] = {
        "seconds": round(seconds, 1),
        "device": device_summary(),
        "date": datetime.date.today().isoformat(),
    }
    write_json_atomic(times, dict(sorted(runs.items())))


def execute(paths: list[Path], timeout: int = 1200, times: Path | None = TIMES) -> None:
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
        seconds = time.time() - start
        if times is not None:
            record_time(path, seconds, times)
        print(f"{path}: executed in {seconds:.0f} s")


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
    parser.add_argument(
        "--no-times",
        action="store_true",
        help="execute without recording the wall time (a busy machine's time would mislead Colab readers)",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "execute":
            execute(args.notebooks, times=None if args.no_times else TIMES)
        else:
            clean_files(args.notebooks)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
