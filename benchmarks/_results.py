"""Where a committed benchmark result came from: the command, commit, date and machine."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import torch


def provenance() -> dict[str, object]:
    """The command line, git commit, UTC date, CPU cores and torch threads of this run."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {
        "command": "python " + " ".join(sys.argv),
        "commit": commit.stdout.strip() or "unknown",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def provenance_line(meta: dict) -> str:
    """One Markdown line naming the command, commit, date and cores of ``provenance()``."""
    return (
        f"`{meta['command']}` at commit {meta['commit']}, {meta['date']}, {meta['cpu_cores']} CPU cores "
        f"({meta['torch_threads']} torch threads)."
    )
