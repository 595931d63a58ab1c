"""The committed benchmark reports are what their JSON says: each script's --report-only writes the
Markdown again from the committed JSON, and it must match the committed file line for line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# (script, the JSON and Markdown it writes, committed files written by that script)
REPORTS = [
    (
        "scratch.py",
        "scratch",
        ["scratch", "scratch_grid_edge", "scratch_30_epochs", "scratch_30_epochs_patience5"],
    ),
    ("fewlabel.py", "fewlabel", ["fewlabel"]),
]


@pytest.mark.parametrize(
    ("script", "stem", "committed"),
    [(script, stem, c) for script, stem, cs in REPORTS for c in cs],
)
def test_a_committed_report_is_written_again_from_its_json(tmp_path, script, stem, committed):
    if not (RESULTS / f"{committed}.json").exists():
        pytest.skip(f"no committed {committed}.json")
    shutil.copy(RESULTS / f"{committed}.json", tmp_path / f"{stem}.json")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / script),
            "--data",
            "unused",
            "--report-only",
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    written = (tmp_path / f"{stem}.md").read_text().splitlines()
    assert written == (RESULTS / f"{committed}.md").read_text().splitlines()
    assert (tmp_path / f"{stem}.png").stat().st_size > 0


def test_a_one_rate_check_chooses_nothing(tmp_path):
    """A from-scratch run with one learning rate is a check of that rate: no 'chosen' column."""
    md = (RESULTS / "scratch_grid_edge.md").read_text()
    assert "every row at lr 0.01" in md.splitlines()[0]
    assert "| row | lr 0.01 |" in md and "chosen |" not in md
