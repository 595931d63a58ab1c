"""Mixed precision: one rule (training.amp_dtype) for the Trainer and the vision loop (fit_tensors).

The GPU cases of the rule are checked with a stand-in CUDA report; the autocast path of
fit_tensors is checked on the CPU by forcing its dtype, against the same run in float32.
"""

from dataclasses import replace

import pytest
import torch
from torch import nn

from spectralkd_lite import training
from spectralkd_lite.config import DistillConfig, TrainConfig
from spectralkd_lite.digits import (
    DIGITS_TRAIN,
    DigitsSplits,
    TinyViTConfig,
    build_tiny_vit,
    digits_splits,
    distill_vision,
)
from spectralkd_lite.mapping import resolve
from spectralkd_lite.training import LOSS_KEYS, amp_dtype, fit_tensors


def _fake_cuda(monkeypatch, available: bool, bf16: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    # an Ampere-class GPU where bf16 is native, a T4 (compute capability 7.5) where it is not
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (8, 0) if bf16 else (7, 5))


@pytest.mark.parametrize(
    "available, bf16, device, switch, expected",
    [
        (True, True, "cuda", None, torch.bfloat16),  # default: on where CUDA is, bf16 on Ampere and newer
        (True, False, "cuda", None, torch.float16),  # a T4 (no bf16): fp16
        (True, True, "cuda", True, torch.bfloat16),
        (True, True, "cuda", False, None),  # switched off
        (True, True, "cpu", True, None),  # a model on the CPU trains in float32, even where a GPU exists
        (False, False, "cuda", True, None),  # asked for, but no CUDA
        (False, False, "cpu", None, None),
    ],
)
def test_amp_dtype_follows_the_rule(monkeypatch, available, bf16, device, switch, expected):
    _fake_cuda(monkeypatch, available, bf16)
    assert amp_dtype(TrainConfig(mixed_precision=switch), device) == expected


def test_the_trainer_gets_the_same_rule(monkeypatch):
    _fake_cuda(monkeypatch, False, False)
    args = training.training_arguments(TrainConfig(mixed_precision=True), "unused", 100)
    assert not args.bf16 and not args.fp16


def _forced(monkeypatch, dtype: torch.dtype) -> list[torch.dtype]:
    """Make fit_tensors autocast to ``dtype`` on the CPU; returns the list amp_dtype's calls append to."""
    calls: list[torch.dtype] = []

    def forced(train, device):
        calls.append(dtype)
        return dtype

    monkeypatch.setattr(training, "amp_dtype", forced)
    return calls


def _regression(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g)
    return x, y


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fit_tensors_runs_the_step_under_autocast(monkeypatch, dtype):
    x, y = _regression()
    train = TrainConfig(epochs=30, lr=0.05, batch_size=32, weight_decay=0.0, warmup_ratio=0.0)
    seen: list[torch.dtype] = []

    def make_step(model):
        def step(idx):
            out = model(x[idx])
            seen.append(out.dtype)
            loss = (out.float() - y[idx]).square().mean()
            zero = torch.zeros(())
            return dict(zip(LOSS_KEYS, (loss, loss, zero, zero), strict=True))

        return step

    torch.manual_seed(0)
    reference = nn.Linear(8, 1)
    reference_log, _ = fit_tensors(reference, len(x), make_step(reference), train)
    assert set(seen) == {torch.float32}

    seen.clear()
    calls = _forced(monkeypatch, dtype)
    torch.manual_seed(0)
    model = nn.Linear(8, 1)
    log, steps = fit_tensors(model, len(x), make_step(model), train)
    assert calls and set(seen) == {dtype}  # the forward ran in the half dtype
    assert model.weight.dtype == torch.float32  # the weights (and AdamW's state) stay float32
    # it still learns: the least-squares fit is reached to the precision of the half dtype
    assert log[-1]["loss"] < 1e-2 * log[0]["loss"]
    torch.testing.assert_close(model.weight, reference.weight, atol=0.05, rtol=0.05)
    assert steps == 30 * (256 // 32)


def test_vision_distillation_trains_in_bf16(monkeypatch):
    """distill_vision under bf16 autocast: the student runs in bf16, every loss term stays within 5% of float32's."""
    d = digits_splits()
    splits = DigitsSplits(d.x_train[:192], d.y_train[:192], d.x_test, d.y_test, d.mean, d.std)
    teacher = build_tiny_vit(TinyViTConfig(depth=4, hidden_size=32, num_heads=2), seed=0)
    config = DistillConfig(
        alpha=0.9, beta=0.2, feature="spectral_2d", mapping=resolve("ushape(first=1, last=1)", 4, 2)
    )
    train = replace(DIGITS_TRAIN, epochs=2, lr=3e-3)
    student_config = TinyViTConfig(depth=2, hidden_size=16, num_heads=2)

    full = distill_vision(build_tiny_vit(student_config, seed=1), teacher, splits, config, train)
    _forced(monkeypatch, torch.bfloat16)
    student = build_tiny_vit(student_config, seed=1)
    linear_dtypes: list[torch.dtype] = []
    linear = next(m for m in student.modules() if isinstance(m, nn.Linear))  # in the first block

    def record(module, inputs, output):
        if module.training:  # the training steps; the test pass after them runs in float32
            linear_dtypes.append(output.dtype)

    linear.register_forward_hook(record)
    half = distill_vision(student, teacher, splits, config, train)
    assert set(linear_dtypes) == {torch.bfloat16}
    for ours, ref in zip(half.log, full.log, strict=True):
        for key in ("loss", "loss_ce", "loss_kd", "loss_feature"):
            assert ours[key] == pytest.approx(ref[key], rel=0.05), key
