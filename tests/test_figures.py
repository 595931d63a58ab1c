"""The teaching figures of notebook 05: a run's loss curve and the pipeline diagram draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

import spectralkd_lite as skd


def test_the_loss_curve_draws_each_logged_term_against_the_epoch_from_zero():
    log = [
        {"epoch": 0.5, "loss": 2.0, "loss_ce": 3.0, "loss_kd": 1.5, "loss_feature": 0.8},
        {"eval_accuracy": 0.7, "epoch": 1.0},  # an evaluation entry: no loss, not drawn
        {"epoch": 1.0, "loss": 1.0, "loss_ce": 1.5, "loss_kd": 0.7, "loss_feature": 0.5},
    ]
    fig = skd.plots.plot_training_log(log)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"total (weighted)", "CE", "KD x T^2", "feature term"}
    np.testing.assert_allclose(lines["CE"].get_xdata(), [0.5, 1.0])
    np.testing.assert_allclose(lines["CE"].get_ydata(), [3.0, 1.5])
    np.testing.assert_allclose(lines["total (weighted)"].get_ydata(), [2.0, 1.0])
    assert ax.get_ylim()[0] == 0.0
    # a no-KD run logs only CE and the total
    only_ce = skd.plots.plot_training_log([{"epoch": 1.0, "loss": 1.2, "loss_ce": 1.2}])
    assert {line.get_label() for line in only_ce.axes[0].get_lines()} == {"total (weighted)", "CE"}
    with pytest.raises(ValueError, match="no logged loss"):
        skd.plots.plot_training_log([{"eval_accuracy": 0.5, "epoch": 1.0}])
    plt.close("all")


def test_the_pipeline_draws_one_arrow_per_link_and_shades_teacher_blocks_by_intensity():
    mapping = skd.resolve("1:4, 2:5+6", 6, 2)
    config = skd.DistillConfig(alpha=0.9, temperature=2.0, beta=2.0, feature="mse", mapping=mapping)
    intensity = [0.1, 0.5, 0.2, 0.9, 0.3, 0.4]
    fig = skd.plots.plot_pipeline(6, 2, mapping, config, intensity)
    ax = fig.axes[0]
    arrows = [c for c in ax.get_children() if isinstance(c, matplotlib.text.Annotation)]
    # one arrow per (teacher block, student block) pair: 4 -> 1, 5 -> 2, 6 -> 2
    ends = sorted((round(a.xyann[0]), round(a.xy[0])) for a in arrows)
    assert ends == [(4, 1), (5, 2), (6, 2)]
    teacher = sorted((p for p in ax.patches if p.get_y() > 2), key=lambda p: p.get_x())
    assert len(teacher) == 6 and len([p for p in ax.patches if p.get_y() < 1]) == 2
    darkness = [1 - np.mean(to_rgba(p.get_facecolor())[:3]) for p in teacher]
    assert np.argsort(darkness).tolist() == np.argsort(intensity).tolist()  # darker = more intense
    text = " ".join(t.get_text() for t in ax.texts)
    assert "alpha = 0.9, T = 2, beta = 2" in text and "mse" in text
    plt.close("all")


def test_a_comparison_figure_that_does_not_start_at_zero_says_it_is_a_zoom():
    def comparison(accuracies):
        c = skd.Comparison()
        for seed, acc in enumerate(accuracies):
            c.add(
                skd.Variant("no KD", skd.DistillConfig(alpha=0.0)),
                skd.RunResult("no KD", seed, acc, None, 1.0),
            )
        return c

    zoomed = comparison([0.93, 0.94, 0.95]).plot().axes[0]
    left = zoomed.get_xlim()[0]
    assert left > 80 and f"ZOOMED: the axis starts at {left:.1f}%" in zoomed.get_xlabel()
    whole = comparison([0.02, 0.5, 0.9]).plot().axes[0]
    assert whole.get_xlim()[0] == 0.0 and "ZOOMED" not in whole.get_xlabel()
    plt.close("all")


def test_the_full_scale_panel_beside_a_zoom_is_not_called_a_zoom():
    c = skd.Comparison()
    for seed, acc in enumerate([0.93, 0.94, 0.95]):
        c.add(
            skd.Variant("no KD", skd.DistillConfig(alpha=0.0)), skd.RunResult("no KD", seed, acc, None, 1.0)
        )
    full, zoom = skd.plots.plot_accuracy_in_context(c, chance=0.1).axes
    assert full.get_xlim() == (0.0, 102.0) and "ZOOMED" not in full.get_xlabel()
    assert "ZOOMED" in zoom.get_xlabel() and zoom.get_xlim()[0] > 80
    plt.close("all")
