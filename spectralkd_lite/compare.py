"""An honest comparison of distillation variants: several seeds, mean and spread, baselines.

Every table has the no-KD and logit-KD-only rows (logit KD alone is a strong
baseline), and reference rows (the teacher, TF-IDF + a linear classifier) so a
reader sees where the students stand.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .distill import DistillConfig, RunResult, distill
from .io import csv_text, save_figure_atomic, write_json_atomic, write_text_atomic
from .mapping import LayerMapping, build_mapping


@dataclass(frozen=True)
class Variant:
    """One row of the comparison: an objective and the layers it aligns."""

    name: str
    config: DistillConfig
    mapping: LayerMapping | None = None

    def describe(self) -> str:
        if self.mapping is None:
            return "-"
        return "; ".join(
            link.describe().replace("student ", "s").replace("teacher ", "t") for link in self.mapping.links
        )


def standard_variants(
    n_teacher: int,
    n_student: int,
    intensity: Sequence[float] | None,
    *,
    feature: str = "spectral_tokens",
    beta: float = 0.2,
    alpha: float = 0.9,
    spectral_mapping: LayerMapping | None = None,
    blog_variants: bool = True,
) -> list[Variant]:
    """The rows of the tutorial's comparison.

    no KD; logit KD only; logit KD + hidden MSE (uniform); logit KD + spectral
    (uniform); logit KD + spectral with the spectrally chosen layers (top-k by
    intensity, or ``spectral_mapping`` from the layer picker); and the blog's
    variants: every 2nd teacher block, the mean of two teacher blocks, 0.3 / 0.7.
    """
    uniform = build_mapping("uniform", n_teacher, n_student)
    spectral = spectral_mapping
    if spectral is None and intensity is not None:
        spectral = build_mapping("top", n_teacher, n_student, intensity=intensity)
    spec = DistillConfig(alpha=alpha, beta=beta, feature=feature)
    rows = [
        Variant("no KD", DistillConfig(alpha=0.0)),
        Variant("logit KD", DistillConfig(alpha=alpha)),
        Variant("logit KD + MSE, uniform", DistillConfig(alpha=alpha, beta=beta, feature="mse"), uniform),
        Variant("logit KD + spectral, uniform", spec, uniform),
    ]
    if spectral is not None:
        rows.append(Variant("logit KD + spectral, spectral choice", spec, spectral))
    if blog_variants:
        if 2 * n_student <= n_teacher:
            every2 = build_mapping("uniform", n_teacher, n_student, step=2, start=2)
            if every2 != uniform:
                rows.append(Variant("logit KD + spectral, every 2nd block", spec, every2))
            rows.append(
                Variant(
                    "logit KD + spectral, mean of 2 blocks",
                    spec,
                    build_mapping("paired", n_teacher, n_student),
                )
            )
            rows.append(
                Variant(
                    "logit KD + spectral, 0.3/0.7 of 2 blocks",
                    spec,
                    build_mapping("paired", n_teacher, n_student, weights=(0.3, 0.7)),
                )
            )
    return rows


@dataclass
class Comparison:
    """Runs of every variant over several seeds, plus reference rows."""

    runs: list[RunResult] = field(default_factory=list)
    variants: dict[str, Variant] = field(default_factory=dict)
    references: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def add_reference(self, name: str, accuracy: float) -> None:
        self.references[name] = float(accuracy)

    def summary(self) -> list[dict[str, Any]]:
        """One row per variant: mean, std (sample), min, max of test accuracy, n seeds, seconds."""
        rows = []
        for name in dict.fromkeys(r.name for r in self.runs):
            accs = [r.test_accuracy for r in self.runs if r.name == name]
            secs = [r.train_seconds for r in self.runs if r.name == name]
            rows.append(
                {
                    "variant": name,
                    "mean": statistics.fmean(accs),
                    "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                    "min": min(accs),
                    "max": max(accs),
                    "n": len(accs),
                    "seconds": statistics.fmean(secs),
                    "layers": self.variants[name].describe() if name in self.variants else "-",
                }
            )
        return rows

    def best(self) -> dict[str, Any]:
        return max(self.summary(), key=lambda r: r["mean"])

    def row(self, name: str) -> dict[str, Any]:
        for r in self.summary():
            if r["variant"] == name:
                return r
        raise KeyError(f"no variant {name!r}; have {', '.join(r['variant'] for r in self.summary())}")

    def exceeds_spread(self, a: str, b: str) -> bool:
        """True when the seed ranges [min, max] of variants a and b do not overlap."""
        ra, rb = self.row(a), self.row(b)
        return ra["min"] > rb["max"] or rb["min"] > ra["max"]

    def to_markdown(self) -> str:
        lines = [
            "| variant | test accuracy (mean ± std) | min – max | seeds | s / run | aligned layers |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for name, acc in self.references.items():
            lines.append(f"| {name} (reference) | {100 * acc:.2f} | | | | |")
        for r in self.summary():
            lines.append(
                f"| {r['variant']} | {100 * r['mean']:.2f} ± {100 * r['std']:.2f} | "
                f"{100 * r['min']:.2f} – {100 * r['max']:.2f} | {r['n']} | {r['seconds']:.1f} | {r['layers']} |"
            )
        return "\n".join(lines)

    def to_csv(self) -> str:
        header = ["variant", "mean", "std", "min", "max", "n", "seconds", "layers"]
        rows = [
            [f"{name} (reference)", f"{acc:.6f}", "", "", "", "", "", ""]
            for name, acc in self.references.items()
        ]
        rows += [
            [
                r["variant"],
                *(f"{r[k]:.6f}" for k in ("mean", "std", "min", "max")),
                r["n"],
                f"{r['seconds']:.2f}",
                r["layers"],
            ]
            for r in self.summary()
        ]
        return csv_text(header, rows)

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """results.csv, results.md, results.json and results.png in ``out_dir`` (atomic writes)."""
        import matplotlib.pyplot as plt

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "csv": write_text_atomic(out / "results.csv", self.to_csv()),
            "markdown": write_text_atomic(out / "results.md", self.to_markdown() + "\n"),
            "json": write_json_atomic(
                out / "results.json",
                {
                    "summary": self.summary(),
                    "references": self.references,
                    "runs": [{k: v for k, v in r.__dict__.items() if k != "log"} for r in self.runs],
                    "meta": self.meta,
                },
            ),
        }
        fig = self.plot()
        paths["figure"] = save_figure_atomic(fig, out / "results.png", dpi=120)
        plt.close(fig)
        return paths

    def plot(self, ax: Any = None):
        """Test accuracy per variant: mean (bar), each seed (dots), references (dashed lines)."""
        from .plots import figure_axes

        rows = self.summary()
        fig, ax = figure_axes(ax, (7.5, 0.45 * len(rows) + 1.6))
        names = [r["variant"] for r in rows]
        y = list(range(len(rows)))
        ax.barh(
            y,
            [100 * r["mean"] for r in rows],
            xerr=[100 * r["std"] for r in rows],
            color="tab:blue",
            alpha=0.6,
        )
        for i, name in enumerate(names):
            accs = [100 * r.test_accuracy for r in self.runs if r.name == name]
            ax.plot(accs, [i] * len(accs), "k.", ms=6)
        colors = ["tab:red", "tab:green", "tab:purple"]
        for (name, acc), color in zip(self.references.items(), colors, strict=False):
            ax.axvline(100 * acc, ls="--", color=color, label=name)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        lo = min([100 * r["min"] for r in rows] + [100 * a for a in self.references.values()])
        hi = max([100 * r["max"] for r in rows] + [100 * a for a in self.references.values()])
        ax.set_xlim(max(0.0, lo - 0.1 * (hi - lo + 1) - 1), min(100.0, hi + 0.1 * (hi - lo + 1) + 1))
        ax.set_xlabel("test accuracy (%): bar = mean ± std over seeds, dots = seeds")
        if self.references:
            ax.legend(loc="lower right", fontsize="small")
        return fig


def run_comparison(
    teacher: Any,
    tokenizer: Any,
    data: Any,
    variants: Sequence[Variant],
    *,
    num_layers: int,
    seeds: Sequence[int] = (0, 1, 2),
    init_from: Sequence[int] | None = None,
    freeze_embeddings: bool = False,
    hidden: int | None = None,
    epochs: float = 3,
    lr: float = 1e-3,
    batch_size: int = 32,
    comparison: Comparison | None = None,
    on_run: Callable[[RunResult], None] | None = None,
    cache_teacher: bool = False,
) -> Comparison:
    """Train a fresh student for every variant and seed; return the Comparison.

    Every run starts from the same student construction (``init_from`` teacher blocks
    when given, else from scratch with the seed), so rows differ only in the objective.
    ``cache_teacher`` runs the teacher over the training split once and reuses its
    outputs in every step of every run (memory: N x (N_t + 1) x L x C floats).
    """
    if len(seeds) < 1:
        raise ValueError("give at least one seed")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique, got {names}")
    comparison = comparison or Comparison()
    start = time.time()
    cache = None
    if cache_teacher:
        from .distill import TeacherCache

        with_hidden = any(v.config.uses_features for v in variants)
        cache = TeacherCache.build(teacher, data.train, tokenizer, hidden=with_hidden)
    for variant in variants:
        comparison.variants[variant.name] = variant
        for seed in seeds:
            _, run = distill(
                teacher,
                tokenizer,
                data,
                num_layers=num_layers,
                config=variant.config,
                mapping=variant.mapping,
                hidden=hidden,
                init_from=init_from,
                freeze_embeddings=freeze_embeddings,
                teacher_cache=cache,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                seed=seed,
                name=variant.name,
            )
            comparison.runs.append(run)
            if on_run is not None:
                on_run(run)
    comparison.meta.update(
        {
            "num_layers": num_layers,
            "seeds": list(seeds),
            "epochs": epochs,
            "lr": lr,
            "init_from": list(init_from or []),
            "freeze_embeddings": freeze_embeddings,
            "wall_seconds": round(time.time() - start, 1),
        }
    )
    return comparison


def print_run(run: RunResult) -> None:
    """One line per finished run: variant, seed, test accuracy, train time."""
    print(
        f"  {run.name:45s} seed {run.seed}: {100 * run.test_accuracy:.2f}% ({run.train_seconds:.0f} s)",
        flush=True,
    )


def compare_with_references(
    teacher: Any,
    tokenizer: Any,
    data: Any,
    variants: Sequence[Variant],
    *,
    teacher_accuracy: float | None = None,
    tfidf_accuracy: float | None = None,
    verbose: bool = True,
    comparison: Comparison | None = None,
    **kwargs: Any,
) -> Comparison:
    """``run_comparison`` with the reference rows a reader needs: the teacher and TF-IDF + linear.

    The accuracies are computed when not given (the teacher on ``data.test``; a TF-IDF
    word and character n-gram linear classifier trained on ``data.train``). ``verbose``
    prints a line per run; ``kwargs`` go to ``run_comparison``.
    """
    from .baselines import tfidf_baseline
    from .text import evaluate_accuracy

    if teacher_accuracy is None:
        teacher_accuracy = evaluate_accuracy(teacher, tokenizer, data.test)
    if tfidf_accuracy is None:
        tfidf_accuracy = tfidf_baseline(data)["test_accuracy"]
    comparison = comparison or Comparison()
    comparison.add_reference("teacher", teacher_accuracy)
    comparison.add_reference("TF-IDF + linear", tfidf_accuracy)
    return run_comparison(
        teacher,
        tokenizer,
        data,
        variants,
        comparison=comparison,
        on_run=print_run if verbose else None,
        **kwargs,
    )
