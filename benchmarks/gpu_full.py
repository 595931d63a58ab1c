"""The full profile's distillation at its real shapes: step time, the spectral loss's overhead, peak memory.

A roberta-large-shaped teacher (24 blocks x 1024 channels, 16 heads) and a roberta-base-shaped
student (12 x 768, 12 heads), both with RoBERTa's 50,265-token vocabulary, are built from configs
with random weights: nothing is downloaded, and the numbers are about cost, not accuracy. The
DistillationTrainer trains the student whole in the full profile's recipe (mixed precision: bf16
where the GPU supports it, else fp16; the teacher's outputs cached once) on an intent data set, with
the ``seed`` preset (teacher blocks 1-9 and 21-23 onto student blocks 1-12, the teacher's 1024
channels pooled to 768). Rows: logit KD alone, + the token-axis spectral loss, + the hidden-state
MSE, run in interleaved rounds (the order rotated each round); a callback times every optimiser
step (synchronising the GPU), and each round's median step time is one sample. Also recorded:
the peak GPU memory of each row against ``skd.plan_memory``'s estimate.

    python benchmarks/gpu_full.py [--data ../shared/data/clinc150/data_full.json] [--steps 100] [--rounds 3]
    python benchmarks/gpu_full.py --smoke --out DIR   # the same code at toy shapes on a CPU (the tests)
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch
from _results import RESULTS, interleaved, print_result, provenance, write_ratio_result
from transformers import RobertaForSequenceClassification, TrainerCallback

import spectralkd_lite as skd
from spectralkd_lite.distill import text_teacher_cache, text_teacher_cache_bytes
from spectralkd_lite.text import tiny_roberta_config, train_bpe_tokenizer
from spectralkd_lite.workflows import DEMO_STUDENT_TRAIN

ROBERTA_VOCAB = 50265
# (blocks, width, heads, vocabulary) of the teacher and the student
SHAPES = {
    "full": ((24, 1024, 16, ROBERTA_VOCAB), (12, 768, 12, ROBERTA_VOCAB)),
    "smoke": ((24, 32, 2, 0), (12, 24, 2, 0)),
}


def precision_name(train: skd.TrainConfig) -> str:
    """What the run trains in, by the package's one rule (``training.amp_dtype``): bf16 on a GPU that
    computes it natively, fp16 on others (a T4), fp32 on the CPU."""
    names = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32 (CPU)"}
    return names[skd.training.amp_dtype(train, "cuda")]


class StepTimer(TrainerCallback):
    """Wall time of every optimiser step, the device synchronised at both ends."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    @staticmethod
    def _sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        self.seconds.append(time.perf_counter() - self._start)


def build(
    shape: tuple[int, int, int, int], data: skd.data.IntentData, vocab: int
) -> RobertaForSequenceClassification:
    blocks, width, heads, full_vocab = shape
    config = tiny_roberta_config(
        data.num_labels,
        full_vocab or vocab,
        n_blocks=blocks,
        width=width,
        heads=heads,
        label_names=data.label_names,
    )
    return RobertaForSequenceClassification(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default="builtin", help="an intent data set for load_intents (default: builtin)"
    )
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps per row and round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; each gives one sample per row"
    )
    parser.add_argument(
        "--skip", type=int, default=5, help="steps at the start of each run left out of its median"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="toy shapes, on the CPU (what the tests run)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for gpu_full.json/.md/.png")
    args = parser.parse_args()
    if args.steps <= args.skip or args.rounds < 1:
        parser.error(
            f"--steps ({args.steps}) must exceed --skip ({args.skip}) and --rounds ({args.rounds}) be >= 1"
        )
    cuda = torch.cuda.is_available() and not args.smoke
    device = "cuda" if cuda else "cpu"
    device_name = torch.cuda.get_device_name(0) if cuda else "CPU (no GPU)"
    meta = provenance() | {"device": device_name, "torch": torch.__version__}

    data = skd.load_intents(args.data)
    tokenizer = train_bpe_tokenizer(data.train.texts, vocab_size=2000)
    torch.manual_seed(0)
    t_shape, s_shape = SHAPES["smoke" if args.smoke else "full"]
    teacher = build(t_shape, data, len(tokenizer)).to(device).eval()
    n_teacher, n_student = t_shape[0], s_shape[0]
    mapping = skd.resolve("seed", n_teacher, n_student)
    train = dataclasses.replace(DEMO_STUDENT_TRAIN["full"], batch_size=args.batch, mixed_precision=cuda)
    steps_per_epoch = -(-len(data.train) // args.batch)
    train = dataclasses.replace(train, epochs=args.steps / steps_per_epoch)
    cache_bytes = text_teacher_cache_bytes(
        data.train, tokenizer, len(mapping.teacher_blocks), t_shape[1], train.max_length
    )
    plan = skd.plan_memory(teacher, build(s_shape, data, len(tokenizer)), train, cache_bytes=cache_bytes)

    start = time.perf_counter()
    cache = text_teacher_cache(teacher, data.train, tokenizer, mapping.teacher_blocks, train.max_length)
    cache_seconds = time.perf_counter() - start
    rows = {
        "logit KD": skd.DistillConfig(alpha=0.9),
        "logit KD + spectral (seed preset)": skd.DistillConfig(
            0.9, beta=2.0, feature="spectral_tokens", mapping=mapping
        ),
        "logit KD + hidden MSE (seed preset)": skd.DistillConfig(
            0.9, beta=2.0, feature="mse", mapping=mapping
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in rows}
    peaks: dict[str, float] = dict.fromkeys(rows, 0.0)
    steps: dict[str, int] = dict.fromkeys(rows, 0)
    for r, name in interleaved(list(rows), args.rounds):
        timer = StepTimer()
        torch.manual_seed(r)
        student = build(s_shape, data, len(tokenizer))
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        _, run = skd.distill(
            teacher,
            tokenizer,
            data,
            rows[name],
            dataclasses.replace(train, seed=r, callbacks=(timer,)),
            student=student,
            cache=cache,
        )
        if cuda:
            peaks[name] = max(peaks[name], torch.cuda.max_memory_allocated() / 2**30)
        samples[name].append(1000 * statistics.median(timer.seconds[args.skip :]))
        steps[name] += run.steps
        print(
            f"round {r + 1}/{args.rounds} {name}: {samples[name][-1]:.1f} ms/step over {run.steps} steps",
            flush=True,
        )
        del student

    precision = precision_name(train)
    setup = (
        f"Device {device_name}, {precision}, torch {torch.__version__}. Teacher {n_teacher} x {t_shape[1]} "
        f"({sum(p.numel() for p in teacher.parameters()) / 1e6:.0f} M parameters), student {n_student} x "
        f"{s_shape[1]}, random weights; data {data.name}: {len(data.train)} training utterances, batch "
        f"{args.batch}, lr {train.lr}, warm-up {train.warmup_ratio}; seed preset teacher blocks "
        f"{mapping.teacher_blocks}, beta 2 on the normalised feature term, channels pooled "
        f"{t_shape[1]} -> {s_shape[1]}; teacher cache built once in {cache_seconds:.1f} s. {args.rounds} "
        f"rounds of {args.steps} steps per row (the first {args.skip} of each run left out)."
    )
    memory = {
        "estimate_gib": plan.total / 2**30,
        "estimate": plan.describe(),
        "peak_gib": peaks if cuda else None,
    }
    notes = [f"steps per row over all rounds: {steps}"]
    if cuda:
        notes += [f"peak GPU memory allocated, {name}: {gib:.2f} GiB" for name, gib in peaks.items()]
    else:
        notes.append("no GPU here: no peak GPU memory to record")
    notes.append(
        f"plan_memory's estimate (at {train.max_length} tokens, the longest a batch can be): {plan.describe()}"
    )
    verdict = write_ratio_result(
        "gpu_full",
        meta,
        "The full profile's shapes: a training step with the spectral loss over logit KD alone",
        setup,
        samples,
        "ms / step",
        "logit KD + spectral (seed preset)",
        1.10,
        notes=notes,
        out=args.out,
        extra={"memory": memory, "steps": steps, "cache_seconds": cache_seconds},
    )
    print_result(setup, samples, "ms/step", verdict, notes)


if __name__ == "__main__":
    main()
