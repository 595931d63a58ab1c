"""From scratch, fairly: does distillation help a student that starts from random weights?

    python benchmarks/scratch.py --data ../shared/data/clinc150/data_full.json

CLINC150 with all its labels (15,000 training, 3,000 validation, 4,500 test utterances).
The laptop teacher (all-MiniLM-L6-v2) is fine-tuned on the training set to convergence
(early stopping on validation). Students have 2 blocks of width --width and start from
random weights, with a head on the mean of their real tokens' states
(``StudentConfig(pooling="mean")``, the same head for every row): over a random encoder
the first token's state barely depends on the input, so the model's own head (a fresh
pooler on that token) left cross-entropy and logit KD at chance, which made an earlier
version of this comparison one between a working objective and a broken recipe
(``benchmarks/scratch_head.py``: the same random student, cross-entropy, 3 epochs at lr
1e-3, is at chance with its own head and at 61% with the mean). Rows:

- no KD: cross-entropy only;
- logit KD at T = 1 and at T = 4: 0.1 CE + 0.9 T^2 KL(teacher || student);
- logit KD + hidden MSE on the uniform blocks; + spectral (token axis) on the uniform
  and on the most intense teacher blocks (normalised, beta 2:
  ``skd.compare.COMPARISON_CONFIG``; channels pooled to the student's width).

Two phases, both trained to convergence (early stopping on validation, --patience
epochs, at most --epochs):

1. each row's learning rate is chosen on the validation split from --grid, one run per
   grid point (seed --grid-seed);
2. every row trains at its learning rate over --seeds (paired: the same seeds and data
   order in every row); the grid run at the chosen rate is that row's run of
   --grid-seed, not trained again.

Differences come with 95% intervals (paired bootstrap over seeds and test utterances,
``Comparison.paired_difference``) and the smallest difference the design detects.
Results go to --out/scratch.json, .md and .png after every run (atomically); a rerun
with the same setting trains only the runs that are missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import torch
from _results import provenance, provenance_line
from fewlabel import epoch_lines, plot_sections, print_run, select_rows, teacher_check

import spectralkd_lite as skd
from spectralkd_lite.data import load_clinc150
from spectralkd_lite.io import read_json, write_json_atomic, write_text_atomic
from spectralkd_lite.transfer import KD, paired_lines, transfer_variants
from spectralkd_lite.workflows import teacher_report

NO_KD = "no KD"
KD_T4 = "logit KD, T = 4"
# the rows, in the order the results list them; the transfer rows' names for the same objectives
FEATURE_ROWS = (
    "logit KD + MSE, uniform",
    "logit KD + spectral, uniform",
    "logit KD + spectral, most intense",
)
PAIRS = (
    (KD, NO_KD),
    (KD_T4, NO_KD),
    (KD_T4, KD),
    ("logit KD + spectral, uniform", NO_KD),
    ("logit KD + MSE, uniform", KD),
    ("logit KD + spectral, uniform", KD),
    ("logit KD + spectral, uniform", "logit KD + MSE, uniform"),
    ("logit KD + spectral, most intense", "logit KD + spectral, uniform"),
)


def scratch_rows(n_teacher: int, intensity: list[float]) -> list[skd.Variant]:
    """No KD, logit KD at T = 1 and 4, and the feature rows of a few-label comparison (same objectives)."""
    by_name = {v.name: v for v in transfer_variants(n_teacher, intensity)}
    kd = by_name[KD]
    return [
        skd.Variant(NO_KD, skd.DistillConfig(alpha=0.0)),
        kd,
        skd.Variant(KD_T4, dataclasses.replace(kd.config, temperature=4.0)),
        *(by_name[n] for n in FEATURE_ROWS),
    ]


def grid_name(row: str, lr: float) -> str:
    return f"{row} @ lr {lr:g}"


def chosen_rates(grid: skd.Comparison, rows: list[skd.Variant], rates: list[float]) -> dict[str, float]:
    """Each row's learning rate with the best validation accuracy, for the rows whose grid is complete."""
    val = {r.name: r.validation_accuracy or 0.0 for r in grid.runs}
    chosen = {}
    for v in rows:
        scores = [val.get(grid_name(v.name, lr)) for lr in rates]
        if None not in scores:
            chosen[v.name] = rates[max(range(len(rates)), key=lambda i: (scores[i], -i))]
    return chosen


def against_lines(final: skd.Comparison, meta: dict, setting: dict) -> list[str]:
    """Each row against the same row of ``setting["against"]`` (a scratch.json of the same data and
    teacher at another epoch ceiling): paired by seed, with the share of runs that stopped early."""
    path = Path(setting["against"])
    other = read_json(path, "from-scratch results to compare with")
    if other["meta"]["data"] != meta["data"] or other["setting"]["teacher_test"] != setting["teacher_test"]:
        raise ValueError(f"{path}: another data set or teacher than this run's; its rows cannot be paired")
    earlier = skd.Comparison.from_dict(other["final"], f"{path} final")
    epochs, here = other["meta"]["train"]["epochs"], meta["train"]["epochs"]
    if epochs == here:
        raise ValueError(
            f"{path}: the same epoch ceiling ({here:g}) as this run's; --against compares ceilings"
        )
    shared = [n for n in final.variants if n in earlier.variants]
    this, that = f"at most {here:g} epochs", f"at most {epochs:g} epochs"
    both = final.renamed(this, shared)  # "no KD, at most 30 epochs"
    both.extend(earlier.renamed(that, shared))
    pairs = [(f"{n}, {this}", f"{n}, {that}") for n in shared]
    stopped = [len(r.validation_curve) < here for r in final.runs]
    lines = [
        "",
        f"## Against the same rows at most {epochs:g} epochs ({path})",
        "",
        f"{sum(stopped)} of {len(stopped)} runs here stopped early, before the {here:g}-epoch ceiling.",
        "",
    ]
    return lines + paired_lines(both, pairs)


def write_results(out: Path, meta: dict, setting: dict, grid: skd.Comparison, final: skd.Comparison) -> None:
    d, t = meta["data"], meta["train"]
    # rows in the setting's order, whichever command trained them first
    final.variants = dict(sorted(final.variants.items(), key=lambda kv: setting["rows"].index(kv[0])))
    rates = t["grid"]
    one_rate = len(rates) == 1  # a check at one rate (``--grid 1e-2``), not a choice
    title = "# From scratch, fairly: 2-block students from random weights, CLINC150"
    md = [
        title + (f": every row at lr {rates[0]:g}, at most {t['epochs']:g} epochs" if one_rate else ""),
        "",
        provenance_line(meta),
        "",
    ]
    md.append(
        f"Data: {d['train']} labelled training utterances, {d['validation']} validation, {d['test']} test "
        f"(one = {100 / d['test']:.3f} points), {d['intents']} intents; chance {100 / d['intents']:.2f}%. "
        f"Teacher ({meta['profile']} profile, seed {meta['teacher_seed']}): {100 * setting['teacher_test']:.2f}% test after "
        f"{setting['teacher_epochs']} epochs; spectral intensity by block "
        f"{[round(v, 4) for v in setting['intensity']]}. TF-IDF + linear: {100 * setting['tfidf']:.2f}%."
    )
    md.append(
        f"Students: 2 blocks of width {meta['width']} from random weights, head on the mean of the real tokens; "
        f"batch {t['batch_size']}, at most {t['epochs']:g} epochs, early stopping with patience {t['patience']} "
        f"on validation. "
        + (
            f"Learning rate {rates[0]:g} for every row (one rate: nothing is chosen)."
            if one_rate
            else f"Learning rate per row chosen on validation from {rates} (seed {t['grid_seed']})."
        )
    )
    md += ["", "## Phase 1: each row's learning rate, validation accuracy (%)", ""]
    md += [
        "| row | " + " | ".join(f"lr {lr:g}" for lr in rates) + ("" if one_rate else " | chosen") + " |",
        "|---" * (len(rates) + 1 + (not one_rate)) + "|",
    ]
    val = {r.name: r for r in grid.runs}
    chosen = setting["chosen_lr"]
    for name in setting["rows"]:
        cells = []
        for lr in rates:
            r = val.get(grid_name(name, lr))
            cells.append(
                ""
                if r is None
                else f"{100 * (r.validation_accuracy or 0):.2f} ({len(r.validation_curve)} ep.)"
            )
        if not one_rate:
            cells.append(format(chosen[name], "g") if name in chosen else "")
        md.append(f"| {name} | " + " | ".join(cells) + " |")
    md += ["", "## Phase 2: every row at its learning rate", ""]
    if final.runs:
        md += teacher_check(final, NO_KD, setting["teacher_test"])
        md += ["", final.to_markdown(), ""]
        md += paired_lines(final, PAIRS)
        md += epoch_lines(final)
        at_chance = [
            r["variant"] for r in final.summary() if r["mean"] < 2 / d["intents"]
        ]  # within twice chance: a broken row
        if at_chance and one_rate:  # a check of one rate: the rate is too high for these rows
            md.append(f"- at chance at lr {rates[0]:g} (too high a rate for them): {', '.join(at_chance)}.")
        elif at_chance:
            md.append(f"- ROWS AT CHANCE (a bug to fix, not a result): {', '.join(at_chance)}.")
    md.append(f"- wall time of the last command: {setting['wall_seconds']:.0f} s.")
    if final.runs and setting.get("against"):
        md += against_lines(final, meta, setting)
    write_json_atomic(
        out / "scratch.json",
        {"meta": meta, "setting": setting, "grid": grid.to_dict(), "final": final.to_dict()},
    )
    write_text_atomic(out / "scratch.md", "\n".join(md) + "\n")
    if final.runs:
        plot_sections({"from scratch": final}, out / "scratch.png", 1 / d["intents"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CLINC150 data_full.json")
    parser.add_argument(
        "--profile", default="laptop", help="the teacher's profile (tiny: a quick check of the script)"
    )
    parser.add_argument("--teacher-seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=128, help="the students' hidden size")
    parser.add_argument("--grid", default="3e-4,1e-3,3e-3", help="learning rates tried per row")
    parser.add_argument("--grid-seed", type=int, default=0)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--rows", default="all", help="'all', or row names separated by ';'")
    parser.add_argument("--epochs", type=float, default=15, help="most epochs")
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache", default="runs/bench")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the teacher phase")
    parser.add_argument(
        "--against",
        default=None,
        help="a scratch.json of the same data and teacher at another --epochs: each row's paired difference from it",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write --out/scratch.md and .png again from --out/scratch.json",
    )
    args = parser.parse_args()
    if args.report_only:
        path = Path(args.out) / "scratch.json"
        saved = read_json(path, "from-scratch results")
        grid, final = (skd.Comparison.from_dict(saved[k], f"{path} {k}") for k in ("grid", "final"))
        if args.against:
            saved["setting"]["against"] = args.against
        write_results(Path(args.out), saved["meta"], saved["setting"], grid, final)
        print(f"wrote {args.out}/scratch.md and .png from {path}")
        return
    rates = [float(x) for x in args.grid.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.grid_seed not in seeds:
        parser.error(f"--grid-seed {args.grid_seed} must be one of --seeds {args.seeds}")
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.time()
    meta = provenance()

    clinc = load_clinc150(args.data)
    tfidf = skd.tfidf_baseline(clinc)["test_accuracy"]
    print(f"{len(clinc.train)} train, {len(clinc.validation)} validation, {len(clinc.test)} test", flush=True)
    print(f"TF-IDF + linear: {100 * tfidf:.2f}%", flush=True)
    teacher, tokenizer, info = skd.get_teacher(
        args.profile, clinc, cache_dir=args.cache, seed=args.teacher_seed
    )
    teacher_test = skd.evaluate_accuracy(teacher, skd.text_batches(clinc.test, tokenizer))
    print(f"teacher: {100 * teacher_test:.2f}% test after {info.get('epochs_trained')} epochs", flush=True)
    report = teacher_report(teacher, tokenizer, clinc)
    print("teacher intensity by block:", [round(x, 4) for x in report.intensity], flush=True)
    rows = select_rows(scratch_rows(teacher.config.num_hidden_layers, report.intensity), args.rows, parser)
    by_name = {v.name: v for v in rows}
    student = skd.StudentConfig(2, width=args.width, pooling="mean")
    train_config = skd.TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, early_stopping=args.patience, cache_teacher=True
    )
    meta.update(
        profile=args.profile,
        teacher_seed=args.teacher_seed,
        width=args.width,
        data={
            "train": len(clinc.train),
            "validation": len(clinc.validation),
            "test": len(clinc.test),
            "intents": clinc.num_labels,
        },
        train={
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "patience": args.patience,
            "grid": rates,
            "grid_seed": args.grid_seed,
        },
    )
    setting = {
        "teacher_test": teacher_test,
        "teacher_epochs": info.get("epochs_trained"),
        "tfidf": tfidf,
        "intensity": report.intensity,
        "rows": [v.name for v in rows],
        "against": args.against,
    }

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "scratch.json"
    grid, final = skd.Comparison(), skd.Comparison()
    if path.exists():  # an earlier command's runs, when its setting is this one
        earlier = read_json(path, "from-scratch results")
        same = all(earlier["meta"].get(k) == meta[k] for k in ("train", "width", "profile", "teacher_seed"))
        if same and earlier["setting"]["teacher_test"] == teacher_test:
            grid = skd.Comparison.from_dict(earlier["grid"], f"{path} grid")
            final = skd.Comparison.from_dict(earlier["final"], f"{path} final")

    def save() -> None:
        setting["chosen_lr"] = chosen_rates(grid, rows, rates)
        setting["wall_seconds"] = round(time.time() - start, 1)
        final.runs.sort(key=lambda r: (setting["rows"].index(r.name), r.seed))
        final.references = {"teacher": teacher_test, "TF-IDF + linear": tfidf}
        write_results(out, meta, setting, grid, final)

    def train(variants: list[skd.Variant], lr: float, run_seeds: list[int], into: skd.Comparison) -> None:
        """Train ``variants`` at ``lr`` over ``run_seeds`` into ``into``, saving after every run."""
        by_run_name = {v.name: v for v in variants}

        def one(run: skd.RunResult) -> None:
            into.add(by_run_name[run.name], run)
            print_run(run)
            save()

        skd.run_comparison(
            teacher,
            tokenizer,
            clinc,
            variants,
            student,
            dataclasses.replace(train_config, lr=lr),
            run_seeds,
            on_run=one,
            workers=args.workers,
        )

    # phase 1: one run per row and grid point
    have = {r.name for r in grid.runs}
    todo = {
        lr: [skd.Variant(grid_name(v.name, lr), v.config) for v in rows if grid_name(v.name, lr) not in have]
        for lr in rates
    }
    print(
        f"phase 1: {sum(map(len, todo.values()))} of {len(rows) * len(rates)} grid runs to train", flush=True
    )
    for lr, variants in todo.items():
        if variants:
            train(variants, lr, [args.grid_seed], grid)
    chosen = chosen_rates(grid, rows, rates)
    print("chosen learning rates:", chosen, flush=True)

    # phase 2: every row at its rate; the grid's run at that rate is the row's run of --grid-seed
    grid_runs = {r.name: r for r in grid.runs}
    for v in rows:
        if (v.name, args.grid_seed) not in {(r.name, r.seed) for r in final.runs}:
            final.add(v, dataclasses.replace(grid_runs[grid_name(v.name, chosen[v.name])], name=v.name))
    rest = [s for s in seeds if s != args.grid_seed]
    done = {(r.name, r.seed) for r in final.runs}
    groups: dict[tuple[float, tuple[int, ...]], list[skd.Variant]] = {}  # (lr, missing seeds) -> rows
    for v in rows:
        missing = tuple(s for s in rest if (v.name, s) not in done)
        if missing:
            groups.setdefault((chosen[v.name], missing), []).append(by_name[v.name])
    print(f"phase 2: {sum(map(len, groups.values()))} rows to train over seeds {rest}", flush=True)
    for (lr, missing), variants in groups.items():
        train(variants, lr, list(missing), final)
    save()
    print((out / "scratch.md").read_text(), flush=True)


if __name__ == "__main__":
    main()
