"""The DistillationTrainer under ``torchrun --nproc_per_node 2`` on the CPU (gloo) takes the same steps as
one process with the same global batch: this is how a user with several GPUs scales.

tests/torchrun_worker.py trains a dropout-free 2-block student for 3 SGD steps: 2 processes x 8 examples
under torchrun against 1 process x 16 (the worker's ``train`` called here, while torchrun runs). The
Trainer's random sampler is seeded alike in both and, under torchrun, each step's 16 examples are split
8 + 8 between the processes, so every step sees the same examples. Every text is cut to the same number
of tokens (no padding), so the per-token means of the feature loss over the two halves average to the
mean over the whole: the runs differ only by float32 rounding (the losses are computed in float32).

Tolerances, with what was measured (2 cores):
- step 1, before any update: ``loss`` and ``grad_norm`` within 2e-5 relative (measured 1e-6 and
  3e-6); the loss terms, logged to 5 decimals, within 2e-5 (measured 1e-5, one rounding step). The
  loss terms logged from process 0 alone would differ by 4e-4 (ce), a gradient without the all-reduce
  in grad_norm by far more.
- steps 2 and 3 and the final weights: the spectral feature loss amplifies that rounding about tenfold
  per SGD step, so 1e-3 relative for the log (measured at most 9e-5) and 2e-4 absolute for the weights
  (measured at most 4.5e-5; the 3 SGD steps move them by up to 0.19, a typical tensor's largest
  element by 3e-3).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from spectralkd_lite.data import IntentSplit

WORKER = Path(__file__).with_name("torchrun_worker.py")
MAX_LENGTH = 12  # tokens per text, special tokens included
GLOBAL_BATCH = 16
STEPS = 3
KEYS = ("loss", "grad_norm", "loss_ce", "loss_kd", "loss_feature")
FIRST_STEP_RTOL, TERM_ATOL = 2e-5, 2e-5
LATER_RTOL, WEIGHT_ATOL = 1e-3, 2e-4


@pytest.fixture(scope="module")
def setup_dir(small_teacher, tmp_path_factory):
    """The teacher and tokenizer (saved) and a training split of texts of at least MAX_LENGTH tokens."""
    teacher, tok, data = small_teacher(4, 4, vocab_size=400, width=32)
    lengths = [len(ids) for ids in tok(data.train.texts)["input_ids"]]
    keep = [i for i, n in enumerate(lengths) if n >= MAX_LENGTH]
    assert len(keep) >= GLOBAL_BATCH * STEPS, len(keep)
    split = IntentSplit(
        [data.train.texts[i] for i in keep], [data.train.labels[i] for i in keep], data.train.label_names
    )
    folder = tmp_path_factory.mktemp("torchrun-setup")
    teacher.config.hidden_dropout_prob = 0.0  # the student copies the teacher's config: no dropout
    teacher.config.attention_probs_dropout_prob = 0.0
    teacher.save_pretrained(folder)
    tok.save_pretrained(folder)
    (folder / "data.json").write_text(
        json.dumps({"texts": split.texts, "labels": split.labels, "label_names": split.label_names})
    )
    return folder


def worker_module():
    spec = importlib.util.spec_from_file_location("torchrun_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch(setup: Path, out: Path, nproc: int) -> subprocess.Popen:
    """Start the worker under torchrun with ``nproc`` processes (GLOBAL_BATCH // nproc examples each)."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--standalone"),
        *(
            str(WORKER),
            "--setup",
            str(setup),
            "--out",
            str(out),
            "--per-device-batch",
            str(GLOBAL_BATCH // nproc),
        ),
        *("--steps", str(STEPS), "--max-length", str(MAX_LENGTH)),
    ]
    out.mkdir(parents=True)
    log = (out / "torchrun.log").open("w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def finish(run: subprocess.Popen, out: Path, nproc: int) -> dict:
    """Wait for a launched run; returns process 0's result and every process's weights."""
    try:
        code = run.wait(timeout=300)
    except subprocess.TimeoutExpired:
        run.kill()
        run.wait()
        raise
    assert code == 0, f"torchrun exited with {code}:\n{(out / 'torchrun.log').read_text()[-6000:]}"
    result = json.loads((out / "result.json").read_text())
    result["weights"] = [load_file(out / f"weights-{rank}.safetensors") for rank in range(nproc)]
    return result


def test_two_processes_take_the_same_steps_as_one_with_the_same_global_batch(setup_dir, tmp_path):
    import torch

    torchrun = launch(setup_dir, tmp_path / "two", nproc=2)
    try:
        (tmp_path / "one").mkdir()
        one = worker_module().train(setup_dir, tmp_path / "one", GLOBAL_BATCH, STEPS, MAX_LENGTH)
        one["weights"] = [load_file(tmp_path / "one" / "weights-0.safetensors")]
    finally:
        two = finish(torchrun, tmp_path / "two", nproc=2)
    assert two["world_size"] == 2 and two["parallel_mode"].endswith(".DISTRIBUTED"), two["parallel_mode"]
    assert one["world_size"] == 1 and one["parallel_mode"].endswith(".NOT_PARALLEL"), one["parallel_mode"]
    assert one["steps"] == two["steps"] == STEPS
    assert len(one["log"]) == len(two["log"]) == STEPS
    for step, (a, b) in enumerate(zip(one["log"], two["log"], strict=True), start=1):
        rtol = FIRST_STEP_RTOL if step == 1 else LATER_RTOL
        for key in KEYS:
            atol = TERM_ATOL if key.startswith("loss_") else 0.0
            assert b[key] == pytest.approx(a[key], rel=rtol, abs=atol), (step, key, a[key], b[key])
    assert len({entry["loss"] for entry in one["log"]}) == STEPS  # the steps did train
    # the two processes hold one model (DDP keeps them in step), and it is the single process's
    first, second = two["weights"]
    for name, value in first.items():
        torch.testing.assert_close(second[name], value, rtol=0, atol=0, msg=name)
        torch.testing.assert_close(value, one["weights"][0][name], rtol=0, atol=WEIGHT_ATOL, msg=name)
