"""Few labels and a transfer set: when distillation, and the spectral choice of layers, help a student.

    python benchmarks/fewlabel.py --data ../shared/data/clinc150/data_full.json --teacher-seed 0

Knowledge distillation's home ground (Turc et al. 2019; TinyBERT's transfer data): a
few labelled utterances per intent (10 of CLINC150's 100, so 1,500), the rest of the
training set (13,500) without labels as a transfer set. The laptop teacher
(all-MiniLM-L6-v2) is fine-tuned on the labelled utterances only, to convergence
(early stopping on a validation set of 5 utterances per intent: choosing epochs uses no
more labels than the setting has). Students are 2 blocks cut from the *pretrained*,
not fine-tuned, encoder (its lowest blocks, as Patient KD starts; embeddings frozen),
so the teacher's fine-tuned blocks cannot be copied. Rows, every one from that same
start, over --seeds (paired: same seeds, same data order):

- labelled only: cross-entropy on the 1,500 labelled utterances;
- pseudo-labels: + the transfer set with the teacher's top-1 intent as its label;
- logit KD: the same data, 0.1 CE + 0.9 KL to the teacher's soft targets (T = 1);
- logit KD + hidden MSE on the uniform blocks; + spectral (token axis) on the
  uniform, the most intense and the least intense teacher blocks (a control).
  Feature terms normalised by the teacher layer's energy, beta 2 (the comparison's
  default, ``skd.compare.COMPARISON_CONFIG``).

Each row trains to convergence: early stopping on the 750 validation utterances with
--patience epochs (labelled only: up to --labelled-epochs; transfer rows: up to
--epochs passes over 15,000 utterances). Differences come with 95% intervals from a
paired bootstrap over seeds and test utterances (``Comparison.paired_difference``) and
the smallest difference the design detects. Results go to --out/fewlabel.json, .md
and .png, one section per teacher fine-tuning (--teacher-seed); a run keeps the
sections of other teacher seeds already in the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from _results import provenance, provenance_line

import spectralkd_lite as skd
from spectralkd_lite.compare import COMPARISON_CONFIG
from spectralkd_lite.data import few_label_split, load_clinc150
from spectralkd_lite.io import read_json, save_figure_atomic, write_json_atomic, write_text_atomic
from spectralkd_lite.teacher import load_laptop_teacher, pseudo_label
from spectralkd_lite.transfer import (
    LABELLED,
    FewLabelData,
    paired_lines,
    pretrained_student,
    pseudo_label_accuracy,
    run_few_label,
    transfer_variants,
)
from spectralkd_lite.workflows import teacher_report


def print_run(run: skd.RunResult) -> None:
    print(
        f"  {run.name:38s} seed {run.seed}: test {100 * run.test_accuracy:.2f}%, "
        f"val {100 * (run.validation_accuracy or 0):.2f}% ({run.steps} steps, {run.train_seconds:.0f} s)",
        flush=True,
    )


def plot_sections(sections: dict[str, skd.Comparison], path: Path, chance: float) -> None:
    """One row of panels per teacher: every row on a full 0-100 scale with chance and the teacher,
    and a zoom (marked as such) where the differences are visible."""
    fig, axes = plt.subplots(
        len(sections), 2, figsize=(16, 3.6 * len(sections)), squeeze=False, layout="constrained"
    )
    for (key, c), (full, zoom) in zip(sections.items(), axes, strict=True):
        rows = c.summary()
        names = [r["variant"] for r in rows]
        y = range(len(rows))
        full.barh(y, [100 * r["mean"] for r in rows], xerr=[100 * r["std"] for r in rows], color="tab:blue")
        full.axvline(100 * chance, color="k", ls=":", label=f"chance ({100 * chance:.2f}%)")
        for (name, acc), color in zip(c.references.items(), ("tab:red", "tab:green"), strict=False):
            full.axvline(100 * acc, color=color, ls="--", label=name)
        full.set_yticks(list(y), names)
        full.set_ylim(len(rows) - 0.5, -0.5)
        full.set_xlim(0, 100)
        full.set_xlabel("test accuracy (%), mean ± std over seeds")
        full.set_title(f"{key}: full scale")
        full.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # off the bars
        c.plot(ax=zoom, title=f"{key}: zoom (not from 0)")
        zoom.set_xlabel("\n".join(textwrap.fill(line, 45) for line in zoom.get_xlabel().split("\n")))
        zoom.set_facecolor("#f4f4f4")
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)


def teacher_check(c: skd.Comparison, plain: str, teacher_test: float) -> list[str]:
    """The line that says whether the teacher beats the student trained without it (row ``plain``):
    a comparison where it does not is no KD comparison."""
    if plain not in {r.name for r in c.runs}:
        return []
    best = c.row(plain)["mean"]
    beats = teacher_test > best
    return [
        f"The teacher {'beats' if beats else 'does NOT beat'} the best student trained without it "
        f"({100 * best:.2f}%), so this section {'is' if beats else 'is not'} a KD comparison."
    ]


def epoch_lines(c: skd.Comparison) -> list[str]:
    """Per row, how many epochs each seed ran and which was best: whether the runs converged."""
    lines = []
    for name in c.variants:
        curves = [r.validation_curve for r in c.runs if r.name == name]
        if all(curves):
            runs = ", ".join(f"{len(v)} (best {v.index(max(v)) + 1})" for v in curves)
            lines.append(f"- {name}: epochs run per seed (best epoch): {runs}.")
    return lines


def write_results(out: Path, meta: dict, sections: dict[str, skd.Comparison], extra: dict) -> None:
    md = ["# Few labels and a transfer set: CLINC150, 10 labelled utterances per intent", ""]
    md += [provenance_line(meta), ""]
    d = meta["data"]
    md.append(
        f"Data: {d['labelled']} labelled training utterances ({d['per_intent']} per intent), {d['transfer']} "
        f"transfer utterances (labels dropped; the teacher labels them), {d['validation']} validation utterances "
        f"({d['validation_per_intent']} per intent, for early stopping), {d['test']} test utterances "
        f"(one = {100 / d['test']:.3f} points), {d['intents']} intents; chance {100 / d['intents']:.2f}%."
    )
    md.append(
        f"Students: 2 blocks cut from the pretrained all-MiniLM-L6-v2 (blocks {meta['student_init']}, "
        f"embeddings frozen, fresh head), lr {meta['train']['lr']:g}, batch {meta['train']['batch_size']}, "
        f"early stopping with patience {meta['train']['patience']} (labelled only: at most "
        f"{meta['train']['labelled_epochs']:g} epochs; transfer rows: at most {meta['train']['epochs']:g}). "
        f"Feature rows: alpha {COMPARISON_CONFIG.alpha}, beta {COMPARISON_CONFIG.beta:g} on normalised terms."
    )
    md.append(f"TF-IDF + linear on the labelled utterances: {100 * meta['tfidf']:.2f}%.")
    for key, c in sections.items():
        info = extra[key]
        md += ["", f"## {key}", ""]
        md.append(
            f"Teacher: {100 * info['teacher_test']:.2f}% test ({info['teacher_epochs']} epochs to converge, "
            f"validation by epoch {[round(a, 3) for a in info['teacher_curve']]}); pseudo-labels right on "
            f"{100 * info['pseudo_label_accuracy']:.2f}% of the transfer set; spectral intensity by block "
            f"{[round(x, 4) for x in info['intensity']]}."
        )
        md += teacher_check(c, LABELLED, info["teacher_test"])
        design = [v.name for v in transfer_variants(len(info["intensity"]), info["intensity"])]
        missing = [name for name in design if name not in c.variants]
        if missing:
            md.append(f"Rows of the design not run with this teacher: {'; '.join(missing)}.")
        md += ["", c.to_markdown(), ""]
        md += paired_lines(c)
        md += epoch_lines(c)
        md.append(f"- wall time of the section's last command: {info['wall_seconds']:.0f} s.")
        by_command: dict[str, list[str]] = {}
        for row, command in info.get("row_commands", {}).items():
            by_command.setdefault(command, []).append(row)
        for command, rows in by_command.items():
            md.append(f"- `{command}` trained: {', '.join(rows)}.")
    write_json_atomic(
        out / "fewlabel.json",
        {"meta": meta, "sections": {k: {**c.to_dict(), "setting": extra[k]} for k, c in sections.items()}},
    )
    write_text_atomic(out / "fewlabel.md", "\n".join(md) + "\n")
    plot_sections(sections, out / "fewlabel.png", 1 / meta["data"]["intents"])


@dataclasses.dataclass
class Setting:
    """The few-label setting shared by every row of fewlabel.py and mappings.py."""

    labelled: skd.IntentData  # labelled train, validation (few per intent) and test splits
    transfer_texts: list[str]  # the transfer set, labels dropped
    tfidf: float  # TF-IDF + linear on the labelled utterances, test accuracy
    teacher: Any
    tokenizer: Any
    info: dict  # get_teacher's metrics
    teacher_test: float
    pseudo: skd.IntentSplit  # the transfer set with the teacher's top-1 labels
    pseudo_acc: float  # the share of those labels that are right
    report: skd.SpectralReport  # the teacher's spectral report (validation split)
    init: tuple[int, ...]  # the pretrained blocks every student starts from
    student: skd.StudentConfig
    train: skd.TrainConfig  # the transfer rows' schedule: at most --epochs, early stopping
    meta: dict  # the setting as the results files record it: data, student_init, train


def prepare(args: argparse.Namespace) -> Setting:
    """Split the data, fine-tune (or load) the teacher, pseudo-label the transfer set, analyse
    the teacher and save the students' start (``add_setting_arguments``' options), printing each step."""
    if args.threads:
        torch.set_num_threads(args.threads)
    init = tuple(int(b) for b in args.student_init.split(","))

    clinc = load_clinc150(args.data)
    labelled, transfer_texts = few_label_split(
        clinc, args.per_intent, args.validation_per_intent, args.data_seed
    )
    print(
        f"{len(labelled.train)} labelled, {len(transfer_texts)} transfer, {len(labelled.validation)} validation, "
        f"{len(labelled.test)} test; torch threads {torch.get_num_threads()}",
        flush=True,
    )
    tfidf = skd.tfidf_baseline(labelled)["test_accuracy"]
    print(f"TF-IDF + linear on the labelled utterances: {100 * tfidf:.2f}%", flush=True)

    t0 = time.time()
    teacher, tokenizer, info = skd.get_teacher(
        "laptop", labelled, cache_dir=args.cache, seed=args.teacher_seed
    )
    teacher_test = skd.evaluate_accuracy(teacher, skd.text_batches(labelled.test, tokenizer))
    print(
        f"teacher (seed {args.teacher_seed}): {100 * teacher_test:.2f}% test after {info.get('epochs_trained')} "
        f"epochs, validation {info.get('validation_curve')} ({time.time() - t0:.0f} s"
        f"{', cached' if info.get('cached') else ''})",
        flush=True,
    )
    pseudo = pseudo_label(teacher, tokenizer, transfer_texts, labelled.label_names)
    pseudo_acc = pseudo_label_accuracy(pseudo, clinc.train)
    print(f"pseudo-labels right on {100 * pseudo_acc:.2f}% of the transfer set", flush=True)
    report = teacher_report(teacher, tokenizer, labelled)
    print("teacher intensity by block:", [round(x, 4) for x in report.intensity], flush=True)

    # the student's start: the pretrained encoder's blocks, saved once, loaded by every run with a fresh head
    donor, _ = load_laptop_teacher(labelled.label_names, seed=0)
    init_dir = Path(args.cache) / f"fewlabel-student-{'-'.join(map(str, init))}"
    student = pretrained_student(donor, tokenizer, init, init_dir)
    train = skd.TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        early_stopping=args.patience,
        cache_teacher=True,
    )
    meta = {
        "data": {
            "labelled": len(labelled.train),
            "per_intent": args.per_intent,
            "transfer": len(transfer_texts),
            "validation": len(labelled.validation),
            "validation_per_intent": args.validation_per_intent,
            "test": len(labelled.test),
            "intents": labelled.num_labels,
            "data_seed": args.data_seed,
        },
        "student_init": list(init),
        "train": {
            "lr": args.lr,
            "batch_size": args.batch_size,
            "patience": args.patience,
            "epochs": args.epochs,
        },
    }
    return Setting(
        labelled,
        transfer_texts,
        tfidf,
        teacher,
        tokenizer,
        info,
        teacher_test,
        pseudo,
        pseudo_acc,
        report,
        init,
        student,
        train,
        meta,
    )


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that decide the setting and the students' schedule."""
    parser.add_argument("--data", required=True, help="CLINC150 data_full.json")
    parser.add_argument("--per-intent", type=int, default=10)
    parser.add_argument("--validation-per-intent", type=int, default=5)
    parser.add_argument("--data-seed", type=int, default=0, help="which utterances are labelled")
    parser.add_argument("--teacher-seed", type=int, default=0, help="the teacher fine-tuning's seed")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=float, default=5, help="most passes over labelled + transfer")
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument(
        "--student-init", default="1,2", help="pretrained blocks the 2-block student starts from"
    )
    parser.add_argument("--cache", default="runs/bench")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--batch-size", type=int, default=64, help="student batch size")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of the teacher phase (default: torch's); one is steadier on a busy machine",
    )


def select_rows(variants: list[skd.Variant], rows: str, parser: argparse.ArgumentParser) -> list[skd.Variant]:
    """The rows ``--rows`` names ('all', or names separated by ';'), in the order given."""
    if rows == "all":
        return variants
    wanted = [r.strip() for r in rows.split(";")]
    by_name = {v.name: v for v in variants}
    unknown = set(wanted) - set(by_name)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; allowed: {', '.join(by_name)}")
    return [by_name[name] for name in wanted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_setting_arguments(parser)
    parser.add_argument("--labelled-epochs", type=float, default=40, help="most epochs, labelled only")
    parser.add_argument(
        "--rows", default="all", help="'all', or row names separated by ';', trained in that order"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write --out/fewlabel.md and .png again from --out/fewlabel.json",
    )
    args = parser.parse_args()
    if args.report_only:
        path = Path(args.out) / "fewlabel.json"
        saved = read_json(path, "few-label results")
        sections = {
            k: skd.Comparison.from_dict(s, f"{path} section {k!r}") for k, s in saved["sections"].items()
        }
        write_results(
            Path(args.out), saved["meta"], sections, {k: s["setting"] for k, s in saved["sections"].items()}
        )
        print(f"wrote {args.out}/fewlabel.md and .png from {path}")
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    meta = provenance()
    start = time.time()
    st = prepare(args)
    labelled, tfidf, teacher, tokenizer, info = st.labelled, st.tfidf, st.teacher, st.tokenizer, st.info
    teacher_test, pseudo, pseudo_acc, report = st.teacher_test, st.pseudo, st.pseudo_acc, st.report
    variants = transfer_variants(teacher.config.num_hidden_layers, report.intensity)
    variants = select_rows(variants, args.rows, parser)
    train = st.train
    key = f"teacher seed {args.teacher_seed}"
    meta.update(st.meta)
    meta["train"] = {**st.meta["train"], "labelled_epochs": args.labelled_epochs}
    meta["tfidf"] = tfidf
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections, extra = {}, {}
    path = out / "fewlabel.json"
    kept = skd.Comparison()  # rows of this teacher trained by an earlier command, not trained again
    kept_epochs: dict[str, float] = {}
    row_commands: dict[str, str] = {}
    if path.exists():  # keep the sections of other teacher fine-tunings, and this one's other rows
        earlier = read_json(path, "few-label results")
        for k, s in earlier["sections"].items():
            old = skd.Comparison.from_dict(s, f"{path} section {k!r}")
            if k != key:
                sections[k], extra[k] = old, s["setting"]
            elif s["setting"]["teacher_test"] == teacher_test:  # the same teacher: other rows, or more seeds
                training = {(v.name, seed) for v in variants for seed in seeds}
                for r in old.runs:
                    if (r.name, r.seed) not in training:
                        kept.add(old.variants[r.name], r)
                kept_epochs = {
                    name: e for name, e in old.meta.get("epochs_by_row", {}).items() if name in kept.variants
                }
                row_commands = {
                    name: cmd
                    for name, cmd in s["setting"].get("row_commands", {}).items()
                    if name in kept.variants
                }
    row_commands_before = dict(row_commands)
    order = [v.name for v in transfer_variants(teacher.config.num_hidden_layers, report.intensity)]

    def save(new: skd.Comparison) -> None:
        """After every run, so that an interrupted command leaves the runs it finished."""
        c = skd.Comparison()
        for source in (kept, new):
            for r in source.runs:
                c.add(source.variants[r.name], r)
        c.runs.sort(key=lambda r: (order.index(r.name), r.seed))
        c.references = {"teacher": teacher_test, "TF-IDF + linear": tfidf}
        c.meta.update(new.meta)
        c.meta["epochs_by_row"] = {**kept_epochs, **new.meta.get("epochs_by_row", {})}
        c.meta.update({"test_examples": len(labelled.test), "seeds": sorted({r.seed for r in c.runs})})
        for name in new.variants:  # a row another command trained seeds of: both commands, with their seeds
            earlier = sorted(r.seed for r in kept.runs if r.name == name)
            now = sorted(r.seed for r in new.runs if r.name == name)
            row_commands[name] = (
                f"{row_commands_before[name]} (seeds {earlier}); then {meta['command']} (seeds {now})"
                if earlier and name in row_commands_before
                else meta["command"]
            )
        sections[key] = c
        extra[key] = {
            "row_commands": dict(row_commands),
            "teacher_test": teacher_test,
            "teacher_epochs": info.get("epochs_trained"),
            "teacher_curve": info.get("validation_curve"),
            "teacher_train_seconds": info.get("train_seconds"),
            "pseudo_label_accuracy": pseudo_acc,
            "intensity": report.intensity,
            "wall_seconds": round(time.time() - start, 1),
            "rows_done": len(c.variants),
            "command": meta["command"],
            "commit": meta["commit"],
            "date": meta["date"],
        }
        write_results(out, meta, dict(sorted(sections.items())), extra)

    run_few_label(
        teacher,
        tokenizer,
        FewLabelData(labelled, pseudo),
        variants,
        st.student,
        train,
        seeds,
        labelled_epochs=args.labelled_epochs,
        on_run=print_run,
        on_update=save,
        workers=args.workers,
    )
    print(sections[key].to_markdown(), flush=True)
    print("\n".join(paired_lines(sections[key])), flush=True)
    print(f"wrote {out}/fewlabel.json, .md, .png; total {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
