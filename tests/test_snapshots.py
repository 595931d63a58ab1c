"""The SpectralSnapshots callback: reports at the right steps, train mode kept, no random numbers drawn."""

import pytest
import torch

from spectralkd_lite.config import DistillConfig, StudentConfig, TrainConfig
from spectralkd_lite.distill import distill
from spectralkd_lite.plots import plot_snapshot_curves
from spectralkd_lite.snapshots import SpectralSnapshots
from spectralkd_lite.text import text_batches


@pytest.fixture(scope="module")
def small(small_teacher):
    return small_teacher(24, 24, vocab_size=300, width=16)  # 40 training examples


def run(small, callbacks, epochs=2):
    teacher, tok, data = small
    train = TrainConfig(epochs=epochs, lr=1e-3, batch_size=8, seed=0, callbacks=callbacks)
    return distill(teacher, tok, data, DistillConfig(), train, student=StudentConfig(2))


def test_snapshots_at_the_right_steps(small):
    teacher, tok, data = small
    batches = text_batches(data.validation, tok, batch_size=4)
    snaps = SpectralSnapshots(batches, every=3, max_batches=2)
    assert len(snaps.batches) == 2
    student, _ = run(small, [snaps])  # 40 examples / 8 = 5 steps per epoch, 10 steps
    assert snaps.steps == [0, 3, 6, 9, 10]
    assert [r.meta["step"] for r in snaps.reports] == snaps.steps
    assert all(r.blocks == [1, 2] and r.batches == 2 and r.channels == [16, 16] for r in snaps.reports)
    assert snaps.reports[0].intensity != snaps.reports[-1].intensity  # the student moved
    assert snaps.snapshots[-1].epoch == pytest.approx(2.0)
    # a snapshot runs in eval mode, so it draws no random numbers: the training run is unchanged
    student.train()
    before = torch.random.get_rng_state()
    snaps.record(student, step=11)
    assert torch.equal(before, torch.random.get_rng_state()) and student.training
    sims = snaps.similarity_to(snaps.reports[-1])
    assert len(sims) == 6 and sims[-1].spectral_similarity == pytest.approx(1.0)
    fig = plot_snapshot_curves(snaps.snapshots, teacher=snaps.reports[-1])
    assert len(fig.axes[0].lines) == 7


def test_record_restores_train_mode_and_checks_arguments(small):
    teacher, tok, data = small
    snaps = SpectralSnapshots(text_batches(data.validation, tok, batch_size=4), every=1, max_batches=1)
    teacher.train()
    snap = snaps.record(teacher, step=7, epoch=0.5)
    assert teacher.training and snap.step == 7 and snap.report.meta == {"step": 7, "epoch": 0.5}
    teacher.eval()
    with pytest.raises(ValueError, match="every must be a positive integer"):
        SpectralSnapshots([{}], every=0)
    with pytest.raises(ValueError, match="the data is empty"):
        SpectralSnapshots([], every=1)
