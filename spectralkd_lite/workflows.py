"""End-to-end jobs behind the command line and the notebooks: analyse, demo."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from transformers import AutoModel, AutoTokenizer

from .analysis import analyze
from .baselines import tfidf_baseline
from .compare import Variant, run_comparison
from .config import DistillConfig, StudentConfig, TrainConfig
from .data import IntentData, load_builtin, load_intents
from .io import ensure_writable_dir, save_figure_atomic
from .mapping import LayerMapping, resolve
from .plots import plot_intensity, plot_spectra
from .report import SpectralReport
from .text import build_tiny_teacher, load_classifier, text_batches, train_classifier

# The demo's teacher and students (tiny profile): measured settings, see the README.
DEMO_TEACHER_TRAIN = TrainConfig(epochs=20, lr=3e-3, batch_size=32)
DEMO_STUDENT_TRAIN = TrainConfig(epochs=6, lr=3e-3, batch_size=32)


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


def demo(
    out_dir: str | os.PathLike = "runs/demo",
    *,
    n_teacher_blocks: int = 6,
    width: int = 64,
    teacher_train: TrainConfig = DEMO_TEACHER_TRAIN,
    n_student_blocks: int = 4,
    student_train: TrainConfig | None = DEMO_STUDENT_TRAIN,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The README's main job (tiny profile): train a small intent classifier on the
    built-in data, analyse every block, recommend layers, distil it into a smaller
    student (no KD, logit KD, logit KD + spectral loss on the recommended layers; one
    seed) and write everything to ``out_dir``. ``log`` receives each line of the
    story (the command line passes ``print``); ``student_train=None`` skips distillation."""
    say = log or (lambda _line: None)
    seed = teacher_train.seed
    out = ensure_writable_dir(out_dir)
    data = load_builtin()
    say(
        f"data: built-in intents, {data.num_labels} intents, {len(data.train)} train / {len(data.validation)} validation / {len(data.test)} test"
    )
    model, tokenizer = build_tiny_teacher(data, n_blocks=n_teacher_blocks, width=width, seed=seed)
    say(
        f"teacher: RoBERTa from a config, {n_teacher_blocks} blocks x {width} channels; training {teacher_train.epochs:g} epochs ..."
    )
    model_dir = out / "teacher"
    metrics = train_classifier(model, tokenizer, data, model_dir, teacher_train)
    say(
        f"teacher test accuracy: {metrics['test_accuracy']:.3f} (validation {metrics['validation_accuracy']:.3f}, {metrics['train_seconds']:.0f} s)"
    )
    model, tokenizer = load_classifier(model_dir)
    report = analyze(
        model,
        text_batches(data.validation, tokenizer),
        model_name="tiny-roberta-intents",
        progress=teacher_train.progress,
        meta={"data": "builtin", "split": "validation", "profile": "tiny", **metrics},
    )
    mappings = recommend(report, n_student_blocks)
    top = mappings["top"].teacher_blocks
    paths = write_report_files(report, out, highlight=top)
    mappings["top"].save(out / "mapping.json")
    say("\nspectral intensity per block (validation split, padding masked; * = recommended):")
    say(report.format_table(highlight=top))
    say(
        f"\nrecommended teacher blocks for a {n_student_blocks}-block student (top {len(top)} by intensity): {top}"
    )
    for name, m in mappings.items():
        say(f"\n{name} mapping:\n{m.describe()}")
    comparison = None
    if student_train is not None:
        say(
            f"\ndistilling into a {n_student_blocks}-block student ({student_train.epochs:g} epochs, seed {seed}) ..."
        )
        variants = [
            Variant("no KD", DistillConfig(alpha=0.0)),
            Variant("logit KD", DistillConfig(alpha=0.9)),
            Variant(
                "logit KD + spectral, top-k",
                DistillConfig(alpha=0.9, beta=0.2, feature="spectral_tokens", mapping=mappings["top"]),
            ),
        ]
        comparison = run_comparison(
            model,
            tokenizer,
            data,
            variants,
            StudentConfig(n_student_blocks),
            dataclasses.replace(student_train, seed=seed),
            seeds=(seed,),
        )
        comparison.add_reference("teacher", metrics["test_accuracy"])
        comparison.add_reference("TF-IDF + linear", tfidf_baseline(data)["test_accuracy"])
        paths.update({f"comparison_{k}": v for k, v in comparison.save(out / "comparison").items()})
        say("\n" + comparison.to_markdown())
        say("(one seed: notebook 05 and `spectralkd-lite compare` run several and show the spread)")
    say(f"\nwrote {', '.join(str(p) for p in paths.values())}, {out / 'mapping.json'}")
    return {
        "report": report,
        "metrics": metrics,
        "mappings": mappings,
        "paths": paths,
        "comparison": comparison,
    }


def teacher_report(model: Any, tokenizer: Any, data: IntentData, progress: bool = False) -> SpectralReport:
    """The teacher's spectral report on the validation split (padding masked)."""
    return analyze(
        getattr(model, "base_model", model),
        text_batches(data.validation, tokenizer),
        progress=progress,
        model_name=str(getattr(model.config, "name_or_path", "teacher")),
        meta={"data": data.name, "split": "validation"},
    )
