"""End-to-end jobs behind the command line and the notebooks: analyse, demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

from .analysis import analyze
from .data import IntentData, load_intents
from .io import ensure_writable_dir, save_figure_atomic
from .mapping import LayerMapping, build_mapping
from .report import SpectralReport


def write_report_files(
    report: SpectralReport, out_dir: str | os.PathLike, highlight: list[int] | None = None
) -> dict[str, Path]:
    """report.json, report.csv, intensity.png and spectra.png in ``out_dir`` (atomic writes)."""
    import matplotlib.pyplot as plt

    from .plots import plot_intensity, plot_spectra

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
    import torch
    from transformers import AutoModel, AutoTokenizer

    from .text import text_batches

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
    """Mappings for a student of ``n_student`` blocks: spectral top-k, U shape, uniform."""
    n = report.num_layers
    k = min(n_student, n)
    first = max(1, k // 3)
    out = {
        "top": build_mapping("top", n, n_student, intensity=report.intensity, k=k),
        "ushape": build_mapping("ushape", n, n_student, first=first, last=k - first) if k >= 2 else None,
        "uniform": build_mapping("uniform", n, n_student),
    }
    return {name: m for name, m in out.items() if m is not None}


def demo(
    out_dir: str | os.PathLike = "runs/demo",
    *,
    layers: int = 6,
    hidden: int = 64,
    epochs: float = 20,
    lr: float = 3e-3,
    student_layers: int = 4,
    distill_epochs: float = 6,
    seed: int = 0,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """The README's main job (tiny profile): train a small intent classifier on the
    built-in data, analyse every block, print the table and the recommended layers,
    distil it into a smaller student (no KD, logit KD, logit KD + spectral loss on the
    recommended layers; one seed) and print that table; write everything to ``out_dir``."""
    matplotlib.use("Agg")
    from .data import load_builtin
    from .text import build_tiny_teacher, load_classifier, text_batches, train_classifier

    out = ensure_writable_dir(out_dir)
    data = load_builtin()
    log(
        f"data: built-in intents, {data.num_labels} intents, {len(data.train)} train / {len(data.validation)} validation / {len(data.test)} test"
    )
    model, tokenizer = build_tiny_teacher(data, num_layers=layers, hidden=hidden, seed=seed)
    log(
        f"teacher: RoBERTa from a config, {layers} blocks x {hidden} channels; training {epochs:g} epochs ..."
    )
    model_dir = out / "teacher"
    metrics = train_classifier(
        model, tokenizer, data, model_dir, epochs=epochs, lr=lr, seed=seed, progress=progress
    )
    log(
        f"teacher test accuracy: {metrics['test_accuracy']:.3f} (validation {metrics['validation_accuracy']:.3f}, {metrics['train_seconds']:.0f} s)"
    )
    model, tokenizer = load_classifier(model_dir)
    report = analyze(
        model,
        text_batches(data.validation, tokenizer),
        model_name="tiny-roberta-intents",
        progress=progress,
        meta={"data": "builtin", "split": "validation", "profile": "tiny", **metrics},
    )
    mappings = recommend(report, student_layers)
    top = mappings["top"].teacher_blocks
    paths = write_report_files(report, out, highlight=top)
    mappings["top"].save(out / "mapping.json")
    log("\nspectral intensity per block (validation split, padding masked; * = recommended):")
    log(report.format_table(highlight=top))
    log(
        f"\nrecommended teacher blocks for a {student_layers}-block student (top {len(top)} by intensity): {top}"
    )
    for name, m in mappings.items():
        log(f"\n{name} mapping:\n{m.describe()}")
    comparison = None
    if distill_epochs > 0:
        from .baselines import tfidf_baseline
        from .compare import Comparison, Variant, run_comparison
        from .distill import DistillConfig

        log(
            f"\ndistilling into a {student_layers}-block student ({distill_epochs:g} epochs, seed {seed}) ..."
        )
        comparison = Comparison()
        comparison.add_reference("teacher", metrics["test_accuracy"])
        comparison.add_reference("TF-IDF + linear", tfidf_baseline(data)["test_accuracy"])
        variants = [
            Variant("no KD", DistillConfig(alpha=0.0)),
            Variant("logit KD", DistillConfig(alpha=0.9)),
            Variant(
                "logit KD + spectral, top-k",
                DistillConfig(alpha=0.9, beta=0.2, feature="spectral_tokens"),
                mappings["top"],
            ),
        ]
        run_comparison(
            model,
            tokenizer,
            data,
            variants,
            num_layers=student_layers,
            seeds=(seed,),
            epochs=distill_epochs,
            lr=lr,
            comparison=comparison,
        )
        paths.update({f"comparison_{k}": v for k, v in comparison.save(out / "comparison").items()})
        log("\n" + comparison.to_markdown())
        log("(one seed: notebook 05 and `spectralkd-lite compare` run several and show the spread)")
    log(f"\nwrote {', '.join(str(p) for p in paths.values())}, {out / 'mapping.json'}")
    return {
        "report": report,
        "metrics": metrics,
        "mappings": mappings,
        "paths": paths,
        "comparison": comparison,
    }


def resolve_mapping(
    spec: str,
    n_teacher: int,
    n_student: int,
    intensity: list[float] | None = None,
) -> LayerMapping:
    """A mapping from a strategy name (top, ushape, uniform, paired), a manual spec
    like ``"1:2, 2:5+6"``, or a JSON file written by ``LayerMapping.save``."""
    if spec.endswith(".json"):
        return LayerMapping.load(spec).validate(n_student, n_teacher)
    if ":" in spec:
        return build_mapping("manual", n_teacher, n_student, spec=spec)
    if spec == "top":
        return build_mapping("top", n_teacher, n_student, intensity=intensity)
    if spec == "ushape":
        first = max(1, n_student // 3)
        return build_mapping("ushape", n_teacher, n_student, first=first, last=n_student - first)
    if spec in ("uniform", "paired"):
        return build_mapping(spec, n_teacher, n_student)
    raise ValueError(
        f"unknown mapping {spec!r}: use top, ushape, uniform, paired, a spec like '1:2, 2:5+6', or a mapping .json file"
    )


def teacher_intensity(model: Any, tokenizer: Any, data: IntentData, progress: bool = False) -> SpectralReport:
    """The teacher's spectral report on the validation split (padding masked)."""
    from .text import text_batches

    return analyze(
        getattr(model, "base_model", model),
        text_batches(data.validation, tokenizer),
        progress=progress,
        model_name=str(getattr(model.config, "name_or_path", "teacher")),
        meta={"data": data.name, "split": "validation"},
    )
