"""The spectral measure of a layer, as SpectralKD defines it.

For activations X with C channels (a token sequence (N, L, C), or a feature map
(B, C, H, W) with ``channel_dim=1``):

    F[..., k] = (1/C) * sum_c X[..., c] * exp(-2 pi i k c / C),   k = 0..C-1
    S[k]      = mean over every position p that counts of |F[p, k]|
    I         = (1/C) * sum_k S[k]              (the layer's intensity)

X is real, so |F[k]| = |F[C - k]|: an ``rfft`` gives bins 0..C//2 and the rest
are their mirror images. Every function here works on the rfft half and
expands or weights it, which halves the FFT cost and equals the full-DFT
definition exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "LayerSums",
    "full_spectrum",
    "layer_intensity",
    "layer_spectrum",
    "magnitude_sums",
    "patch_tokens",
    "rfft_bin_weights",
    "stacked_magnitude_sums",
    "stacked_sums",
    "tokens_to_grid",
]


def rfft_bin_weights(channels: int, device: torch.device | None = None) -> Tensor:
    """How many full-DFT bins each rfft bin stands for.

    Returns a float tensor of shape (channels // 2 + 1,): 1 for bin 0, 1 for the
    Nyquist bin when ``channels`` is even, 2 for every other bin. The weights sum
    to ``channels``.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    w = torch.full((channels // 2 + 1,), 2.0, device=device)
    w[0] = 1.0
    if channels % 2 == 0:
        w[-1] = 1.0
    return w


def full_spectrum(half: Tensor, channels: int) -> Tensor:
    """Expand an rfft-half spectrum to all ``channels`` bins by mirroring.

    ``half``: (..., channels // 2 + 1), magnitudes of bins 0..C//2.
    Returns (..., channels): bin k for k > C//2 is bin C - k.
    """
    expected = channels // 2 + 1
    if half.shape[-1] != expected:
        raise ValueError(f"an rfft half of {channels} channels has {expected} bins, got {half.shape[-1]}")
    mirrored = half[..., 1 : (channels + 1) // 2].flip(-1)
    return torch.cat([half, mirrored], dim=-1)


def _channels_last(x: Tensor, channel_dim: int) -> Tensor:
    if x.dim() < 1:
        raise ValueError("x must have at least one dimension (the channel axis)")
    try:
        return x.movedim(channel_dim, -1)
    except IndexError:
        raise ValueError(
            f"channel_dim={channel_dim} is out of range for a tensor of {x.dim()} dimensions "
            f"(allowed: {-x.dim()}..{x.dim() - 1})"
        ) from None


class LayerSums(NamedTuple):
    """Per-layer sums over the counted positions of one batch (they add up across batches).

    magnitude: (G, C // 2 + 1) float64, sums of |rfft(x) / C|;
    squares: (G,) float64, sums of x^2 over positions and channels (for the RMS);
    count: 0-d float64, the number of positions counted (per layer).
    """

    magnitude: Tensor
    squares: Tensor
    count: Tensor


def stacked_sums(x: Tensor, mask: Tensor | None = None, gather: bool | None = None) -> LayerSums:
    """Per-layer sums of |rfft(x) / C| and of x^2 over the positions that count.

    The building block of streaming analysis: every sum adds up across batches.

    Args:
        x: (G, *positions, C), G layers of the same shape, channels last.
        mask: bool (or 0/1) of shape ``positions``, shared by the G layers; True
            marks a position that counts (padding is False). None: all count. A
            non-bool mask with other values than 0 and 1 is an error (checking it
            reads the mask on the host; pass a bool mask to skip that).
        gather: transform only the counted positions (True) or all of them and sum
            with the mask as a mat-vec (False); None: gather on the CPU only.

    Returns:
        LayerSums on x's device. One rfft for all layers. On a GPU the masked sums
        are mat-vecs (no host sync); on the CPU, where a sync costs nothing, only the
        counted positions are gathered (index_select), which skips the FFTs of
        padding. Both give the same sums. A batch's sums are taken in float32 (the
        squares as a fused vector norm, no squared copy of x) and returned in
        float64 for accumulation across batches.
    """
    if x.dim() < 2 or x.numel() == 0:
        raise ValueError(
            f"activations of shape {tuple(x.shape)} (layers, *positions, channels) are empty: "
            "give at least one position and one channel"
        )
    layers, channels = x.shape[0], x.shape[-1]
    flat = x.reshape(layers, -1, channels).float()  # (G, P, C)
    weights = None
    if mask is None:
        count = torch.tensor(float(flat.shape[1]), dtype=torch.float64, device=x.device)
    else:
        if tuple(mask.shape) != tuple(x.shape[1:-1]):
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}; it must be the activations' shape without "
                f"the channel axis, {tuple(x.shape[1:-1])}"
            )
        weights = _check_mask(mask).reshape(-1)
        count = weights.sum(dtype=torch.float64)
        if gather is None:
            gather = x.device.type == "cpu"
        if gather:
            index = weights.nonzero().squeeze(1)
            if index.numel() == 0:  # all padding: nothing to transform
                zeros = flat.new_zeros(layers, channels // 2 + 1, dtype=torch.float64)
                return LayerSums(zeros, zeros[:, 0].clone(), count)
            flat = flat.index_select(1, index)  # (G, P_counted, C)
            weights = None
    magnitudes = torch.fft.rfft(flat, dim=-1).abs()  # (G, P, C // 2 + 1)
    energy = torch.linalg.vector_norm(flat, dim=-1).square()  # (G, P): sum over channels of x^2
    if weights is None:
        sums, squares = magnitudes.sum(1), energy.sum(1)
    else:  # masked sums as mat-vecs
        w = weights.to(flat.dtype)
        sums, squares = torch.matmul(w, magnitudes), energy @ w
    return LayerSums(sums.double() / channels, squares.double(), count)


def stacked_magnitude_sums(
    x: Tensor, mask: Tensor | None = None, gather: bool | None = None
) -> tuple[Tensor, Tensor]:
    """Per-layer sums of |rfft(x) / C| over the positions that count, and their number.

    Same arguments as :func:`stacked_sums`; returns ``(sums, count)``: sums of shape
    (G, C // 2 + 1) and a 0-d count, both float64 on x's device.
    """
    sums = stacked_sums(x, mask, gather)
    return sums.magnitude, sums.count


def _check_mask(mask: Tensor) -> Tensor:
    """The mask as bool; a non-bool mask must hold only 0 and 1 (one host read)."""
    if mask.dtype == torch.bool:
        return mask
    if not bool(((mask == 0) | (mask == 1)).all()):
        values = sorted({float(v) for v in mask.unique()[:6].tolist()})
        raise ValueError(f"the mask must hold only 0 and 1 (or True and False), got values {values}")
    return mask.bool()


def magnitude_sums(x: Tensor, mask: Tensor | None = None, channel_dim: int = -1) -> tuple[Tensor, Tensor]:
    """Sum of |rfft(x) / C| over one layer's counted positions, and their number.

    x: activations with C channels on ``channel_dim`` (other axes are positions);
    mask: x's shape without the channel axis, True = counts. Returns sums of shape
    (C // 2 + 1,) in float64 and a 0-d float64 count. See stacked_magnitude_sums.
    """
    sums, count = stacked_magnitude_sums(_channels_last(x, channel_dim).unsqueeze(0), mask)
    return sums[0], count


def layer_spectrum(x: Tensor, mask: Tensor | None = None, channel_dim: int = -1) -> Tensor:
    """The layer-wise spectrum S[k], k = 0..C-1, of one layer's activations.

    S[k] = mean over counted positions of |(1/C) sum_c x[c] exp(-2 pi i k c / C)|.

    Args:
        x: (N, L, C) token outputs, (B, C, H, W) feature maps with ``channel_dim=1``,
            or any shape with the channels on ``channel_dim``.
        mask: bool, x's shape without the channel axis; True = the position counts
            (padding tokens must be False). None: every position counts.
        channel_dim: the channel axis.

    Returns:
        float32 tensor of shape (C,). Raises ValueError when no position counts.
    """
    sums, count = magnitude_sums(x, mask, channel_dim)
    if float(count) == 0:
        raise ValueError("no position counts: the mask is all False")
    channels = x.shape[channel_dim]
    return full_spectrum(sums / count, channels).float()


def layer_intensity(x: Tensor, mask: Tensor | None = None, channel_dim: int = -1) -> Tensor:
    """The layer's spectral intensity: the mean of ``layer_spectrum`` over k.

    Same arguments as :func:`layer_spectrum`; returns a 0-d float32 tensor.
    """
    return layer_spectrum(x, mask, channel_dim).mean(-1)


def patch_tokens(hidden: Tensor, num_prefix_tokens: int = 1) -> Tensor:
    """Drop the class (and distillation) tokens of a ViT block output.

    hidden: (B, prefix + P, C) -> (B, P, C). ViT uses 1 prefix token (class),
    DeiT-distilled 2 (class, distillation).
    """
    if hidden.dim() != 3:
        raise ValueError(f"expected ViT tokens of shape (B, 1+P, C), got {tuple(hidden.shape)}")
    if not 0 <= num_prefix_tokens < hidden.shape[1]:
        raise ValueError(
            f"num_prefix_tokens={num_prefix_tokens} must be in 0..{hidden.shape[1] - 1} "
            f"for a sequence of {hidden.shape[1]} tokens"
        )
    return hidden[:, num_prefix_tokens:]


def tokens_to_grid(tokens: Tensor, height: int | None = None, width: int | None = None) -> Tensor:
    """Reshape patch tokens (B, P, C) to a feature map (B, C, H, W).

    With no height/width the grid is square: P must be a perfect square.
    """
    b, p, c = tokens.shape
    if height is None or width is None:
        side = int(round(p**0.5))
        if side * side != p:
            raise ValueError(f"{p} patch tokens do not form a square grid; pass height and width")
        height = width = side
    if height * width != p:
        raise ValueError(f"a {height}x{width} grid needs {height * width} tokens, got {p}")
    return tokens.transpose(1, 2).reshape(b, c, height, width)
