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

from spectralkd_lite.baselines import tfidf_baseline
from spectralkd_lite.capture import num_blocks
from spectralkd_lite.compare import compare_with_references, standard_variants
from spectralkd_lite.data import load_clinc150
from spectralkd_lite.io import write_json_atomic
from spectralkd_lite.mapping import build_mapping
from spectralkd_lite.teacher import get_teacher
from spectralkd_lite.text import evaluate_accuracy
from spectralkd_lite.workflows import teacher_intensity


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
    tfidf = tfidf_baseline(data)
    print(f"TF-IDF + linear: {100 * tfidf['test_accuracy']:.2f}% ({time.time() - t0:.0f} s)", flush=True)

    teacher, tokenizer, info = get_teacher(
        args.profile, data, cache_dir=args.cache, epochs=args.teacher_epochs
    )
    teacher_acc = evaluate_accuracy(teacher, tokenizer, data.test)
    print(
        f"teacher ({info.get('base_model')}, {num_blocks(teacher)} blocks): {100 * teacher_acc:.2f}% "
        f"(trained in {info.get('train_seconds')} s{', cached' if info.get('cached') else ''})",
        flush=True,
    )

    report = teacher_intensity(teacher, tokenizer, data)
    print("teacher intensity by block:", [round(x, 4) for x in report.intensity], flush=True)
    n_t, n_s = num_blocks(teacher), args.student_layers
    variants = standard_variants(n_t, n_s, report.intensity, blog_variants=args.rows == "all")
    init = build_mapping("uniform", n_t, n_s).teacher_blocks if args.init == "teacher" else None
    comparison = compare_with_references(
        teacher,
        tokenizer,
        data,
        variants,
        teacher_accuracy=teacher_acc,
        tfidf_accuracy=tfidf["test_accuracy"],
        num_layers=n_s,
        seeds=seeds,
        init_from=init,
        epochs=args.epochs,
        lr=args.lr,
        freeze_embeddings=not args.train_embeddings,
        cache_teacher=not args.no_cache_teacher,
    )
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
