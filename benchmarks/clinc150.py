"""The distillation comparison on real data: CLINC150 (150 intents, 15,000 training utterances).

    python benchmarks/clinc150.py --data ../shared/data/clinc150/data_full.json [--profile laptop]

Fine-tunes (or loads from --cache) the profile's teacher on CLINC150, then trains a
student of --student-layers blocks for every variant and seed, and prints the
table with the teacher and TF-IDF + linear reference rows, and the wall times.
``--rows core`` runs no KD, logit KD, + hidden MSE (uniform), + spectral (uniform)
and + spectral (spectral choice); ``--rows all`` adds the blog's mappings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import spectralkd_lite as skd
from spectralkd_lite.data import load_clinc150
from spectralkd_lite.io import write_json_atomic
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
    parser.add_argument("--out", default="runs/bench/clinc150", help="results folder")
    parser.add_argument("--student-layers", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=float, default=1.0, help="student epochs (default: 1)")
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
    start = time.time()
    data = load_clinc150(args.data)
    print(
        f"CLINC150: {data.num_labels} intents, {len(data.train)} train / {len(data.validation)} val / {len(data.test)} test"
    )
    print(f"torch threads {torch.get_num_threads()}, profile {args.profile}", flush=True)

    t0 = time.time()
    tfidf = skd.tfidf_baseline(data)
    print(f"TF-IDF + linear: {100 * tfidf['test_accuracy']:.2f}% ({time.time() - t0:.0f} s)", flush=True)

    teacher, tokenizer, info = skd.get_teacher(
        args.profile, data, cache_dir=args.cache, epochs=args.teacher_epochs
    )
    teacher_acc = skd.evaluate_accuracy(teacher, skd.text_batches(data.test, tokenizer))
    print(
        f"teacher ({info.get('base_model')}, {teacher.config.num_hidden_layers} blocks): {100 * teacher_acc:.2f}% "
        f"(trained in {info.get('train_seconds')} s{', cached' if info.get('cached') else ''})",
        flush=True,
    )

    report = teacher_report(teacher, tokenizer, data)
    print("teacher intensity by block:", [round(x, 4) for x in report.intensity], flush=True)
    n_t, n_s = teacher.config.num_hidden_layers, args.student_layers
    variants = skd.standard_variants(n_t, n_s, report)
    if args.rows == "core":  # no KD, logit KD, MSE (uniform), spectral (uniform), spectral (spectral choice)
        variants = variants[:5]
    init = tuple(skd.resolve("uniform", n_t, n_s).teacher_blocks) if args.init == "teacher" else None
    student = skd.StudentConfig(
        n_s, init_from=init, freeze_embeddings=init is not None and not args.train_embeddings
    )
    train = skd.TrainConfig(epochs=args.epochs, lr=args.lr, cache_teacher=not args.no_cache_teacher)
    comparison = skd.run_comparison(
        teacher, tokenizer, data, variants, student, train, seeds=seeds, on_run=print_run
    )
    comparison.add_reference("teacher", teacher_acc)
    comparison.add_reference("TF-IDF + linear", tfidf["test_accuracy"])
    comparison.meta.update({"profile": args.profile, "teacher": info, "tfidf": tfidf, "init_from": init})
    out = Path(args.out)
    paths = comparison.save(out)
    print()
    print(comparison.to_markdown())
    best = comparison.best()
    print(
        f"\nbest student: {best['variant']} {100 * best['mean']:.2f}% = "
        f"{100 * best['mean'] / teacher_acc:.1f}% of the teacher's accuracy"
    )
    print(f"total wall time {time.time() - start:.0f} s; wrote {', '.join(str(p) for p in paths.values())}")
    write_json_atomic(out / "wall.json", {"total_seconds": round(time.time() - start, 1)})


if __name__ == "__main__":
    main()
