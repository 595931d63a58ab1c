"""How alike are the spectral patterns of a teacher and a student of different depth and width?

Compares two SpectralReports, the ``teacher``'s (the reference) and the
``student``'s. Layers are block numbers 1..N as everywhere in the package
(``hidden_states[i]`` is block i; a report made with ``include_embeddings`` also
has block 0, the embedding output). The figures of a comparison are in ``plots``.

Relative depth. Block b of a model with N blocks (N = the report's largest block
number) sits at

    d(b) = b / N                                   # in (0, 1]; the embeddings, block 0, at 0

the fraction of the model's blocks that has run when ``hidden_states[b]`` is
produced, so both models' last blocks sit at 1 and a uniform mapping
(``select_uniform``: 6 -> 3 blocks gives teacher 2, 4, 6) pairs blocks at equal
depth.

Intensity curves. Each model's intensities L_b are linearly interpolated
(``numpy.interp``) onto G evenly spaced depths spanning what both models cover,
[max(d_teacher(first), d_student(first)), 1] (no extrapolation), and, with
``normalize=True``, divided by their mean over that grid (widths differ, and the
1/C-scaled spectrum of C unit-variance channels shrinks like 1/sqrt(C)); so a curve
and any multiple of it, or one line sampled at different depths, compare as equal.
On the grid, with t for the teacher and s for the student:

    t_g = L_t(grid_g) / mean_g' L_t(grid_g')                # (G,), likewise s_g
    curve correlation r = Pearson(t_g, s_g)                 # shape only; NaN if a curve is flat
    curve distance      = mean_g |t_g - s_g|                # 0 = same normalised curve

Layer spectra. A layer's half spectrum S[0..C//2] lives at the normalised
frequencies k / C in 0..0.5; it is interpolated onto F points of 0..0.5 (default
F = min(C_t, C_s) // 2 + 1, the coarser resolution) and scaled to unit sum
(p = s / sum(s)); a spectrum of odd C ends below 0.5 and is held constant there.
Two such spectra p, q compare by

    tv:     similarity = 1 - TV(p, q) = 1 - 0.5 * sum_f |p_f - q_f|      # in [0, 1]
    cosine: similarity = p . q / (|p| |q|)                               # in [0, 1] (p, q >= 0)

Pairing. Each student block j is compared with the teacher block at the nearest
relative depth (ties: the deeper one), or, when a LayerMapping (student <-
teacher) is given and links j, with its mapped teacher blocks; several weighted
teacher blocks are compared through sum_i w_i p_i (the weighted mean of their
normalised spectra, an approximation: the spectrum of a weighted sum of hidden
states is not the weighted sum of their spectra). The overall spectral
similarity is the mean over the student's blocks, also reported separately over
mapped ("aligned") and unmapped blocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .mapping import LayerMapping
from .report import SpectralReport

__all__ = [
    "DEFAULT_DEPTH_POINTS",
    "METRICS",
    "LayerPair",
    "LayerSimilarity",
    "ReportSimilarity",
    "common_depth_grid",
    "compare_reports",
    "cross_similarity",
    "default_freq_points",
    "depth_scale",
    "format_summary_table",
    "intensity_curve",
    "layer_pairs",
    "nearest_teacher_blocks",
    "normalized_intensity",
    "pearson",
    "relative_depth",
    "select_blocks",
    "spectral_similarity",
    "spectrum_on_grid",
]

METRICS = ("tv", "cosine")
DEFAULT_DEPTH_POINTS = 101


# ---------------------------------------------------------------- axes and curves


def depth_scale(report: SpectralReport) -> int:
    """N, the number the report's block numbers are divided by: its largest block number.

    The blocks must be numbered as ``analyze`` numbers them, 1..N (0..N with the embeddings) in order:
    a block beyond the model's depth would sit at a relative depth over 1.
    """
    blocks = list(report.blocks)
    start = blocks[0] if blocks else 1
    if start not in (0, 1) or blocks != list(range(start, start + len(blocks))):
        shown = ", ".join(map(str, blocks[:8])) + (", ..." if len(blocks) > 8 else "")
        raise ValueError(
            f"report {report.model_name!r} has blocks {shown}: a model's report numbers its blocks 1..N "
            "(0..N with the embeddings) in order, as analyze writes them"
        )
    n = max(blocks)
    if n < 1:
        raise ValueError(f"report {report.model_name!r} has no block >= 1 (blocks {report.blocks})")
    return n


def relative_depth(report: SpectralReport) -> np.ndarray:
    """d(b) = b / N for each of the report's blocks, shape (layers,)."""
    return np.asarray(report.blocks, dtype=np.float64) / depth_scale(report)


def common_depth_grid(
    teacher: SpectralReport, student: SpectralReport, points: int = DEFAULT_DEPTH_POINTS
) -> np.ndarray:
    """``points`` evenly spaced depths over [max(first teacher depth, first student depth), 1], shape (G,).

    A single point (1.0) when one of the reports starts at depth 1 (a one-block model).
    """
    if points < 2:
        raise ValueError(f"the depth grid needs at least 2 points, got {points}")
    start = max(float(relative_depth(teacher).min()), float(relative_depth(student).min()))
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


def default_freq_points(teacher: SpectralReport, student: SpectralReport) -> int:
    """min over both reports' layers of C // 2 + 1: the coarser frequency resolution."""
    return min(c for c in (*teacher.channels, *student.channels)) // 2 + 1


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
    teacher: SpectralReport, student: SpectralReport, metric: str = "tv", freq_points: int | None = None
) -> np.ndarray:
    """Spectral similarity of every student block with every teacher block, shape (student layers, teacher layers).

    Entry [j, i] compares the student's j-th and the teacher's i-th layer (report order)
    on the common frequency grid, as ``compare_reports`` does for one pair.
    ``cross_similarity(r, r)`` shows how much a model's own layers differ from each other.
    """
    f = default_freq_points(teacher, student) if freq_points is None else int(freq_points)
    grid = np.linspace(0.0, 0.5, f)
    t_spectra = np.stack([spectrum_on_grid(teacher, t, grid) for t in teacher.blocks])  # (teacher layers, F)
    s_spectra = np.stack([spectrum_on_grid(student, j, grid) for j in student.blocks])  # (student layers, F)
    return spectral_similarity(s_spectra[:, None, :], t_spectra[None, :, :], metric)


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


def nearest_teacher_blocks(teacher: SpectralReport, student: SpectralReport) -> list[int]:
    """For each student block j, the teacher block at the nearest relative depth (ties: the deeper).

    Exact integer arithmetic: |j * N_teacher - i * N_student| is minimised over the teacher's blocks i.
    """
    n_teacher, n_student = depth_scale(teacher), depth_scale(student)
    t_blocks = np.asarray(teacher.blocks, dtype=np.int64)
    s_blocks = np.asarray(student.blocks, dtype=np.int64)
    dist = np.abs(s_blocks[:, None] * n_teacher - t_blocks[None, :] * n_student)  # (student, teacher layers)
    # the deepest of the closest: among equal distances prefer the larger block number
    key = dist * (2 * int(t_blocks.max()) + 2) - t_blocks[None, :]
    return [int(t_blocks[i]) for i in key.argmin(axis=1)]


@dataclass(frozen=True)
class LayerPair:
    """Student block ``student`` against the teacher blocks ``teacher`` (weights sum to 1)."""

    student: int
    teacher: tuple[int, ...]
    weights: tuple[float, ...]
    aligned: bool  # True: linked by the mapping; False: paired by relative depth

    def describe_teacher(self) -> str:
        if len(self.teacher) == 1:
            return str(self.teacher[0])
        return " + ".join(f"{w:g}*{t}" for t, w in zip(self.teacher, self.weights, strict=True))


def layer_pairs(
    teacher: SpectralReport, student: SpectralReport, mapping: LayerMapping | None = None
) -> list[LayerPair]:
    """One LayerPair per student block: its mapped teacher blocks, else the teacher block nearest in depth.

    The mapping is validated against both reports' blocks.
    """
    links = {}
    if mapping is not None:
        mapping.validate(depth_scale(student), depth_scale(teacher))
        missing = [
            f"{side} block {k}"
            for link in mapping.links
            for side, blocks, ks in (
                ("student", student.blocks, (link.student,)),
                ("teacher", teacher.blocks, link.teacher),
            )
            for k in ks
            if k not in blocks
        ]
        if missing:
            raise ValueError(f"the mapping names {', '.join(missing)}, which the reports do not have")
        links = {link.student: link for link in mapping.links}
    nearest = nearest_teacher_blocks(teacher, student)
    pairs = []
    for j, t in zip(student.blocks, nearest, strict=True):
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
    """How alike a teacher's and a student's reports are; see the module docstring for every formula.

    Attributes:
        teacher_name, student_name: model names.
        metric: ``tv`` or ``cosine``, the per-layer ``similarity``.
        depth_grid: (G,) common relative depths; teacher_curve, student_curve: (G,)
            interpolated (normalised) intensity curves.
        curve_correlation: Pearson r of the curves (NaN when one is flat).
        curve_distance: mean |teacher_curve - student_curve|.
        layers: one LayerSimilarity per student block.
        freq_grid: (F,) normalised frequencies; teacher_spectra, student_spectra:
            (student layers, F) unit-sum spectra of each pair (the teacher's side
            combined over mapped blocks).
    """

    teacher_name: str
    student_name: str
    metric: str
    normalized: bool
    depth_grid: np.ndarray
    teacher_curve: np.ndarray
    student_curve: np.ndarray
    curve_correlation: float
    curve_distance: float
    layers: list[LayerSimilarity]
    freq_grid: np.ndarray
    teacher_spectra: np.ndarray
    student_spectra: np.ndarray
    mapped: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spectral_similarity(self) -> float:
        """Mean per-layer similarity over every student block."""
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
        """One row per student block: student block, teacher block(s), pairing, depths, similarity, cosine."""
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
            "teacher": self.teacher_name,
            "student": self.student_name,
            "metric": self.metric,
            "normalized": self.normalized,
            "summary": {k: _json_float(v) for k, v in self.summary().items()},
            "layers": self.to_table(),
        }


def _fmt(value: float, digits: int = 4) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def compare_reports(
    teacher: SpectralReport,
    student: SpectralReport,
    *,
    mapping: LayerMapping | None = None,
    metric: str = "tv",
    normalize: bool = True,
    depth_points: int = DEFAULT_DEPTH_POINTS,
    freq_points: int | None = None,
) -> ReportSimilarity:
    """Compare the ``student``'s report with the ``teacher``'s (the reference).

    Args:
        teacher, student: spectral reports; depths and widths may differ.
        mapping: student <- teacher links; linked blocks are compared with their
            teacher blocks, the others with the teacher block at the same depth.
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
    teacher.check_finite("the teacher's report")
    student.check_finite("the student's report")
    grid = common_depth_grid(teacher, student, depth_points)
    teacher_curve = intensity_curve(teacher, grid, normalize)
    student_curve = intensity_curve(student, grid, normalize)
    f = default_freq_points(teacher, student) if freq_points is None else int(freq_points)
    if f < 2:
        raise ValueError(f"the frequency grid needs at least 2 points, got {f}")
    freq_grid = np.linspace(0.0, 0.5, f)
    pairs = layer_pairs(teacher, student, mapping)
    used = sorted({t for p in pairs for t in p.teacher})
    teacher_all = {t: spectrum_on_grid(teacher, t, freq_grid) for t in used}
    teacher_spectra = np.stack(
        [sum(w * teacher_all[t] for t, w in zip(p.teacher, p.weights, strict=True)) for p in pairs]
    )
    student_spectra = np.stack([spectrum_on_grid(student, p.student, freq_grid) for p in pairs])
    similarity = spectral_similarity(student_spectra, teacher_spectra, metric)
    cosine = spectral_similarity(student_spectra, teacher_spectra, "cosine")
    n_teacher, n_student = depth_scale(teacher), depth_scale(student)
    layers = [
        LayerSimilarity(
            student=p.student,
            teacher=p.describe_teacher(),
            aligned=p.aligned,
            student_depth=p.student / n_student,
            teacher_depth=float(np.dot(p.weights, p.teacher)) / n_teacher,
            similarity=float(s),
            cosine=float(c),
        )
        for p, s, c in zip(pairs, similarity, cosine, strict=True)
    ]
    return ReportSimilarity(
        teacher_name=teacher.model_name,
        student_name=student.model_name,
        metric=metric,
        normalized=normalize,
        depth_grid=grid,
        teacher_curve=teacher_curve,
        student_curve=student_curve,
        curve_correlation=pearson(teacher_curve, student_curve) if len(grid) > 1 else float("nan"),
        curve_distance=float(np.mean(np.abs(teacher_curve - student_curve))),
        layers=layers,
        freq_grid=freq_grid,
        teacher_spectra=teacher_spectra,
        student_spectra=student_spectra,
        mapped=mapping is not None,
    )


def format_summary_table(results: Mapping[str, ReportSimilarity], digits: int = 3) -> str:
    """Markdown, one row per named comparison: curve r and distance, mean spectral similarity (all / mapped / other)."""
    lines = [
        "| model | curve r | curve distance | spectra, all blocks | spectra, mapped | spectra, other |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        values = (r.curve_correlation, r.curve_distance, r.spectral_similarity)
        values += (r.aligned_similarity, r.unaligned_similarity)
        lines.append(f"| {name} | " + " | ".join(_fmt(v, digits) for v in values) + " |")
    return "\n".join(lines)
