"""SpectralReport: per-layer spectra and intensities of one model, saved as JSON, and read in words."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .io import csv_text, read_json, write_json_atomic, write_text_atomic

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "SpectralReport",
    "describe_depth_profile",
]

SCHEMA = "spectralkd-lite/spectral-report"
SCHEMA_VERSION = 1


@dataclass
class SpectralReport:
    """What ``analyze`` measured, one entry per layer in depth order.

    Layers are named by block number 1..N (``blocks``), the convention users see:
    block i is ``hidden_states[i]`` of a Hugging Face model, block 0 would be the
    embedding output.

    Attributes:
        model_name: the model's name or path.
        layer_names: a readable name per layer ("block 3", or a module path).
        blocks: block numbers, 1..N for hidden states.
        channels: C of each layer.
        intensity: mean of the layer's spectrum over all C bins.
        spectra: each layer's full spectrum S[k], k = 0..C-1.
        positions: tokens or spatial positions counted per layer.
        batches: batches streamed.
        meta: free-form context (data set, profile, ...).
        rms: root-mean-square activation of each layer over the same positions and
            all channels (empty in reports that did not measure it). The intensity
            scales with it: ``intensity * sqrt(C) / rms`` is scale free, in (0, 1]
            (mean_k |F[k]| <= sqrt(mean_k |F[k]|^2) = rms / sqrt(C)).
    """

    model_name: str
    layer_names: list[str]
    blocks: list[int]
    channels: list[int]
    intensity: list[float]
    spectra: list[list[float]]
    positions: list[int]
    batches: int
    meta: dict[str, Any] = field(default_factory=dict)
    rms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.blocks)
        if n == 0:
            raise ValueError(
                f"the report of {self.model_name!r} has no layers: a report needs at least one block"
            )
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in self.blocks):
            raise ValueError(f"report blocks must be integers, got {self.blocks}")
        if len(set(self.blocks)) != n:
            repeated = sorted({b for b in self.blocks if self.blocks.count(b) > 1})
            raise ValueError(f"report blocks must be distinct; block {repeated[0]} appears more than once")
        names = ["layer_names", "channels", "intensity", "spectra", "positions"] + (
            ["rms"] if self.rms else []
        )
        for name in names:
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"report field {name!r} has {len(getattr(self, name))} entries, expected {n}"
                )
        for b, i in zip(self.blocks, self.intensity, strict=True):
            _check_number(f"report field 'intensity': block {b}", i)
        for b, c, s in zip(self.blocks, self.channels, self.spectra, strict=True):
            if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                raise ValueError(
                    f"report field 'channels': block {b} has {c!r}; expected a whole number >= 1"
                )
            if not isinstance(s, list) or len(s) != c:
                got = f"{len(s)} bins" if isinstance(s, list) else repr(s)
                raise ValueError(
                    f"report field 'spectra': block {b} of {c} channels needs {c} bins, got {got}"
                )
            for v in s:
                _check_number(f"report field 'spectra': block {b}", v)

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    def intensity_of(self, block: int) -> float:
        """Intensity of block number ``block`` (1-based)."""
        return self.intensity[self._index(block)]

    def spectrum_of(self, block: int) -> list[float]:
        return self.spectra[self._index(block)]

    def _index(self, block: int) -> int:
        try:
            return self.blocks.index(block)
        except ValueError:
            raise ValueError(
                f"block {block} is not in this report; it has blocks {self.blocks[0]}..{self.blocks[-1]}"
            ) from None

    def half_spectrum(self, block: int) -> tuple[list[float], list[float]]:
        """The first C//2 bins of a layer and their normalised frequencies k/C in 0..0.5."""
        s = self.spectrum_of(block)
        c = len(s)
        half = c // 2 + 1
        return [k / c for k in range(half)], s[:half]

    def check_finite(self, source: str = "the report") -> SpectralReport:
        """Raise ValueError naming the first block whose intensity or spectrum is NaN or infinite."""
        for b, i, s in zip(self.blocks, self.intensity, self.spectra, strict=True):
            if not (math.isfinite(i) and all(math.isfinite(v) for v in s)):
                raise ValueError(
                    f"{source}: block {b} has intensity {i} or a spectrum with NaN or inf (the model's outputs "
                    "held NaN or inf); such a report cannot be compared or ranked"
                )
        return self

    def top_layers(self, k: int) -> list[int]:
        """The k most intense blocks, most intense first (ties: shallower first; NaN ranks last)."""
        if not 1 <= k <= self.num_layers:
            raise ValueError(f"k must be in 1..{self.num_layers}, got {k}")
        order = sorted(range(self.num_layers), key=lambda i: (_descending(self.intensity[i]), i))
        return [self.blocks[i] for i in order[:k]]

    def to_table(self) -> list[dict[str, Any]]:
        """One row per layer: block, name, channels, intensity, rank (1 = most intense)."""
        ranks = {b: r for r, b in enumerate(self.top_layers(self.num_layers), start=1)}
        return [
            {"block": b, "name": n, "channels": c, "intensity": i, "rank": ranks[b], "positions": p}
            for b, n, c, i, p in zip(
                self.blocks, self.layer_names, self.channels, self.intensity, self.positions, strict=True
            )
        ]

    def format_table(self, highlight: list[int] | tuple[int, ...] = ()) -> str:
        """A Markdown table of ``to_table``; highlighted blocks are marked with *."""
        lines = ["| block | layer | channels | intensity | rank |", "|---:|---|---:|---:|---:|"]
        for row in self.to_table():
            mark = " *" if row["block"] in highlight else ""
            lines.append(
                f"| {row['block']}{mark} | {row['name']} | {row['channels']} | {row['intensity']:.5f} | {row['rank']} |"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **asdict(self)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically."""
        return write_json_atomic(path, self.to_dict())

    def save_csv(self, path: str | os.PathLike) -> Path:
        """Write ``to_table`` as CSV, atomically."""
        rows = self.to_table()
        keys = list(rows[0])
        return write_text_atomic(path, csv_text(keys, ([r[k] for k in keys] for r in rows)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpectralReport:
        """Read a report written by ``save``; other files, schema versions, and NaN or inf values are rejected."""
        data = read_json(path, "spectral report")
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"{path} is not a spectralkd-lite spectral report (no schema {SCHEMA!r})")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"{path} has report schema version {version}; this version of spectralkd-lite "
                f"reads version {SCHEMA_VERSION} only"
            )
        fields = {k: v for k, v in data.items() if k not in ("schema", "schema_version")}
        try:
            report = cls(**fields)
        except TypeError as e:
            raise ValueError(f"{path} is missing report fields or has unknown ones: {e}") from None
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        return report.check_finite(str(path))


def _check_number(where: str, value: Any) -> None:
    """A spectrum value or intensity: a real number >= 0 (NaN and inf pass here; ``check_finite`` names them)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} has {value!r} ({type(value).__name__}); expected a number >= 0")
    if value < 0:
        raise ValueError(f"{where} has {value!r}; spectra and intensities are means of magnitudes, >= 0")


def _descending(value: float) -> float:
    """Sort key for "largest first" that ranks NaN last."""
    return math.inf if math.isnan(value) else -value


def describe_depth_profile(
    report: SpectralReport, name: str | None = None, values: Sequence[float] | None = None
) -> str:
    """A plain-words verdict on the intensity-against-depth curve, computed from the numbers.

    Says which layers are hottest and coolest, the rank correlation of intensity
    with depth, and whether the curve is a U: both end layers hotter than every
    interior layer (a "partial U" when only the minimum is interior). ``values``
    (one per layer) replaces the intensity, e.g. the scale-free intensity / RMS.
    """
    x = np.asarray(report.intensity if values is None else values, dtype=float)
    if len(x) != report.num_layers:
        raise ValueError(f"{len(x)} values for a report of {report.num_layers} layers")
    n = len(x)
    unit = (
        report.layer_names[0].split()[0] if report.layer_names and " " in report.layer_names[0] else "block"
    )
    label = name or report.model_name
    order = np.argsort(-x, kind="stable")
    top = [report.blocks[i] for i in order[: min(2, n)]]
    coolest = report.blocks[int(np.argmin(x))]
    head = f"{label}: hottest {unit}s {', '.join(map(str, top))}; coolest {unit} {coolest}."
    if n < 3:
        return head + f" With {n} {unit}s there is no interior to judge a U shape by."
    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(float)
    depth = np.arange(n, dtype=float)
    spearman = float(np.corrcoef(depth, ranks)[0, 1])
    interior = x[1:-1]
    trend = f" Rank correlation of intensity with depth: {spearman:+.2f}."
    if x[0] > interior.max() and x[-1] > interior.max():
        shape = (
            f" U shape: both end {unit}s ({report.blocks[0]}: {x[0]:.4f}, {report.blocks[-1]}: {x[-1]:.4f}) "
            f"are hotter than every interior {unit} (max {interior.max():.4f}; "
            f"{n - 2} interior {unit}{'s' if n > 3 else ''})."
        )
    elif 0 < int(np.argmin(x)) < n - 1:
        cool_end = report.blocks[0] if x[0] <= x[-1] else report.blocks[-1]
        shape = (
            f" Partial U: the minimum is interior, but end {unit} {cool_end} is not hotter than every "
            f"interior {unit}."
        )
    else:
        end = "first" if int(np.argmin(x)) == 0 else "last"
        shape = f" Not a U shape: the {end} {unit} is the coolest of all."
    return head + trend + shape
