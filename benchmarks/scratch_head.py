"""Which head lets cross-entropy train a student from random weights: the first token, or the mean of the tokens?

    python benchmarks/scratch_head.py --data ../shared/data/clinc150/data_full.json

The same 2-block student of width --width, from random weights, trained with
cross-entropy only on CLINC150's 15,000 training utterances (--epochs, lr --lr, batch
--batch-size, seed 0), once with the model's own head (BERT's pooler: dense + tanh on
the first token's state) and once with that head reading the mean of the real tokens'
states (``StudentConfig(pooling="mean")``). The check behind ``benchmarks/scratch.py``'s
choice of head. Results: --out/scratch_head.json, .md and .png.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from _results import provenance, provenance_line

import spectralkd_lite as skd
from spectralkd_lite.data import load_clinc150
from spectralkd_lite.io import save_figure_atomic, write_json_atomic, write_text_atomic
from spectralkd_lite.pooling import POOLINGS
from spectralkd_lite.teacher import load_laptop_teacher

HEADS = {"first": "the model's own head (pooler on the first token)", "mean": "the mean of the real tokens"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CLINC150 data_full.json")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    meta = provenance()
    clinc = load_clinc150(args.data)
    # the architecture (all-MiniLM-L6-v2's config and tokenizer); its weights are not used: the student is random
    model, tokenizer = load_laptop_teacher(clinc.label_names)
    train = skd.TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=0)
    rows = {}
    for pooling in POOLINGS:
        start = time.time()
        _, run = skd.distill(
            model,
            tokenizer,
            clinc,
            skd.DistillConfig(alpha=0.0),
            train,
            student=skd.StudentConfig(2, width=args.width, pooling=pooling),
        )
        rows[pooling] = {
            "test_accuracy": run.test_accuracy,
            "validation_accuracy": run.validation_accuracy,
            "final_loss": run.log[-1]["loss"],
            "steps": run.steps,
            "seconds": round(time.time() - start, 1),
        }
        print(
            f"{pooling}: test {100 * run.test_accuracy:.2f}%, last logged loss {run.log[-1]['loss']:.3f}",
            flush=True,
        )
    chance = 1 / clinc.num_labels
    md = ["# Which head lets cross-entropy train a random student", "", provenance_line(meta), ""]
    md.append(
        f"2 blocks of width {args.width} from random weights, cross-entropy only, CLINC150 ({len(clinc.train)} "
        f"training, {len(clinc.test)} test utterances, chance {100 * chance:.2f}%, ln {clinc.num_labels} = "
        f"{math.log(clinc.num_labels):.3f}), lr {args.lr:g}, batch {args.batch_size}, "
        f"{args.epochs:g} epochs, seed 0, {args.threads} torch thread(s)."
    )
    md += [
        "",
        "| head reads | test accuracy | validation | last logged loss | steps | s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for pooling, r in rows.items():
        md.append(
            f"| {HEADS[pooling]} | {100 * r['test_accuracy']:.2f}% | {100 * r['validation_accuracy']:.2f}% | "
            f"{r['final_loss']:.3f} | {r['steps']} | {r['seconds']:.0f} |"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "scratch_head.json", {"meta": meta, "args": vars(args), "rows": rows})
    write_text_atomic(out / "scratch_head.md", "\n".join(md) + "\n")
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    ax.barh(list(HEADS.values()), [100 * rows[p]["test_accuracy"] for p in HEADS], color="tab:blue")
    ax.axvline(100 * chance, color="k", ls=":", label=f"chance ({100 * chance:.2f}%)")
    ax.set_xlim(0, 100)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title(f"random 2-block student, cross-entropy, {args.epochs:g} epochs at lr {args.lr:g}")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    save_figure_atomic(fig, out / "scratch_head.png", dpi=110)
    plt.close(fig)
    print("\n".join(md), flush=True)


if __name__ == "__main__":
    main()
