"""End-to-end jobs behind the command line and the notebooks: analyse, demo."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from transformers import AutoModel, AutoTokenizer

from .analysis import analyze
from .baselines import tfidf_baseline
from .compare import run_comparison, standard_variants
from .config import StudentConfig, TrainConfig
from .data import IntentData, load_intents
from .io import ensure_writable_dir, save_figure_atomic
from .mapping import LayerMapping, resolve
from .plots import plot_intensity, plot_spectra
from .profiles import choose_profile, profile_reason
from .report import SpectralReport
from .teacher import FULL_STUDENTS, get_teacher, load_teacher, teacher_data
from .text import text_batches

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


def demo(
    out_dir: str | os.PathLike = "runs/demo",
    *,
    profile: str | None = None,
    n_student_blocks: int = 2,
    seeds: tuple[int, ...] = (0, 1, 2),
    student_train: TrainConfig | None = None,
    teacher_overrides: dict[str, Any] | None = None,
    teacher_path: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The README's main job: the profile's teacher on the built-in intents, its spectral report and
    recommended blocks, and a distillation comparison over ``seeds`` beside TF-IDF and the teacher.

    The teacher comes from ``get_teacher`` (trained once, cached under runs/ and shared with
    the notebooks). Students of ``n_student_blocks`` blocks start from the uniform teacher
    blocks (embeddings copied and frozen) and are trained with ``student_train`` (default:
    ``DEMO_STUDENT_TRAIN[profile]``) for: no KD, logit KD, logit KD + hidden MSE (uniform),
    logit KD + spectral (uniform), logit KD + spectral (the recommended blocks).
    ``teacher_overrides`` go to the teacher recipe (e.g. ``{"epochs": 1}``); ``teacher_path``
    is a teacher folder of your own, fine-tuned on the same intents, used instead. ``log`` receives
    each line of the story (the command line passes ``print``); everything is written to ``out_dir``.
    """
    say = log or (lambda _line: None)
    name = choose_profile(profile)
    say(f"profile: {name} ({profile_reason(name, profile)})")
    out = ensure_writable_dir(out_dir)
    data = teacher_data(name)
    say(
        f"data: {data.name}, {data.num_labels} intents, {len(data.train)} train / {len(data.validation)} validation / {len(data.test)} test"
    )
    tfidf = tfidf_baseline(data)
    if teacher_path is not None:
        model, tokenizer, info = load_teacher(teacher_path, data)
        how = f"from {teacher_path}"
    else:
        model, tokenizer, info = get_teacher(name, data, **(teacher_overrides or {}))
        how = "from the cache" if info["cached"] else f"fine-tuned in {info['train_seconds']:.0f} s"
    say(f"teacher: {info['base_model']}, {info['n_blocks']} blocks x {info['width']} channels ({how})")
    report = teacher_report(model, tokenizer, data)
    mappings = recommend(report, n_student_blocks)
    top = mappings["top"].teacher_blocks
    paths = write_report_files(report, out, highlight=top)
    mappings["top"].save(out / "mapping.json")
    say("\nspectral intensity per block (validation split, padding masked; * = recommended):")
    say(report.format_table(highlight=top))
    say(
        f"\nrecommended teacher blocks for a {n_student_blocks}-block student (top {len(top)} by intensity): {top}"
    )
    n_teacher = report.num_layers
    variants = standard_variants(n_teacher, n_student_blocks, report, blog_rows=False)
    student = cut_student(n_teacher, n_student_blocks)
    init = student.init_from
    train = student_train or DEMO_STUDENT_TRAIN[name]
    say(
        f"\ndistilling into {n_student_blocks}-block students initialised from teacher blocks {list(init)} "
        f"({train.epochs:g} epochs at lr {train.lr:g}, seeds {', '.join(map(str, seeds))}) ..."
    )
    comparison = run_comparison(model, tokenizer, data, variants, student, train, seeds=seeds)
    comparison.add_reference("teacher", info["test_accuracy"])
    comparison.add_reference("TF-IDF + linear", tfidf["test_accuracy"])
    paths.update({f"comparison_{k}": v for k, v in comparison.save(out / "comparison").items()})
    say("\n" + comparison.to_markdown())
    best = comparison.best()
    other = "logit KD" if best["variant"] == "no KD" else "no KD"
    say(
        f"\nbest student: {best['variant']}, {100 * best['mean']:.2f}% "
        f"({100 * best['mean'] / info['test_accuracy']:.1f}% of the teacher); "
        + comparison.compare(best["variant"], other)
    )
    say(f"\nwrote {', '.join(str(p) for p in paths.values())}, {out / 'mapping.json'}")
    return {"report": report, "teacher": info, "mappings": mappings, "paths": paths, "comparison": comparison}


def teacher_report(model: Any, tokenizer: Any, data: IntentData, progress: bool = False) -> SpectralReport:
    """The teacher's spectral report on the validation split (padding masked)."""
    return analyze(
        getattr(model, "base_model", model),
        text_batches(data.validation, tokenizer),
        progress=progress,
        model_name=str(getattr(model.config, "name_or_path", "teacher")),
        meta={"data": data.name, "split": "validation"},
    )
