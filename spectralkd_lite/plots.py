"""Figures: a spectral report (intensity against depth, layer spectra), a teacher-student comparison
(``similarity``), a student's curves during training (``snapshots``), a comparison's accuracies, a
run's loss terms, the distillation pipeline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .decomposition import IntensityParts, white_noise_flatness
from .report import SpectralReport
from .similarity import (
    ReportSimilarity,
    cross_similarity,
    intensity_curve,
    normalized_intensity,
    relative_depth,
)
from .snapshots import Snapshot

__all__ = [
    "BASE",
    "HIGHLIGHT",
    "figure_axes",
    "plot_accuracy_in_context",
    "plot_comparison",
    "plot_cross_similarity",
    "plot_intensity",
    "plot_intensity_curves",
    "plot_intensity_parts",
    "plot_pair_spectra",
    "plot_pipeline",
    "plot_similarity",
    "plot_snapshot_curves",
    "plot_spectra",
    "plot_training_log",
    "style_depth_axes",
]

HIGHLIGHT = "tab:orange"
BASE = "tab:blue"


def figure_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new constrained-layout figure of ``size`` inches with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def plot_intensity(
    report: SpectralReport,
    highlight: Sequence[int] = (),
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Bar chart of intensity against block number; ``highlight`` blocks in orange."""
    chosen = set(highlight)
    missing = sorted(chosen - set(report.blocks), key=str)
    if missing:
        raise ValueError(
            f"highlight names block {missing[0]}, which is not in the report; it has blocks "
            f"{report.blocks[0]}..{report.blocks[-1]}"
        )
    fig, ax = figure_axes(ax, (max(5.0, 0.35 * report.num_layers + 2), 3.2))
    colors = [HIGHLIGHT if b in chosen else BASE for b in report.blocks]
    ax.bar(report.blocks, report.intensity, color=colors)
    ax.set_xlabel("block (1 = first block after the embeddings)")
    ax.set_ylabel("spectral intensity (mean |F| over k)")
    ax.set_xticks(report.blocks)
    ax.set_title(title or f"Spectral intensity by depth: {report.model_name}")
    if chosen:
        ax.legend(
            handles=[Patch(color=HIGHLIGHT, label="selected"), Patch(color=BASE, label="other")],
            loc="upper center",
            ncol=2,
        )
    # bars start at zero (differences are not exaggerated); headroom keeps the legend off the bars
    ax.set_ylim(0.0, (1.3 if chosen else 1.1) * max(report.intensity))
    return fig


def plot_spectra(
    report: SpectralReport,
    blocks: Sequence[int] | None = None,
    kind: str = "lines",
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Layer spectra on the normalised-frequency axis 0..0.5 (bins 0..C//2).

    kind="lines": one line per block (default: all, coloured by depth);
    kind="heatmap": block x frequency image (layers of equal width only).
    """
    blocks = list(report.blocks if blocks is None else blocks)
    if kind not in ("lines", "heatmap"):
        raise ValueError(f"kind must be 'lines' or 'heatmap', got {kind!r}")
    fig, ax = figure_axes(ax, (6.0, 3.6))
    if kind == "lines":
        cmap = plt.get_cmap("viridis")
        for i, b in enumerate(blocks):
            freq, s = report.half_spectrum(b)
            ax.plot(freq, s, color=cmap(i / max(1, len(blocks) - 1)), label=f"block {b}", lw=1.2)
        ax.set_ylabel("S[k] (mean |F|)")
        if len(blocks) <= 12:
            ax.legend(fontsize="small", ncol=2 if len(blocks) > 6 else 1)
    else:
        rows = [report.half_spectrum(b)[1] for b in blocks]
        if len({len(r) for r in rows}) != 1:
            raise ValueError("a heatmap needs layers of equal width; use kind='lines'")
        image = ax.imshow(
            np.asarray(rows),
            aspect="auto",
            origin="lower",
            cmap="magma",
            extent=(0.0, 0.5, blocks[0] - 0.5, blocks[-1] + 0.5),
        )
        fig.colorbar(image, ax=ax, label="S[k] (mean |F|)")
        ax.set_ylabel("block")
    ax.set_xlabel("normalised frequency k / C")
    ax.set_xlim(0.0, 0.5)
    ax.set_title(title or f"Layer spectra: {report.model_name}")
    return fig


def plot_intensity_parts(
    parts: IntensityParts,
    labels: Sequence[int | str],
    band: float | None = None,
    title: str | None = None,
    xlabel: str | None = None,
) -> Figure:
    """One bar per layer and panel: intensity, its scale RMS / sqrt(C), and flatness (their ratio).

    ``parts``: ``intensity_parts(...)`` or ``IntensityParts.from_report(report)``;
    ``labels``: one tick label per layer: block or stage numbers, or names that share a
    first word such as ``report.layer_names`` ("stage 1", "stage 2", ...), whose word
    becomes the x-axis label and whose numbers the ticks. ``xlabel`` names the x axis
    (default: that shared word; "block" for numbers; else "layer"). When the layers differ
    in width (a Swin's stages), the scale takes three panels, the RMS, the width factor
    1 / sqrt(C) and their product, so that the activations' growth and the width's toll
    are seen apart; with one width, one panel. Every axis starts at zero; the flatness
    panel (the last) spans 0..1 (its ceiling) and draws the white-noise flatness of each
    layer's width as a dashed line, with a band of +-``band`` (a relative tolerance,
    e.g. 0.05) around it when given. Returns the figure.
    """
    intensity, rms, scale, flatness = (
        t.detach().cpu().numpy() for t in (parts.intensity, parts.rms, parts.scale, parts.flatness)
    )
    channels = parts.channels.detach().cpu().numpy()
    if len(labels) != len(intensity):
        raise ValueError(f"{len(labels)} labels for {len(intensity)} layers")
    ticks = [str(label) for label in labels]
    heads = {tick.split()[0] for tick in ticks if len(tick.split()) > 1}
    if len(heads) == 1 and all(len(tick.split()) > 1 for tick in ticks):  # "stage 1", "stage 2", ...
        xlabel = xlabel or heads.pop()
        ticks = [tick.split(maxsplit=1)[1] for tick in ticks]
    elif xlabel is None:
        xlabel = "block" if all(tick.strip().lstrip("-").isdigit() for tick in ticks) else "layer"
    x = np.arange(len(ticks))
    panels = [(intensity, "intensity I = mean |F|", "intensity")]
    widths_differ = len(np.unique(channels)) > 1
    if widths_differ:
        panels += [
            (rms, "RMS", "scale of the activations: RMS"),
            (1.0 / np.sqrt(channels), "1 / sqrt(C)", "width factor: 1 / sqrt(C)"),
            (scale, "RMS / sqrt(C)", "their product: RMS / sqrt(C)"),
        ]
    else:
        panels.append((scale, "RMS / sqrt(C)", "scale: RMS / sqrt(C)"))
    panels.append((flatness, "flatness = I / (RMS / sqrt(C))", "flatness (1 = perfectly flat)"))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(max(12.0, 3.4 * len(panels)), 3.2), layout="constrained"
    )
    for ax, (values, ylabel, name) in zip(axes, panels, strict=True):
        bars = ax.bar(x, values, color=BASE, alpha=0.6 if ax is axes[-1] else 1.0)
        ax.set_xticks(x, ticks)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        ax.set_ylim(0.0, 1.15 * float(values.max()))
        if widths_differ and ylabel == "1 / sqrt(C)":
            ax.bar_label(bars, [f"C = {int(c)}" for c in channels], fontsize="x-small")
    noise = np.array([white_noise_flatness(int(c)) for c in channels])
    ax = axes[-1]
    ax.set_ylim(0.0, 1.05)
    ax.axhline(1.0, color="black", lw=1, label="ceiling: 1", zorder=3)
    ax.step(
        np.r_[x - 0.5, x[-1] + 0.5],
        np.r_[noise, noise[-1]],
        where="post",
        color="tab:red",
        ls="--",
        label="white noise of the same width",
        zorder=3,
    )
    if band:
        ax.fill_between(
            np.r_[x - 0.5, x[-1] + 0.5],
            np.r_[noise, noise[-1]] * (1 - band),
            np.r_[noise, noise[-1]] * (1 + band),
            step="post",
            color="tab:red",
            alpha=0.3,
            label=f"white noise +-{band:.0%}",
            zorder=3,
        )
    ax.legend(fontsize="x-small", loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


def plot_accuracy_in_context(comparison, chance: float, title: str | None = None) -> Figure:
    """A comparison's accuracy figure twice: on the full 0..100% axis, then zoomed.

    ``comparison``: a ``Comparison`` (anything with ``plot(ax=, title=)`` drawing
    accuracy in % on the x axis); ``chance``: the accuracy of guessing (1 / classes
    for balanced classes), drawn as a line with the 100% ceiling on the full axis, and
    as the edges of the zoomed range, so a reader sees how much of the scale the
    differences take. Returns the figure.
    """
    fig, (full, zoom) = plt.subplots(1, 2, figsize=(13.0, 3.4), layout="constrained", width_ratios=(1, 1.3))
    comparison.plot(ax=full, title="full scale: random guess to perfect")
    full.axvline(100 * chance, color="0.3", ls=":", lw=1.5, label=f"random guess {100 * chance:.0f}%")
    full.axvline(100.0, color="black", lw=1.5, label="ceiling 100%")
    full.set_xlim(0.0, 102.0)
    full.set_facecolor("white")  # plot_comparison marked its own zoom; this panel is the whole scale
    full.set_xlabel(
        "\n".join(line for line in full.get_xlabel().split("\n") if not line.startswith("ZOOMED"))
    )
    full.legend(loc="lower left", fontsize="x-small")
    comparison.plot(ax=zoom, title="zoomed to the data (same runs)")
    lo, hi = zoom.get_xlim()
    full.axvspan(lo, hi, color="tab:orange", alpha=0.12, lw=0)
    zoom.set_title(f"zoomed to {lo:.1f}..{hi:.1f}% (shaded on the left)")
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------- comparing two reports (see ``similarity``)


def style_depth_axes(ax: Axes, normalize: bool, title: str) -> None:
    """Limits, labels, grid and legend of an intensity-against-relative-depth plot."""
    ax.set_xlim(0.0, 1.02)
    ax.set_xlabel("relative depth b / N (1 = last block)")
    ax.set_ylabel("intensity / mean intensity" if normalize else "spectral intensity")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_intensity_curves(
    reports: Mapping[str, SpectralReport],
    normalize: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
    reference: str | None = None,
    scales: Mapping[str, float] | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Intensity against relative depth d = b / N for several reports on one axis.

    Each report is drawn at its own blocks (markers joined by lines), divided, when
    ``normalize``, by ``scales[name]`` if given, else by its mean intensity over its
    blocks (``compare_reports`` divides by the mean over the depths both models
    cover, so where the depth ranges differ the drawn curves may sit slightly apart
    from the compared ones). ``reference`` (a key, default the first) is drawn in
    black; ``colors[name]``, where given, sets a report's colour (the same model in the
    same colour in every figure). Returns the figure.
    """
    fig, ax = figure_axes(ax, (6.0, 3.6))
    reference = reference if reference is not None else next(iter(reports))
    cycle = iter(plt.get_cmap("tab10").colors)
    for name, report in reports.items():
        order = np.argsort(report.blocks)
        depth = relative_depth(report)[order]
        values = normalized_intensity(report, normalize, (scales or {}).get(name))[order]
        is_ref = name == reference
        ax.plot(
            depth,
            values,
            marker="o",
            ms=6 if is_ref else 5,
            lw=2.2 if is_ref else 1.4,
            color=(colors or {}).get(name) or ("black" if is_ref else next(cycle)),
            label=f"{name} ({report.num_layers} blocks)",
            zorder=3 if is_ref else 2,
        )
    style_depth_axes(ax, normalize, title or "Spectral intensity against relative depth")
    return fig


def plot_pair_spectra(
    result: ReportSimilarity,
    blocks: Sequence[int] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    log: bool = False,
) -> Figure:
    """The unit-sum spectra of chosen student blocks (solid) and their paired teacher blocks (dashed).

    ``blocks``: student block numbers (default: all, at most 4 evenly chosen).
    The y axis is logarithmic when ``log`` (useful when the zero bin dwarfs the rest).
    """
    fig, ax = figure_axes(ax, (6.0, 3.6))
    all_blocks = [row.student for row in result.layers]
    if blocks is None:
        idx = np.unique(np.linspace(0, len(all_blocks) - 1, min(4, len(all_blocks))).round().astype(int))
        blocks = [all_blocks[i] for i in idx]
    colors = plt.get_cmap("tab10").colors
    for n, block in enumerate(blocks):
        row = result.layer(block)
        i = all_blocks.index(block)
        color = colors[n % len(colors)]
        tag = "mapped" if row.aligned else "same depth"
        ax.plot(result.freq_grid, result.student_spectra[i], color=color, lw=1.5, label=f"student {block}")
        ax.plot(
            result.freq_grid,
            result.teacher_spectra[i],
            color=color,
            lw=1.2,
            ls="--",
            label=f"teacher {row.teacher} ({tag}): {row.similarity:.3f}",
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlim(0.0, 0.5)
    ax.set_xlabel("normalised frequency k / C")
    ax.set_ylabel("S / sum(S)")
    ax.set_title(title or "Layer spectra, student (solid) vs teacher (dashed)")
    ax.legend(fontsize="x-small")
    return fig


def plot_cross_similarity(
    teacher: SpectralReport,
    student: SpectralReport,
    metric: str = "tv",
    ax: Axes | None = None,
    title: str | None = None,
    vrange: tuple[float, float] | None = None,
    annotate: bool = True,
    colorbar: bool = True,
) -> Figure:
    """Heat map of ``cross_similarity(teacher, student)``: rows = student blocks, columns = teacher blocks.

    Values are written in when ``annotate``. The brightest cell of a row is the teacher
    block whose spectrum that student block resembles most. With ``colorbar`` a colour bar
    names the colour range (pass ``colorbar=False`` and draw one bar for several panels
    that share one ``vrange``, the (low, high) of the colour scale; None: the matrix's own).
    Returns the figure.
    """
    fig, ax = figure_axes(ax, (0.6 * teacher.num_layers + 2.0, 0.5 * student.num_layers + 1.4))
    matrix = cross_similarity(teacher, student, metric)
    vmin, vmax = vrange if vrange is not None else (None, None)
    image = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    if annotate:
        lo, hi = image.get_clim()
        for (j, i), value in np.ndenumerate(matrix):
            dark = (value - lo) / max(hi - lo, 1e-12) > 0.6
            ax.text(
                i, j, f"{value:.3f}", ha="center", va="center", fontsize=7, color="black" if dark else "white"
            )
    ax.set_xticks(range(teacher.num_layers), [str(x) for x in teacher.blocks])
    ax.set_yticks(range(student.num_layers), [str(x) for x in student.blocks])
    ax.set_xlabel(f"block of {teacher.model_name}")
    ax.set_ylabel(f"block of {student.model_name}")
    label = "1 - TV" if metric == "tv" else "cosine"
    ax.set_title(title or f"Spectral similarity ({label})")
    if colorbar:
        lo, hi = image.get_clim()
        fig.colorbar(image, ax=ax, label=f"{label}, colours span {lo:.3f}..{hi:.3f}")
    return fig


def plot_similarity(
    teacher: SpectralReport,
    student: SpectralReport,
    result: ReportSimilarity,
    blocks: Sequence[int] | None = None,
    names: tuple[str, str] = ("teacher", "student"),
) -> Figure:
    """Two panels: both intensity curves against relative depth, and paired layer spectra.

    ``result`` is ``compare_reports(teacher, student, ...)``; ``names`` label the
    teacher's and the student's curves. The curves are divided by their means over
    the common depth grid, as compared.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 3.9), layout="constrained")
    scales = {
        name: float(intensity_curve(r, result.depth_grid, normalize=False).mean())
        for name, r in zip(names, (teacher, student), strict=True)
    }
    plot_intensity_curves(
        {names[0]: teacher, names[1]: student}, normalize=result.normalized, ax=left, scales=scales
    )
    r = result.curve_correlation
    left.set_title(f"Intensity vs relative depth (r = {f'{r:.4f}' if math.isfinite(r) else 'n/a'})")
    plot_pair_spectra(result, blocks, ax=right)
    right.set_title(f"Layer spectra (mean similarity {result.spectral_similarity:.3f})")
    return fig


def plot_snapshot_curves(
    snapshots: Sequence[Snapshot],
    teacher: SpectralReport | None = None,
    normalize: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
    color: str | None = None,
) -> Figure:
    """The student's intensity curve at each snapshot (light = early, dark = late) on the relative-depth axis.

    ``snapshots``: ``SpectralSnapshots.snapshots`` (see ``snapshots``). The teacher's
    curve (``teacher``), if given, is drawn in black. Curves are divided by their mean
    when ``normalize`` (see ``similarity``). With ``color`` every snapshot is drawn in
    that colour, faint early and opaque late (the student's colour in the other
    figures); without it in shades of viridis. Returns the figure.
    """
    if not snapshots:
        raise ValueError("no snapshots to plot: was the callback passed to the Trainer?")
    fig, ax = figure_axes(ax, (6.0, 3.6))
    cmap = plt.get_cmap("viridis_r")
    last = max(1, len(snapshots) - 1)
    for i, snap in enumerate(snapshots):
        r = snap.report
        order = np.argsort(r.blocks)
        ax.plot(
            relative_depth(r)[order],
            normalized_intensity(r, normalize)[order],
            marker="o",
            ms=4,
            lw=1.3,
            color=color or cmap(0.1 + 0.85 * i / last),
            alpha=0.25 + 0.75 * i / last if color else 1.0,
            label=f"step {snap.step}" if i in (0, last) else None,
        )
    if teacher is not None:
        order = np.argsort(teacher.blocks)
        ax.plot(
            relative_depth(teacher)[order],
            normalized_intensity(teacher, normalize)[order],
            marker="o",
            color="black",
            lw=2.2,
            label="teacher",
        )
    style_depth_axes(ax, normalize, title or "Student intensity curve during training")
    return fig


def plot_comparison(comparison, ax: Axes | None = None, title: str | None = None) -> Figure:
    """A ``compare.Comparison``'s test accuracy per variant: mean ± std (point and whiskers), each seed
    (dots), the seed range (a thin line), references (dashed lines). No bars: the axis is zoomed to the
    data, so a bar's length would mean nothing; the label gives one test example in points when known."""
    rows = comparison.summary()
    fig, ax = figure_axes(ax, (7.5, 0.45 * len(rows) + 1.6))
    names = [r["variant"] for r in rows]
    for i, row in enumerate(rows):
        ax.plot([100 * row["min"], 100 * row["max"]], [i, i], color="tab:blue", alpha=0.35, lw=6)
        ax.errorbar(100 * row["mean"], i, xerr=100 * row["std"], fmt="o", color="tab:blue", capsize=4)
        accs = [100 * r.test_accuracy for r in comparison.runs if r.name == row["variant"]]
        ax.plot(accs, [i + 0.22] * len(accs), "k.", ms=5)
    colors = ["tab:red", "tab:green", "tab:purple"]
    for (name, acc), color in zip(comparison.references.items(), colors, strict=False):
        ax.axvline(100 * acc, ls="--", color=color, label=name)
    ax.set_yticks(range(len(rows)), names)
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)
    lo = min([100 * r["min"] for r in rows] + [100 * a for a in comparison.references.values()])
    hi = max([100 * r["max"] for r in rows] + [100 * a for a in comparison.references.values()])
    left = max(0.0, lo - 0.1 * (hi - lo + 1) - 1)
    ax.set_xlim(left, min(100.0, hi + 0.1 * (hi - lo + 1) + 1))
    label = "test accuracy (%): point = mean ± std, band = seed range, dots = seeds"
    if left > 0:  # a zoom: said on the axis, and the panel greyed like every zoom in this project
        label += f"\nZOOMED: the axis starts at {left:.1f}%, not at 0"
        ax.set_facecolor("#f4f4f4")
    n_test = comparison.meta.get("test_examples")
    if n_test:
        label += f"\none test example = {100 / n_test:.2f} points"
    ax.set_xlabel(label)
    if comparison.references:
        ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_training_log(
    log: Sequence[Mapping[str, float]], ax: Axes | None = None, title: str | None = None
) -> Figure:
    """A run's loss terms against the epoch, from ``RunResult.log`` (the Trainer's logging points):
    the total and, where logged, CE, KD and the feature term, each as the Trainer logged it (before
    its weight), on an axis from zero. Returns the figure."""
    fig, ax = figure_axes(ax, (6.5, 3.2))
    points = [h for h in log if "loss" in h and "epoch" in h]
    if not points:
        raise ValueError("the log has no logged loss (entries with 'loss' and 'epoch'): was logging on?")
    names = {
        "loss": "total (weighted)",
        "loss_ce": "CE",
        "loss_kd": "KD x T^2",
        "loss_feature": "feature term",
    }
    for key, label in names.items():
        values = [(h["epoch"], h[key]) for h in points if key in h]
        if values:
            epochs, losses = [e for e, _ in values], [v for _, v in values]
            ax.plot(epochs, losses, marker=".", label=label, lw=2.2 if key == "loss" else 1.2)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (training batches)")
    ax.legend(fontsize="small")
    ax.set_title(title or "Training: the loss terms")
    return fig


def plot_pipeline(
    n_teacher: int, n_student: int, mapping: Any, config: Any, intensity: Sequence[float] | None = None
) -> Figure:
    """The distillation pipeline as a diagram: the teacher's blocks (shaded by spectral
    ``intensity`` when given), the ``mapping`` (a ``LayerMapping``) as arrows to the student's
    blocks, and the loss terms with their weights from ``config`` (a ``DistillConfig``):
    (1 - alpha) CE + alpha T^2 KL + beta x the feature loss. Returns the figure."""
    fig, ax = plt.subplots(figsize=(11.0, 3.6))
    ax.set_axis_off()
    ax.set_xlim(0.3, max(n_teacher, n_student) + 9.0)
    ax.set_ylim(-0.9, 3.3)
    shade = None
    if intensity is not None:
        lo, hi = min(intensity), max(intensity)
        shade = [0.15 + 0.6 * (v - lo) / max(hi - lo, 1e-12) for v in intensity]
    for b in range(1, n_teacher + 1):  # teacher row
        color = plt.cm.Oranges(shade[b - 1]) if shade else "0.85"
        ax.add_patch(plt.Rectangle((b - 0.45, 2.2), 0.9, 0.7, color=color, ec="black"))
        ax.text(b, 2.55, str(b), ha="center", va="center", fontsize=8)
    for j in range(1, n_student + 1):  # student row
        ax.add_patch(plt.Rectangle((j - 0.45, 0.0), 0.9, 0.7, color="tab:blue", alpha=0.35, ec="black"))
        ax.text(j, 0.35, str(j), ha="center", va="center", fontsize=8)
    for link in mapping.links:
        for t in link.teacher:
            ax.annotate(
                "", xy=(link.student, 0.72), xytext=(t, 2.18), arrowprops={"arrowstyle": "->", "lw": 1.2}
            )
    ax.text(0.4, 3.1, "teacher blocks" + (" (darker = more spectrally intense)" if shade else ""), fontsize=9)
    ax.text(0.4, -0.45, "student blocks", fontsize=9)
    ax.text(0.4, 1.45, f"mapping: {mapping.strategy}", fontsize=8, color="0.3")
    x = max(n_teacher, n_student) + 0.9
    terms = [
        "(1 - alpha) CE(student, labels)",
        "+ alpha T^2 KL(teacher || student)",
        f"+ beta {config.feature or '(no feature loss)'} on the arrows",
        f"alpha = {config.alpha:g}, T = {config.temperature:g}, beta = {config.beta:g}"
        + (" (each term normalised)" if config.normalize and config.beta else ""),
    ]
    ax.text(x, 2.4, "loss per batch", fontsize=10, weight="bold")
    for i, line in enumerate(terms):
        ax.text(x, 1.8 - 0.5 * i, line, fontsize=9, family="monospace" if i < 3 else None)
    ax.set_title(
        "Spectral knowledge distillation: which teacher blocks teach which student blocks, and the loss"
    )
    return fig
