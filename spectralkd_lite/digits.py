"""SpectralKD in miniature: a ViT teacher and a smaller ViT student on scikit-learn's digits.

The data are scikit-learn's bundled digits (8 x 8 images, 1797 samples, nothing
downloaded). The teacher ViT is deeper and wider than the student; both use patch
size 2, a 4 x 4 patch grid. Training runs on the shared stack
(:func:`spectralkd_lite.training.fit_tensors`: AdamW, warm-up and cosine decay over
shuffled whole-tensor batches); the teacher runs once over the training set into a
:class:`~spectralkd_lite.training.TeacherCache` that every student reads (there is
no augmentation, so its outputs never change). The objective is a
:class:`~spectralkd_lite.config.DistillConfig`, the optimisation a
:class:`~spectralkd_lite.config.TrainConfig`, a comparison a list of
:class:`~spectralkd_lite.compare.Variant` whose runs land in a
:class:`~spectralkd_lite.compare.Comparison`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor, nn
from transformers import SwinConfig, SwinForImageClassification, ViTConfig, ViTForImageClassification

from .capture import eval_mode, model_device
from .compare import Comparison, Variant, check_plan
from .config import DistillConfig, TrainConfig
from .losses import VISION_FEATURE_KINDS
from .mapping import LayerLink, LayerMapping, resolve, select_top
from .training import LinkedFeatures, RunResult, TeacherCache, evaluate_accuracy, fit_tensors, step_losses
from .vision import VisionLayout, block_feature_maps, vision_layout

__all__ = [
    "DIGITS_TRAIN",
    "STUDENT_VIT",
    "TEACHER_VIT",
    "VISION_FEATURE_KINDS",
    "DigitsSplits",
    "TinySwinConfig",
    "TinyViTConfig",
    "build_tiny_swin",
    "build_tiny_vit",
    "digits_splits",
    "distill_vision",
    "run_vision_comparison",
    "train_vision_classifier",
    "ushape_mapping_from_intensity",
    "vision_settings",
    "vision_step_losses",
    "vision_teacher_cache",
    "vision_variants",
]

# The optimisation of every digits run; a run's epochs and seed replace these.
DIGITS_TRAIN = TrainConfig(epochs=12, lr=2e-3, batch_size=64, weight_decay=0.05, warmup_ratio=0.15)

# Epochs per profile: ``tiny`` (and ``laptop``) must run the notebook in minutes on 2 CPU cores.
_EPOCHS = {
    "tiny": {"teacher": 15, "swin": 10, "student": 12},
    "full": {"teacher": 40, "swin": 30, "student": 40},
}


def vision_settings(profile: str) -> dict[str, TrainConfig]:
    """The TrainConfig of each digits model for a profile ('laptop' runs like 'tiny').

    Keys "teacher" (the teacher ViT), "swin" (the Swin of the spectra) and "student"
    (every student of the comparison): DIGITS_TRAIN with the profile's epochs.
    """
    key = "full" if profile == "full" else "tiny"
    return {role: replace(DIGITS_TRAIN, epochs=epochs) for role, epochs in _EPOCHS[key].items()}


# ---------------------------------------------------------------- data


@dataclass
class DigitsSplits:
    """scikit-learn's digits as images: x (N, 1, 8, 8) float32 standardised, y (N,) int64.

    The split is fixed (stratified, ``random_state`` = the seed given to
    :func:`digits_splits`); standardisation uses the training set's mean and std.
    There is no validation split.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: float
    std: float

    def to(self, device: str | torch.device) -> DigitsSplits:
        return replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )

    def batches(self, split: str = "test", batch_size: int = 128) -> list[dict[str, Tensor]]:
        """{"pixel_values", "labels"} batches of one split, in order (``analyze``, ``evaluate_accuracy``)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return [
            {"pixel_values": x[i : i + batch_size], "labels": y[i : i + batch_size]}
            for i in range(0, len(x), batch_size)
        ]


def digits_splits(test_size: float = 0.25, seed: int = 0) -> DigitsSplits:
    """Load the bundled digits (no download) and split them: 1347 train / 450 test by default."""
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, digits.target, test_size=test_size, random_state=seed, stratify=digits.target
    )
    mean, std = float(x_tr.mean()), float(x_tr.std())

    def prep(a: np.ndarray) -> Tensor:
        return torch.from_numpy((a - mean) / std).unsqueeze(1)

    return DigitsSplits(
        prep(x_tr), torch.from_numpy(y_tr).long(), prep(x_te), torch.from_numpy(y_te).long(), mean, std
    )


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class _TinyClassifier:
    """What every digits classifier shares: 8 x 8 one-channel images, 10 labels.

    ``initializer_range`` is 0.1, not ViT's 0.02: with 0.02 a from-scratch model
    this small barely moves in the first epochs (45% test accuracy after 12
    epochs on digits, against 94% with 0.1, measured here).
    """

    image_size: int = 8
    num_channels: int = 1
    num_labels: int = 10
    initializer_range: float = 0.1


@dataclass(frozen=True)
class TinyViTConfig(_TinyClassifier):
    """The shape of a small ViT classifier (patch size 2 on 8 x 8 digits: a 4 x 4 grid)."""

    depth: int = 8
    hidden_size: int = 64
    num_heads: int = 4
    mlp_ratio: int = 2
    patch_size: int = 2
    dropout: float = 0.1


# The miniature teacher and student.
TEACHER_VIT = TinyViTConfig(depth=8, hidden_size=64, num_heads=4)
STUDENT_VIT = TinyViTConfig(depth=4, hidden_size=32, num_heads=2)


@dataclass(frozen=True)
class TinySwinConfig(_TinyClassifier):
    """The shape of a small Swin classifier.

    Defaults: an 8 x 8 grid of 1-pixel patches, stages of 8x8x24, 4x4x48, 2x2x96
    channels, 2 x 2 windows. Every stage's grid must be a multiple of the window
    (Hugging Face Swin fails otherwise).
    """

    embed_dim: int = 24
    depths: tuple[int, ...] = (2, 2, 2)
    num_heads: tuple[int, ...] = (2, 4, 8)
    window_size: int = 2
    patch_size: int = 1


def build_tiny_vit(config: TinyViTConfig = TEACHER_VIT, *, seed: int = 0) -> nn.Module:
    """A ``ViTForImageClassification`` of shape ``config`` (random weights, seeded by ``seed``)."""
    c = asdict(config)
    vit = ViTConfig(
        num_hidden_layers=c.pop("depth"),
        num_attention_heads=c.pop("num_heads"),
        intermediate_size=c.pop("mlp_ratio") * config.hidden_size,
        hidden_dropout_prob=c.pop("dropout"),
        attention_probs_dropout_prob=0.0,
        **c,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ViTForImageClassification(vit)


def build_tiny_swin(config: TinySwinConfig | None = None, *, seed: int = 0) -> nn.Module:
    """A ``SwinForImageClassification`` of shape ``config`` (default ``TinySwinConfig()``), seeded by ``seed``."""
    c = asdict(config or TinySwinConfig())
    lists = {"depths": list(c["depths"]), "num_heads": list(c["num_heads"])}
    swin = SwinConfig(**{**c, **lists}, mlp_ratio=2.0, drop_path_rate=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SwinForImageClassification(swin)


# ---------------------------------------------------------------- teacher cache and the objective


@torch.no_grad()
def vision_teacher_cache(
    teacher: nn.Module, x: Tensor, blocks: Sequence[int] = (), batch_size: int = 256
) -> TeacherCache:
    """Run ``teacher`` once over images x (N, ...) in eval mode: its logits and block maps.

    ``blocks`` are teacher block numbers 1..N to keep as (N, C, H, W) patch-grid maps
    (e.g. the union of the teacher blocks of every mapping a comparison uses).
    No grad (not inference mode): the cached maps become loss targets in autograd.
    """
    layout = vision_layout(teacher)
    blocks = sorted(set(blocks))
    device = model_device(teacher)

    def outputs():
        for i in range(0, len(x), batch_size):
            logits, maps = block_feature_maps(teacher, x[i : i + batch_size].to(device), blocks, layout)
            yield logits, dict(zip(blocks, maps, strict=True)), None

    with eval_mode(teacher):
        return TeacherCache.from_batches(outputs())


def _linked_target(link: LayerLink, blocks: Mapping[int, Tensor]) -> Tensor:
    """sum_i w_i * teacher block t_i of one link.

    A sum per link rather than ``LinkedTeacher``'s stacked contraction: a Swin
    teacher's stages differ in shape and cannot be stacked.
    """
    return sum(w * blocks[t] for t, w in zip(link.teacher, link.weights, strict=True)).detach()


def vision_step_losses(
    student: nn.Module,
    pixel_values: Tensor,
    labels: Tensor,
    config: DistillConfig,
    teacher_outputs: tuple[Tensor, Mapping[int, Tensor]] | None = None,
    layout: VisionLayout | None = None,
) -> dict[str, Tensor]:
    """Every term of the objective for one batch of images (``training.step_losses``).

    Gathers the student's block maps of the links of ``config.mapping`` and the weighted sums
    of their teacher blocks, channel axis 1: ``teacher_outputs`` are the teacher's (logits (B, K),
    {teacher block: (B, C, H, W)}) for the same images, a :meth:`TeacherCache.lookup` or a live
    teacher's ``block_feature_maps`` under no_grad; None when ``config.uses_teacher`` is False.
    """
    if config.uses_teacher and teacher_outputs is None:
        raise ValueError("this objective needs the teacher's outputs (alpha > 0 or a feature loss)")
    config.check("maps")
    teacher_logits, features = (teacher_outputs or (None, None))[0], None
    if config.uses_features:
        links = config.mapping.links
        logits, maps = block_feature_maps(
            student, pixel_values, [link.student for link in links], layout or vision_layout(student)
        )
        features = LinkedFeatures(maps, [_linked_target(link, teacher_outputs[1]) for link in links], None, 1)
    else:
        logits = student(pixel_values=pixel_values).logits
    return step_losses(config, logits, labels, teacher_logits, features)


def _check_cache(cache: TeacherCache, config: DistillConfig, n_train: int) -> None:
    if len(cache.logits) != n_train:
        raise ValueError(
            f"the teacher cache holds {len(cache.logits)} examples, the training split {n_train}; "
            "build it from splits.x_train"
        )
    if config.uses_features:
        missing = sorted(set(config.mapping.teacher_blocks) - set(cache.blocks))
        if missing:
            raise ValueError(
                f"the teacher cache holds blocks {sorted(cache.blocks)}; the mapping also needs {missing} "
                "(build it with every teacher block of the mapping)"
            )


# ---------------------------------------------------------------- training


def distill_vision(
    student: nn.Module,
    teacher: nn.Module | TeacherCache | None,
    splits: DigitsSplits,
    config: DistillConfig,
    train: TrainConfig = DIGITS_TRAIN,
    name: str = "",
) -> RunResult:
    """Train ``student`` in place with the objective ``config``, from a frozen teacher; test it.

    The feature loss is ``"spectral_2d"`` (the paper's) or ``"mse"`` over the mapping's links; the
    teacher's channels are average-pooled to the student's width.

    Args:
        student: a ViT / DeiT / Swin classifier.
        teacher: the teacher model (run once over the training set into a
            TeacherCache), a :func:`vision_teacher_cache` of it (faster when several
            students learn from one teacher), or None when ``config.uses_teacher`` is False.
        splits: data on the student's device.
        config: the objective (the paper: alpha 0.9, beta = w_fft = 0.2, T 1, label smoothing 0.1).
        train: the optimisation; ``train.seed`` fixes the batch order and dropout.
        name: the run's name (the variant).

    Returns:
        RunResult with the student's test accuracy (validation_accuracy None: digits
        have no validation split) and one loss log entry per epoch.
    """
    layout = vision_layout(student)
    x, y = splits.x_train, splits.y_train
    if config.uses_teacher and teacher is None:
        raise ValueError("alpha > 0 or a feature loss needs a teacher (a model or a TeacherCache)")
    n_teacher = vision_layout(teacher).num_blocks if isinstance(teacher, nn.Module) else None
    config.check("maps", layout.num_blocks, n_teacher)
    cache = None
    if config.uses_teacher:
        blocks = config.mapping.teacher_blocks if config.uses_features else ()
        cache = teacher if isinstance(teacher, TeacherCache) else vision_teacher_cache(teacher, x, blocks)
        _check_cache(cache, config, len(x))

    def step(idx: Tensor) -> dict[str, Tensor]:
        outputs = cache.lookup(idx) if cache is not None else None
        return vision_step_losses(student, x[idx], y[idx], config, outputs, layout)

    start = time.perf_counter()
    log, steps = fit_tensors(student, len(x), step, train)
    seconds = time.perf_counter() - start
    accuracy = evaluate_accuracy(student, splits.batches("test", 512))
    return RunResult(name, train.seed, accuracy, None, seconds, steps, log)


def train_vision_classifier(
    model: nn.Module,
    splits: DigitsSplits,
    train: TrainConfig = DIGITS_TRAIN,
    *,
    label_smoothing: float = 0.1,
    name: str = "",
) -> RunResult:
    """Train a classifier in place with cross-entropy (label smoothing) on ``splits``; test it.

    ``splits`` should already be on the model's device (``splits.to(device)``).
    """
    objective = DistillConfig(alpha=0.0, label_smoothing=label_smoothing)
    return distill_vision(model, None, splits, objective, train, name)


# ---------------------------------------------------------------- layers and the comparison


def ushape_mapping_from_intensity(
    intensity: Sequence[float], n_student: int, n_links: int = 2
) -> tuple[LayerMapping, str]:
    """A first-and-last ('ushape') mapping sized from the teacher's intensity curve.

    The ``n_links`` most intense teacher blocks are split at the middle of the
    teacher: ``first`` = how many lie in its first half, ``last`` = how many in its
    second half. ``resolve("ushape(first=..., last=...)", ...)`` then links the
    teacher's first ``first`` and last ``last`` blocks to the student's first and
    last blocks. A U-shaped curve gives first = last; a curve rising with depth
    gives first = 0.

    Returns:
        (mapping, a one-line explanation naming the top blocks and the choice).
    """
    n_teacher = len(intensity)
    top = select_top(intensity, n_links)
    first = sum(1 for b in top if b <= n_teacher / 2)
    last = n_links - first
    mapping = resolve(f"ushape(first={first}, last={last})", n_teacher, n_student)
    why = f"top {n_links} teacher blocks by intensity: {top} -> first={first}, last={last}: " + "; ".join(
        link.describe() for link in mapping.links
    )
    return mapping, why


def vision_variants(mapping: LayerMapping, *, alpha: float = 0.9, beta: float = 0.2) -> list[Variant]:
    """No KD, logit KD only, logit KD + spectral, logit KD + plain feature MSE (same layers, same beta)."""
    return [
        Variant("no KD", DistillConfig(alpha=0.0)),
        Variant("logit KD", DistillConfig(alpha=alpha)),
        # the paper's form: beta (w_fft) on the raw, unnormalised feature loss
        Variant(
            "logit KD + spectral",
            DistillConfig(alpha=alpha, beta=beta, feature="spectral_2d", mapping=mapping, normalize=False),
        ),
        Variant(
            "logit KD + feature MSE",
            DistillConfig(alpha=alpha, beta=beta, feature="mse", mapping=mapping, normalize=False),
        ),
    ]


def run_vision_comparison(
    teacher: nn.Module,
    splits: DigitsSplits,
    variants: Sequence[Variant],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    student_config: TinyViTConfig = STUDENT_VIT,
    train: TrainConfig = DIGITS_TRAIN,
) -> Comparison:
    """Train one student per (variant, seed) from the same teacher; collect their RunResults.

    Every objective is checked against the student and teacher depths before any
    training. The teacher runs once over the training set
    (:func:`vision_teacher_cache`, keeping every teacher block some variant's mapping
    uses); every student is ``build_tiny_vit(student_config, seed=seed)`` on the
    teacher's device and trained with ``train`` at that seed, so a seed fixes the
    initialisation, the batch order and dropout. Runs go variant by variant, seeds
    in order. Nothing is printed: add the teacher with
    ``comparison.add_reference("teacher", accuracy)`` and show ``to_markdown()``.

    Returns:
        A Comparison of len(variants) x len(seeds) runs.
    """
    variants = list(variants)
    check_plan(variants, seeds)
    n_teacher = vision_layout(teacher).num_blocks
    for variant in variants:
        variant.config.check("maps", student_config.depth, n_teacher)
    blocks = {t for v in variants if v.config.uses_features for t in v.config.mapping.teacher_blocks}
    uses_teacher = any(v.config.uses_teacher for v in variants)
    cache = vision_teacher_cache(teacher, splits.x_train, sorted(blocks)) if uses_teacher else None
    device = model_device(teacher)
    meta = {
        "test_examples": len(splits.y_test),
        "seeds": list(seeds),
        "student": asdict(student_config),
        "epochs": train.epochs,
        "lr": train.lr,
    }
    comparison = Comparison(meta=meta)
    for variant in variants:
        for seed in seeds:
            student = build_tiny_vit(student_config, seed=seed).to(device)
            run = distill_vision(
                student,
                cache if variant.config.uses_teacher else None,
                splits,
                variant.config,
                replace(train, seed=seed),
                variant.name,
            )
            comparison.add(variant, run)
    return comparison
