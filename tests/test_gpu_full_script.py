"""benchmarks/gpu_full.py, the GPU check of the full profile, runs end to end at toy shapes on the CPU.

The GPU run itself needs a GPU; this test keeps every line of the script working between such runs:
the seed preset on a 24-block teacher and a narrower 12-block student, the teacher cache, the
interleaved rounds, the step timer and the result files.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = {"logit KD", "logit KD + spectral (seed preset)", "logit KD + hidden MSE (seed preset)"}


def test_gpu_full_smoke_writes_its_result(tmp_path):
    steps, rounds = 6, 2
    cmd = [
        sys.executable,
        "benchmarks/gpu_full.py",
        "--smoke",
        "--steps",
        str(steps),
        "--rounds",
        str(rounds),
    ]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [*cmd, "--skip", "1", "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_full.json").read_text())
    assert set(result["samples"]) == ROWS
    assert all(len(v) == rounds and min(v) > 0 for v in result["samples"].values())
    # every run took the steps it was asked for: --steps per round
    assert result["steps"] == dict.fromkeys(ROWS, steps * rounds)
    # the ratios are taken round by round against logit KD
    base = result["samples"]["logit KD"]
    for name, values in result["samples"].items():
        assert result["ratios"][name] == [v / b for v, b in zip(values, base, strict=True)]
    assert result["memory"]["peak_gib"] is None and result["memory"]["estimate_gib"] > 0
    assert result["meta"]["device"] == "CPU (no GPU)"
    text = (tmp_path / "gpu_full.md").read_text()
    assert "seed preset teacher blocks [1, 2, 3, 4, 5, 6, 7, 8, 9, 21, 22, 23]" in text
    assert (tmp_path / "gpu_full.png").stat().st_size > 0


def test_gpu_full_rejects_too_few_steps(tmp_path):
    cmd = [sys.executable, "benchmarks/gpu_full.py", "--smoke", "--steps", "3", "--skip", "5"]
    done = subprocess.run([*cmd, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "--steps (3) must exceed --skip (5)" in done.stderr
    assert not (tmp_path / "gpu_full.json").exists()
