"""The spectral core against a direct numpy implementation of the paper's formula."""

import numpy as np
import pytest
import torch

from spectralkd_lite.spectrum import (
    full_spectrum,
    layer_intensity,
    layer_spectrum,
    magnitude_sums,
    patch_tokens,
    rfft_bin_weights,
    tokens_to_grid,
)


def reference_spectrum(x: np.ndarray, mask: np.ndarray | None = None, channel_dim: int = -1) -> np.ndarray:
    """S[k] = mean over counted positions of |(1/C) sum_c x_c exp(-2 pi i k c / C)|, by an explicit DFT matrix."""
    x = np.moveaxis(x.astype(np.float64), channel_dim, -1)
    c = x.shape[-1]
    k = np.arange(c)
    dft = np.exp(-2j * np.pi * np.outer(np.arange(c), k) / c) / c  # (c, k)
    mag = np.abs(x @ dft).reshape(-1, c)
    if mask is None:
        return mag.mean(0)
    m = mask.reshape(-1).astype(bool)
    return mag[m].mean(0)


@pytest.mark.parametrize("shape", [(2, 5, 8), (3, 7, 9), (1, 1, 1), (4, 3, 2, 17), (6, 64)])
def test_spectrum_matches_full_dft_definition(shape):
    x = torch.randn(shape)
    got = layer_spectrum(x).numpy()
    assert got.shape == (shape[-1],)
    np.testing.assert_allclose(got, reference_spectrum(x.numpy()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 6, 4, 4), (3, 7, 5, 3)])
def test_spectrum_channel_first_maps(shape):
    x = torch.randn(shape)
    got = layer_spectrum(x, channel_dim=1).numpy()
    np.testing.assert_allclose(got, reference_spectrum(x.numpy(), channel_dim=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels", [7, 8])
def test_masked_spectrum(channels):
    x = torch.randn(4, 9, channels)
    mask = torch.rand(4, 9) > 0.4
    mask[0, 0] = True
    got = layer_spectrum(x, mask).numpy()
    np.testing.assert_allclose(got, reference_spectrum(x.numpy(), mask.numpy()), rtol=1e-5, atol=1e-6)


def test_masked_channel_first():
    x = torch.randn(2, 5, 3, 4)
    mask = torch.rand(2, 3, 4) > 0.5
    mask[0, 0, 0] = True
    got = layer_spectrum(x, mask, channel_dim=1).numpy()
    np.testing.assert_allclose(
        got, reference_spectrum(x.numpy(), mask.numpy(), channel_dim=1), rtol=1e-5, atol=1e-6
    )


def test_padding_tokens_change_nothing():
    x = torch.randn(3, 6, 10)
    mask = torch.ones(3, 6, dtype=torch.bool)
    padded = torch.cat([x, 100 * torch.randn(3, 5, 10)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(layer_spectrum(padded, padded_mask), layer_spectrum(x, mask))


def test_intensity_is_mean_over_all_bins():
    x = torch.randn(5, 4, 12)
    expected = reference_spectrum(x.numpy()).mean()
    assert float(layer_intensity(x)) == pytest.approx(expected, rel=1e-5)


def test_rfft_weights_count_every_bin():
    for c in range(1, 12):
        w = rfft_bin_weights(c)
        assert w.shape == (c // 2 + 1,)
        assert float(w.sum()) == c


def test_full_spectrum_mirrors():
    half = torch.tensor([0.0, 1.0, 2.0, 3.0])
    assert full_spectrum(half, 6).tolist() == [0.0, 1.0, 2.0, 3.0, 2.0, 1.0]
    assert full_spectrum(half, 7).tolist() == [0.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="has 5 bins, got 4"):
        full_spectrum(half, 9)


def test_half_precision_inputs_accumulate_in_float():
    x = torch.randn(4, 8, 16)
    sums, count = magnitude_sums(x.to(torch.bfloat16))
    assert sums.dtype == torch.float64 and float(count) == 32
    ref = reference_spectrum(x.to(torch.bfloat16).float().numpy())[: 16 // 2 + 1]
    np.testing.assert_allclose((sums / count).numpy(), ref, rtol=1e-4)


def test_patch_tokens_drop_class_token():
    hidden = torch.randn(2, 1 + 16, 8)
    hidden[:, 0] = 1e6
    patches = patch_tokens(hidden, 1)
    assert patches.shape == (2, 16, 8)
    assert patches.abs().max() < 1e3
    grid = tokens_to_grid(patches)
    assert grid.shape == (2, 8, 4, 4)
    torch.testing.assert_close(grid[1, :, 2, 3], patches[1, 2 * 4 + 3])
    np.testing.assert_allclose(
        layer_spectrum(grid, channel_dim=1).numpy(), reference_spectrum(hidden[:, 1:].numpy()), rtol=1e-5
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match="mask has shape"):
        layer_spectrum(torch.randn(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="no position counts"):
        layer_spectrum(torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="channel_dim=5 is out of range"):
        layer_spectrum(torch.randn(2, 3, 4), channel_dim=5)
    with pytest.raises(ValueError, match="num_prefix_tokens"):
        patch_tokens(torch.randn(2, 3, 4), 3)
    with pytest.raises(ValueError, match="square grid"):
        tokens_to_grid(torch.randn(2, 15, 4))


@pytest.mark.parametrize("gather", [True, False])
def test_stacked_sums_gathered_or_by_mat_vec_match_the_dft(gather):
    """Both ways of summing the counted positions (CPU gather, GPU mat-vec) give the DFT's sums."""
    from spectralkd_lite.spectrum import stacked_sums

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 7, 10)).astype(np.float32)  # 3 layers, 4 x 7 positions, 10 channels
    mask = rng.random((4, 7)) > 0.4
    sums = stacked_sums(torch.from_numpy(x), torch.from_numpy(mask), gather=gather)
    assert sums.magnitude.dtype == sums.squares.dtype == torch.float64 and sums.count.item() == mask.sum()
    for g in range(3):
        expected = reference_spectrum(x[g], mask)[:6] * mask.sum()  # bins 0..C//2
        np.testing.assert_allclose(sums.magnitude[g].numpy(), expected, rtol=1e-5)
        np.testing.assert_allclose(
            sums.squares[g].item(), np.sum(x[g][mask].astype(np.float64) ** 2), rtol=1e-5
        )
