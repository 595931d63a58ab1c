"""Figures of a spectral report: intensity against depth, and layer spectra."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .report import SpectralReport

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
    fig, ax = figure_axes(ax, (max(5.0, 0.35 * report.num_layers + 2), 3.2))
    chosen = set(highlight)
    colors = [HIGHLIGHT if b in chosen else BASE for b in report.blocks]
    ax.bar(report.blocks, report.intensity, color=colors)
    ax.set_xlabel("block (1 = first block after the embeddings)")
    ax.set_ylabel("spectral intensity (mean |F| over k)")
    ax.set_xticks(report.blocks)
    ax.set_title(title or f"Spectral intensity by depth: {report.model_name}")
    if chosen:
        from matplotlib.patches import Patch

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
