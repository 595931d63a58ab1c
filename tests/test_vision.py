"""spectralkd_lite.vision (models, layouts, spectra) and spectralkd_lite.digits (SpectralKD in miniature).

Losses, accuracies and spectra are checked against independent computations
(numpy, the formulas, Hugging Face's own tensors).
"""

from dataclasses import replace

import numpy as np
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

from spectralkd_lite.config import DistillConfig
from spectralkd_lite.digits import (
    DIGITS_TRAIN,
    DigitsSplits,
    TinyViTConfig,
    build_tiny_swin,
    build_tiny_vit,
    digits_splits,
    distill_vision,
    run_vision_comparison,
    train_vision_classifier,
    ushape_mapping_from_intensity,
    vision_settings,
    vision_step_losses,
    vision_teacher_cache,
    vision_variants,
)
from spectralkd_lite.mapping import resolve
from spectralkd_lite.report import SpectralReport, describe_depth_profile
from spectralkd_lite.spectrum import layer_spectrum
from spectralkd_lite.training import TeacherCache
from spectralkd_lite.vision import (
    TimmClassifier,
    analyze_vision,
    block_feature_maps,
    load_vision_model,
    vision_layout,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: one thread is as fast and does not stall when the CPU is shared
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# every test model here reads 16 x 16 RGB images into 5 labels
IMAGES = {"image_size": 16, "num_channels": 3, "num_labels": 5}


def vit_like(cls, config_cls):
    shape = {"num_hidden_layers": 3, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
    return cls(config_cls(**IMAGES, patch_size=4, **shape)).eval()


def tiny_swin():
    stages = {"depths": [1, 1, 1], "num_heads": [1, 2, 4], "window_size": 2}
    return SwinForImageClassification(SwinConfig(**IMAGES, patch_size=2, embed_dim=8, **stages)).eval()


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
    batches = a.batches("test", 200)
    assert [len(b["labels"]) for b in batches] == [200, 200, 50]
    assert torch.equal(torch.cat([b["pixel_values"] for b in batches]), a.x_test)


def test_vision_settings_change_only_the_epochs():
    tiny, full = vision_settings("tiny"), vision_settings("full")
    assert vision_settings("laptop") == tiny
    assert {k: t.epochs for k, t in tiny.items()} == {"teacher": 15, "swin": 10, "student": 12}
    assert {k: t.epochs for k, t in full.items()} == {"teacher": 40, "swin": 30, "student": 40}
    for t in [*tiny.values(), *full.values()]:
        assert replace(t, epochs=DIGITS_TRAIN.epochs) == DIGITS_TRAIN
    assert (DIGITS_TRAIN.lr, DIGITS_TRAIN.batch_size, DIGITS_TRAIN.weight_decay) == (2e-3, 64, 0.05)
    assert DIGITS_TRAIN.warmup_ratio == 0.15


def test_tiny_models_follow_their_configs():
    vit = build_tiny_vit(TinyViTConfig(depth=3, hidden_size=24, num_heads=2), seed=5)
    layout = vision_layout(vit)
    assert (layout.num_blocks, layout.channels, layout.grids) == (3, (24,) * 3, ((4, 4),) * 3)
    again = build_tiny_vit(TinyViTConfig(depth=3, hidden_size=24, num_heads=2), seed=5)
    assert all(torch.equal(p, q) for p, q in zip(vit.parameters(), again.parameters(), strict=True))
    swin = vision_layout(build_tiny_swin(seed=0))
    assert swin.channels == (24, 48, 96) and swin.grids == ((8, 8), (4, 4), (2, 2))


def test_ushape_mapping_follows_the_intensity_curve():
    u, why = ushape_mapping_from_intensity([5, 1, 1, 1, 1, 4], n_student=3, n_links=2)
    assert [(k.student, k.teacher) for k in u.links] == [(1, (1,)), (3, (6,))]
    assert "first=1, last=1" in why and u.params == {"first": 1, "last": 1}
    rising, _ = ushape_mapping_from_intensity([1, 2, 3, 4, 5, 6], n_student=3, n_links=2)
    assert [(k.student, k.teacher) for k in rising.links] == [(2, (5,)), (3, (6,))]
    # the notebook's case: an 8-block teacher whose curve rises, a 4-block student
    notebook, _ = ushape_mapping_from_intensity(list(range(1, 9)), n_student=4)
    assert notebook.spec() == "3:7, 4:8"


def small_digits(n_train=256):
    d = digits_splits()
    return DigitsSplits(d.x_train[:n_train], d.y_train[:n_train], d.x_test, d.y_test, d.mean, d.std)


SMALL_TEACHER = TinyViTConfig(depth=4, hidden_size=32, num_heads=2)
SMALL_STUDENT = TinyViTConfig(depth=2, hidden_size=16, num_heads=2)


def test_train_vision_classifier_reports_the_test_accuracy():
    splits = small_digits(200)
    model = build_tiny_vit(SMALL_STUDENT, seed=0)
    run = train_vision_classifier(model, splits, replace(DIGITS_TRAIN, epochs=2, seed=3), name="t")
    assert (run.name, run.seed, run.validation_accuracy) == ("t", 3, None)
    assert run.steps == 2 * (200 // 64)  # whole batches only
    assert [e["epoch"] for e in run.log] == [1, 2]
    for e in run.log:  # no teacher: total = CE, no KD or feature term
        assert e["loss"] == pytest.approx(e["loss_ce"]) and e["loss_kd"] == e["loss_feature"] == 0
    with torch.no_grad():
        predicted = model.eval()(pixel_values=splits.x_test).logits.argmax(-1).numpy()
    assert run.test_accuracy == pytest.approx(float(np.mean(predicted == splits.y_test.numpy())))


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _objective_numpy(s_logits, t_logits, labels, s_maps, t_maps, config):
    """The SpectralKD objective from its formulas, in float64 numpy."""
    eps, a, temp, beta = config.label_smoothing, config.alpha, config.temperature, config.beta
    log_p = _log_softmax(s_logits)
    nll = -log_p[np.arange(len(labels)), labels]
    ce = np.mean((1 - eps) * nll - eps * log_p.mean(-1))
    log_ps, log_pt = _log_softmax(s_logits / temp), _log_softmax(t_logits / temp)
    kd = temp**2 * np.sum(np.exp(log_pt) * (log_pt - log_ps)) / len(labels)
    pair_losses = []
    for s, t in zip(s_maps, t_maps, strict=True):
        b, c_t, h, w = t.shape
        t = t.reshape(b, s.shape[1], c_t // s.shape[1], h, w).mean(
            2
        )  # average-pool channels to the student's

        def stacked_mse(f):
            return np.mean(np.concatenate([f.real.ravel() ** 2, f.imag.ravel() ** 2]))

        ft = np.fft.rfft2(t, norm="ortho")
        loss = stacked_mse(np.fft.rfft2(s, norm="ortho") - ft)
        pair_losses.append(loss / stacked_mse(ft) if config.normalize else loss)  # relative to a zero student
    feature = np.mean(pair_losses)
    return {"total": (1 - a) * ce + a * kd + beta * feature, "ce": ce, "kd": kd, "feature": feature}


@pytest.mark.parametrize("normalize", [True, False])
def test_cached_teacher_targets_give_the_live_teacher_loss(normalize):
    splits = small_digits(250)
    teacher = build_tiny_vit(SMALL_TEACHER, seed=0).eval()
    student = build_tiny_vit(SMALL_STUDENT, seed=1).eval()
    mapping = resolve("1:0.3*1+0.7*3, 2:4", 4, 2)  # a weighted link and a one-to-one link
    config = DistillConfig(
        alpha=0.9, temperature=2.0, beta=0.2, feature="spectral_2d", mapping=mapping, normalize=normalize
    )
    # batches of 100 (so the cache is concatenated from 3 parts) and a shuffled, non-contiguous index
    cache = vision_teacher_cache(teacher, splits.x_train, mapping.teacher_blocks, batch_size=100)
    assert sorted(cache.blocks) == [1, 3, 4] and cache.blocks[3].shape == (250, 32, 4, 4)
    idx = torch.randperm(250, generator=torch.Generator().manual_seed(0))[:48]
    x, y = splits.x_train[idx], splits.y_train[idx]

    cached = vision_step_losses(student, x, y, config, cache.lookup(idx))
    with torch.no_grad():
        t_logits, t_maps = block_feature_maps(teacher, x, [1, 3, 4])
        live = vision_step_losses(
            student, x, y, config, (t_logits, dict(zip([1, 3, 4], t_maps, strict=True)))
        )
        s_logits, s_maps = block_feature_maps(student, x, [1, 2])
    for key in ("total", "ce", "kd", "feature"):
        torch.testing.assert_close(cached[key], live[key], rtol=1e-6, atol=1e-7)

    t1, t3, t4 = (m.double().numpy() for m in t_maps)
    expected = _objective_numpy(
        s_logits.double().numpy(),
        t_logits.double().numpy(),
        y.numpy(),
        [m.double().numpy() for m in s_maps],
        [0.3 * t1 + 0.7 * t3, t4],
        config,
    )
    for key, value in expected.items():
        assert float(cached[key].detach()) == pytest.approx(value, rel=1e-5), key
    assert float(cached["kd"].detach()) > 0 and float(cached["feature"].detach()) > 0


def test_a_short_spectral_distillation_reduces_the_loss():
    splits = small_digits()
    teacher = build_tiny_vit(SMALL_TEACHER, seed=0)
    train_vision_classifier(teacher, splits, replace(DIGITS_TRAIN, epochs=3))
    mapping = resolve("ushape(first=1, last=1)", 4, 2)
    config = DistillConfig(alpha=0.9, beta=0.2, feature="spectral_2d", mapping=mapping, normalize=False)
    train = replace(DIGITS_TRAIN, epochs=4, lr=3e-3)
    cache = vision_teacher_cache(teacher, splits.x_train, mapping.teacher_blocks)
    result = distill_vision(build_tiny_vit(SMALL_STUDENT, seed=1), cache, splits, config, train, "spectral")
    total = [e["loss"] for e in result.log]
    feature = [e["loss_feature"] for e in result.log]
    assert len(total) == 4 and total[-1] < total[0]
    assert 0 < feature[-1] < feature[0]
    assert result.name == "spectral" and result.steps == 4 * (256 // 64)

    # given the teacher itself, distill_vision builds the same cache: the same run, to the bit
    again = distill_vision(build_tiny_vit(SMALL_STUDENT, seed=1), teacher, splits, config, train, "spectral")
    assert again.log == result.log and again.test_accuracy == result.test_accuracy


def test_distill_vision_rejects_what_cannot_work():
    splits = small_digits(128)
    teacher = build_tiny_vit(SMALL_TEACHER, seed=0)
    student = build_tiny_vit(SMALL_STUDENT, seed=1)
    mapping = resolve("ushape(first=1, last=1)", 4, 2)
    spectral = DistillConfig(alpha=0.9, beta=0.2, feature="spectral_2d", mapping=mapping)
    logits_only = vision_teacher_cache(teacher, splits.x_train)
    with pytest.raises(ValueError, match=r"holds blocks \[\]; the mapping also needs \[1, 4\]"):
        distill_vision(student, logits_only, splits, spectral, replace(DIGITS_TRAIN, epochs=1))
    with pytest.raises(ValueError, match="holds 64 examples, the training split 128"):
        distill_vision(student, TeacherCache(logits_only.logits[:64]), splits, DistillConfig(alpha=0.9))
    with pytest.raises(ValueError, match="needs a teacher"):
        distill_vision(student, None, splits, DistillConfig(alpha=0.9))
    with pytest.raises(ValueError, match="'spectral_tokens' is for token sequences"):
        distill_vision(student, teacher, splits, replace(spectral, feature="spectral_tokens"))
    with pytest.raises(ValueError, match="needs a layer mapping"):
        distill_vision(student, teacher, splits, replace(spectral, mapping=None))
    # learned projections are for text students: refused, not trained as pooling
    projected = replace(spectral, channel_align="project")
    with pytest.raises(
        ValueError, match="vision students align channels by average pooling: allowed .*'pool'"
    ):
        distill_vision(student, teacher, splits, projected)
    outputs = vision_teacher_cache(teacher, splits.x_train[:4], mapping.teacher_blocks).lookup(
        torch.arange(4)
    )
    with pytest.raises(ValueError, match="allowed channel_align='pool'"):
        vision_step_losses(student, splits.x_train[:4], splits.y_train[:4], projected, outputs)
    too_deep = resolve("1:1, 3:4", 4, 3)  # student block 3 of a 2-block student
    with pytest.raises(ValueError, match=r"student block 3 is out of range: allowed blocks are 1\.\.2"):
        distill_vision(student, teacher, splits, replace(spectral, mapping=too_deep))


def test_run_vision_comparison_collects_every_run_quietly(capsys):
    splits = small_digits(128)
    teacher = build_tiny_vit(TinyViTConfig(depth=2, hidden_size=16, num_heads=2), seed=0)
    mapping = resolve("ushape(first=1, last=1)", 2, 2)
    variants = vision_variants(mapping)
    result = run_vision_comparison(
        teacher,
        splits,
        variants,
        seeds=(0, 1),
        student_config=TinyViTConfig(depth=2, hidden_size=8, num_heads=2),
        train=replace(DIGITS_TRAIN, epochs=1),
    )
    assert capsys.readouterr().out == ""  # the library does not print
    names = ["no KD", "logit KD", "logit KD + spectral", "logit KD + feature MSE"]
    assert [(r.name, r.seed) for r in result.runs] == [(n, s) for n in names for s in (0, 1)]
    assert [v.name for v in variants] == names and list(result.variants) == names
    assert variants[0].config.alpha == 0 and variants[1].config.mapping is None
    assert variants[2].config.feature == "spectral_2d" and variants[3].config.feature == "mse"
    for row in result.summary():
        accs = np.array([r.test_accuracy for r in result.runs if r.name == row["variant"]])
        assert row["mean"] == pytest.approx(accs.mean()) and row["std"] == pytest.approx(accs.std(ddof=1))
    assert {r["variant"]: r["layers"] for r in result.summary()}["logit KD + spectral"] == "1:1, 2:2"
    # no KD ignores the teacher, so it is the plain classifier run of the same seed
    plain = train_vision_classifier(
        build_tiny_vit(TinyViTConfig(depth=2, hidden_size=8, num_heads=2), seed=1),
        splits,
        replace(DIGITS_TRAIN, epochs=1, seed=1),
    )
    assert result.runs[1].log == plain.log and result.runs[1].test_accuracy == plain.test_accuracy

    with pytest.raises(ValueError, match=r"student block 2 is out of range: allowed blocks are 1\.\.1"):
        run_vision_comparison(
            teacher, splits, variants, student_config=TinyViTConfig(depth=1, hidden_size=8, num_heads=2)
        )


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


def test_report_rms_matches_the_patch_maps():
    model = build_tiny_vit(SMALL_STUDENT, seed=0).eval()
    x = digits_splits().x_test[:20]
    report = analyze_vision(model, [{"pixel_values": x[:8]}, {"pixel_values": x[8:]}])
    with torch.no_grad():
        _, maps = block_feature_maps(model, x, [1, 2])
    assert report.rms == pytest.approx([float(m.double().square().mean().sqrt()) for m in maps], rel=1e-6)


class FakeCait(torch.nn.Module):
    """The parts of a timm CaiT the vision helpers use: patch_embed.grid_size, blocks, embed_dim,
    and, as in timm, num_prefix_tokens = 1 with a class token that only joins in blocks_token_only."""

    def __init__(self, width=12, depth=3):
        super().__init__()
        self.embed_dim = width
        self.num_prefix_tokens = 1
        self.blocks_token_only = torch.nn.ModuleList()
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


def test_a_real_timm_cait_keeps_every_patch_token(images):
    """timm's own CaiT, built from its config (no weights): the blocks hold the 16 patches, no class token.

    timm is optional (it needs torchvision, which CI's CPU torch has no build of); ``make test-timm``
    runs this test in a separate environment that has both.
    """
    timm = pytest.importorskip("timm")
    shape = {"img_size": 16, "num_classes": 5, "patch_size": 4, "depth": 3, "embed_dim": 32, "num_heads": 4}
    cait = timm.create_model("cait_xxs24_224", pretrained=False, **shape).eval()
    assert cait.num_prefix_tokens == 1  # what timm reports, although its class token joins only later
    model = TimmClassifier(cait, "cait").eval()
    layout = vision_layout(model)
    assert (layout.num_blocks, layout.num_prefix_tokens, layout.grids) == (3, 0, ((4, 4),) * 3)

    # the blocks' outputs, computed with timm's own modules step by step
    with torch.no_grad():
        x = cait.pos_drop(cait.patch_embed(images) + cait.pos_embed)
        outputs = []
        for block in cait.blocks:
            x = block(x)
            outputs.append(x)
    assert outputs[1].shape == (6, 16, 32)

    report = analyze_vision(model, [{"pixel_values": images[:4]}, {"pixel_values": images[4:]}])
    assert report.blocks == [1, 2, 3] and report.channels == [32] * 3
    assert report.positions == [6 * 16] * 3  # all 16 patches of each image: none dropped as a "class token"
    torch.testing.assert_close(
        torch.tensor(report.spectrum_of(2)), layer_spectrum(outputs[1]), rtol=1e-5, atol=1e-7
    )
    with torch.no_grad():
        logits, maps = block_feature_maps(model, images, [3])
        torch.testing.assert_close(logits, cait(images))
    # token t sits at grid row t // 4, column t % 4
    torch.testing.assert_close(maps[0], outputs[2].transpose(1, 2).reshape(6, 32, 4, 4))
