"""Cost of the spectral loss on top of logit KD, per training step.

Ratio = time of one training step (teacher forward, student forward and backward,
optimizer step) with logit KD + the spectral feature loss on the mapped layers,
over the same step with logit KD alone: same teacher, student, batch. Goal: at
most 1.10. Rows for the hidden-state MSE and the other spectral forms are printed
for reference.

    python benchmarks/kd_overhead.py [--device cuda] [--teacher-layers 12] [--student-layers 4] [--repeats 8] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _results import RESULTS, print_result, provenance, time_rounds, write_ratio_result
from transformers import RobertaConfig, RobertaForSequenceClassification

import spectralkd_lite as skd
from spectralkd_lite.training import LinkedTeacher


def model(layers: int, hidden: int, labels: int, device: str) -> RobertaForSequenceClassification:
    config = RobertaConfig(
        vocab_size=8000,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
        max_position_embeddings=130,
        pad_token_id=1,
        num_labels=labels,
    )
    return RobertaForSequenceClassification(config).to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--teacher-layers", type=int, default=12)
    parser.add_argument("--student-layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="steps per timed round")
    parser.add_argument("--repeats", type=int, default=8, help="interleaved rounds; the median is reported")
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (GPU)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for kd_overhead.json/.md/.png")
    args = parser.parse_args()
    meta = provenance() | {"device": args.device}
    torch.manual_seed(0)
    teacher = model(args.teacher_layers, args.hidden, 150, args.device).eval().requires_grad_(False)
    student = model(args.student_layers, args.hidden, 150, args.device).train()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    mapping = skd.resolve("uniform", args.teacher_layers, args.student_layers)
    linked = LinkedTeacher(mapping, args.teacher_layers)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 8000, (args.batch, args.tokens), generator=g)
    lengths = torch.randint(args.tokens // 2, args.tokens + 1, (args.batch,), generator=g)
    mask = (torch.arange(args.tokens)[None] < lengths[:, None]).long()
    batch = {
        "input_ids": ids.masked_fill(mask == 0, 1).to(args.device),
        "attention_mask": mask.to(args.device),
        "labels": torch.randint(0, 150, (args.batch,), generator=g).to(args.device),
    }
    features = {
        "spectral (tokens)": "spectral_tokens",
        "spectral (channels)": "spectral_channels",
        "hidden MSE": "mse",
    }
    configs = {"logit KD": skd.DistillConfig(alpha=0.9)} | {
        f"logit KD + {label}": skd.DistillConfig(0.9, beta=0.2, feature=kind, mapping=mapping)
        for label, kind in features.items()
    }
    cuda = args.device.startswith("cuda")

    def step(cfg: skd.DistillConfig) -> None:
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=args.bf16):
            losses, _ = skd.distill_step_losses(student, teacher, batch, cfg, linked)
        losses["total"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def steps(cfg: skd.DistillConfig) -> None:
        for _ in range(args.steps):
            step(cfg)

    runs = {name: lambda cfg=cfg: steps(cfg) for name, cfg in configs.items()}
    times = time_rounds(runs, args.repeats, args.device, per=args.steps)
    setup = (
        f"Device {args.device}, {torch.get_num_threads()} torch threads{', bf16 autocast' if args.bf16 else ''}; "
        f"teacher {args.teacher_layers} x {args.hidden}, student {args.student_layers} x {args.hidden} (random "
        f"RoBERTa weights), batch {args.batch} x {args.tokens} tokens, mapped teacher blocks "
        f"{mapping.teacher_blocks}, feature weight beta 0.2; one step = teacher forward, student forward and "
        f"backward, AdamW step; {args.steps} steps per round, {args.repeats} rounds."
    )
    verdict = write_ratio_result(
        "kd_overhead",
        meta,
        "A training step with the spectral loss over logit KD alone",
        setup,
        times,
        "ms / step",
        "logit KD + spectral (tokens)",
        1.10,
        out=args.out,
    )
    print_result(setup, times, "ms/step", verdict)


if __name__ == "__main__":
    main()
