"""End-to-end jobs behind the command line and the notebooks: analyse, demo."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from transformers import AutoModel, AutoTokenizer

from .analysis import analyze
from .baselines import tfidf_baseline
from .compare import start_workers
from .config import StudentConfig, TrainConfig
from .data import IntentData, few_label_split, load_intents
from .io import ensure_writable_dir, save_figure_atomic
from .mapping import LayerMapping, resolve
from .plots import plot_intensity, plot_spectra
from .profiles import choose_profile, profile_reason
from .report import SpectralReport
from .teacher import (
    FULL_STUDENTS,
    build_teacher,
    get_teacher,
    load_teacher,
    pseudo_label,
    recipe_for,
    teacher_data,
)
from .text import text_batches
from .training import RunResult, evaluate_accuracy
from .transfer import (
    LABELLED,
    FewLabelData,
    paired_lines,
    pretrained_student,
    pseudo_label_accuracy,
    run_few_label,
    transfer_variants,
)

__all__ = [
    "DEMO_DATA",
    "DEMO_ROWS",
    "DEMO_STUDENT_TRAIN",
    "FEW_LABELS",
    "FEW_LABEL_TRAIN",
    "DemoTeacher",
    "analyze_text_model",
    "cut_student",
    "demo",
    "profile_student",
    "recommend",
    "starting_encoder",
    "student_train",
    "teacher_report",
    "write_report_files",
]

# The demo's students by profile: few epochs, so that the demo stays a few minutes on a CPU;
# tiny students learn from scratch-trained teachers and take a larger learning rate.
DEMO_STUDENT_TRAIN = {
    "tiny": TrainConfig(epochs=6, lr=3e-3),
    "laptop": TrainConfig(epochs=3, lr=1e-3, cache_teacher=True),
    # full (GPU): the usual RoBERTa fine-tuning recipe: lr 3e-5 (2e-5..5e-5), 6% linear warm-up, 4 epochs,
    # mixed precision (bf16 where the GPU supports it, else fp16; training.training_arguments keeps it
    # off on a CPU). Untested at scale here (no GPU).
    "full": TrainConfig(epochs=4, lr=3e-5, warmup_ratio=0.06, mixed_precision=True, cache_teacher=True),
}


def write_report_files(
    report: SpectralReport, out_dir: str | os.PathLike, highlight: list[int] | None = None
) -> dict[str, Path]:
    """report.json, report.csv, intensity.png and spectra.png in ``out_dir`` (atomic writes)."""
    out = ensure_writable_dir(out_dir)
    paths = {"report": report.save(out / "report.json"), "table": report.save_csv(out / "report.csv")}
    fig = plot_intensity(report, highlight=highlight or [])
    paths["intensity"] = save_figure_atomic(fig, out / "intensity.png", dpi=120)
    plt.close(fig)
    kind = "heatmap" if len(set(report.channels)) == 1 and report.num_layers > 12 else "lines"
    fig = plot_spectra(report, kind=kind)
    paths["spectra"] = save_figure_atomic(fig, out / "spectra.png", dpi=120)
    plt.close(fig)
    return paths


def analyze_text_model(
    model_path: str,
    data: str | IntentData = "builtin",
    split: str = "validation",
    *,
    batch_size: int = 64,
    max_length: int = 64,
    max_batches: int | None = None,
    device: str | None = None,
    progress: bool = True,
) -> SpectralReport:
    """Load a text model (local folder or hub name) and analyse it on an intent split."""
    path = str(model_path)
    if not Path(path).is_dir() and (path.startswith((".", "/", "~")) or Path(path).exists()):
        raise FileNotFoundError(
            f"no model folder at {path} (expected a folder written by save_pretrained, or a hub name)"
        )
    dataset = load_intents(data) if isinstance(data, str) else data
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    if device:
        model.to(torch.device(device))
    batches = text_batches(dataset.split(split), tokenizer, batch_size=batch_size, max_length=max_length)
    return analyze(
        model,
        batches,
        max_batches=max_batches,
        model_name=path,
        progress=progress,
        meta={"data": dataset.name, "split": split},
    )


def recommend(report: SpectralReport, n_student: int) -> dict[str, LayerMapping]:
    """Mappings for a student of ``n_student`` blocks: spectral top-k, U shape, uniform.

    Each through ``mapping.resolve`` with the strategy's defaults; the U shape needs
    a student of two or more blocks.
    """
    n = report.num_layers
    names = ("top", "ushape", "uniform") if min(n, n_student) >= 2 else ("top", "uniform")
    return {name: resolve(name, n, n_student, report) for name in names}


def student_train(profile: str | None = None) -> TrainConfig:
    """The profile's student training settings: what the demo and notebook 05 train students with."""
    return DEMO_STUDENT_TRAIN[choose_profile(profile)]


def profile_student(profile: str | None, n_teacher: int, n_student_blocks: int = 2) -> StudentConfig:
    """The student notebook 05 trains in ``profile``, for a teacher of ``n_teacher`` blocks.

    ``full`` (a GPU): the pretrained ``roberta-base`` (``FULL_STUDENTS[0]``: 12 blocks x 768,
    its own embeddings, trained whole), the student of the original write-up; reading its
    config needs the hub or a cached copy. Otherwise ``n_student_blocks`` blocks cut from
    the teacher, DistilBERT style: copied from the uniform teacher blocks with the teacher's
    embeddings, which stay frozen (so every run starts from the same weights).
    """
    if choose_profile(profile) == "full":
        return StudentConfig.from_pretrained(FULL_STUDENTS[0])
    return cut_student(n_teacher, n_student_blocks)


def cut_student(n_teacher: int, n_student_blocks: int) -> StudentConfig:
    """A student of ``n_student_blocks`` blocks copied from the uniform teacher blocks and the
    teacher's embeddings (kept frozen): what the demo and the CPU notebooks train."""
    init = tuple(resolve("uniform", n_teacher, n_student_blocks).teacher_blocks)
    return StudentConfig(n_student_blocks, init_from=init, freeze_embeddings=True)


# the demo's data by profile (None: the profile teacher's, DEFAULT_DATA): laptop, 30 CLINC150 intents, whose 900
# test utterances resolve a few points where the built-in set's 240 did not
DEMO_DATA = {"tiny": "builtin", "laptop": "clinc150-subset", "full": None}

# The demo's few-label setting by profile: (labelled, validation) utterances per intent, and how its
# students train: early stopping on the few validation utterances within at most ``epochs`` passes over
# labelled + transfer utterances (the labelled-only row: as many optimiser steps at most).
# laptop: a schedule sized to the demo's 3 minutes on 2 cores, not convergence (docs/benchmarks.md, "The
# demo's schedule": at batch 64 and lr 1e-3 the most intense row had not left its plateau after 6 epochs);
# benchmarks/fewlabel.py trains to convergence.
FEW_LABELS = {"tiny": (5, 5), "laptop": (5, 5), "full": (10, 5)}
FEW_LABEL_TRAIN = {
    "tiny": TrainConfig(epochs=10, lr=3e-3, batch_size=64, early_stopping=2, cache_teacher=True),
    "laptop": TrainConfig(epochs=3, lr=2e-3, batch_size=32, early_stopping=2, cache_teacher=True),
    "full": TrainConfig(
        epochs=6, lr=3e-5, warmup_ratio=0.06, mixed_precision=True, early_stopping=2, cache_teacher=True
    ),
}
DEMO_ROWS = (LABELLED, "logit KD + spectral, uniform", "logit KD + spectral, most intense")


@dataclass(frozen=True)
class DemoTeacher:
    """The demo's teacher: ``path``, a teacher folder of your own (it may have seen more labels than the
    setting allows: the log says so), else the profile's recipe with ``overrides`` (``TeacherRecipe``
    fields, e.g. ``{"epochs": 2}``), fine-tuned on the labelled utterances or read from the cache."""

    path: str | os.PathLike | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def demo(
    out_dir: str | os.PathLike = "runs/demo",
    *,
    profile: str | None = None,
    data: str | os.PathLike | IntentData | None = None,
    n_student_blocks: int = 2,
    seeds: tuple[int, ...] = (0, 1, 2),
    student_train: TrainConfig | None = None,
    teacher: DemoTeacher = DemoTeacher(),
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The README's main job: distillation where it earns its keep, a few labels and a transfer set.

    ``data`` (default ``DEMO_DATA[profile]``: laptop, 30 CLINC150 intents; tiny, the built-in
    intents; full, CLINC150) keeps ``FEW_LABELS[profile]``
    labelled and validation utterances per intent; the other training utterances lose their
    labels and become the transfer set. The teacher (``get_teacher``, cached under runs/) is
    fine-tuned on the labelled utterances only, to convergence; its spectral report recommends
    blocks; it labels the transfer set. Students of ``n_student_blocks`` blocks start from the
    *pretrained* encoder's lowest blocks (tiny: a fresh random model), and every row of
    ``DEMO_ROWS`` trains over ``seeds`` (two students at a time on a CPU): labelled only, and logit KD +
    spectral on the uniform and on the most intense blocks (``student_train``, default ``FEW_LABEL_TRAIN[profile]``).
    ``teacher``: where the teacher comes from (``DemoTeacher``). ``log`` receives each
    line, one per trained run too (the command line passes ``print``); files go to ``out_dir``.
    """
    say = log or (lambda _line: None)
    name = choose_profile(profile)
    say(f"profile: {name} ({profile_reason(name, profile)})")
    out = ensure_writable_dir(out_dir)
    workers = 1 if torch.cuda.is_available() else min(2, os.cpu_count() or 1)
    if workers > 1:
        start_workers()  # the students' worker processes import the package while the teacher trains
    data = teacher_data(name, data if data is not None else DEMO_DATA[name])
    per_intent, per_intent_val = FEW_LABELS[name]
    labelled, transfer = few_label_split(data, per_intent, per_intent_val, seed=0)
    say(
        f"data: {data.name}, {data.num_labels} intents: {len(labelled.train)} labelled utterances ({per_intent} per "
        f"intent), {len(transfer)} more without labels (the transfer set), {len(labelled.validation)} validation "
        f"({per_intent_val} per intent), {len(labelled.test)} test"
    )
    tfidf = tfidf_baseline(labelled)
    if teacher.path is not None:
        model, tokenizer, info = load_teacher(teacher.path, labelled)
        how = f"from {teacher.path}; it may have seen more than the {len(labelled.train)} labelled utterances"
    else:
        model, tokenizer, info = get_teacher(name, labelled, **teacher.overrides)
        epochs = info.get("epochs_trained")
        how = "from the cache" if info["cached"] else f"fine-tuned in {info['train_seconds']:.0f} s"
        how += f", {epochs} epochs to converge" if epochs else ""
    teacher_acc = evaluate_accuracy(model, text_batches(labelled.test, tokenizer))
    say(
        f"teacher: {info['base_model']}, {info['n_blocks']} blocks x {info['width']} channels ({how}): "
        f"{100 * teacher_acc:.2f}% test; TF-IDF + linear on the same labels {100 * tfidf['test_accuracy']:.2f}%"
    )
    report = teacher_report(model, tokenizer, labelled)
    mappings = recommend(report, n_student_blocks)
    top = mappings["top"].teacher_blocks
    paths = write_report_files(report, out, highlight=top)
    mappings["top"].save(out / "mapping.json")
    say("\nspectral intensity per block (validation split, padding masked; * = recommended):")
    say(report.format_table(highlight=top))
    say(
        f"\nrecommended teacher blocks for a {n_student_blocks}-block student (top {len(top)} by intensity): {top}"
    )
    pseudo = pseudo_label(model, tokenizer, transfer, labelled.label_names)
    right = pseudo_label_accuracy(pseudo, data.train)
    say(f"the teacher labels the transfer set: {100 * right:.1f}% of its labels are right")
    donor = starting_encoder(name, labelled, model)
    blocks = list(range(1, n_student_blocks + 1))
    student = pretrained_student(donor, tokenizer, blocks, out / "student-init")
    n_teacher = report.num_layers
    variants = [
        v for v in transfer_variants(n_teacher, report.intensity, n_student_blocks) if v.name in DEMO_ROWS
    ]
    train = student_train or FEW_LABEL_TRAIN[name]
    start = "pretrained" if name != "tiny" else "freshly initialised"
    say(
        f"\n{len(variants)} rows x {len(seeds)} seeds: {n_student_blocks}-block students from the {start} "
        f"encoder's blocks {blocks}, lr {train.lr:g}, batch {train.batch_size}, early stopping on validation "
        f"(patience {train.early_stopping}) within at most {train.epochs:g} epochs (labelled only: as many steps)"
    )
    done = [0]

    def on_run(run: RunResult) -> None:
        done[0] += 1
        say(
            f"  [{done[0]}/{len(variants) * len(seeds)}] {run.name}, seed {run.seed}: "
            f"{100 * run.test_accuracy:.2f}% ({run.steps} steps, {run.train_seconds:.0f} s)"
        )

    comparison = run_few_label(
        model,
        tokenizer,
        FewLabelData(labelled, pseudo),
        variants,
        student,
        train,
        seeds,
        on_run=on_run,
        workers=workers,
    )
    comparison.add_reference("teacher", teacher_acc)
    comparison.add_reference("TF-IDF + linear", tfidf["test_accuracy"])
    paths.update({f"comparison_{k}": v for k, v in comparison.save(out / "comparison").items()})
    say("\n" + comparison.to_markdown())
    say("\n" + "\n".join(paired_lines(comparison)))

    def moved(a: str, b: str) -> str:
        d = comparison.paired_difference(a, b)
        return f"{100 * d['diff']:+.2f} points (95% interval {100 * d['low']:+.2f} to {100 * d['high']:+.2f})"

    uniform, most = "logit KD + spectral, uniform", "logit KD + spectral, most intense"
    blocks_of = {
        v.name: list(v.config.mapping.teacher_blocks) for v in variants if v.config.mapping is not None
    }
    say(
        f"\nin one line: with {per_intent} labels per intent and {len(transfer)} unlabelled utterances, distilling "
        f"the teacher on the transfer set (logit KD + the spectral term on the uniform blocks) moved the student "
        f"{moved(uniform, LABELLED)} against the student trained on the labels alone; aligning the most intense "
        f"teacher blocks {blocks_of[most]} instead of the uniform ones {blocks_of[uniform]} moved it "
        f"{moved(most, uniform)}."
    )
    curves = [r.validation_curve for r in comparison.runs if r.validation_curve]
    rising = sum(c.index(max(c)) == len(c) - 1 for c in curves)
    if rising:
        say(
            f"{rising} of {len(curves)} students were at their best validation accuracy when the schedule "
            "ended: a short schedule, not convergence (benchmarks/results/fewlabel.md trains to convergence)"
        )
    say(f"\nwrote {', '.join(str(p) for p in paths.values())}, {out / 'mapping.json'}")
    return {"report": report, "teacher": info, "mappings": mappings, "paths": paths, "comparison": comparison}


def starting_encoder(profile: str, data: IntentData, teacher: Any) -> Any:
    """Where a few-label student starts: the profile's pretrained encoder with a fresh head
    (laptop: all-MiniLM-L6-v2, full: roberta-large), not the fine-tuned teacher; tiny has no
    pretrained encoder, so a freshly initialised model of the teacher's shape."""
    if profile == "tiny":
        return type(teacher)(teacher.config)
    model, _ = build_teacher(profile, data, recipe_for(profile, data))
    return model


def teacher_report(model: Any, tokenizer: Any, data: IntentData, progress: bool = False) -> SpectralReport:
    """The teacher's spectral report on the validation split (padding masked)."""
    return analyze(
        getattr(model, "base_model", model),
        text_batches(data.validation, tokenizer),
        progress=progress,
        model_name=str(getattr(model.config, "name_or_path", "teacher")),
        meta={"data": data.name, "split": "validation"},
    )
