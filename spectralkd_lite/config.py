"""Configuration as small frozen dataclasses, shared by text and vision distillation.

- :class:`DistillConfig`: the objective (loss weights, temperature, feature loss,
  the layer mapping it aligns);
- :class:`TrainConfig`: the optimisation (epochs, learning rate, batch size,
  seed, precision, checkpoints);
- :class:`StudentConfig`: the student's shape and initialisation.

Each validates its fields when built, naming the field, the value and what is
allowed, so bad input fails before any training starts.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

from .losses import FEATURE_KINDS, FEATURE_LOSSES, MIN_TEMPERATURE
from .mapping import LayerMapping
from .modelfiles import pretrained_model_config
from .pooling import POOLINGS

__all__ = [
    "CHANNEL_ALIGNMENTS",
    "DistillConfig",
    "StudentConfig",
    "TrainConfig",
]

# How student and teacher channels meet when their widths differ: "pool" = parameter-free
# adaptive average pooling of the wider one (``losses.align_channels``), "project" = a learned
# linear map student -> teacher width per link (``losses.ChannelProjection``), trained with the student.
CHANNEL_ALIGNMENTS = ("pool", "project")


def _check_finite(name: str, value: float, low: float, high: float = math.inf, *, open_low: bool = False):
    """Raise ValueError unless ``value`` is a finite number in [low, high] ((low, high] with open_low)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low or value > high or (open_low and value == low):
        left = "(" if open_low else "["
        right = "]" if math.isfinite(high) else ")"
        raise ValueError(f"{name} must be in {left}{low:g}, {high:g}{right}, got {value!r}")


def _check_int(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class DistillConfig:
    """The distillation objective::

        total = (1 - alpha) * CE(label smoothing) + alpha * T^2 * KL(teacher || student)
                + beta * mean over mapping links of L_feature

    alpha: weight of logit KD (0 = no KD); temperature: T; beta: weight of the
    feature loss (the paper's w_fft); feature: one of ``FEATURE_KINDS`` (text:
    ``losses.TEXT_FEATURE_KINDS``); magnitude_axis: "tokens" or "channels" for the
    magnitude loss; label_smoothing: CE's; mapping: student <- teacher block links
    the feature loss aligns (needed when beta > 0); normalize: each link's feature
    loss is divided by the loss of an all-zero student against that teacher layer,
    so beta weighs a relative error that starts near 1 for every loss form and
    layer (False: the raw loss, the paper's w_fft on the spectral loss).
    """

    alpha: float = 0.9
    temperature: float = 1.0
    beta: float = 0.0
    feature: str | None = None
    magnitude_axis: str = "tokens"
    label_smoothing: float = 0.1
    mapping: LayerMapping | None = None
    normalize: bool = True
    channel_align: str = "pool"

    def __post_init__(self) -> None:
        _check_finite("alpha", self.alpha, 0.0, 1.0)
        _check_finite("temperature", self.temperature, MIN_TEMPERATURE)
        _check_finite("beta", self.beta, 0.0)
        _check_finite("label_smoothing", self.label_smoothing, 0.0, 1.0)
        if self.feature is not None and self.feature not in FEATURE_KINDS:
            raise ValueError(f"unknown feature loss {self.feature!r}; allowed: {', '.join(FEATURE_KINDS)}")
        if self.beta > 0 and self.feature is None:
            raise ValueError(f"beta = {self.beta} needs a feature loss; allowed: {', '.join(FEATURE_KINDS)}")
        if self.magnitude_axis not in ("tokens", "channels"):
            raise ValueError(f"magnitude_axis must be 'tokens' or 'channels', got {self.magnitude_axis!r}")
        if self.channel_align not in CHANNEL_ALIGNMENTS:
            raise ValueError(
                f"unknown channel_align {self.channel_align!r}; allowed: {', '.join(CHANNEL_ALIGNMENTS)}"
            )

    @property
    def uses_features(self) -> bool:
        """True when the objective has a feature term (a feature loss and beta > 0)."""
        return self.feature is not None and self.beta > 0

    @property
    def uses_teacher(self) -> bool:
        """True when the objective needs the teacher's outputs at all."""
        return self.alpha > 0 or self.uses_features

    def check(self, layout: str, n_student: int | None = None, n_teacher: int | None = None) -> None:
        """Reject, before any training, what a path of ``layout`` ("tokens": text, "maps": vision) cannot
        train: a feature loss of the other layout, learned projections on patch grids, a feature loss
        without a mapping, or a mapping that does not fit the depths (when given)."""
        kinds = [k for k, f in FEATURE_LOSSES.items() if f.layout in (layout, "any")]
        who, other = ("text", "patch grids") if layout == "tokens" else ("vision", "token sequences")
        if self.feature is not None and self.feature not in kinds:
            raise ValueError(
                f"feature loss {self.feature!r} is for {other}; {who} students take {' or '.join(kinds)}"
            )
        if self.uses_features and layout == "maps" and self.channel_align != "pool":
            raise ValueError(
                f"channel_align={self.channel_align!r} is for text students (learned projections); vision "
                "students align channels by average pooling: allowed channel_align='pool'"
            )
        if self.uses_features and self.mapping is None:
            raise ValueError("a feature loss (beta > 0) needs a layer mapping (DistillConfig.mapping)")
        if self.uses_features and n_student is not None:
            self.mapping.validate(n_student, n_teacher or max(self.mapping.teacher_blocks))

    def to_dict(self) -> dict:
        """The settings as plain JSON values (the mapping as its link text)."""
        return {
            "alpha": self.alpha,
            "temperature": self.temperature,
            "beta": self.beta,
            "feature": self.feature,
            "magnitude_axis": self.magnitude_axis,
            "label_smoothing": self.label_smoothing,
            "mapping": self.mapping.spec() if self.mapping is not None else None,
            "normalize": self.normalize,
            "channel_align": self.channel_align,
        }


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: one object for teachers, text students and vision students.

    epochs, lr, batch_size, seed, weight_decay, warmup_ratio (a fraction of all
    steps); max_length: tokens per text (text only); mixed_precision: bf16 / fp16
    on a GPU (None = on when CUDA is available); progress: progress bars;
    checkpoints: save a checkpoint every epoch (keeping the last); resume: continue
    from the last checkpoint in the output folder (True) or from a given one;
    cache_teacher: compute the frozen teacher's outputs on the training set once
    and reuse them in every step (and every run of a comparison); callbacks:
    transformers TrainerCallbacks for this run (e.g. SpectralSnapshots);
    early_stopping: patience in epochs: evaluate on the validation split every epoch,
    stop after this many epochs without a better validation accuracy, and keep the
    best epoch's weights (None: train all ``epochs``, which are then the maximum);
    gradient_checkpointing: recompute each block's activations in the backward pass
    instead of keeping them (text models through the Trainer; ``plan_memory`` turns it
    on when a run would not fit the GPU); training_args: ``transformers.TrainingArguments`` fields the
    rest does not cover (``{"max_grad_norm": 0.5}``), applied last by ``training.training_arguments``.
    """

    epochs: float = 3
    lr: float = 5e-4
    batch_size: int = 32
    seed: int = 0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 64
    mixed_precision: bool | None = None
    progress: bool = False
    checkpoints: bool = False
    resume: bool | str = False
    cache_teacher: bool = False
    early_stopping: int | None = None
    gradient_checkpointing: bool = False
    callbacks: tuple[Any, ...] = field(default=(), compare=False)
    training_args: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "callbacks", tuple(self.callbacks))
        _check_finite("epochs", self.epochs, 0.0, open_low=True)
        _check_finite("lr", self.lr, 0.0, open_low=True)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("seed", self.seed, 0)
        _check_finite("weight_decay", self.weight_decay, 0.0)
        _check_finite("warmup_ratio", self.warmup_ratio, 0.0, 1.0)
        _check_int("max_length", self.max_length, 2)
        if self.early_stopping is not None:
            _check_int("early_stopping", self.early_stopping, 1)


@dataclass(frozen=True)
class StudentConfig:
    """A student cut from the teacher's architecture, or a pretrained model.

    n_student_blocks: its depth; width / heads: its hidden size and attention heads
    (default: the teacher's); init_from: teacher blocks 1..N to copy, one per
    student block (DistilBERT style; needs the teacher's width); freeze_embeddings:
    keep the copied (or pretrained) embeddings fixed (needs init_from or pretrained);
    pooling: what the head classifies, ``"first"`` (the model's own head: the first
    token's state) or ``"mean"`` (the mean of the real tokens' states,
    ``pooling.use_mean_pooling``: what lets cross-entropy train a random encoder).

    pretrained: a hub name (``roberta-base``, ``distilroberta-base``) or a folder
    written by ``save_pretrained``; the student is then that model, loaded with
    ``AutoModelForSequenceClassification.from_pretrained(pretrained, num_labels=the
    teacher's)`` (a fresh classification head), and ``n_student_blocks`` must be its
    depth (``StudentConfig.from_pretrained`` reads it). It has its own width, so
    width, heads and init_from are not taken with it.
    """

    n_student_blocks: int
    width: int | None = None
    heads: int | None = None
    init_from: tuple[int, ...] | None = None
    freeze_embeddings: bool = False
    pretrained: str | None = None
    pooling: str = "first"

    def __post_init__(self) -> None:
        _check_int("n_student_blocks", self.n_student_blocks, 1)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.width is not None:
            _check_int("width", self.width, 1)
        if self.heads is not None:
            _check_int("heads", self.heads, 1)
        if self.init_from is not None:
            given = self.init_from
            blocks = tuple(given) if isinstance(given, (list, tuple, range)) else ()
            if not blocks or not all(
                isinstance(b, Integral) and not isinstance(b, bool) and b >= 1 for b in blocks
            ):
                raise ValueError(
                    f"init_from must be a list of teacher block numbers >= 1, one per student block, "
                    f"e.g. (2, 4), got {given!r}"
                )
            object.__setattr__(self, "init_from", tuple(int(b) for b in blocks))
            if len(self.init_from) != self.n_student_blocks:
                raise ValueError(
                    f"init_from names {len(self.init_from)} teacher blocks for a student of "
                    f"{self.n_student_blocks} blocks; give one per student block"
                )
        if self.pretrained is not None:
            if isinstance(self.pretrained, os.PathLike):
                object.__setattr__(self, "pretrained", os.fspath(self.pretrained))
            if not isinstance(self.pretrained, str) or not self.pretrained.strip():
                raise ValueError(f"pretrained must be a hub name or a model folder, got {self.pretrained!r}")
            taken = [
                f"{k}={v!r}" for k in ("width", "heads", "init_from") if (v := getattr(self, k)) is not None
            ]
            if taken:
                raise ValueError(
                    f"a pretrained student ({self.pretrained}) has its own shape and weights: "
                    f"drop {', '.join(taken)}"
                )
        if self.freeze_embeddings and self.init_from is None and self.pretrained is None:
            raise ValueError(
                "freeze_embeddings needs init_from or pretrained: fresh embeddings must be trained"
            )

    @classmethod
    def from_pretrained(
        cls, name_or_dir: str | os.PathLike, freeze_embeddings: bool = False
    ) -> StudentConfig:
        """The student ``name_or_dir`` (a hub name or a save_pretrained folder), its depth read from its config.

        Reads only the config (a hub name needs internet or a cached copy); raises
        FileNotFoundError for a folder that holds no model.
        """
        config = pretrained_model_config(name_or_dir)
        return cls(
            int(config.num_hidden_layers),
            freeze_embeddings=freeze_embeddings,
            pretrained=os.fspath(name_or_dir),
        )
