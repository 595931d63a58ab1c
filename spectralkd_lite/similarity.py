"""How alike are the spectral patterns of two models of different depth and width?

Compares two SpectralReports, a reference ``a`` (the teacher) and ``b`` (the
student). Layers are block numbers 1..N as everywhere in the package
(``hidden_states[i]`` is block i; a report made with ``include_embeddings`` also
has block 0, the embedding output).

Relative depth. Block b of a model with N blocks (N = the report's largest block
number) sits at

    d(b) = b / N                                   # in (0, 1]; the embeddings, block 0, at 0

the fraction of the model's blocks that has run when ``hidden_states[b]`` is
produced, so both models' last blocks sit at 1 and a uniform mapping
(``select_uniform``: 6 -> 3 blocks gives teacher 2, 4, 6) pairs blocks at equal
depth.

Intensity curves. Each model's intensities L_b are linearly interpolated
(``numpy.interp``) onto G evenly spaced depths spanning what both models cover,
[max(d_a(first), d_b(first)), 1] (no extrapolation), and, with ``normalize=True``,
divided by their mean over that grid (widths differ, and the 1/C-scaled spectrum
of C unit-variance channels shrinks like 1/sqrt(C)); so a curve and any multiple
of it, or one line sampled at different depths, compare as equal. On the grid:

    a_g = L_a(grid_g) / mean_g' L_a(grid_g')                # (G,), likewise b_g
    curve correlation r = Pearson(a_g, b_g)                 # shape only; NaN if a curve is flat
    curve distance      = mean_g |a_g - b_g|                # 0 = same normalised curve

Layer spectra. A layer's half spectrum S[0..C//2] lives at the normalised
frequencies k / C in 0..0.5; it is interpolated onto F points of 0..0.5 (default
F = min(C_a, C_b) // 2 + 1, the coarser resolution) and scaled to unit sum
(p = s / sum(s)); a spectrum of odd C ends below 0.5 and is held constant there.
Two such spectra p, q compare by

    tv:     similarity = 1 - TV(p, q) = 1 - 0.5 * sum_f |p_f - q_f|      # in [0, 1]
    cosine: similarity = p . q / (|p| |q|)                               # in [0, 1] (p, q >= 0)

Pairing. Each block j of ``b`` is compared with the block of ``a`` at the nearest
relative depth (ties: the deeper one), or, when a LayerMapping (student <-
teacher) is given and links j, with its mapped teacher blocks; several weighted
teacher blocks are compared through sum_i w_i p_i (the weighted mean of their
normalised spectra, an approximation: the spectrum of a weighted sum of hidden
states is not the weighted sum of their spectra). The overall spectral
similarity is the mean over b's blocks, also reported separately over mapped
("aligned") and unmapped blocks.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .mapping import LayerMapping, parse_manual
from .report import SpectralReport

METRICS = ("tv", "cosine")
DEFAULT_DEPTH_POINTS = 101


# ---------------------------------------------------------------- axes and curves


def depth_scale(report: SpectralReport) -> int:
    """N, the number the report's block numbers are divided by: its largest block number."""
    n = max(report.blocks)
    if n < 1:
        raise ValueError(f"report {report.model_name!r} has no block >= 1 (blocks {report.blocks})")
    return n


def relative_depth(report: SpectralReport) -> np.ndarray:
    """d(b) = b / N for each of the report's blocks, shape (layers,)."""
    return np.asarray(report.blocks, dtype=np.float64) / depth_scale(report)


def common_depth_grid(a: SpectralReport, b: SpectralReport, points: int = DEFAULT_DEPTH_POINTS) -> np.ndarray:
    """``points`` evenly spaced depths over [max(first depth of a, first depth of b), 1], shape (G,).

    A single point (1.0) when one of the reports starts at depth 1 (a one-block model).
    """
    if points < 2:
        raise ValueError(f"the depth grid needs at least 2 points, got {points}")
    start = max(float(relative_depth(a).min()), float(relative_depth(b).min()))
    if start >= 1.0:
        return np.ones(1)
    return np.linspace(start, 1.0, points)


def _positive(mean: float, report: SpectralReport) -> float:
    if not mean > 0:
        raise ValueError(f"report {report.model_name!r} has a mean intensity of {mean}; cannot normalise it")
    return mean


def normalized_intensity(
    report: SpectralReport, normalize: bool = True, scale: float | None = None
) -> np.ndarray:
    """The report's intensities L_b divided by ``scale`` (default: their mean) when ``normalize``, shape (layers,)."""
    values = np.asarray(report.intensity, dtype=np.float64)
    if not normalize:
        return values
    return values / _positive(float(values.mean()) if scale is None else scale, report)


def intensity_curve(report: SpectralReport, grid: np.ndarray, normalize: bool = True) -> np.ndarray:
    """The intensity curve linearly interpolated at the depths ``grid``, shape (G,).

    With ``normalize`` it is divided by its mean over ``grid`` (use an evenly spaced
    grid). Outside the report's depths ``numpy.interp`` holds the end values; use
    ``common_depth_grid`` to stay inside.
    """
    order = np.argsort(report.blocks)
    values = np.asarray(report.intensity, dtype=np.float64)[order]
    curve = np.interp(grid, relative_depth(report)[order], values)
    return curve / _positive(float(curve.mean()), report) if normalize else curve


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation sum((x - mx)(y - my)) / sqrt(sum (x - mx)^2 sum (y - my)^2); NaN if one is flat."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    for v in (x, y):
        if np.ptp(v) <= 1e-12 * max(1.0, float(np.abs(v).max())):
            return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    return float(x @ y) / math.sqrt(float(x @ x) * float(y @ y))


# ---------------------------------------------------------------- spectra


def default_freq_points(a: SpectralReport, b: SpectralReport) -> int:
    """min over both reports' layers of C // 2 + 1: the coarser frequency resolution."""
    return min(c for c in (*a.channels, *b.channels)) // 2 + 1


def spectrum_on_grid(
    report: SpectralReport, block: int, freq_grid: np.ndarray, normalize: bool = True
) -> np.ndarray:
    """Block ``block``'s half spectrum S[0..C//2] interpolated at ``freq_grid`` (in 0..0.5), shape (F,).

    With ``normalize`` the result is divided by its sum (a distribution over the grid).
    """
    freqs, s = report.half_spectrum(block)
    values = np.interp(freq_grid, np.asarray(freqs), np.asarray(s, dtype=np.float64))
    if not normalize:
        return values
    total = values.sum()
    if not total > 0:
        raise ValueError(f"block {block} of {report.model_name!r} has an all-zero spectrum")
    return values / total


def spectral_similarity(p: np.ndarray, q: np.ndarray, metric: str = "tv") -> np.ndarray:
    """Similarity of spectra along the last axis (shapes (..., F)), shape (...).

    ``tv``: 1 - 0.5 * sum|p - q| (p, q of unit sum); ``cosine``: p.q / (|p| |q|).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if metric == "tv":
        return 1.0 - 0.5 * np.abs(p - q).sum(-1)
    if metric == "cosine":
        return (p * q).sum(-1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1))
    raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def cross_similarity(
    a: SpectralReport, b: SpectralReport, metric: str = "tv", freq_points: int | None = None
) -> np.ndarray:
    """Spectral similarity of every block of ``b`` with every block of ``a``, shape (layers of b, layers of a).

    Entry [j, i] compares b's j-th and a's i-th layer (report order) on the common
    frequency grid, as ``compare_reports`` does for one pair. ``cross_similarity(r, r)``
    shows how much a model's own layers differ from each other.
    """
    f = default_freq_points(a, b) if freq_points is None else int(freq_points)
    grid = np.linspace(0.0, 0.5, f)
    pa = np.stack([spectrum_on_grid(a, t, grid) for t in a.blocks])  # (layers of a, F)
    pb = np.stack([spectrum_on_grid(b, j, grid) for j in b.blocks])  # (layers of b, F)
    return spectral_similarity(pb[:, None, :], pa[None, :, :], metric)


def select_blocks(report: SpectralReport, blocks: Sequence[int], name: str | None = None) -> SpectralReport:
    """A report of only ``blocks`` of ``report``, renumbered 1..len(blocks) in the given order.

    E.g. the teacher's blocks 2, 4, 6 as a 3-block "student" that copied them exactly: a
    reference for how alike a student made of those blocks could be at best.
    """
    idx = [report._index(b) for b in blocks]
    if not idx:
        raise ValueError("select at least one block")
    return SpectralReport(
        model_name=name or f"{report.model_name} blocks {', '.join(str(b) for b in blocks)}",
        layer_names=[f"{report.layer_names[i]} (as block {k})" for k, i in enumerate(idx, start=1)],
        blocks=list(range(1, len(idx) + 1)),
        channels=[report.channels[i] for i in idx],
        intensity=[report.intensity[i] for i in idx],
        spectra=[list(report.spectra[i]) for i in idx],
        positions=[report.positions[i] for i in idx],
        batches=report.batches,
        meta={**report.meta, "selected_blocks": list(blocks)},
    )


# ---------------------------------------------------------------- pairing


def nearest_depth_blocks(a: SpectralReport, b: SpectralReport) -> list[int]:
    """For each block j of ``b``, the block of ``a`` at the nearest relative depth (ties: the deeper).

    Exact integer arithmetic: |j * N_a - i * N_b| is minimised over a's blocks i.
    """
    na, nb = depth_scale(a), depth_scale(b)
    ia = np.asarray(a.blocks, dtype=np.int64)
    jb = np.asarray(b.blocks, dtype=np.int64)
    dist = np.abs(jb[:, None] * na - ia[None, :] * nb)  # (layers of b, layers of a)
    # the deepest of the closest: among equal distances prefer the larger block number
    key = dist * (2 * int(ia.max()) + 2) - ia[None, :]
    return [int(ia[i]) for i in key.argmin(axis=1)]


@dataclass(frozen=True)
class LayerPair:
    """Block ``student`` of b against ``teacher`` blocks of a (weights sum to 1)."""

    student: int
    teacher: tuple[int, ...]
    weights: tuple[float, ...]
    aligned: bool  # True: linked by the mapping; False: paired by relative depth

    def describe_teacher(self) -> str:
        if len(self.teacher) == 1:
            return str(self.teacher[0])
        return " + ".join(f"{w:g}*{t}" for t, w in zip(self.teacher, self.weights, strict=True))


def pair_layers(a: SpectralReport, b: SpectralReport, mapping: LayerMapping | None = None) -> list[LayerPair]:
    """One LayerPair per block of ``b``: the mapped teacher blocks, else the nearest in depth.

    The mapping (student = b, teacher = a) is validated against both reports' blocks.
    """
    links = {}
    if mapping is not None:
        mapping.validate(depth_scale(b), depth_scale(a))
        missing = [
            f"{side} block {k}"
            for link in mapping.links
            for side, blocks, ks in (
                ("student", b.blocks, (link.student,)),
                ("teacher", a.blocks, link.teacher),
            )
            for k in ks
            if k not in blocks
        ]
        if missing:
            raise ValueError(f"the mapping names {', '.join(missing)}, which the reports do not have")
        links = {link.student: link for link in mapping.links}
    nearest = nearest_depth_blocks(a, b)
    pairs = []
    for j, t in zip(b.blocks, nearest, strict=True):
        if j in links:
            pairs.append(LayerPair(j, tuple(links[j].teacher), tuple(links[j].weights), True))
        else:
            pairs.append(LayerPair(j, (t,), (1.0,), False))
    return pairs


# ---------------------------------------------------------------- the result


@dataclass
class LayerSimilarity:
    """One row of the per-layer table."""

    student: int
    teacher: str
    aligned: bool
    student_depth: float
    teacher_depth: float
    similarity: float
    cosine: float


@dataclass
class ReportSimilarity:
    """How alike two reports are; see the module docstring for every formula.

    Attributes:
        a_name, b_name: model names (a = reference / teacher, b = student).
        metric: ``tv`` or ``cosine``, the per-layer ``similarity``.
        depth_grid: (G,) common relative depths; a_curve, b_curve: (G,) interpolated
            (normalised) intensity curves.
        curve_correlation: Pearson r of the curves (NaN when one is flat).
        curve_distance: mean |a_curve - b_curve|.
        layers: one LayerSimilarity per block of b.
        freq_grid: (F,) normalised frequencies; a_spectra, b_spectra: (layers of b, F)
            unit-sum spectra of each pair (a's side combined over mapped blocks).
    """

    a_name: str
    b_name: str
    metric: str
    normalized: bool
    depth_grid: np.ndarray
    a_curve: np.ndarray
    b_curve: np.ndarray
    curve_correlation: float
    curve_distance: float
    layers: list[LayerSimilarity]
    freq_grid: np.ndarray
    a_spectra: np.ndarray
    b_spectra: np.ndarray
    mapped: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spectral_similarity(self) -> float:
        """Mean per-layer similarity over every block of b."""
        return float(np.mean([row.similarity for row in self.layers]))

    def _mean_where(self, aligned: bool) -> float:
        values = [row.similarity for row in self.layers if row.aligned is aligned]
        return float(np.mean(values)) if values else float("nan")

    @property
    def aligned_similarity(self) -> float:
        """Mean similarity of the blocks the mapping links (NaN without such blocks)."""
        return self._mean_where(True)

    @property
    def unaligned_similarity(self) -> float:
        """Mean similarity of the blocks paired by depth only (NaN without such blocks)."""
        return self._mean_where(False)

    def layer(self, student_block: int) -> LayerSimilarity:
        for row in self.layers:
            if row.student == student_block:
                return row
        raise ValueError(
            f"block {student_block} is not in this comparison; it has blocks "
            f"{self.layers[0].student}..{self.layers[-1].student}"
        )

    def summary(self) -> dict[str, float]:
        """The overall numbers: curve correlation and distance, mean spectral similarity (all, aligned, not)."""
        return {
            "curve_correlation": self.curve_correlation,
            "curve_distance": self.curve_distance,
            "spectral_similarity": self.spectral_similarity,
            "aligned_similarity": self.aligned_similarity,
            "unaligned_similarity": self.unaligned_similarity,
        }

    def to_table(self) -> list[dict[str, Any]]:
        """One row per block of b: student block, teacher block(s), aligned, depths, similarity, cosine."""
        return [
            {
                "student_block": row.student,
                "teacher_blocks": row.teacher,
                "pairing": "mapped" if row.aligned else "depth",
                "student_depth": row.student_depth,
                "teacher_depth": row.teacher_depth,
                "similarity": row.similarity,
                "cosine": row.cosine,
            }
            for row in self.layers
        ]

    def format_table(self) -> str:
        """Markdown: the per-layer table, then the overall numbers."""
        metric = "1 - TV" if self.metric == "tv" else "cosine"
        lines = [
            f"| student block | teacher block | pairing | depth (student / teacher) | spectra {metric} |",
            "|---:|---|---|---|---:|",
        ]
        for row in self.layers:
            lines.append(
                f"| {row.student} | {row.teacher} | {'mapped' if row.aligned else 'same depth'} "
                f"| {row.student_depth:.2f} / {row.teacher_depth:.2f} | {row.similarity:.4f} |"
            )
        lines += ["", "| overall | value |", "|---|---:|"]
        curve = "normalised intensity" if self.normalized else "intensity"
        lines.append(f"| {curve} curve correlation (Pearson r) | {_fmt(self.curve_correlation)} |")
        lines.append(f"| {curve} curve distance (mean abs. difference) | {_fmt(self.curve_distance)} |")
        lines.append(f"| mean spectral similarity, all blocks | {_fmt(self.spectral_similarity)} |")
        if self.mapped:
            lines.append(f"| mean spectral similarity, mapped blocks | {_fmt(self.aligned_similarity)} |")
            lines.append(f"| mean spectral similarity, other blocks | {_fmt(self.unaligned_similarity)} |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: names, metric, the overall numbers (NaN as None) and the per-layer table."""
        return {
            "a": self.a_name,
            "b": self.b_name,
            "metric": self.metric,
            "normalized": self.normalized,
            "summary": {k: _json_float(v) for k, v in self.summary().items()},
            "layers": self.to_table(),
        }


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def compare_reports(
    a: SpectralReport,
    b: SpectralReport,
    *,
    mapping: LayerMapping | None = None,
    metric: str = "tv",
    normalize: bool = True,
    depth_points: int = DEFAULT_DEPTH_POINTS,
    freq_points: int | None = None,
) -> ReportSimilarity:
    """Compare report ``b`` (the student) with the reference ``a`` (the teacher).

    Args:
        a, b: spectral reports; depths and widths may differ.
        mapping: student (b) <- teacher (a) links; linked blocks are compared with
            their teacher blocks, the others with the teacher block at the same depth.
        metric: ``tv`` (1 - total variation) or ``cosine``, the per-layer similarity.
        normalize: divide each intensity curve by its mean (the spectra are always
            scaled to unit sum).
        depth_points: G, points of the common depth grid.
        freq_points: F, points of the frequency grid (default: ``default_freq_points``).

    Returns:
        A ReportSimilarity (``format_table()`` for Markdown, ``summary()`` for the numbers).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    grid = common_depth_grid(a, b, depth_points)
    a_curve = intensity_curve(a, grid, normalize)
    b_curve = intensity_curve(b, grid, normalize)
    f = default_freq_points(a, b) if freq_points is None else int(freq_points)
    if f < 2:
        raise ValueError(f"the frequency grid needs at least 2 points, got {f}")
    freq_grid = np.linspace(0.0, 0.5, f)
    pairs = pair_layers(a, b, mapping)
    a_all = {t: spectrum_on_grid(a, t, freq_grid) for t in sorted({t for p in pairs for t in p.teacher})}
    a_spectra = np.stack(
        [sum(w * a_all[t] for t, w in zip(p.teacher, p.weights, strict=True)) for p in pairs]
    )
    b_spectra = np.stack([spectrum_on_grid(b, p.student, freq_grid) for p in pairs])
    similarity = spectral_similarity(b_spectra, a_spectra, metric)
    cosine = spectral_similarity(b_spectra, a_spectra, "cosine")
    na, nb = depth_scale(a), depth_scale(b)
    layers = [
        LayerSimilarity(
            student=p.student,
            teacher=p.describe_teacher(),
            aligned=p.aligned,
            student_depth=p.student / nb,
            teacher_depth=float(np.dot(p.weights, p.teacher)) / na,
            similarity=float(s),
            cosine=float(c),
        )
        for p, s, c in zip(pairs, similarity, cosine, strict=True)
    ]
    return ReportSimilarity(
        a_name=a.model_name,
        b_name=b.model_name,
        metric=metric,
        normalized=normalize,
        depth_grid=grid,
        a_curve=a_curve,
        b_curve=b_curve,
        curve_correlation=pearson(a_curve, b_curve) if len(grid) > 1 else float("nan"),
        curve_distance=float(np.mean(np.abs(a_curve - b_curve))),
        layers=layers,
        freq_grid=freq_grid,
        a_spectra=a_spectra,
        b_spectra=b_spectra,
        mapped=mapping is not None,
    )


def format_summary_table(results: Mapping[str, ReportSimilarity], digits: int = 3) -> str:
    """Markdown, one row per named comparison: curve r and distance, mean spectral similarity (all / mapped / other)."""
    lines = [
        "| model | curve r | curve distance | spectra, all blocks | spectra, mapped | spectra, other |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def f(v: float) -> str:
        return "n/a" if not math.isfinite(v) else f"{v:.{digits}f}"

    for name, r in results.items():
        lines.append(
            f"| {name} | {f(r.curve_correlation)} | {f(r.curve_distance)} | {f(r.spectral_similarity)} "
            f"| {f(r.aligned_similarity)} | {f(r.unaligned_similarity)} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- figures


def plot_intensity_curves(
    reports: Mapping[str, SpectralReport],
    normalize: bool = True,
    ax: Any = None,
    title: str | None = None,
    reference: str | None = None,
    scales: Mapping[str, float] | None = None,
) -> Any:
    """Intensity against relative depth d = b / N for several reports on one axis.

    Each report is drawn at its own blocks (markers joined by lines), divided, when
    ``normalize``, by ``scales[name]`` if given, else by its mean intensity over its
    blocks (``compare_reports`` divides by the mean over the depths both models
    cover, so where the depth ranges differ the drawn curves may sit slightly apart
    from the compared ones). ``reference`` (a key, default the first) is drawn in
    black. Returns the figure.
    """
    import matplotlib.pyplot as plt

    from .plots import figure_axes

    fig, ax = figure_axes(ax, (6.0, 3.6))
    reference = reference if reference is not None else next(iter(reports))
    colors = iter(plt.get_cmap("tab10").colors)
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
            color="black" if is_ref else next(colors),
            label=f"{name} ({report.num_layers} blocks)",
            zorder=3 if is_ref else 2,
        )
    style_depth_axes(ax, normalize, title or "Spectral intensity against relative depth")
    return fig


def style_depth_axes(ax: Any, normalize: bool, title: str) -> None:
    """Limits, labels, grid and legend of an intensity-against-relative-depth plot."""
    ax.set_xlim(0.0, 1.02)
    ax.set_xlabel("relative depth b / N (1 = last block)")
    ax.set_ylabel("intensity / mean intensity" if normalize else "spectral intensity")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_pair_spectra(
    result: ReportSimilarity,
    blocks: Sequence[int] | None = None,
    ax: Any = None,
    title: str | None = None,
    log: bool = False,
) -> Any:
    """The unit-sum spectra of chosen student blocks (solid) and their paired teacher blocks (dashed).

    ``blocks``: student block numbers (default: all, at most 4 evenly chosen).
    The y axis is logarithmic when ``log`` (useful when the zero bin dwarfs the rest).
    """
    import matplotlib.pyplot as plt

    from .plots import figure_axes

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
        ax.plot(result.freq_grid, result.b_spectra[i], color=color, lw=1.5, label=f"student {block}")
        ax.plot(
            result.freq_grid,
            result.a_spectra[i],
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
    a: SpectralReport,
    b: SpectralReport,
    metric: str = "tv",
    ax: Any = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    annotate: bool = True,
) -> Any:
    """Heat map of ``cross_similarity(a, b)``: rows = blocks of b, columns = blocks of a, values written in.

    The brightest cell of a row is the block of ``a`` whose spectrum that block of ``b``
    resembles most. Returns the figure.
    """
    from .plots import figure_axes

    fig, ax = figure_axes(ax, (0.6 * a.num_layers + 2.0, 0.5 * b.num_layers + 1.4))
    matrix = cross_similarity(a, b, metric)
    image = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    if annotate:
        lo, hi = image.get_clim()
        for (j, i), value in np.ndenumerate(matrix):
            dark = (value - lo) / max(hi - lo, 1e-12) > 0.6
            ax.text(
                i, j, f"{value:.3f}", ha="center", va="center", fontsize=7, color="black" if dark else "white"
            )
    ax.set_xticks(range(a.num_layers), [str(x) for x in a.blocks])
    ax.set_yticks(range(b.num_layers), [str(x) for x in b.blocks])
    ax.set_xlabel(f"block of {a.model_name}")
    ax.set_ylabel(f"block of {b.model_name}")
    ax.set_title(title or f"Spectral similarity ({'1 - TV' if metric == 'tv' else 'cosine'})")
    return fig


def plot_similarity(
    a: SpectralReport,
    b: SpectralReport,
    result: ReportSimilarity,
    blocks: Sequence[int] | None = None,
    names: tuple[str, str] = ("teacher", "student"),
) -> Any:
    """Two panels: both intensity curves against relative depth, and paired layer spectra.

    The curves are divided by their means over the common depth grid, as compared.
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 3.9), layout="constrained")
    scales = {
        name: float(intensity_curve(r, result.depth_grid, normalize=False).mean())
        for name, r in zip(names, (a, b), strict=True)
    }
    plot_intensity_curves({names[0]: a, names[1]: b}, normalize=result.normalized, ax=left, scales=scales)
    r = _fmt(result.curve_correlation)
    left.set_title(f"Intensity vs relative depth (r = {r})")
    plot_pair_spectra(result, blocks, ax=right)
    right.set_title(f"Layer spectra (mean similarity {result.spectral_similarity:.3f})")
    return fig


# ---------------------------------------------------------------- command line


def load_mapping_arg(text: str) -> LayerMapping:
    """A mapping from a .json file written by ``LayerMapping.save``, or a spec like ``'1:2, 3:6'``."""
    path = Path(text)
    if path.suffix == ".json" or path.exists() or ":" not in text:
        return LayerMapping.load(path)
    return parse_manual(text)


def _cmd_compare_reports(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import ensure_writable_dir, save_figure_atomic, write_json_atomic

    a = SpectralReport.load(args.a)
    b = SpectralReport.load(args.b)
    mapping = load_mapping_arg(args.mapping) if args.mapping else None
    result = compare_reports(a, b, mapping=mapping, metric=args.metric, normalize=not args.raw)
    out = ensure_writable_dir(args.out)
    fig = plot_similarity(
        a, b, result, blocks=args.blocks, names=(f"A: {a.model_name}", f"B: {b.model_name}")
    )
    try:
        figure = save_figure_atomic(fig, out / "similarity.png", dpi=110)
    finally:
        plt.close(fig)
    data = write_json_atomic(out / "similarity.json", result.to_dict())
    print(f"A (reference): {a.model_name}, {a.num_layers} blocks x {max(a.channels)} channels")
    print(f"B (compared):  {b.model_name}, {b.num_layers} blocks x {max(b.channels)} channels\n")
    print(result.format_table())
    print(f"\nwrote {figure} and {data}")


def _block_list(text: str) -> list[int]:
    try:
        blocks = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected block numbers like '1,3', got {text!r}") from None
    if not blocks:
        raise argparse.ArgumentTypeError("give at least one block number")
    return blocks


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``spectralkd-lite compare-reports`` to the CLI's subparsers; returns its parser."""
    p = subparsers.add_parser(
        "compare-reports",
        help="how alike are two spectral reports (a teacher's and a student's)",
        description=(
            "Compare the spectral report B (e.g. a student) with the reference A (e.g. its teacher), "
            "whatever their depths and widths. Block b of N sits at relative depth b/N; intensity "
            "curves are interpolated onto the depths both cover (and divided by their mean there) and compared "
            "by Pearson r and mean absolute difference; each block of B is compared with the block "
            "of A at the same depth (or its mapped blocks) through their unit-sum spectra on the "
            "frequency axis 0..0.5 (1 - total variation, or cosine). Prints the table and writes "
            "similarity.png and similarity.json to --out."
        ),
    )
    p.add_argument("a", metavar="A.json", help="the reference report (the teacher), written by 'analyze'")
    p.add_argument("b", metavar="B.json", help="the report to compare with it (the student)")
    p.add_argument("--out", default=".", help="folder for similarity.png and similarity.json (default: .)")
    p.add_argument(
        "--mapping",
        default=None,
        help="student (B) <- teacher (A) links: a mapping .json file, or a spec like '1:2, 3:6'; "
        "mapped blocks are compared with their teacher blocks (default: same relative depth)",
    )
    p.add_argument(
        "--metric",
        choices=METRICS,
        default="tv",
        help="per-layer spectral similarity: tv = 1 - total variation distance, or cosine (default: tv)",
    )
    p.add_argument(
        "--blocks",
        type=_block_list,
        default=None,
        help="blocks of B whose spectra the figure shows, e.g. '1,3' (default: up to 4, evenly spread)",
    )
    p.add_argument(
        "--raw", action="store_true", help="compare intensity curves without dividing by their mean"
    )
    p.set_defaults(func=_cmd_compare_reports)
    return p


__all__ = [
    "METRICS",
    "LayerPair",
    "LayerSimilarity",
    "ReportSimilarity",
    "common_depth_grid",
    "compare_reports",
    "cross_similarity",
    "format_summary_table",
    "intensity_curve",
    "nearest_depth_blocks",
    "normalized_intensity",
    "pair_layers",
    "pearson",
    "plot_cross_similarity",
    "plot_intensity_curves",
    "plot_pair_spectra",
    "plot_similarity",
    "relative_depth",
    "select_blocks",
    "spectral_similarity",
    "spectrum_on_grid",
]
