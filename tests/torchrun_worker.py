"""A few DistillationTrainer steps, run under ``torchrun`` by tests/test_torchrun.py (not a test itself).

    python -m torch.distributed.run --nproc_per_node N --standalone tests/torchrun_worker.py \
        --setup DIR --out DIR --per-device-batch B --steps S

``DIR`` (--setup) holds the teacher and tokenizer (save_pretrained) and ``data.json`` (texts,
labels, label names). Every process builds the same dropout-free student (seed 0) and trains it
with plain SGD on the CPU (gloo backend); process 0 writes ``result.json`` (the loss log) and
every process writes its student's weights to ``weights-<rank>.safetensors`` in --out. The test
runs the one-process reference by calling ``train`` itself.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, RobertaForSequenceClassification, TrainingArguments

import spectralkd_lite as skd
from spectralkd_lite.data import IntentSplit
from spectralkd_lite.distill import DistillationTrainer
from spectralkd_lite.text import trainer_inputs


def train(setup: Path, out: Path, per_device_batch: int, steps: int = 3, max_length: int = 12) -> dict:
    """``steps`` SGD steps of the student in this process (one of torchrun's, or alone); returns the result.

    Writes this process's student weights to ``out / weights-<rank>.safetensors`` and, in process 0,
    the result (world size, parallel mode, steps, the loss log) to ``out / result.json``.
    """
    teacher = RobertaForSequenceClassification.from_pretrained(setup).eval()
    tok = AutoTokenizer.from_pretrained(setup)
    data = json.loads((setup / "data.json").read_text())
    split = IntentSplit(data["texts"], data["labels"], data["label_names"])

    student = skd.make_student(teacher, skd.StudentConfig(2), seed=0)
    config = skd.TrainConfig(batch_size=per_device_batch, max_length=max_length)
    inputs = trainer_inputs(student, tok, split, config, out / "trainer")
    inputs["args"] = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=per_device_batch,
        max_steps=steps,
        learning_rate=0.5,
        lr_scheduler_type="constant",
        optim="sgd",
        weight_decay=0.0,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        remove_unused_columns=False,
        disable_tqdm=True,
        use_cpu=True,
        # under torchrun only: given to a lone process, it would make accelerate wait for a process group
        ddp_backend="gloo" if "WORLD_SIZE" in os.environ else None,
        dataloader_num_workers=0,
        seed=0,  # the data order (the Trainer's random sampler) is seeded by this, the same in every process
    )
    distill = skd.DistillConfig(
        alpha=0.5, beta=0.2, feature="spectral_tokens", mapping=skd.resolve("uniform", 4, 2)
    )
    trainer = DistillationTrainer(**inputs, teacher=teacher, distill=distill)
    trainer.train()

    rank = int(os.environ.get("RANK", "0"))
    weights = {k: v.detach().contiguous() for k, v in student.state_dict().items() if v.is_floating_point()}
    save_file(weights, str(out / f"weights-{rank}.safetensors"))
    result = {
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "parallel_mode": str(trainer.args.parallel_mode),
        "steps": trainer.state.global_step,
        "log": [h for h in trainer.state.log_history if "loss" in h],
    }
    if rank == 0:
        (out / "result.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--setup", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-device-batch", type=int, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train(args.setup, args.out, args.per_device_batch, args.steps, args.max_length)


if __name__ == "__main__":
    main()
