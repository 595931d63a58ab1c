"""The intensity decomposition I = flatness * rms / sqrt(C), checked against numpy."""

import math

import numpy as np
import pytest
import torch

import spectralkd_lite as skd
from spectralkd_lite.decomposition import IntensityParts, intensity_parts, white_noise_flatness
from spectralkd_lite.plots import plot_intensity_parts
from spectralkd_lite.report import SpectralReport


def numpy_parts(layers: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intensity, flatness, rms per layer by the definitions: full FFT, loops, no package code."""
    out = []
    for x in layers:  # (*positions, C)
        c = x.shape[-1]
        rows = x.reshape(-1, c) if mask is None else x[mask.astype(bool)]
        mag = np.abs(np.fft.fft(rows, axis=-1)) / c  # (P, C)
        intensity = mag.mean()
        rms = math.sqrt(np.mean(rows**2))
        flatness = mag.mean() / math.sqrt(np.mean(mag**2))
        out.append((intensity, flatness, rms))
    return tuple(np.array(v) for v in zip(*out, strict=True))


@pytest.mark.parametrize("channels", [16, 15])
def test_parts_match_numpy_with_a_mask(channels):
    rng = np.random.default_rng(0)
    scales = np.array([0.5, 1.0, 3.0])[:, None, None, None]
    layers = rng.standard_normal((3, 4, 7, channels)) * scales  # G = 3 layers of (B=4, L=7, C)
    layers[1, ..., 2] += 5.0  # an outlier channel in layer 2
    mask = np.arange(7)[None, :] < np.array([7, 3, 5, 1])[:, None]  # (B, L)
    parts = intensity_parts(torch.tensor(layers, dtype=torch.float32), torch.tensor(mask))
    intensity, flatness, rms = numpy_parts(layers, mask)
    assert parts.intensity.shape == parts.flatness.shape == parts.rms.shape == (3,)
    np.testing.assert_allclose(parts.intensity.numpy(), intensity, rtol=1e-5)
    np.testing.assert_allclose(parts.flatness.numpy(), flatness, rtol=1e-5)
    np.testing.assert_allclose(parts.rms.numpy(), rms, rtol=1e-5)
    np.testing.assert_allclose(
        parts.intensity.numpy(), (parts.flatness * parts.rms / math.sqrt(channels)).numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(parts.scale.numpy(), rms / math.sqrt(channels), rtol=1e-5)
    for g in range(3):  # the intensity is the package's layer intensity
        one = skd.layer_intensity(torch.tensor(layers[g], dtype=torch.float32), torch.tensor(mask))
        assert float(parts.intensity[g]) == pytest.approx(float(one), rel=1e-5)


def test_a_list_of_layers_and_no_mask():
    rng = np.random.default_rng(1)
    layers = [torch.tensor(rng.standard_normal((5, 8)), dtype=torch.float64) for _ in range(2)]
    parts = intensity_parts(layers)
    intensity, flatness, rms = numpy_parts(np.stack([x.numpy() for x in layers]), None)
    np.testing.assert_allclose(parts.intensity.numpy(), intensity, rtol=1e-10)
    np.testing.assert_allclose(parts.flatness.numpy(), flatness, rtol=1e-10)
    np.testing.assert_allclose(parts.rms.numpy(), rms, rtol=1e-10)


def test_known_flatness_values():
    c = 64
    spike = torch.zeros(10, c)
    spike[:, 3] = 2.0
    parts = intensity_parts(torch.stack([torch.ones(10, c), spike]))
    assert float(parts.flatness[0]) == pytest.approx(1 / math.sqrt(c))  # one bin holds everything
    assert float(parts.flatness[1]) == pytest.approx(1.0)  # a spike: |F[k]| the same at every k
    # constant rows of different sizes: one bin, and norms that vary over positions lower it further
    sizes = torch.arange(1, 11, dtype=torch.float64)
    constant = torch.ones(10, c, dtype=torch.float64) * sizes[:, None]
    expected = float(sizes.mean() / sizes.square().mean().sqrt()) / math.sqrt(c)
    assert float(intensity_parts(constant[None]).flatness[0]) == pytest.approx(expected)
    noise = torch.randn(4000, c, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(intensity_parts(noise[None]).flatness[0]) == pytest.approx(white_noise_flatness(c), abs=3e-3)
    assert white_noise_flatness(c) == pytest.approx(
        (62 * math.sqrt(math.pi / 4) + 2 * math.sqrt(2 / math.pi)) / 64
    )


def test_from_report_matches_the_tensors():
    rng = np.random.default_rng(2)
    layers = torch.tensor(rng.standard_normal((2, 3, 6, 12)) * np.array([1.0, 2.0])[:, None, None, None])
    report = skd.analyze(_Identity(layers), [{"x": torch.zeros(1)}], progress=False)
    from_report = IntensityParts.from_report(report)
    direct = intensity_parts(layers)
    for name in ("intensity", "flatness", "rms", "channels"):
        np.testing.assert_allclose(
            getattr(from_report, name).numpy(), getattr(direct, name).numpy(), rtol=1e-5
        )
    no_rms = SpectralReport("m", ["block 1"], [1], [2], [1.0], [[1.0, 1.0]], [1], 1)
    with pytest.raises(ValueError, match="no rms"):
        IntensityParts.from_report(no_rms)


def test_bad_inputs_are_rejected():
    x = torch.randn(2, 3, 4, 8)
    with pytest.raises(ValueError, match="positions' shape"):
        intensity_parts(x, torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="no position counts"):
        intensity_parts(x, torch.zeros(3, 4, dtype=torch.bool))


def test_plot_intensity_parts_axes_start_at_zero():
    parts = intensity_parts(torch.randn(3, 20, 16, generator=torch.Generator().manual_seed(0)))
    fig = plot_intensity_parts(parts, [1, 2, 3], band=0.05, title="t")
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0.0
    assert fig.axes[2].get_ylim()[1] >= 1.0
    with pytest.raises(ValueError, match="labels"):
        plot_intensity_parts(parts, [1, 2])


def test_plot_intensity_parts_labels_the_x_axis():
    parts = intensity_parts(torch.randn(3, 20, 16, generator=torch.Generator().manual_seed(0)))
    fig = plot_intensity_parts(parts, [1, 2, 3])
    assert len(fig.axes) == 3  # one width: intensity, RMS / sqrt(C), flatness
    assert [ax.get_xlabel() for ax in fig.axes] == ["block"] * 3
    fig = plot_intensity_parts(parts, ["stage 1", "stage 2", "stage 3"])
    assert [ax.get_xlabel() for ax in fig.axes] == ["stage"] * 3
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2", "3"]
    assert plot_intensity_parts(parts, [1, 2, 3], xlabel="stage").axes[0].get_xlabel() == "stage"
    assert plot_intensity_parts(parts, ["embeddings", "block 1", "block 2"]).axes[0].get_xlabel() == "layer"


def test_plot_intensity_parts_shows_rms_and_width_apart_when_widths_differ():
    """A Swin's stages: RMS and 1/sqrt(C) in panels of their own, then their product."""
    rms = torch.tensor([1.0, 1.5, 2.5], dtype=torch.float64)
    channels = torch.tensor([24.0, 48.0, 96.0], dtype=torch.float64)
    flatness = torch.tensor([0.8, 0.88, 0.88], dtype=torch.float64)
    parts = IntensityParts(flatness * rms / channels.sqrt(), flatness, rms, channels)
    fig = plot_intensity_parts(parts, ["stage 1", "stage 2", "stage 3"], band=0.05)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5
    assert "RMS" in titles[1] and "1 / sqrt(C)" in titles[2] and "RMS / sqrt(C)" in titles[3]
    assert "flatness" in titles[-1]
    heights = {
        title: [bar.get_height() for bar in ax.patches] for title, ax in zip(titles, fig.axes, strict=True)
    }
    np.testing.assert_allclose(heights[titles[1]], rms.numpy())
    np.testing.assert_allclose(heights[titles[2]], 1 / channels.sqrt().numpy())
    np.testing.assert_allclose(heights[titles[3]], parts.scale.numpy())
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0.0
        assert ax.get_xlabel() == "stage"
    assert fig.axes[-1].get_ylim()[1] >= 1.0


class _Identity(torch.nn.Module):
    """A 'model' whose hidden_states are fixed layers: (embeddings, *layers)."""

    def __init__(self, layers: torch.Tensor) -> None:
        super().__init__()
        self.layers = layers
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, output_hidden_states=True):
        hidden = (torch.zeros_like(self.layers[0]), *self.layers)
        return type("Out", (), {"hidden_states": hidden})()


def test_accuracy_in_context_shows_chance_and_ceiling():
    """The figure beside the decomposition in notebook 03: full 0..100% axis, then the zoom."""
    from spectralkd_lite.plots import plot_accuracy_in_context

    comparison = skd.Comparison(meta={"test_examples": 450})
    variant = skd.Variant("no KD", skd.DistillConfig(alpha=0.0))
    for seed, acc in enumerate((0.93, 0.94, 0.95)):
        comparison.add(variant, skd.RunResult("no KD", seed, acc, None, 0.0))
    comparison.add_reference("teacher", 0.98)
    fig = plot_accuracy_in_context(comparison, chance=0.1)
    full, zoom = fig.axes
    assert full.get_xlim() == (0.0, 102.0)
    assert {line.get_xdata()[0] for line in full.get_lines() if len(set(line.get_xdata())) == 1} >= {
        10.0,
        100.0,
    }
    assert zoom.get_xlim()[0] > 50.0
