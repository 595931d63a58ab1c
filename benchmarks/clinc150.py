"""The distillation comparison on real data: CLINC150 (150 intents, 15,000 training utterances).

    python benchmarks/clinc150.py --data ../shared/data/clinc150/data_full.json

Fine-tunes (or loads from --cache) the laptop profile's teacher on the 150 in-scope
intents, then trains students section by section, every row over --seeds:

- ``2block``: 2-block students cut from teacher blocks (DistilBERT style): no KD,
  logit KD, + hidden MSE (uniform), + spectral (uniform), + spectral (spectral choice);
- ``3block``: the same rows for 3-block students;
- ``variants``: more rows for the 3-block students: the blog's mappings (the mean of
  two blocks, 0.3 / 0.7 weights; every 2nd block is the uniform row of ``3block``) and
  the other loss forms (channel-axis spectrum, magnitude), at the same normalised
  weight as the MSE and token-axis rows, beside the token-axis spectral uniform row
  as their reference (so that the section stands on its own with another teacher).

The sections run in this order, the most telling first. (A from-scratch section, 2-block
students from random initialisation, was withdrawn: its no-KD and logit-KD rows sat at
chance because a fresh pooler over a random encoder never let cross-entropy start at lr
5e-4, so it compared a working objective with a broken recipe. Where KD earns its keep is
measured by ``benchmarks/fewlabel.py``: few labels and a transfer set.)

Every feature row uses the library's comparison setting (alpha 0.9, beta 2 on
normalised feature terms). After each section the results so far are written,
atomically, to --out/clinc150.json, .md and .png, with the command, commit, date
and core count; an interrupted run leaves the last complete sections.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from _results import provenance, provenance_line

import spectralkd_lite as skd
from spectralkd_lite.compare import COMPARISON_CONFIG, FEATURE_LABELS
from spectralkd_lite.data import load_clinc150
from spectralkd_lite.io import save_figure_atomic, write_json_atomic, write_text_atomic
from spectralkd_lite.teacher import load_teacher
from spectralkd_lite.workflows import teacher_report

SECTIONS = ("2block", "3block", "variants")
TITLES = {
    "2block": "2-block students from teacher blocks",
    "3block": "3-block students from teacher blocks",
    "variants": "3-block students from teacher blocks: the blog's mappings and the other loss forms",
}


def print_run(run: skd.RunResult) -> None:
    val = "" if run.validation_accuracy is None else f", val {100 * run.validation_accuracy:.2f}%"
    print(
        f"  {run.name:45s} seed {run.seed}: {100 * run.test_accuracy:.2f}%{val} "
        f"({run.steps} steps, {run.train_seconds:.0f} s)",
        flush=True,
    )


def section_plan(key: str, n_teacher: int, report: skd.SpectralReport) -> tuple[skd.StudentConfig, list]:
    """The student construction and the rows of one section."""
    n_student = 3 if key in ("3block", "variants") else 2
    init = tuple(skd.resolve("uniform", n_teacher, n_student).teacher_blocks)
    student = skd.StudentConfig(n_student, init_from=init, freeze_embeddings=True)
    rows = skd.standard_variants(n_teacher, n_student, report)
    if key == "variants":
        uniform = skd.resolve("uniform", n_teacher, n_student)
        forms = [
            skd.Variant(
                f"logit KD + {FEATURE_LABELS[f]}, uniform",
                dataclasses.replace(COMPARISON_CONFIG, feature=f, mapping=uniform),
            )
            for f in ("spectral_channels", "magnitude")
        ]
        return student, [rows[3]] + rows[5:] + forms  # the spectral uniform row is the reference
    return student, rows[:5]


def same_students(c: skd.Comparison, student: skd.StudentConfig, train: skd.TrainConfig) -> bool:
    """Whether comparison ``c`` trained students built as ``student`` is, with ``train``'s schedule."""
    return (
        c.meta.get("n_student_blocks") == student.n_student_blocks
        and c.meta.get("init_from") == list(student.init_from or [])
        and c.meta.get("freeze_embeddings") == student.freeze_embeddings
        and c.meta.get("pretrained_student") == student.pretrained
        and (c.meta.get("epochs"), c.meta.get("lr"), c.meta.get("batch_size"))
        == (train.epochs, train.lr, train.batch_size)
    )


def write_results(out: Path, done: dict[str, skd.Comparison], meta: dict, refs: dict[str, float]) -> None:
    """clinc150.json, .md and .png for the sections finished so far (atomic writes)."""
    md = [f"# CLINC150: distilling the {meta['profile']} teacher", "", provenance_line(meta), ""]
    md.append(
        f"Data: {meta['data']['train']} train / {meta['data']['validation']} validation / "
        f"{meta['data']['test']} test utterances, {meta['data']['intents']} in-scope intents. "
        f"Students: {meta['train']['epochs']:g} epochs at lr {meta['train']['lr']:g}, batch "
        f"{meta['train']['batch_size']}, the best epoch on validation kept; feature rows: alpha "
        f"{COMPARISON_CONFIG.alpha}, beta {COMPARISON_CONFIG.beta:g} on normalised feature terms."
    )
    md.append(
        f"Teacher blocks' spectral intensity (validation): {[round(x, 4) for x in meta['teacher_intensity']]}."
    )
    oos = meta["tfidf_151_classes"]
    md.append(
        f"TF-IDF + linear with the out-of-scope queries as a 151st class (as the literature reports it): "
        f"{100 * oos['test_accuracy']:.2f}% on {oos['test_examples']} test queries; the teacher and the "
        "students here were trained and tested on the 150 in-scope intents only."
    )
    fig, axes = plt.subplots(
        len(done), 1, figsize=(8, 2.2 + 0.55 * sum(len(c.summary()) for c in done.values()))
    )
    axes = [axes] if len(done) == 1 else list(axes)
    sections = {}
    for ax, (key, c) in zip(axes, done.items(), strict=True):
        md += ["", f"## {TITLES[key]}", "", c.to_markdown(), ""]
        md += c.verdicts()
        md.append(f"- wall time of the section: {meta['wall_seconds'].get(key, 0):.0f} s.")
        if c.meta.get("taken_over"):
            taken = ", ".join(c.meta["taken_over"])
            md.append(f"- taken over from an earlier section of this run, not trained again: {taken}.")
        if "run" in c.meta and c.meta["run"]["command"] != meta["command"]:
            run = c.meta["run"]
            md.append(f"- this section: `{run['command']}` at commit {run['commit']}, {run['date']}.")
        c.plot(ax=ax, title=textwrap.fill(f"CLINC150: {TITLES[key]}", 55))
        sections[key] = {"title": TITLES[key], **c.to_dict()}
    md += ["", f"Wall times (s): {meta['wall_seconds']}", ""]
    if meta.get("withdrawn"):
        md += [f"Withdrawn: {meta['withdrawn']}", ""]
    fig.tight_layout()
    write_json_atomic(out / "clinc150.json", {"meta": meta, "references": refs, "sections": sections})
    write_text_atomic(out / "clinc150.md", "\n".join(md))
    save_figure_atomic(fig, out / "clinc150.png", dpi=110)
    plt.close(fig)


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
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, in order; allowed: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=float, default=2.0, help="student epochs (default: 2)")
    parser.add_argument("--lr", type=float, default=5e-4, help="student learning rate (default: 5e-4)")
    parser.add_argument(
        "--teacher",
        default=None,
        help="a teacher folder fine-tuned on CLINC150's 150 intents (default: the profile's)",
    )
    parser.add_argument(
        "--teacher-epochs", type=float, default=None, help="override the profile's teacher epochs"
    )
    for flag, text in (
        ("--append", "keep the sections already in --out/clinc150.json (same teacher) and add these"),
        ("--no-cache-teacher", "run the teacher in every step instead of caching its outputs"),
    ):
        parser.add_argument(flag, action="store_true", help=text)
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="students trained at once, the cores divided between them (default: 2 where there are 2 cores)",
    )
    args = parser.parse_args()
    keys = [k.strip() for k in args.sections.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SECTIONS]
    if unknown or not keys:
        parser.error(f"unknown sections {unknown or args.sections!r}; allowed: {', '.join(SECTIONS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    # Every row keeps its best validation epoch (patience 1); the steps column shows where it stopped.
    train = skd.TrainConfig(
        epochs=args.epochs, lr=args.lr, early_stopping=1, cache_teacher=not args.no_cache_teacher
    )
    meta = provenance()  # taken before the run: the commit whose code this run loads
    meta_run = dict(meta)
    start = time.time()
    data = load_clinc150(args.data)
    print(
        f"CLINC150: {data.num_labels} intents, {len(data.train)} train / {len(data.validation)} val / {len(data.test)} test"
    )
    print(f"torch threads {torch.get_num_threads()}, profile {args.profile}, sections {keys}", flush=True)

    walls: dict[str, float] = {}
    t0 = time.time()
    tfidf = skd.tfidf_baseline(data)
    walls["tfidf"] = round(time.time() - t0, 1)
    print(f"TF-IDF + linear: {100 * tfidf['test_accuracy']:.2f}% ({walls['tfidf']:.0f} s)", flush=True)
    # as the literature also reports it: out-of-scope queries as a 151st class (train, validation and test)
    with_oos = load_clinc150(args.data, include_oos=True)
    tfidf_oos = {**skd.tfidf_baseline(with_oos), "test_examples": len(with_oos.test)}
    print(
        f"TF-IDF + linear, out-of-scope as a 151st class: {100 * tfidf_oos['test_accuracy']:.2f}%", flush=True
    )
    t0 = time.time()
    if args.teacher is not None:
        teacher, tokenizer, info = load_teacher(args.teacher, data, measure=False)
    else:
        teacher, tokenizer, info = skd.get_teacher(
            args.profile, data, cache_dir=args.cache, epochs=args.teacher_epochs
        )
    walls["teacher"] = round(time.time() - t0, 1)
    teacher_acc = skd.evaluate_accuracy(teacher, skd.text_batches(data.test, tokenizer))
    print(
        f"teacher ({info.get('base_model')}, {teacher.config.num_hidden_layers} blocks): {100 * teacher_acc:.2f}% "
        f"(trained in {info.get('train_seconds')} s{', cached' if info.get('cached') else ''})",
        flush=True,
    )
    report = teacher_report(teacher, tokenizer, data)
    print("teacher intensity by block:", [round(x, 4) for x in report.intensity], flush=True)
    refs = {"teacher": teacher_acc, "TF-IDF + linear": tfidf["test_accuracy"]}
    meta.update(
        {
            "profile": args.profile,
            "data": {
                "intents": data.num_labels,
                "train": len(data.train),
                "validation": len(data.validation),
                "test": len(data.test),
            },
            "teacher": info,
            "teacher_intensity": report.intensity,
            "tfidf": {k: v for k, v in tfidf.items() if k != "pipeline"},
            "tfidf_151_classes": {k: v for k, v in tfidf_oos.items() if k != "pipeline"},
            "train": {
                "epochs": args.epochs,
                "lr": args.lr,
                "batch_size": train.batch_size,
                "early_stopping": 1,
            },
            "feature_config": COMPARISON_CONFIG.to_dict(),
            "wall_seconds": walls,
        }
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, skd.Comparison] = {}
    if args.append and (out / "clinc150.json").exists():
        earlier, done = skd.compare.load_sections(out / "clinc150.json")
        if earlier.get("teacher", {}).get("test_accuracy") != info.get("test_accuracy"):
            parser.error(f"--append: {out / 'clinc150.json'} was measured with another teacher")
        done = {k: c for k, c in done.items() if k not in keys}
        earlier_walls = {
            ("total, earlier runs" if k == "total" else k): v
            for k, v in earlier.get("wall_seconds", {}).items()
        }
        meta = {**earlier, "wall_seconds": {**earlier_walls, **walls}}
        walls = meta["wall_seconds"]
    run_origin = {k: meta_run[k] for k in ("command", "commit", "date")}
    for key in keys:
        student, variants = section_plan(key, teacher.config.num_hidden_layers, report)
        print(f"\n## {TITLES[key]} ({len(variants)} rows x {len(seeds)} seeds)", flush=True)
        t0 = time.time()
        # a row already trained in this run on the same students (the variants section's reference row
        # is the 3-block section's spectral uniform row) is taken over rather than trained again
        c = skd.Comparison()
        for earlier in done.values():
            if not same_students(earlier, student, train):
                continue
            for v in [v for v in variants if earlier.variants.get(v.name) == v]:
                for run in [r for r in earlier.runs if r.name == v.name and r.seed in seeds]:
                    c.add(v, run)
        taken = list(c.variants)
        fresh = [v for v in variants if v.name not in c.variants]
        if taken:
            print(f"taken over from an earlier section: {', '.join(taken)}", flush=True)
        if fresh:
            new = skd.run_comparison(
                teacher, tokenizer, data, fresh, student, train, seeds, on_run=print_run, workers=args.workers
            )
            c.extend(new)
            c.meta = new.meta
        c.meta["taken_over"] = taken
        c.runs.sort(key=lambda r: [v.name for v in variants].index(r.name))  # rows in the section's order
        for name, acc in refs.items():
            c.add_reference(name, acc)
        walls[key] = round(time.time() - t0, 1)
        walls["total"] = round(time.time() - start, 1)
        c.meta["run"] = run_origin  # which command produced this section
        done[key] = c
        write_results(out, done, meta, refs)
        print(c.to_markdown(), flush=True)
        print("\n".join(c.verdicts()), flush=True)
        print(f"section {key}: {walls[key]:.0f} s; wrote {out}/clinc150.json, .md, .png", flush=True)
    print(f"\ntotal wall time {walls['total']:.0f} s")


if __name__ == "__main__":
    main()
