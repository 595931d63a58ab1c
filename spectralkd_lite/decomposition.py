"""A layer's spectral intensity split into flatness x scale.

For one layer's activations with C channels, F_p[k] = (1/C) DFT_c(x_p)[k] at every
counted position p (a token, or a patch), k = 0..C-1:

    I        = mean over p and k of |F_p[k]|                  the intensity (``spectrum``)
    rms      = sqrt(mean over p and c of x_p[c]^2)             the activations' scale
    scale    = rms / sqrt(C) = sqrt(mean over p, k of |F_p[k]|^2)    (Parseval)
    flatness = I / scale = mean |F| / sqrt(mean |F|^2)         in (0, 1]

so that, exactly,

    I = flatness * rms / sqrt(C).

``flatness`` (the ratio of the mean magnitude to the root-mean-square magnitude,
not the geometric-mean "spectral flatness" of audio) is 1 only when every |F_p[k]|
is the same: a flat spectrum at every position, and the same norm at every
position. It is about sqrt(pi/4) = 0.886 for Gaussian white noise
(``white_noise_flatness``), and 1/sqrt(C) when one bin holds everything (a
constant vector). Because it is bounded and usually near the noise value in
trained transformers, differences of intensity between layers mostly come from
rms / sqrt(C): the scale of the activations and the width of the layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .capture import to_device
from .report import SpectralReport
from .spectrum import rfft_bin_weights

__all__ = ["IntensityParts", "intensity_parts", "stream_intensity_parts", "white_noise_flatness"]


@dataclass(frozen=True)
class IntensityParts:
    """Per-layer parts of the intensity, each a float64 tensor of shape (G,), G layers.

    ``intensity == flatness * rms / sqrt(channels)`` (up to rounding).
    """

    intensity: Tensor
    flatness: Tensor
    rms: Tensor
    channels: Tensor

    @property
    def scale(self) -> Tensor:
        """rms / sqrt(C), shape (G,): the intensity the layer would have with a perfectly flat spectrum."""
        return self.rms / self.channels.sqrt()

    @classmethod
    def from_report(cls, report: SpectralReport) -> IntensityParts:
        """The parts from a report's ``intensity``, ``rms`` and ``channels`` (layers may differ in width).

        Raises ValueError for a report without ``rms`` (saved by an older version).
        """
        if not report.rms:
            raise ValueError(f"report {report.model_name!r} has no rms; re-run analyze to measure it")
        intensity = torch.tensor(report.intensity, dtype=torch.float64)
        rms = torch.tensor(report.rms, dtype=torch.float64)
        channels = torch.tensor(report.channels, dtype=torch.float64)
        return cls(intensity, intensity * channels.sqrt() / rms, rms, channels)


def intensity_parts(hidden: Tensor | Sequence[Tensor], mask: Tensor | None = None) -> IntensityParts:
    """Intensity, flatness and RMS of G layers of the same shape, in one pass (no loop over layers).

    Args:
        hidden: (G, *positions, C), channels last, e.g. ``torch.stack(hidden_states[1:])``
            of shape (N, B, L, C) for blocks 1..N of a text model; or a sequence of
            G tensors of shape (*positions, C), which is stacked.
        mask: bool (or 0/1) of shape ``positions`` (e.g. the attention mask (B, L)),
            shared by the layers; True marks a position that counts (padding is False).
            None: every position counts.

    Returns:
        IntensityParts with tensors of shape (G,) in float64 on ``hidden``'s device;
        ``intensity`` equals ``layer_intensity`` of each layer.
    """
    x = hidden if isinstance(hidden, Tensor) else torch.stack(list(hidden))
    if x.dim() < 2:
        raise ValueError(f"hidden must be (G, *positions, C), got shape {tuple(x.shape)}")
    layers, c = x.shape[0], x.shape[-1]
    flat = x.reshape(layers, -1, c).double()  # (G, P, C)
    if mask is not None:
        if tuple(mask.shape) != tuple(x.shape[1:-1]):
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}; it must be the positions' shape {tuple(x.shape[1:-1])}"
            )
        flat = flat[:, mask.reshape(-1).bool()]
    if flat.shape[1] == 0:
        raise ValueError("no position counts: the mask is all False")
    weights = rfft_bin_weights(c, device=x.device).double()  # (C//2 + 1,): mirrored bins count twice
    magnitude = torch.fft.rfft(flat, dim=-1).abs() / c  # (G, P, C//2 + 1)
    intensity = (magnitude * weights).sum(-1).mean(1) / c  # mean over all C bins, then positions
    rms = flat.square().mean((1, 2)).sqrt()
    channels = torch.full((layers,), float(c), dtype=torch.float64, device=x.device)
    return IntensityParts(intensity, intensity * math.sqrt(c) / rms, rms, channels)


@torch.inference_mode()
def stream_intensity_parts(
    model: nn.Module, batches: Iterable[Mapping[str, Tensor]], progress: bool = True
) -> IntensityParts:
    """``intensity_parts`` of every block of a text model, streamed over ``batches``: one batch's hidden
    states at a time on the model's device, never the whole split (roberta-large's 24 blocks of the
    3,000 CLINC150 validation sentences would be about 19 GB, and a float64 host copy as much again).

    Each batch (``input_ids``, ``attention_mask``, ...; moved to the model's device) gives the parts
    over its real tokens; the means are combined weighted by the batch's real-token count, so the result
    equals ``intensity_parts`` of all blocks (1..N) over all real tokens at once. Returns float64 (N,)
    tensors on the CPU. ``progress``: a tqdm progress bar over the batches (as ``analyze``'s).
    """
    total, magnitude, square, channels = 0, None, None, None
    for batch in tqdm(batches, disable=not progress, desc="intensity parts", leave=False):
        inputs = to_device({k: v for k, v in batch.items() if k != "labels"}, model)
        hidden = model(**inputs, output_hidden_states=True).hidden_states[1:]  # N x (B, L, C)
        mask = inputs["attention_mask"].bool()  # (B, L)
        parts = intensity_parts(torch.stack(hidden), mask)
        n = int(mask.sum())
        magnitude = parts.intensity * n if magnitude is None else magnitude + parts.intensity * n
        square = parts.rms.square() * n if square is None else square + parts.rms.square() * n
        channels, total = parts.channels, total + n
    if magnitude is None or total == 0:
        raise ValueError("no real tokens to measure: the batches are empty")
    intensity, rms = (magnitude / total).cpu(), (square / total).sqrt().cpu()
    return IntensityParts(intensity, intensity * channels.cpu().sqrt() / rms, rms, channels.cpu())


def white_noise_flatness(channels: int) -> float:
    """Expected flatness of Gaussian white noise with ``channels`` channels (a large sample).

    The C - 2 complex bins (C - 1 for odd C) have Rayleigh magnitudes, mean / rms =
    sqrt(pi/4); the real bins 0 and C/2 half-normal ones, sqrt(2/pi):
    (n_complex * sqrt(pi/4) + n_real * sqrt(2/pi)) / C.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    n_real = 1 if channels % 2 else min(2, channels)
    return ((channels - n_real) * math.sqrt(math.pi / 4) + n_real * math.sqrt(2 / math.pi)) / channels
