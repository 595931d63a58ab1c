"""The distillation losses of SpectralKD, shared by vision and text distillation.

Everything here is a pure function of tensors (plus one optional learned module,
:class:`ChannelProjection`). Shapes use B = batch, C = channels, H x W = patch
grid, L = tokens.

Vision (the paper's loss, per aligned layer pair)::

    S, T      = align_channels(student (B, C_s, H, W), teacher (B, C_t, H, W), channel_dim=1)
    F_x       = rfft2(x, dim=(H, W), norm="ortho")                 # float32, autocast off
    L_spec    = mean((stack(Re F_S, Im F_S) - stack(Re F_T, Im F_T)) ** 2)

The total is ``distillation_loss``: (1 - alpha) CE + alpha KD + beta feature (beta = w_fft).

Text forms take (B, L, C) token sequences and an attention mask (B, L), True =
real token; padding never counts.

Parseval: ``norm="ortho"`` makes the FFT unitary, so the re/im MSE of the *full*
fft2 is exactly half the plain MSE (twice the elements, the same energy). The
rfft2 keeps W // 2 + 1 columns; every column except the zero-frequency one (and
the Nyquist one, W even) stands for two, so::

    L_spec = MSE * W * (1 + rho) / (4 * (W // 2 + 1)),
    rho    = (energy of the difference in the zero and Nyquist columns) / (total energy)

``parseval_ratio_2d`` computes that factor without any FFT. On a 14 x 14 grid it
is 0.4375 * (1 + rho): 0.4375 when those columns hold no energy, 0.5 on average
for white noise (rho = 2 / W), more for spatially smooth differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "FEATURE_KINDS",
    "FEATURE_LOSSES",
    "TEXT_FEATURE_KINDS",
    "VISION_FEATURE_KINDS",
    "ChannelProjection",
    "FeatureLoss",
    "align_channels",
    "classification_loss",
    "distillation_loss",
    "feature_loss",
    "hidden_mse",
    "logit_kd",
    "magnitude_loss",
    "parseval_ratio_2d",
    "spectral_loss_2d",
    "spectral_loss_channels",
    "spectral_loss_tokens",
]

# The smallest KD temperature: below it T^2 * KL underflows toward 0 in float32 and logit KD is silently off.
MIN_TEMPERATURE = 0.01
MAGNITUDE_AXES = ("tokens", "channels")


# ---------------------------------------------------------------- helpers


def _no_autocast(x: Tensor) -> AbstractContextManager:
    """A context that turns autocast off on x's device, so FFTs run in float32."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def _finite(loss: Tensor, what: str, **inputs: Tensor | None) -> Tensor:
    """Raise FloatingPointError when a CPU loss is NaN or inf, naming the inputs that hold NaN or inf.

    Only on the CPU: on a GPU the check would wait for the kernel (a host sync each step); there the
    training loop's own check of the loss (``StopOnNonFiniteLoss``) stops the run.
    """
    if loss.device.type != "cpu" or bool(torch.isfinite(loss).all()):
        return loss
    bad = [name for name, x in inputs.items() if x is not None and not bool(torch.isfinite(x).all())]
    where = f"the {' and the '.join(bad)} hold NaN or inf" if bad else "the inputs are too large for float32"
    raise FloatingPointError(f"{what}: the loss is {float(loss.detach())}: {where}")


def _check_same_shape(student: Tensor, teacher: Tensor, what: str) -> None:
    if student.shape != teacher.shape:
        raise ValueError(
            f"{what}: student and teacher must have the same shape after channel alignment, "
            f"got {tuple(student.shape)} and {tuple(teacher.shape)}"
        )


def _check_tokens(student: Tensor, teacher: Tensor, mask: Tensor | None, what: str) -> Tensor | None:
    """Validate (B, L, C) pairs and a (B, L) mask; return the mask as float32 0/1 (nonzero = real) or None."""
    if student.dim() != 3 or 0 in student.shape:
        raise ValueError(
            f"{what}: expected non-empty token sequences (B, L, C), each size >= 1, got {tuple(student.shape)}"
        )
    _check_same_shape(student, teacher, what)
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(student.shape[:2]):
        raise ValueError(
            f"{what}: the attention mask must have shape (B, L) = {tuple(student.shape[:2])}, got {tuple(mask.shape)}"
        )
    return (mask != 0).to(device=student.device, dtype=torch.float32)


def _token_dft(x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """The ortho rfft of each sequence over its own real tokens, as one batched matmul.

    x: (B, L, C) float32; mask: (B, L) float 0/1 or None (all real). Sequence b has
    n_b real tokens; the j-th real token (in order, wherever the padding is) sits at
    rank r_j, and

        F_b[k] = (1 / sqrt(n_b)) * sum_j x_b[j] * exp(-2 pi i k r_j / n_b),  k = 0 .. L // 2,

    which for k <= n_b // 2 is ``rfft(x_b[real tokens], norm="ortho")[k]``; higher bins
    are set to zero. No loop over lengths and no host sync: the DFT matrix (B, K, L)
    is built from the mask (k * r_j mod n_b in integers, so the angles stay exact).

    Returns (real part, imaginary part), each (B, K, C) with K = L // 2 + 1, and the
    bins' validity (B, K) as float 0/1.
    """
    b, length, _ = x.shape
    real = torch.ones(b, length, dtype=torch.long, device=x.device) if mask is None else (mask > 0).long()
    n = real.sum(1).clamp_min(1)  # (B,)
    rank = real.cumsum(1) - 1  # (B, L): position among the sequence's real tokens
    k = torch.arange(length // 2 + 1, device=x.device)  # (K,)
    turns = (k[None, :, None] * rank[:, None, :]) % n[:, None, None]  # (B, K, L), exact integers
    angle = (2 * math.pi / n.to(x.dtype))[:, None, None] * turns.to(x.dtype)
    weight = real.to(x.dtype)[:, None, :] / n.to(x.dtype).sqrt()[:, None, None]  # padding columns are 0
    re = torch.bmm(torch.cos(angle) * weight, x)
    im = -torch.bmm(torch.sin(angle) * weight, x)
    bins = (k[None, :] <= (real.sum(1) // 2)[:, None]).to(x.dtype)
    return re, im, bins


def _token_rfft_error(student: Tensor, teacher: Tensor, mask: Tensor | None, magnitude: bool) -> Tensor:
    """Squared error between the ortho rffts over the token axis, each sequence over its own real tokens.

    Per sequence b with n_b real tokens (in order; left or right padding alike):
    F_b = rfft(x_b[real tokens], dim=tokens, norm="ortho"), (n_b // 2 + 1, C), and
    e_b = mean over bins and channels (and re/im) of the squared difference (of |F|
    when ``magnitude``). The result is the mean of e_b weighted by n_b, so it does
    not depend on how much padding the batch carries or which sequences share it.
    The transforms are ``_token_dft``'s batched matmuls; without ``magnitude`` the
    DFT is linear, so one transform of s - t gives F_S - F_T. A batch without a real
    token (all padding) gives 0, as every masked loss here does.
    """
    s, t = student.float(), teacher.float()
    if magnitude:
        (rs, is_, bins), (rt, it, _) = _token_dft(s, mask), _token_dft(t, mask)
        sq = (torch.complex(rs, is_).abs() - torch.complex(rt, it).abs()).square()  # (B, K, C)
        per_element = 1
    else:
        re, im, bins = _token_dft(s - t, mask)
        sq = re.square() + im.square()
        per_element = 2  # re and im
    lengths = s.new_full((s.shape[0],), s.shape[1]) if mask is None else (mask > 0).sum(1).to(s.dtype)
    per_sequence = (sq.sum(-1) * bins).sum(1) / (bins.sum(1) * s.shape[-1] * per_element)  # e_b
    return (per_sequence * lengths).sum() / lengths.sum().clamp_min(1)


def _masked_token_mean(err: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of err (B, L, ...) over real tokens and every trailing element.

    No host sync: an all-padding mask gives 0 rather than an error.
    """
    if mask is None:
        return err.mean()
    per_token = err.reshape(err.shape[0], err.shape[1], -1)
    count = (mask.sum() * per_token.shape[-1]).clamp_min(1.0)
    return (per_token * mask[..., None]).sum() / count


# ---------------------------------------------------------------- channel alignment


def _pool_channels(x: Tensor, width: int, channel_dim: int) -> Tensor:
    """Adaptive average pooling of x's channel axis down to ``width`` channels."""
    last = x.movedim(channel_dim, -1)
    lead = last.shape[:-1]
    pooled = F.adaptive_avg_pool1d(last.reshape(-1, 1, last.shape[-1]), width)
    return pooled.reshape(*lead, width).movedim(-1, channel_dim)


def align_channels(student: Tensor, teacher: Tensor, channel_dim: int = -1) -> tuple[Tensor, Tensor]:
    """Parameter-free channel alignment: pool the wider tensor to the narrower width.

    Whichever of the two has more channels on ``channel_dim`` is adaptive-average-
    pooled along that axis (when C_wide is a multiple of C_narrow, output channel j
    is the mean of input channels j*r .. j*r + r - 1, r = C_wide / C_narrow). Equal
    widths are returned unchanged. The official SpectralKD code pools only the
    teacher and crashes when the student is wider; both directions work here.

    Args:
        student: e.g. (B, C_s, H, W) with ``channel_dim=1``, or (B, L, C_s).
        teacher: the same shape except for the channel axis.
        channel_dim: the channel axis of both.

    Returns:
        (student, teacher), both with min(C_s, C_t) channels.
    """
    if student.dim() != teacher.dim():
        raise ValueError(
            f"student and teacher features must have the same number of dimensions, "
            f"got {tuple(student.shape)} and {tuple(teacher.shape)}"
        )
    if not -student.dim() <= channel_dim < student.dim():
        raise ValueError(
            f"channel_dim={channel_dim} is out of range for {student.dim()}-dimensional features "
            f"(allowed: {-student.dim()}..{student.dim() - 1})"
        )
    s_other = [n for i, n in enumerate(student.shape) if i != channel_dim % student.dim()]
    t_other = [n for i, n in enumerate(teacher.shape) if i != channel_dim % teacher.dim()]
    if s_other != t_other:
        raise ValueError(
            f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} differ outside the channel "
            f"axis (channel_dim={channel_dim}); only the channel widths may differ"
        )
    c_s, c_t = student.shape[channel_dim], teacher.shape[channel_dim]
    if c_t > c_s:
        teacher = _pool_channels(teacher, c_s, channel_dim)
    elif c_s > c_t:
        student = _pool_channels(student, c_t, channel_dim)
    return student, teacher


class ChannelProjection(nn.Module):
    """A learned linear map of student channels to teacher channels (the FitNets-style regressor).

    An alternative to the parameter-free :func:`align_channels`, for comparison.
    Its parameters must be given to the optimiser along with the student's.

    Args:
        student_channels: C_s.
        teacher_channels: C_t.
        channel_dim: the channel axis of the inputs (1 for (B, C, H, W), -1 for (B, L, C)).
        bias: add a bias.
    """

    def __init__(
        self, student_channels: int, teacher_channels: int, channel_dim: int = -1, bias: bool = False
    ):
        super().__init__()
        self.channel_dim = channel_dim
        self.proj = nn.Linear(student_channels, teacher_channels, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """x with C_s channels on ``channel_dim`` -> the same shape with C_t channels."""
        return self.proj(x.movedim(self.channel_dim, -1)).movedim(-1, self.channel_dim)


# ---------------------------------------------------------------- spectral losses


def spectral_loss_2d(student_map: Tensor, teacher_map: Tensor) -> Tensor:
    """The SpectralKD feature loss: MSE of the stacked real/imaginary rfft2 of two maps.

        F_x = rfft2(x, dim=(-2, -1), norm="ortho")       # (B, C, H, W // 2 + 1), complex
        L   = mean((view_as_real(F_S) - view_as_real(F_T)) ** 2)

    Computed in float32 with autocast off, whatever the input dtype.

    Args:
        student_map: (B, C, H, W), already channel-aligned with the teacher.
        teacher_map: (B, C, H, W). Detach it (or compute it under no_grad) to keep
            gradients out of the teacher.

    Returns:
        A 0-d float32 tensor.
    """
    if student_map.dim() != 4 or 0 in student_map.shape:
        raise ValueError(
            f"spectral_loss_2d: expected non-empty feature maps (B, C, H, W), got {tuple(student_map.shape)}"
        )
    _check_same_shape(student_map, teacher_map, "spectral_loss_2d")
    with _no_autocast(student_map):
        fs = torch.fft.rfft2(student_map.float(), dim=(-2, -1), norm="ortho")
        ft = torch.fft.rfft2(teacher_map.float(), dim=(-2, -1), norm="ortho")
        return F.mse_loss(torch.view_as_real(fs), torch.view_as_real(ft))


def spectral_loss_tokens(student: Tensor, teacher: Tensor, mask: Tensor | None = None) -> Tensor:
    """1-D analogue of the spatial loss for text: rfft over the token axis.

        F_b = rfft(x_b[real tokens], dim=tokens, norm="ortho")   # (n_b // 2 + 1, C) per sequence
        e_b = mean((view_as_real(F_S,b) - view_as_real(F_T,b)) ** 2)
        L   = sum_b n_b * e_b / sum_b n_b                        # weighted by real tokens

    Each sequence is transformed over its own n_b real tokens, so the loss does not
    depend on how much padding a batch carries (see ``_token_rfft_error``).

    Args:
        student, teacher: (B, L, C), channel-aligned.
        mask: (B, L), True (or 1) = real token; None = all real.

    Returns:
        A 0-d float32 tensor.
    """
    m = _check_tokens(student, teacher, mask, "spectral_loss_tokens")
    with _no_autocast(student):
        loss = _token_rfft_error(student, teacher, m, magnitude=False)
    return _finite(loss, "spectral_loss_tokens", **{"student features": student, "teacher features": teacher})


def spectral_loss_channels(student: Tensor, teacher: Tensor, mask: Tensor | None = None) -> Tensor:
    """Loss over the channel axis, the analogue of the spectral analysis.

        F = rfft(x, dim=-1 (channels), norm="ortho")      # (B, L, C // 2 + 1)
        L = mean over real tokens, bins and re/im of (view_as_real(F_S) - view_as_real(F_T)) ** 2

    Args:
        student, teacher: (B, L, C), channel-aligned.
        mask: (B, L), True = real token; padding tokens are not counted.

    Returns:
        A 0-d float32 tensor.
    """
    m = _check_tokens(student, teacher, mask, "spectral_loss_channels")
    with _no_autocast(student):
        fs = torch.view_as_real(torch.fft.rfft(student.float(), dim=-1, norm="ortho"))
        ft = torch.view_as_real(torch.fft.rfft(teacher.float(), dim=-1, norm="ortho"))
        loss = _masked_token_mean((fs - ft).square(), m)
    return _finite(
        loss, "spectral_loss_channels", **{"student features": student, "teacher features": teacher}
    )


def magnitude_loss(
    student: Tensor, teacher: Tensor, mask: Tensor | None = None, axis: str = "tokens"
) -> Tensor:
    """Magnitude-only variant: MSE of |rfft| (phase ignored).

        axis="tokens":   |rfft(x_b[real tokens], dim=1, norm="ortho")| per sequence, as in spectral_loss_tokens
        axis="channels": |rfft(x, dim=-1, norm="ortho")|, averaged over real tokens

    Args:
        student, teacher: (B, L, C), channel-aligned.
        mask: (B, L), True = real token.
        axis: "tokens" or "channels".

    Returns:
        A 0-d float32 tensor.
    """
    if axis not in MAGNITUDE_AXES:
        raise ValueError(f"magnitude_loss: unknown axis {axis!r}; choose one of {', '.join(MAGNITUDE_AXES)}")
    m = _check_tokens(student, teacher, mask, "magnitude_loss")
    with _no_autocast(student):
        if axis == "tokens":
            return _token_rfft_error(student, teacher, m, magnitude=True)
        fs = torch.fft.rfft(student.float(), dim=-1, norm="ortho").abs()
        ft = torch.fft.rfft(teacher.float(), dim=-1, norm="ortho").abs()
        return _masked_token_mean((fs - ft).square(), m)


def hidden_mse(student: Tensor, teacher: Tensor, mask: Tensor | None = None) -> Tensor:
    """Plain feature MSE, the baseline feature loss: mean of (s - t)^2 over real positions.

    Args:
        student, teacher: any equal shapes, e.g. (B, L, C) or (B, C, H, W).
        mask: (B, L) for (B, L, C) inputs, True = real token; None = every position.

    Returns:
        A 0-d float32 tensor.
    """
    if mask is not None:
        m = _check_tokens(student, teacher, mask, "hidden_mse")
    else:
        _check_same_shape(student, teacher, "hidden_mse")
        if student.numel() == 0:
            raise ValueError(f"hidden_mse: the features are empty, shape {tuple(student.shape)}")
        m = None
    with _no_autocast(student):
        return _masked_token_mean((student.float() - teacher.float()).square(), m)


def parseval_ratio_2d(diff: Tensor) -> Tensor:
    """Predicted spectral_loss_2d / plain MSE for a difference map, computed without an FFT.

        E    = sum d^2
        E_0  = sum over (b, c, h) of (sum_w d[..., h, w])^2 / W           (zero-frequency column)
        E_N  = sum over (b, c, h) of (sum_w (-1)^w d[..., h, w])^2 / W    (Nyquist column, W even)
        ratio = W * (1 + (E_0 + E_N) / E) / (4 * (W // 2 + 1))

    Args:
        diff: (B, C, H, W), student map minus teacher map.

    Returns:
        A 0-d float64 tensor.
    """
    if diff.dim() != 4:
        raise ValueError(f"parseval_ratio_2d: expected (B, C, H, W), got {tuple(diff.shape)}")
    d = diff.double()
    w = d.shape[-1]
    energy = d.square().sum()
    edge = d.sum(-1).square().sum() / w
    if w % 2 == 0:
        sign = torch.ones(w, dtype=d.dtype, device=d.device)
        sign[1::2] = -1.0
        edge = edge + (d * sign).sum(-1).square().sum() / w
    return w * (1 + edge / energy) / (4 * (w // 2 + 1))


# ---------------------------------------------------------------- over layer pairs


@dataclass(frozen=True)
class FeatureLoss:
    """One feature-loss kind: everything the package says or does about it.

    label: its name in a comparison's rows; layout: what it compares, "tokens" ((B, L, C) with
    an attention mask: text), "maps" ((B, C, H, W) patch grids, no mask: vision) or "any";
    loss(student, teacher, mask, magnitude_axis): one aligned pair's loss; summary: one line
    for the command line's help.
    """

    label: str
    layout: str
    loss: Callable[[Tensor, Tensor, Tensor | None, str], Tensor]
    summary: str


# The one table of feature losses: adding a loss is its function above and one entry here.
# FEATURE_KINDS, TEXT_FEATURE_KINDS / VISION_FEATURE_KINDS (what DistillConfig, the command
# line's --feature, the distillation widget and the digits experiment accept) and the
# comparison's row labels (compare.FEATURE_LABELS) are derived from it.
FEATURE_LOSSES: dict[str, FeatureLoss] = {
    "spectral_2d": FeatureLoss(
        "spectral",
        "maps",
        lambda s, t, mask, axis: spectral_loss_2d(s, t),
        "the paper's 2-D patch-grid spectrum",
    ),
    "spectral_tokens": FeatureLoss(
        "spectral",
        "tokens",
        lambda s, t, mask, axis: spectral_loss_tokens(s, t, mask),
        "spectrum along the tokens",
    ),
    "spectral_channels": FeatureLoss(
        "spectral (channels)",
        "tokens",
        lambda s, t, mask, axis: spectral_loss_channels(s, t, mask),
        "spectrum along the channels",
    ),
    "magnitude": FeatureLoss(
        "magnitude",
        "tokens",
        lambda s, t, mask, axis: magnitude_loss(s, t, mask, axis),
        "spectral magnitudes only, phase ignored",
    ),
    "mse": FeatureLoss(
        "MSE", "any", lambda s, t, mask, axis: hidden_mse(s, t, mask), "plain MSE of the hidden states"
    ),
}
FEATURE_KINDS = tuple(FEATURE_LOSSES)
TEXT_FEATURE_KINDS = tuple(k for k, f in FEATURE_LOSSES.items() if f.layout in ("tokens", "any"))
VISION_FEATURE_KINDS = tuple(k for k, f in FEATURE_LOSSES.items() if f.layout in ("maps", "any"))


def feature_loss(
    student_feats: Sequence[Tensor],
    teacher_feats: Sequence[Tensor],
    kind: str,
    mask: Tensor | None = None,
    *,
    channel_dim: int | None = None,
    magnitude_axis: str = "tokens",
    projections: Sequence[nn.Module] | None = None,
    normalize: bool = False,
) -> Tensor:
    """Average a feature loss over aligned (student, teacher) layer pairs.

    Each pair is (optionally projected by ``projections[i]``, then) aligned with
    :func:`align_channels` and scored with ``FEATURE_LOSSES[kind]``: ``"spectral_2d"``
    on (B, C, H, W) maps (no mask), ``"mse"`` on any layout (pass ``channel_dim=1`` for
    maps), the others on (B, L, C).

    Args:
        student_feats, teacher_feats: one tensor per aligned pair, in the same order.
        kind: one of FEATURE_KINDS.
        mask: (B, L) attention mask for token sequences, True = real token.
        channel_dim: channel axis for alignment; default 1 for "spectral_2d", else -1.
        magnitude_axis: "tokens" or "channels", for kind "magnitude".
        projections: optional learned student -> teacher projections, one per pair.
        normalize: divide each pair's loss by the same loss of an all-zero student
            against that teacher layer (its energy as this loss form sees it; no
            gradient flows through it). Every loss form and every layer then starts
            near 1 for an untrained student and reads as a relative error, so one
            beta means the same for all of them; for ``mse`` it is the error over
            the teacher layer's mean square.

    Returns:
        A 0-d float32 tensor: (1 / pairs) * sum of the pair losses.
    """
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature loss kind {kind!r}; allowed: {', '.join(FEATURE_KINDS)}")
    if isinstance(student_feats, Tensor) or isinstance(teacher_feats, Tensor):
        raise TypeError(
            "feature_loss takes lists of per-layer tensors, not a single tensor; wrap it in a list"
        )
    if len(student_feats) != len(teacher_feats):
        raise ValueError(
            f"{len(student_feats)} student layers but {len(teacher_feats)} teacher layers; "
            "give exactly one teacher tensor per student tensor"
        )
    if not student_feats:
        raise ValueError("feature_loss needs at least one (student, teacher) layer pair")
    if projections is not None and len(projections) != len(student_feats):
        raise ValueError(
            f"{len(projections)} projections for {len(student_feats)} layer pairs; give one per pair"
        )
    layout = FEATURE_LOSSES[kind].layout
    if layout == "maps" and mask is not None:
        raise ValueError(f"kind {kind!r} works on (B, C, H, W) feature maps and takes no attention mask")
    if kind == "magnitude" and magnitude_axis not in MAGNITUDE_AXES:
        raise ValueError(
            f"unknown magnitude_axis {magnitude_axis!r}; choose one of {', '.join(MAGNITUDE_AXES)}"
        )
    cdim = (1 if layout == "maps" else -1) if channel_dim is None else channel_dim

    def fn(s: Tensor, t: Tensor) -> Tensor:
        return FEATURE_LOSSES[kind].loss(s, t, mask, magnitude_axis)

    per_pair = []
    for i, (s, t) in enumerate(zip(student_feats, teacher_feats, strict=True)):
        if projections is not None:
            s = projections[i](s)
        s, t = align_channels(s, t, cdim)
        loss = fn(s, t)
        if normalize:
            with torch.no_grad():  # the scale is a constant: only the error itself is trained
                scale = fn(torch.zeros_like(t), t).clamp_min(torch.finfo(torch.float32).tiny)
            loss = loss / scale
        per_pair.append(loss)
    return torch.stack(per_pair).mean()


# ---------------------------------------------------------------- logits


def logit_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Hinton's logit distillation: T^2 * KL(softmax(t / T) || softmax(s / T)), batchmean.

        KD = T^2 / B * sum_b sum_k p_t[b, k] * (log p_t[b, k] - log p_s[b, k])

    Args:
        student_logits, teacher_logits: (B, K). Detach the teacher's to keep it frozen.
        temperature: T > 0.

    Returns:
        A 0-d float32 tensor.
    """
    if not temperature >= MIN_TEMPERATURE:  # also NaN
        raise ValueError(
            f"temperature must be > 0 and at least {MIN_TEMPERATURE:g} (below it T^2 * KL underflows and "
            f"logit KD is silently off), got {temperature}"
        )
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(
            f"logit_kd: expected two (B, K) logit tensors of the same shape, got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    with _no_autocast(student_logits):
        log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
        log_p_t = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
        kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return _finite(
        kl * temperature**2,
        "logit_kd",
        **{"student logits": student_logits, "teacher logits": teacher_logits},
    )


def classification_loss(logits: Tensor, labels: Tensor, label_smoothing: float = 0.1) -> Tensor:
    """Cross-entropy with label smoothing eps: targets (1 - eps) * onehot + eps / K.

    Args:
        logits: (B, K).
        labels: (B,) integer class indices in 0..K-1 (checked on the CPU; on a GPU the
            kernel's own check fires, without a host sync here).
        label_smoothing: eps in [0, 1).

    Returns:
        A 0-d float32 tensor (mean over the batch).
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"classification_loss: expected logits (B, K) and labels (B,), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(
            f"classification_loss: labels must be integer class indices, got dtype {labels.dtype}"
        )
    if (
        labels.device.type == "cpu"
        and len(labels)
        and not 0 <= int(labels.min()) <= int(labels.max()) < logits.shape[1]
    ):
        raise ValueError(
            f"classification_loss: labels must be class indices in 0..{logits.shape[1] - 1}, "
            f"got values {int(labels.min())}..{int(labels.max())}"
        )
    with _no_autocast(logits):
        return F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor | None,
    labels: Tensor,
    feature: Tensor | None = None,
    alpha: float = 0.9,
    temperature: float = 1.0,
    beta: float = 0.0,
    label_smoothing: float = 0.1,
) -> dict[str, Tensor]:
    """The SpectralKD objective: (1 - alpha) * CE + alpha * KD + beta * feature.

    KD already includes T^2 (see :func:`logit_kd`). The paper's w_fft (0.2 for
    DeiT students, 0.05 for Swin-Tiny) is ``beta``; ``feature`` is typically
    ``feature_loss(..., kind="spectral_2d")``.

    Args:
        student_logits: (B, K).
        teacher_logits: (B, K), or None when alpha == 0 (training without a teacher).
        labels: (B,).
        feature: a 0-d feature loss, or None (counted as 0; then beta must be 0).
        alpha: weight of KD in [0, 1].
        temperature: T.
        beta: weight of the feature loss, >= 0.
        label_smoothing: for the CE term.

    Returns:
        {"total", "ce", "kd", "feature"}: 0-d float32 tensors (kd is 0 without a teacher).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if teacher_logits is None and alpha > 0:
        raise ValueError(f"alpha = {alpha} weights a KD term, but no teacher logits were given")
    if feature is None and beta > 0:
        raise ValueError(f"beta = {beta} weights a feature loss, but no feature loss was given")
    ce = classification_loss(student_logits, labels, label_smoothing)
    zero = ce.new_zeros(())
    kd = logit_kd(student_logits, teacher_logits, temperature) if teacher_logits is not None else zero
    feat = feature.float() if feature is not None else zero
    total = (1.0 - alpha) * ce + alpha * kd + beta * feat
    return {"total": total, "ce": ce, "kd": kd, "feature": feat}
