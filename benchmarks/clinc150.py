"""The distillation comparison on real data: CLINC150 (150 intents, 15,000 training utterances).

    python benchmarks/clinc150.py --data ../shared/data/clinc150/data_full.json [--profile laptop]

Fine-tunes (or loads from --cache) the profile's teacher on CLINC150, then trains a
student of --student-blocks blocks for every variant and seed, and prints the
table with the teacher and TF-IDF + linear reference rows, and the wall times.
``--rows core`` runs no KD, logit KD, + hidden MSE (uniform), + spectral (uniform)
and + spectral (spectral choice); ``--rows all`` adds the blog's mappings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch
from _results import provenance, provenance_line

import spectralkd_lite as skd
from spectralkd_lite.data import load_clinc150
from spectralkd_lite.io import save_figure_atomic, write_json_atomic, write_text_atomic
from spectralkd_lite.workflows import teacher_report


def print_run(run: skd.RunResult) -> None:
    print(
        f"  {run.name:45s} seed {run.seed}: {100 * run.test_accuracy:.2f}% ({run.train_seconds:.0f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CLINC150 data_full.json")
    parser.add_argument("--profile", default="laptop", choices=["tiny", "laptop", "full"])
    parser.add_argument("--cache", default="runs/bench", help="teacher cache folder (default: runs/bench)")
    parser.add_argument(
        "--out",
        default="benchmarks/results",
        help="folder of clinc150.json, .md and .png (default: benchmarks/results)",
    )
    parser.add_argument("--student-blocks", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=float, default=2.0, help="student epochs (default: 2)")
    parser.add_argument("--lr", type=float, default=5e-4, help="student learning rate (default: 5e-4)")
    parser.add_argument(
        "--teacher-epochs", type=float, default=None, help="override the profile's teacher epochs"
    )
    parser.add_argument("--rows", choices=["core", "all"], default="core")
    parser.add_argument(
        "--train-embeddings",
        action="store_true",
        help="also train the embeddings copied from the teacher (default: frozen)",
    )
    parser.add_argument(
        "--init",
        choices=["teacher", "scratch"],
        default="teacher",
        help="students start from uniform teacher blocks (default) or from scratch",
    )
    parser.add_argument(
        "--no-cache-teacher",
        action="store_true",
        help="run the teacher in every step instead of caching its outputs once",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    origin = provenance()  # taken before the run: the commit whose code this run loads
    start = time.time()
    data = load_clinc150(args.data)
    print(
        f"CLINC150: {data.num_labels} intents, {len(data.train)} train / {len(data.validation)} val / {len(data.test)} test"
    )
    print(f"torch threads {torch.get_num_threads()}, profile {args.profile}", flush=True)

    walls = {}
    t0 = time.time()
    tfidf = skd.tfidf_baseline(data)
    walls["tfidf_seconds"] = round(time.time() - t0, 1)
    print(f"TF-IDF + linear: {100 * tfidf['test_accuracy']:.2f}% ({time.time() - t0:.0f} s)", flush=True)
    t0 = time.time()

    teacher, tokenizer, info = skd.get_teacher(
        args.profile, data, cache_dir=args.cache, epochs=args.teacher_epochs
    )
    walls["teacher_seconds"] = round(time.time() - t0, 1)
    teacher_acc = skd.evaluate_accuracy(teacher, skd.text_batches(data.test, tokenizer))
    print(
        f"teacher ({info.get('base_model')}, {teacher.config.num_hidden_layers} blocks): {100 * teacher_acc:.2f}% "
        f"(trained in {info.get('train_seconds')} s{', cached' if info.get('cached') else ''})",
        flush=True,
    )

    report = teacher_report(teacher, tokenizer, data)
    print("teacher intensity by block:", [round(x, 4) for x in report.intensity], flush=True)
    n_t, n_s = teacher.config.num_hidden_layers, args.student_blocks
    variants = skd.standard_variants(n_t, n_s, report)
    if args.rows == "core":  # no KD, logit KD, MSE (uniform), spectral (uniform), spectral (spectral choice)
        variants = variants[:5]
    init = tuple(skd.resolve("uniform", n_t, n_s).teacher_blocks) if args.init == "teacher" else None
    student = skd.StudentConfig(
        n_s, init_from=init, freeze_embeddings=init is not None and not args.train_embeddings
    )
    train = skd.TrainConfig(epochs=args.epochs, lr=args.lr, cache_teacher=not args.no_cache_teacher)
    t1 = time.time()
    comparison = skd.run_comparison(
        teacher, tokenizer, data, variants, student, train, seeds=seeds, on_run=print_run
    )
    comparison.add_reference("teacher", teacher_acc)
    comparison.add_reference("TF-IDF + linear", tfidf["test_accuracy"])
    walls["comparison_seconds"] = round(time.time() - t1, 1)
    walls["total_seconds"] = round(time.time() - start, 1)
    comparison.meta.update(
        {
            **origin,
            "profile": args.profile,
            "data": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
            "teacher": info,
            "teacher_intensity": report.intensity,
            "tfidf": {k: v for k, v in tfidf.items() if k != "pipeline"},
            "student": {
                "n_student_blocks": n_s,
                "init_from": list(init or []),
                "frozen_embeddings": student.freeze_embeddings,
            },
            "train": {"epochs": args.epochs, "lr": args.lr, "batch_size": train.batch_size},
            "wall_seconds": walls,
        }
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    best = comparison.best()
    summary = (
        f"best student: {best['variant']} {100 * best['mean']:.2f}% = "
        f"{100 * best['mean'] / teacher_acc:.1f}% of the teacher's accuracy"
    )
    header = [
        "# CLINC150: distilling the laptop teacher into a 2-block student",
        "",
        provenance_line(comparison.meta),
        "",
    ]
    write_text_atomic(
        out / "clinc150.md",
        "\n".join(header) + comparison.to_markdown() + f"\n\n{summary}\n" + f"\nwall time: {walls}\n",
    )
    write_json_atomic(out / "clinc150.json", comparison.to_dict())
    fig = comparison.plot(title="CLINC150, 2-block students, 3 seeds")
    save_figure_atomic(fig, out / "clinc150.png", dpi=120)
    print()
    print(comparison.to_markdown())
    print("\n" + summary)
    print(f"total wall time {walls['total_seconds']:.0f} s; wrote {out}/clinc150.json, .md, .png")


if __name__ == "__main__":
    main()
