"""spectralkd_lite.losses against independent numpy computations and hand-derived formulas."""

import math

import numpy as np
import pytest
import torch

from spectralkd_lite.config import DistillConfig
from spectralkd_lite.losses import (
    FEATURE_KINDS,
    ChannelProjection,
    align_channels,
    classification_loss,
    distillation_loss,
    feature_loss,
    hidden_mse,
    logit_kd,
    magnitude_loss,
    parseval_ratio_2d,
    spectral_loss_2d,
    spectral_loss_channels,
    spectral_loss_tokens,
)
from spectralkd_lite.training import LinkedFeatures, step_losses

RNG = np.random.default_rng(0)


def t64(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def stacked(z: np.ndarray) -> np.ndarray:
    """Real and imaginary parts stacked on a new last axis (numpy's view_as_real)."""
    return np.stack([z.real, z.imag], axis=-1)


def token_pair(b=3, length=9, c=6):
    s = RNG.standard_normal((b, length, c))
    t = RNG.standard_normal((b, length, c))
    lengths = [9, 5, 2][:b]
    mask = np.zeros((b, length), dtype=bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    return s, t, mask


def pad_more(s, t, mask, extra=4):
    """Append ``extra`` padding positions holding garbage values (the mask hides them)."""
    b, _, c = s.shape
    s2 = np.concatenate([s, 100 + RNG.standard_normal((b, extra, c))], axis=1)
    t2 = np.concatenate([t, -50 + RNG.standard_normal((b, extra, c))], axis=1)
    m2 = np.concatenate([mask, np.zeros((b, extra), dtype=bool)], axis=1)
    return s2, t2, m2


# ---------------------------------------------------------------- the 2-D loss


def test_spectral_loss_2d_matches_numpy_rfft2():
    s = RNG.standard_normal((2, 3, 14, 14))
    t = RNG.standard_normal((2, 3, 14, 14))
    expected = np.mean((stacked(np.fft.rfft2(s, norm="ortho")) - stacked(np.fft.rfft2(t, norm="ortho"))) ** 2)
    got = spectral_loss_2d(t64(s), t64(t))
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_parseval_full_fft2_is_plain_mse():
    d = RNG.standard_normal((2, 3, 14, 14))
    plain = np.mean(d**2)
    full = np.fft.fft2(d, norm="ortho")
    # complex MSE over all H*W bins equals the plain MSE exactly (the ortho FFT is unitary)
    assert np.mean(np.abs(full) ** 2) == pytest.approx(plain, rel=1e-12)
    # stacking re/im doubles the element count: exactly half
    assert np.mean(stacked(full) ** 2) == pytest.approx(plain / 2, rel=1e-12)


@pytest.mark.parametrize("width", [14, 15, 4])
def test_rfft2_loss_is_a_reweighted_mse(width):
    h = 14
    d = RNG.standard_normal((2, 3, h, width))
    half = np.fft.rfft2(d, norm="ortho")  # (..., h, width // 2 + 1)
    # every rfft column but the zero one (and the Nyquist one when width is even) stands for two
    weights = np.full(width // 2 + 1, 2.0)
    weights[0] = 1.0
    if width % 2 == 0:
        weights[-1] = 1.0
    assert np.sum(weights * np.abs(half) ** 2) == pytest.approx(np.sum(d**2), rel=1e-12)

    # the derived factor: L_spec = MSE * W (1 + rho) / (4 (W // 2 + 1)), rho from the edge columns
    energy = np.sum(d**2)
    edge = np.sum(np.sum(d, axis=-1) ** 2) / width
    if width % 2 == 0:
        edge += np.sum(np.sum(d * (-1.0) ** np.arange(width), axis=-1) ** 2) / width
    predicted = width * (1 + edge / energy) / (4 * (width // 2 + 1))
    loss = float(spectral_loss_2d(t64(d), torch.zeros_like(t64(d))))
    assert loss / np.mean(d**2) == pytest.approx(predicted, rel=1e-5)
    assert float(parseval_ratio_2d(t64(d))) == pytest.approx(predicted, rel=1e-12)


def test_parseval_ratio_on_a_14x14_grid():
    # no energy in the zero-frequency or Nyquist columns: the floor, 14 / 32 = 0.4375
    d = RNG.standard_normal((4, 8, 14, 14))
    d -= d.mean(axis=-1, keepdims=True)
    alt = (-1.0) ** np.arange(14)
    d -= (d * alt).mean(axis=-1, keepdims=True) * alt
    ratio = float(spectral_loss_2d(t64(d), torch.zeros_like(t64(d)))) / np.mean(d**2)
    assert ratio == pytest.approx(14 / 32, rel=1e-5)
    # a constant difference: all energy at (0, 0), rho = 1 -> 0.875
    c = np.full((1, 1, 14, 14), 0.3)
    assert float(spectral_loss_2d(t64(c), torch.zeros_like(t64(c)))) / np.mean(c**2) == pytest.approx(0.875)
    # white noise: rho ~ 2 / W, so the ratio is 0.5 on average
    n = RNG.standard_normal((64, 32, 14, 14))
    ratio = float(spectral_loss_2d(t64(n), torch.zeros_like(t64(n)))) / np.mean(n**2)
    assert ratio == pytest.approx(0.5, abs=0.01)


# ---------------------------------------------------------------- text forms


def per_sequence_token_loss(s, t, mask, transform):
    """Independent reference: each sequence's own real tokens through numpy's rfft, errors averaged
    over bins and channels, then the sequences weighted by their number of real tokens."""
    losses, weights = [], []
    for b in range(len(s)):
        real = mask[b]
        err = (
            transform(np.fft.rfft(s[b][real], axis=0, norm="ortho"))
            - transform(np.fft.rfft(t[b][real], axis=0, norm="ortho"))
        ) ** 2
        losses.append(err.mean())
        weights.append(real.sum())
    return np.average(losses, weights=weights)


def test_spectral_loss_tokens_matches_numpy_and_ignores_padding():
    s, t, mask = token_pair()
    expected = per_sequence_token_loss(s, t, mask, stacked)
    got = spectral_loss_tokens(t64(s), t64(t), t64(mask))
    assert float(got) == pytest.approx(expected, rel=1e-5)
    s2, t2, m2 = pad_more(s, t, mask)
    assert float(spectral_loss_tokens(t64(s2), t64(t2), t64(m2))) == pytest.approx(float(got), rel=1e-6)
    # no mask: every token real
    full = np.mean(
        (stacked(np.fft.rfft(s, axis=1, norm="ortho")) - stacked(np.fft.rfft(t, axis=1, norm="ortho"))) ** 2
    )
    assert float(spectral_loss_tokens(t64(s), t64(t))) == pytest.approx(full, rel=1e-5)


@pytest.mark.parametrize("loss", [spectral_loss_tokens, magnitude_loss, hidden_mse, spectral_loss_channels])
def test_text_losses_do_not_depend_on_the_batch_fill(loss):
    """A short sequence's loss is the same alone, beside a long one, or left-padded."""
    s, t, mask = token_pair()
    short = slice(2, 3)  # 2 real tokens of 9
    alone = loss(t64(s[short, :2]), t64(t[short, :2]), t64(mask[short, :2]))
    with_long = loss(t64(s[[0, 2]]), t64(t[[0, 2]]), t64(mask[[0, 2]]))
    long_alone = loss(t64(s[:1]), t64(t[:1]), t64(mask[:1]))
    assert float(with_long) == pytest.approx((9 * float(long_alone) + 2 * float(alone)) / 11, rel=1e-6)
    left = np.roll(s[short], 7, axis=1), np.roll(t[short], 7, axis=1), np.roll(mask[short], 7, axis=1)
    assert float(loss(*map(t64, left))) == pytest.approx(float(alone), rel=1e-6)


def test_spectral_loss_channels_matches_numpy_and_ignores_padding():
    s, t, mask = token_pair()
    err = (
        stacked(np.fft.rfft(s, axis=-1, norm="ortho")) - stacked(np.fft.rfft(t, axis=-1, norm="ortho"))
    ) ** 2
    expected = err[mask].mean()  # real tokens only, over bins and re/im
    got = spectral_loss_channels(t64(s), t64(t), t64(mask))
    assert float(got) == pytest.approx(expected, rel=1e-5)
    s2, t2, m2 = pad_more(s, t, mask)
    assert float(spectral_loss_channels(t64(s2), t64(t2), t64(m2))) == pytest.approx(float(got), rel=1e-6)


@pytest.mark.parametrize("axis", ["tokens", "channels"])
def test_magnitude_loss_matches_numpy_and_ignores_padding(axis):
    s, t, mask = token_pair()
    if axis == "tokens":
        expected = per_sequence_token_loss(s, t, mask, np.abs)
    else:
        err = (
            np.abs(np.fft.rfft(s, axis=-1, norm="ortho")) - np.abs(np.fft.rfft(t, axis=-1, norm="ortho"))
        ) ** 2
        expected = err[mask].mean()
    got = magnitude_loss(t64(s), t64(t), t64(mask), axis=axis)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    s2, t2, m2 = pad_more(s, t, mask)
    assert float(magnitude_loss(t64(s2), t64(t2), t64(m2), axis=axis)) == pytest.approx(float(got), rel=1e-6)


def test_magnitude_loss_ignores_a_phase_shift():
    # a circular shift along the token axis changes the phase, not the magnitude
    s = RNG.standard_normal((2, 8, 4))
    shifted = np.roll(s, 3, axis=1)
    assert float(magnitude_loss(t64(s), t64(shifted), axis="tokens")) == pytest.approx(0.0, abs=1e-10)
    assert float(spectral_loss_tokens(t64(s), t64(shifted))) > 0.1


def test_hidden_mse_over_real_positions():
    s, t, mask = token_pair()
    expected = ((s - t) ** 2)[mask].mean()
    got = hidden_mse(t64(s), t64(t), t64(mask))
    assert float(got) == pytest.approx(expected, rel=1e-6)
    s2, t2, m2 = pad_more(s, t, mask)
    assert float(hidden_mse(t64(s2), t64(t2), t64(m2))) == pytest.approx(float(got), rel=1e-6)
    maps = RNG.standard_normal((2, 3, 4, 4)), RNG.standard_normal((2, 3, 4, 4))
    assert float(hidden_mse(t64(maps[0]), t64(maps[1]))) == pytest.approx(np.mean((maps[0] - maps[1]) ** 2))


# ---------------------------------------------------------------- channel alignment


def test_align_teacher_wider_is_the_mean_over_channel_groups():
    s = torch.randn(2, 5, 32)
    t = RNG.standard_normal((2, 5, 64))
    s_out, t_out = align_channels(s, t64(t))
    assert s_out is s
    np.testing.assert_allclose(t_out.numpy(), t.reshape(2, 5, 32, 2).mean(-1), rtol=1e-12)


def test_align_student_wider_does_not_crash():
    s = RNG.standard_normal((2, 96, 3, 3))  # (B, C, H, W), student 3x wider
    t = torch.randn(2, 32, 3, 3)
    s_out, t_out = align_channels(t64(s), t, channel_dim=1)
    assert t_out is t and s_out.shape == (2, 32, 3, 3)
    np.testing.assert_allclose(s_out.numpy(), s.reshape(2, 32, 3, 3, 3).mean(2), rtol=1e-12)


def test_align_non_divisible_uses_adaptive_bins():
    t = RNG.standard_normal((3, 10))
    _, out = align_channels(torch.zeros(3, 4, dtype=torch.float64), t64(t))
    bins = [(math.floor(j * 10 / 4), math.ceil((j + 1) * 10 / 4)) for j in range(4)]
    expected = np.stack([t[:, a:b].mean(-1) for a, b in bins], axis=-1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_align_rejects_other_mismatches():
    with pytest.raises(ValueError, match="only the channel widths may differ"):
        align_channels(torch.zeros(2, 5, 8), torch.zeros(2, 6, 16))
    with pytest.raises(ValueError, match="number of dimensions"):
        align_channels(torch.zeros(2, 8), torch.zeros(2, 5, 8))
    with pytest.raises(ValueError, match="channel_dim=3 is out of range"):
        align_channels(torch.zeros(2, 5, 8), torch.zeros(2, 5, 8), channel_dim=3)


def test_channel_projection_maps_student_to_teacher_width():
    proj = ChannelProjection(32, 64, channel_dim=1)
    out = proj(torch.randn(2, 32, 4, 4))
    assert out.shape == (2, 64, 4, 4)
    loss = feature_loss(
        [torch.randn(2, 32, 4, 4)], [torch.randn(2, 64, 4, 4)], "spectral_2d", projections=[proj]
    )
    loss.backward()
    assert proj.proj.weight.grad is not None


# ---------------------------------------------------------------- feature_loss


def test_feature_loss_averages_pairs_after_alignment():
    s = [torch.randn(2, 16, 4, 4), torch.randn(2, 16, 4, 4)]
    t = [torch.randn(2, 32, 4, 4), torch.randn(2, 16, 4, 4)]
    pooled = t[0].reshape(2, 16, 2, 4, 4).mean(2)
    expected = (spectral_loss_2d(s[0], pooled) + spectral_loss_2d(s[1], t[1])) / 2
    assert float(feature_loss(s, t, "spectral_2d")) == pytest.approx(float(expected), rel=1e-6)
    expected_mse = (hidden_mse(s[0], pooled) + hidden_mse(s[1], t[1])) / 2
    assert float(feature_loss(s, t, "mse", channel_dim=1)) == pytest.approx(float(expected_mse), rel=1e-6)


@pytest.mark.parametrize("kind", [k for k in FEATURE_KINDS if k != "spectral_2d"])
def test_feature_loss_text_kinds_run_with_a_mask(kind):
    s, t, mask = token_pair()
    loss = feature_loss([t64(s).float()], [t64(np.concatenate([t, t], -1)).float()], kind, t64(mask))
    assert loss.dim() == 0 and float(loss) > 0


def test_feature_loss_rejects_bad_inputs():
    x = [torch.zeros(2, 3, 4)]
    with pytest.raises(ValueError, match="unknown feature loss kind 'fft'.*spectral_2d.*mse"):
        feature_loss(x, x, "fft")
    with pytest.raises(ValueError, match="2 student layers but 1 teacher layers"):
        feature_loss(x * 2, x, "mse")
    with pytest.raises(ValueError, match="at least one"):
        feature_loss([], [], "mse")
    with pytest.raises(TypeError, match="lists of per-layer tensors"):
        feature_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), "mse")
    with pytest.raises(ValueError, match="takes no attention mask"):
        feature_loss([torch.zeros(1, 2, 3, 3)], [torch.zeros(1, 2, 3, 3)], "spectral_2d", torch.ones(1, 2))


# ---------------------------------------------------------------- logits


def test_logit_kd_by_hand():
    s = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    t = [[3.0, 2.0, 1.0], [1.0, 0.0, -1.0]]
    temp = 2.0

    def softmax(row):
        e = [math.exp(v / temp) for v in row]
        return [v / sum(e) for v in e]

    kl = 0.0
    for rs, rt in zip(s, t, strict=True):
        ps, pt = softmax(rs), softmax(rt)
        kl += sum(q * (math.log(q) - math.log(p)) for p, q in zip(ps, pt, strict=True))
    expected = kl / 2 * temp**2  # batchmean, times T^2
    got = logit_kd(torch.tensor(s), torch.tensor(t), temperature=temp)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    assert float(logit_kd(torch.tensor(t), torch.tensor(t))) == pytest.approx(0.0, abs=1e-7)


def test_classification_loss_with_label_smoothing_by_hand():
    logits = np.array([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    labels = np.array([0, 3])
    eps, k = 0.1, 4
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per = [-(1 - eps) * logp[i, labels[i]] - eps / k * logp[i].sum() for i in range(2)]
    got = classification_loss(t64(logits), t64(labels), label_smoothing=eps)
    assert float(got) == pytest.approx(np.mean(per), rel=1e-6)


def test_distillation_loss_combines_the_terms():
    s, t = torch.randn(4, 10), torch.randn(4, 10)
    y = torch.tensor([1, 2, 3, 4])
    feat = torch.tensor(0.7)
    out = distillation_loss(s, t, y, feat, alpha=0.9, temperature=2.0, beta=0.2)
    assert set(out) == {"total", "ce", "kd", "feature"}
    ce = classification_loss(s, y, 0.1)
    kd = logit_kd(s, t, 2.0)
    assert float(out["ce"]) == pytest.approx(float(ce))
    assert float(out["kd"]) == pytest.approx(float(kd))
    assert float(out["total"]) == pytest.approx(0.1 * float(ce) + 0.9 * float(kd) + 0.2 * 0.7, rel=1e-6)
    plain = distillation_loss(s, None, y, alpha=0.0)
    assert float(plain["kd"]) == 0.0 and float(plain["feature"]) == 0.0
    assert float(plain["total"]) == pytest.approx(float(ce))


@pytest.mark.parametrize(("align", "normalize"), [("pool", False), ("pool", True), ("project", False)])
def test_one_steps_terms_match_the_formulas(align, normalize):
    """training.step_losses, the one computation of a step's terms (text and vision gather its inputs),
    against numpy: CE with label smoothing, T^2 * KL(teacher || student) batchmean, and beta times the
    mean over links of the masked feature MSE, the teacher's 8 channels pooled to the student's 4 (or
    the student's projected to 8); normalised, each link's error over its teacher's mean square."""
    b, length, k, eps, a, temp, beta = 3, 5, 6, 0.1, 0.7, 2.0, 0.5
    s_logits, t_logits = RNG.standard_normal((b, k)), RNG.standard_normal((b, k))
    labels = np.array([0, 5, 2])
    s_feats = [RNG.standard_normal((b, length, 4)) for _ in range(2)]
    t_feats = [RNG.standard_normal((b, length, 8)) for _ in range(2)]
    mask = np.arange(length)[None, :] < np.array([5, 3, 1])[:, None]
    config = DistillConfig(a, temp, beta, "mse", normalize=normalize, channel_align=align)
    projections = [ChannelProjection(4, 8) for _ in s_feats] if align == "project" else None
    teacher = [t64(t).float().requires_grad_() for t in t_feats]
    features = LinkedFeatures([t64(s).float().requires_grad_() for s in s_feats], teacher, t64(mask))
    got = step_losses(
        config, t64(s_logits).float(), t64(labels), t64(t_logits).float(), features, projections
    )

    log_p = s_logits - np.log(np.exp(s_logits).sum(-1, keepdims=True))
    ce = np.mean([-(1 - eps) * log_p[i, labels[i]] - eps / k * log_p[i].sum() for i in range(b)])
    log_ps, log_pt = (
        z / temp - np.log(np.exp(z / temp).sum(-1, keepdims=True)) for z in (s_logits, t_logits)
    )
    kd = temp**2 * np.sum(np.exp(log_pt) * (log_pt - log_ps)) / b
    links = []
    for i, (s, t) in enumerate(zip(s_feats, t_feats, strict=True)):
        if projections is not None:
            s = s @ projections[i].proj.weight.detach().double().numpy().T
        else:
            t = t.reshape(b, length, 4, 2).mean(-1)  # channels 2j and 2j + 1 pooled into j

        def masked_mean(x):
            return (x * mask[..., None]).sum() / (mask.sum() * x.shape[-1])

        links.append(masked_mean((s - t) ** 2) / (masked_mean(t**2) if normalize else 1.0))
    expected = {"ce": ce, "kd": kd, "feature": np.mean(links)}
    expected["total"] = (1 - a) * ce + a * kd + beta * expected["feature"]
    for key, value in expected.items():
        assert float(got[key].detach()) == pytest.approx(value, rel=1e-5), key
    got["total"].backward()
    assert all(t.grad is None for t in teacher)  # the teacher's side is detached


def test_one_step_refuses_what_its_objective_lacks():
    logits, labels = torch.randn(2, 3), torch.tensor([0, 1])
    feats = LinkedFeatures([torch.randn(2, 4, 3)], [torch.randn(2, 4, 3)])
    with pytest.raises(ValueError, match="needs the teacher's logits"):
        step_losses(DistillConfig(alpha=0.5), logits, labels)
    with pytest.raises(ValueError, match="needs the linked features"):
        step_losses(DistillConfig(alpha=0.0, beta=1.0, feature="mse"), logits, labels)
    with pytest.raises(ValueError, match="channel_align='project' needs the learned projections"):
        step_losses(
            DistillConfig(0.0, beta=1.0, feature="mse", channel_align="project"), logits, labels, None, feats
        )


def test_distillation_loss_rejects_inconsistent_settings():
    s, y = torch.randn(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="no teacher logits"):
        distillation_loss(s, None, y, alpha=0.9)
    with pytest.raises(ValueError, match="no feature loss"):
        distillation_loss(s, s, y, beta=0.2)
    with pytest.raises(ValueError, match="alpha must be in"):
        distillation_loss(s, s, y, alpha=1.5)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        logit_kd(s, s, temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        logit_kd(s, torch.randn(2, 4))


# ---------------------------------------------------------------- precision and errors


def test_spectral_losses_run_in_float32_under_bf16_autocast():
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = layer(x)  # bf16 under autocast
        t = layer(x + 0.1)
        assert s.dtype == torch.bfloat16
        maps = s.reshape(2, 5, 2, 4)
        losses = {
            "2d": spectral_loss_2d(maps, t.reshape(2, 5, 2, 4)),
            "tokens": spectral_loss_tokens(s, t, torch.ones(2, 5, dtype=torch.bool)),
            "channels": spectral_loss_channels(s, t),
            "magnitude": magnitude_loss(s, t),
            "mse": hidden_mse(s, t),
            "kd": logit_kd(s[:, 0], t[:, 0]),
            "ce": classification_loss(s[:, 0], torch.tensor([0, 1])),
        }
    for name, value in losses.items():
        assert value.dtype == torch.float32, name
    ref = spectral_loss_2d(maps.float(), t.reshape(2, 5, 2, 4).float())
    assert float(losses["2d"].detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
    losses["2d"].backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"expected non-empty feature maps \(B, C, H, W\)"):
        spectral_loss_2d(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(
        ValueError, match=r"same shape after channel alignment.*\(1, 2, 4, 4\).*\(1, 2, 4, 5\)"
    ):
        spectral_loss_2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match=r"attention mask must have shape \(B, L\) = \(2, 5\)"):
        spectral_loss_tokens(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), torch.ones(2, 6))
    with pytest.raises(ValueError, match=r"token sequences \(B, L, C\)"):
        spectral_loss_channels(torch.zeros(5, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="unknown axis 'both'"):
        magnitude_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), axis="both")
    with pytest.raises(ValueError, match="label_smoothing"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0, 1]), label_smoothing=1.0)


@pytest.mark.parametrize("kind", ["spectral_tokens", "spectral_channels", "magnitude", "mse"])
def test_normalised_feature_loss_trains_the_student(kind):
    """The normalised loss is the raw loss over a constant: its gradient is the raw gradient over that constant."""
    s, t, mask = token_pair()
    student = t64(s).requires_grad_(True)
    raw = feature_loss([student], [t64(t)], kind, t64(mask))
    (raw_grad,) = torch.autograd.grad(raw, student)
    normalised = feature_loss([student], [t64(t)], kind, t64(mask), normalize=True)
    (grad,) = torch.autograd.grad(normalised, student)
    zero = feature_loss([torch.zeros_like(student)], [t64(t)], kind, t64(mask))
    assert float(normalised) == pytest.approx(float(raw) / float(zero), rel=1e-6)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, raw_grad / zero, rtol=1e-4, atol=1e-7)  # the losses run in float32


@pytest.mark.parametrize("loss", [spectral_loss_tokens, magnitude_loss])
def test_token_losses_give_finite_gradients_and_none_to_padding(loss):
    """Bins above a short sequence's own n // 2 are zero for student and teacher alike: |0| must not give NaN."""
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(3, 9, 8, generator=gen, requires_grad=True)
    t = torch.randn(3, 9, 8, generator=gen)
    mask = torch.tensor([[1] * 9, [1] * 4 + [0] * 5, [0] * 7 + [1] * 2])
    (grad,) = torch.autograd.grad(loss(s, t, mask), s)
    assert torch.isfinite(grad).all()
    assert grad[1, 4:].abs().sum() == 0 and grad[2, :7].abs().sum() == 0  # padding gets no gradient
    assert grad[1, :4].abs().sum() > 0 and grad[2, 7:].abs().sum() > 0
