"""spectralkd_lite.vision: the full-profile loading path on locally saved models, and a short distillation."""

import pytest
import torch
from transformers import (
    DeiTConfig,
    DeiTForImageClassificationWithTeacher,
    SwinConfig,
    SwinForImageClassification,
    ViTConfig,
    ViTForImageClassification,
)

from spectralkd_lite.mapping import build_mapping
from spectralkd_lite.report import SpectralReport
from spectralkd_lite.spectrum import layer_spectrum
from spectralkd_lite.vision import (
    DigitsSplits,
    TimmClassifier,
    VisionComparison,
    analyze_vision,
    block_feature_maps,
    build_tiny_vit,
    describe_depth_profile,
    digits_splits,
    distill_vision,
    layer_rms,
    load_vision_model,
    run_vision_comparison,
    teacher_targets,
    train_vision_classifier,
    ushape_mapping_from_intensity,
    vision_layout,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: one thread is as fast and does not stall when the CPU is shared
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def vit_like(cls, config_cls):
    config = config_cls(
        image_size=16,
        patch_size=4,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=5,
    )
    return cls(config).eval()


def tiny_swin():
    config = SwinConfig(
        image_size=16,
        patch_size=2,
        num_channels=3,
        embed_dim=8,
        depths=[1, 1, 1],
        num_heads=[1, 2, 4],
        window_size=2,
        num_labels=5,
    )
    return SwinForImageClassification(config).eval()


def saved_and_loaded(model, path):
    model.save_pretrained(path)
    return load_vision_model(path, local_files_only=True)


@pytest.fixture(scope="module")
def images():
    return torch.randn(6, 3, 16, 16)


@pytest.mark.parametrize(
    "cls, config_cls, prefix",
    [(ViTForImageClassification, ViTConfig, 1), (DeiTForImageClassificationWithTeacher, DeiTConfig, 2)],
)
def test_uniform_models_load_and_drop_prefix_tokens(tmp_path, images, cls, config_cls, prefix):
    original = vit_like(cls, config_cls)
    model = saved_and_loaded(original, tmp_path / "model")
    assert type(model) is cls and not model.training
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values=images).logits, original(pixel_values=images).logits)
    layout = vision_layout(model)
    assert (layout.kind, layout.num_blocks, layout.num_prefix_tokens) == ("uniform", 3, prefix)
    assert layout.grids == ((4, 4),) * 3

    report = analyze_vision(model, [{"pixel_values": images[:4]}, {"pixel_values": images[4:]}])
    assert report.blocks == [1, 2, 3] and report.channels == [32, 32, 32]
    assert report.positions == [6 * 16] * 3  # 16 patch tokens per image; class/distillation tokens dropped
    with torch.no_grad():
        hidden = model(pixel_values=images, output_hidden_states=True).hidden_states
    expected = layer_spectrum(hidden[2][:, prefix:])
    torch.testing.assert_close(torch.tensor(report.spectrum_of(2)), expected, rtol=1e-5, atol=1e-7)

    logits, maps = block_feature_maps(model, images, [1, 3])
    assert logits.shape == (6, 5) and [m.shape for m in maps] == [(6, 32, 4, 4)] * 2
    torch.testing.assert_close(maps[1][:, :, 0, 1], hidden[3][:, prefix + 1].detach())
    with pytest.raises(ValueError, match=r"allowed blocks are 1\.\.3"):
        block_feature_maps(model, images, [4])


def test_swin_stages_load_with_their_widths(tmp_path, images):
    model = saved_and_loaded(tiny_swin(), tmp_path / "swin")
    assert isinstance(model, SwinForImageClassification)
    layout = vision_layout(model)
    assert layout.kind == "hierarchical" and layout.num_blocks == 3
    assert layout.channels == (8, 16, 32) and layout.grids == ((8, 8), (4, 4), (2, 2))

    report = analyze_vision(model, [{"pixel_values": images}])
    assert report.channels == [8, 16, 32]
    assert report.positions == [6 * 64, 6 * 16, 6 * 4]
    assert report.layer_names == ["stage 1", "stage 2", "stage 3"]

    logits, maps = block_feature_maps(model, images, [1, 2, 3])
    assert [tuple(m.shape) for m in maps] == [(6, 8, 8, 8), (6, 16, 4, 4), (6, 32, 2, 2)]
    with torch.no_grad():  # Hugging Face's own stage maps before patch merging
        reshaped = model(
            pixel_values=images, output_hidden_states=True, output_hidden_states_before_downsampling=True
        ).reshaped_hidden_states
    for i, m in enumerate(maps, start=1):
        torch.testing.assert_close(m.detach(), reshaped[i])
    # the analysis hooks and the training-side maps see the same stage outputs (before patch merging)
    expected = layer_spectrum(maps[0].detach(), channel_dim=1)
    torch.testing.assert_close(torch.tensor(report.spectrum_of(1)), expected, rtol=1e-5, atol=1e-7)


def test_unsupported_models_are_rejected(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    ).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="'bert' model; load_vision_model supports vit, deit, swin"):
        load_vision_model(tmp_path / "bert", local_files_only=True)


def test_digits_splits_are_fixed():
    a, b = digits_splits(), digits_splits()
    assert a.x_train.shape == (1347, 1, 8, 8) and a.x_test.shape == (450, 1, 8, 8)
    assert torch.equal(a.y_test, b.y_test) and torch.equal(a.x_train, b.x_train)
    assert abs(float(a.x_train.mean())) < 1e-5
    counts = torch.bincount(a.y_test).double()  # stratified: each class in proportion to its size
    expected = torch.bincount(torch.cat([a.y_train, a.y_test])).double() * 450 / 1797
    assert (counts - expected).abs().max() <= 1


def test_ushape_mapping_follows_the_intensity_curve():
    u, why = ushape_mapping_from_intensity([5, 1, 1, 1, 1, 4], n_student=3, n_links=2)
    assert [(k.student, k.teacher) for k in u.links] == [(1, (1,)), (3, (6,))]
    assert "first=1, last=1" in why
    rising, _ = ushape_mapping_from_intensity([1, 2, 3, 4, 5, 6], n_student=3, n_links=2)
    assert [(k.student, k.teacher) for k in rising.links] == [(2, (5,)), (3, (6,))]


def small_digits(n_train=256):
    d = digits_splits()
    return DigitsSplits(d.x_train[:n_train], d.y_train[:n_train], d.x_test, d.y_test, d.mean, d.std)


def test_a_short_spectral_distillation_reduces_the_loss():
    splits = small_digits()
    teacher = build_tiny_vit(depth=4, hidden_size=32, num_heads=2, seed=0)
    train_vision_classifier(teacher, splits, epochs=3, seed=0)
    mapping = build_mapping("ushape", 4, 2, first=1, last=1)
    student = build_tiny_vit(depth=2, hidden_size=16, num_heads=2, seed=1)
    targets = teacher_targets(teacher, splits.x_train, mapping)
    assert [m.shape for m in targets.maps] == [(256, 32, 4, 4)] * 2

    result = distill_vision(
        student,
        targets,
        splits,
        mapping=mapping,
        feature_kind="spectral_2d",
        beta=0.2,
        epochs=4,
        lr=3e-3,
        seed=0,
    )
    total, feature = result.history["total"], result.history["feature"]
    assert len(total) == 4 and total[-1] < total[0]
    assert 0 < feature[-1] < feature[0]
    assert 0.0 <= result.accuracy <= 1.0 and result.epochs == 4

    with pytest.raises(ValueError, match="another layer mapping"):
        distill_vision(
            student,
            teacher_targets(teacher, splits.x_train),
            splits,
            mapping=mapping,
            feature_kind="mse",
            beta=0.2,
            epochs=1,
        )
    with pytest.raises(ValueError, match="needs a teacher"):
        distill_vision(student, None, splits, alpha=0.9, epochs=1)


def test_run_vision_comparison_and_its_summary():
    splits = small_digits(128)
    teacher = build_tiny_vit(depth=2, hidden_size=16, num_heads=2, seed=0)
    mapping = build_mapping("ushape", 2, 2, first=1, last=1)
    result = run_vision_comparison(
        teacher,
        splits,
        mapping,
        seeds=(0, 1),
        student_config={"depth": 2, "hidden_size": 8, "num_heads": 2},
        epochs=1,
        verbose=False,
    )
    assert result.rows == ["no KD", "logit KD", "logit KD + spectral", "logit KD + feature MSE"]
    assert len(result.runs) == 8 and {r["seed"] for r in result.runs} == {0, 1}
    assert "| logit KD + spectral | 2 |" in result.format_table()


def test_comparison_verdicts_and_plot():
    runs = [{"row": "a", "seed": s, "accuracy": v} for s, v in enumerate([0.90, 0.91, 0.92])]
    runs += [{"row": "b", "seed": s, "accuracy": v} for s, v in enumerate([0.93, 0.94, 0.95])]
    runs += [{"row": "c", "seed": s, "accuracy": v} for s, v in enumerate([0.915, 0.925, 0.935])]
    cmp = VisionComparison(["a", "b", "c"], runs, "student 1 <- teacher 1", teacher_accuracy=0.97)
    summary = {s["row"]: s for s in cmp.summary()}
    assert summary["a"]["mean"] == pytest.approx(0.91) and summary["a"]["std"] == pytest.approx(0.01)
    assert "+3.00 points" in cmp.compare("b", "a") and "exceeds the seed spread" in cmp.compare("b", "a")
    assert "within the seed spread" in cmp.compare("c", "a")
    with pytest.raises(ValueError, match="no runs for row 'd'"):
        cmp.compare("d", "a")
    fig = cmp.plot()
    assert fig.axes[0].get_ylabel() == "test accuracy (%)"


def fake_report(intensity, unit="block"):
    n = len(intensity)
    return SpectralReport(
        model_name="m",
        layer_names=[f"{unit} {b}" for b in range(1, n + 1)],
        blocks=list(range(1, n + 1)),
        channels=[2] * n,
        intensity=list(intensity),
        spectra=[[v, v] for v in intensity],
        positions=[1] * n,
        batches=1,
    )


def test_describe_depth_profile_reads_the_numbers():
    u = describe_depth_profile(fake_report([0.5, 0.2, 0.1, 0.3, 0.6]))
    assert "hottest blocks 5, 1; coolest block 3" in u and "U shape: both end blocks" in u
    rising = describe_depth_profile(fake_report([0.1, 0.2, 0.3, 0.4]), name="ViT")
    assert rising.startswith("ViT: hottest blocks 4, 3") and "+1.00" in rising
    assert "Not a U shape: the first block is the coolest" in rising
    partial = describe_depth_profile(fake_report([0.2, 0.1, 0.3, 0.5], unit="stage"))
    assert "Partial U" in partial and "end stage 1" in partial


def test_layer_rms_matches_the_maps():
    model = build_tiny_vit(depth=2, hidden_size=16, num_heads=2, seed=0).eval()
    x = digits_splits().x_test[:20]
    rms = layer_rms(model, [{"pixel_values": x[:8]}, {"pixel_values": x[8:]}])
    with torch.no_grad():
        _, maps = block_feature_maps(model, x, [1, 2])
    assert rms == pytest.approx([float(m.square().mean().sqrt()) for m in maps], rel=1e-5)


class FakeCait(torch.nn.Module):
    """The parts of a timm CaiT the vision helpers use: patch_embed.grid_size, blocks, embed_dim."""

    def __init__(self, width=12, depth=3):
        super().__init__()
        self.embed_dim = width
        self.patch_embed = torch.nn.Conv2d(3, width, 4, stride=4)
        self.patch_embed.grid_size = (4, 4)
        self.blocks = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(depth)])
        self.head = torch.nn.Linear(width, 5)

    def forward(self, x):
        tokens = self.blocks(self.patch_embed(x).flatten(2).transpose(1, 2))  # patch tokens only, like CaiT
        return self.head(tokens.mean(1))


def test_timm_models_are_hooked_block_by_block(images):
    model = TimmClassifier(FakeCait()).eval()
    layout = vision_layout(model)
    assert layout.modules == ("model.blocks.0", "model.blocks.1", "model.blocks.2")
    assert layout.num_prefix_tokens == 0 and layout.grids == ((4, 4),) * 3
    report = analyze_vision(model, [{"pixel_values": images}], model_name="fake cait")
    assert report.blocks == [1, 2, 3] and report.positions == [6 * 16] * 3
    logits, maps = block_feature_maps(model, images, [2])
    assert logits.shape == (6, 5) and maps[0].shape == (6, 12, 4, 4)
    expected = layer_spectrum(maps[0].detach(), channel_dim=1)
    torch.testing.assert_close(torch.tensor(report.spectrum_of(2)), expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="no Hugging Face config"):
        vision_layout(FakeCait())
