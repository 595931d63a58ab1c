"""Distilling a text classifier: students, the DistillationTrainer, and one hand-written step.

The objective, per batch (see ``losses.distillation_loss``)::

    total = (1 - alpha) * CE(student, labels; label smoothing 0.1)
            + alpha * T^2 * KL(teacher || student)                       # batchmean
            + beta * mean over links of L_feature(student block j, sum_i w_i * teacher block t_i)

A ``LayerMapping`` decides which blocks meet (block numbers 1..N; hidden_states[i]
is block i). Several teacher blocks of one link are combined by one matrix
product with ``mapping.teacher_weight_matrix`` (mean of two, 0.3 / 0.7, ...).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .capture import num_blocks
from .data import IntentData
from .losses import FEATURE_KINDS, distillation_loss, feature_loss
from .mapping import LayerMapping

TEXT_FEATURE_KINDS = tuple(k for k in FEATURE_KINDS if k != "spectral_2d")


@dataclass(frozen=True)
class DistillConfig:
    """Weights of the objective. ``feature=None`` (or beta=0) trains without a feature loss.

    alpha: weight of logit KD (0 = no KD); temperature: T; beta: weight of the feature
    loss (the paper's w_fft); feature: one of ``TEXT_FEATURE_KINDS``; label_smoothing: CE's.
    """

    alpha: float = 0.9
    temperature: float = 1.0
    beta: float = 0.0
    feature: str | None = None
    magnitude_axis: str = "tokens"
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in 0..1, got {self.alpha}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.feature is not None and self.feature not in TEXT_FEATURE_KINDS:
            raise ValueError(
                f"unknown feature loss {self.feature!r}; allowed: {', '.join(TEXT_FEATURE_KINDS)}"
            )
        if self.beta > 0 and self.feature is None:
            raise ValueError(
                f"beta = {self.beta} needs a feature loss; allowed: {', '.join(TEXT_FEATURE_KINDS)}"
            )

    @property
    def uses_features(self) -> bool:
        return self.feature is not None and self.beta > 0

    @property
    def uses_teacher(self) -> bool:
        return self.alpha > 0 or self.uses_features


def check_mapping(mapping: LayerMapping, student: nn.Module, teacher: nn.Module) -> LayerMapping:
    """Reject a mapping that does not fit the two models, before any training."""
    return mapping.validate(num_blocks(student), num_blocks(teacher))


class LinkedTeacher:
    """The teacher's side of a mapping: which hidden states to combine, and how.

    ``combine(hidden_states)`` returns one (B, L, C_t) tensor per link: the weighted
    sum of its teacher blocks, computed for all links in one einsum.
    """

    def __init__(self, mapping: LayerMapping, n_teacher: int) -> None:
        full = mapping.teacher_weight_matrix(n_teacher)  # (links, N + 1)
        self.columns = [i for i in range(n_teacher + 1) if bool(full[:, i].any())]
        self.weights = full[:, self.columns]  # (links, used)
        self.student_blocks = mapping.student_blocks

    def combine(self, hidden_states: Sequence[Tensor]) -> Tensor:
        used = torch.stack([hidden_states[i] for i in self.columns])  # (used, B, L, C)
        w = self.weights.to(device=used.device, dtype=used.dtype)
        return torch.einsum("ku,ublc->kblc", w, used)  # (links, B, L, C)


@dataclass
class TeacherCache:
    """The frozen teacher's outputs on a training split, computed once.

    The teacher runs in eval mode, so its outputs for an example do not change
    between epochs or between the runs of a comparison: caching them removes the
    teacher's forward pass from every training step.

    Attributes:
        logits: (N, K) for the N examples of the split, in order.
        hidden: (N, N_t + 1, L_max, C) every hidden state (index 0 = embeddings),
            or None when only logits were cached. Positions past an example's
            length hold padding outputs; the losses mask them.
    """

    logits: Tensor
    hidden: Tensor | None

    @classmethod
    def build(
        cls,
        teacher: nn.Module,
        split: Any,
        tokenizer: Any,
        *,
        hidden: bool = True,
        batch_size: int = 128,
        max_length: int = 64,
    ) -> TeacherCache:
        """Run ``teacher`` over an IntentSplit once (inference mode, on the teacher's device)."""
        from .capture import model_device
        from .text import text_batches

        device = model_device(teacher)
        was_training = teacher.training
        teacher.eval()
        logits, states = [], []
        try:
            with torch.inference_mode():
                for batch in text_batches(split, tokenizer, batch_size=batch_size, max_length=max_length):
                    batch.pop("labels")
                    out = teacher(**{k: v.to(device) for k, v in batch.items()}, output_hidden_states=hidden)
                    logits.append(out.logits.float())
                    if hidden:
                        states.append(torch.stack(out.hidden_states, dim=1).float())  # (B, N_t + 1, L, C)
        finally:
            teacher.train(was_training)
        stacked = None
        if hidden:
            width = max(s.shape[2] for s in states)
            stacked = torch.cat([nn.functional.pad(s, (0, 0, 0, width - s.shape[2])) for s in states])
        return cls(torch.cat(logits), stacked)

    def lookup(self, index: Tensor, length: int, hidden: bool = True) -> tuple[Tensor, list[Tensor] | None]:
        """Logits (B, K) and hidden states [(B, length, C)] * (N_t + 1) of examples ``index`` (B,).

        ``hidden=False`` (or a cache of logits only) returns None for the hidden states.
        """
        index = index.to(self.logits.device)
        logits = self.logits[index]
        if self.hidden is None or not hidden:
            return logits, None
        if length > self.hidden.shape[2]:
            raise ValueError(f"a batch of {length} tokens is longer than the cached {self.hidden.shape[2]}")
        states = self.hidden[index, :, :length]  # (B, N_t + 1, L, C)
        return logits, list(states.unbind(1))


def distill_step_losses(
    student: nn.Module,
    teacher: nn.Module | None,
    inputs: dict[str, Tensor],
    config: DistillConfig,
    linked: LinkedTeacher | None = None,
    cache: TeacherCache | None = None,
) -> tuple[dict[str, Tensor], Any]:
    """Every term of the objective for one batch, and the student's outputs.

    ``inputs`` holds input_ids, attention_mask and labels (B,) (and ``example_index``
    when the teacher's outputs come from ``cache``). The teacher runs in eval mode
    under no_grad. Returns ({"total", "ce", "kd", "feature"}, outputs).
    """
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    index = inputs.pop("example_index", None)
    want_hidden = config.uses_features
    out = student(**inputs, output_hidden_states=want_hidden)
    teacher_logits, feature = None, None
    if config.uses_teacher:
        if cache is not None and index is not None:
            t_logits, t_hidden = cache.lookup(index, inputs["input_ids"].shape[1], hidden=want_hidden)
            if want_hidden and t_hidden is None:
                raise ValueError(
                    "the teacher cache holds logits only; build it with hidden=True for a feature loss"
                )
        elif teacher is None:
            raise ValueError("this objective needs a teacher (alpha > 0 or a feature loss)")
        else:
            with torch.no_grad():
                t_out = teacher(**inputs, output_hidden_states=want_hidden)
            t_logits, t_hidden = t_out.logits, t_out.hidden_states
        teacher_logits = t_logits.detach() if config.alpha > 0 else None
        if want_hidden:
            if linked is None:
                raise ValueError("a feature loss needs a layer mapping")
            t_layers = linked.combine(t_hidden).detach()
            s_layers = [out.hidden_states[j] for j in linked.student_blocks]
            mask = inputs.get("attention_mask")
            feature = feature_loss(
                s_layers, list(t_layers), config.feature, mask, magnitude_axis=config.magnitude_axis
            )
    losses = distillation_loss(
        out.logits,
        teacher_logits,
        labels,
        feature,
        alpha=config.alpha if teacher_logits is not None else 0.0,
        temperature=config.temperature,
        beta=config.beta if feature is not None else 0.0,
        label_smoothing=config.label_smoothing,
    )
    return losses, out


def _trainer_base():
    from transformers import Trainer

    return Trainer


class DistillationTrainer(_trainer_base()):
    """A transformers Trainer whose loss is the distillation objective.

    The teacher is frozen, in eval mode, on the student's device, run under no_grad
    (in bf16 when training in bf16). The mapping is validated against both models
    when the trainer is built. Each term (ce, kd, feature) is summed on the device
    and logged, averaged, at every logging step: no host sync per batch.
    Everything else (progress, evaluation, checkpoints and resume, mixed precision,
    gradient accumulation, torchrun / accelerate) is the Trainer's own.
    """

    def __init__(
        self,
        *args: Any,
        teacher: nn.Module | None = None,
        mapping: LayerMapping | None = None,
        distill: DistillConfig | None = None,
        teacher_cache: TeacherCache | None = None,
        **kwargs: Any,
    ) -> None:
        self.distill = distill or DistillConfig()
        self.teacher_cache = teacher_cache
        if self.distill.uses_teacher and teacher is None:
            raise ValueError("this objective needs a teacher (alpha > 0 or a feature loss)")
        if self.distill.uses_features and mapping is None:
            raise ValueError("a feature loss needs a layer mapping (student block <- teacher blocks)")
        model = kwargs.get("model", args[0] if args else None)
        self.linked = None
        if mapping is not None and self.distill.uses_features:
            check_mapping(mapping, model, teacher)
            self.linked = LinkedTeacher(mapping, num_blocks(teacher))
        super().__init__(*args, **kwargs)
        self.teacher = None
        if teacher is not None and self.distill.uses_teacher:
            teacher = teacher.to(self.args.device)
            if self.args.bf16:
                teacher = teacher.to(torch.bfloat16)
            teacher.eval()
            teacher.requires_grad_(False)
            self.teacher = teacher
        self._term_sums: dict[str, Tensor] = {}
        self._term_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: D102
        cache = self.teacher_cache if model.training else None  # cached outputs are of the training split
        losses, out = distill_step_losses(model, self.teacher, inputs, self.distill, self.linked, cache)
        if model.training:
            for key in ("ce", "kd", "feature"):
                value = losses[key].detach()
                self._term_sums[key] = self._term_sums[key] + value if key in self._term_sums else value
            self._term_count += 1
        return (losses["total"], out) if return_outputs else losses["total"]

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:  # noqa: D102
        if self._term_count and "loss" in logs:
            for key, total in self._term_sums.items():
                logs[f"loss_{key}"] = round(float(total) / self._term_count, 5)
            self._term_sums, self._term_count = {}, 0
        super().log(logs, *args, **kwargs)


# ---------------------------------------------------------------- students


def encoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The ModuleList of transformer blocks of a BERT / RoBERTa style model."""
    encoder = getattr(getattr(model, "base_model", model), "encoder", None)
    blocks = getattr(encoder, "layer", None)
    if not isinstance(blocks, nn.ModuleList):
        raise ValueError(f"cannot find encoder.layer in {type(model).__name__}; build the student by hand")
    return blocks


def make_student(
    teacher: nn.Module,
    num_layers: int,
    *,
    hidden: int | None = None,
    heads: int | None = None,
    init_from: Sequence[int] | None = None,
    freeze_embeddings: bool = False,
    seed: int = 0,
) -> nn.Module:
    """A shallower (and optionally narrower) student of the teacher's class and config.

    Args:
        teacher: a Hugging Face sequence classifier (BERT / RoBERTa style).
        num_layers: student blocks.
        hidden: student width (default: the teacher's); heads: attention heads.
        init_from: teacher block numbers (1..N), one per student block, to copy
            (DistilBERT style) with the embeddings; needs the teacher's width.
        freeze_embeddings: keep the copied embeddings fixed (with ``init_from``): the
            word-embedding matrix is most of a small student's parameters, and
            updating it roughly doubles a CPU training step.
        seed: seeds the fresh weights.
    """
    n_teacher = num_blocks(teacher)
    if num_layers < 1:
        raise ValueError(f"a student needs at least 1 block, got {num_layers}")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = num_layers
    if hidden is not None and hidden != config.hidden_size:
        heads = heads or max(1, hidden // 64)
        if hidden % heads:
            raise ValueError(f"student width {hidden} must be divisible by its {heads} heads")
        config.intermediate_size = 4 * hidden
        config.hidden_size = hidden
        config.num_attention_heads = heads
    torch.manual_seed(seed)
    student = type(teacher)(config)
    if init_from is not None:
        init_from = list(init_from)
        if len(init_from) != num_layers:
            raise ValueError(
                f"init_from names {len(init_from)} teacher blocks for a student of {num_layers} blocks"
            )
        for t in init_from:
            if not 1 <= t <= n_teacher:
                raise ValueError(f"init_from block {t} is out of range: allowed blocks are 1..{n_teacher}")
        if config.hidden_size != teacher.config.hidden_size:
            raise ValueError(
                f"initialising from teacher blocks needs the teacher's width {teacher.config.hidden_size}, "
                f"the student has {config.hidden_size}"
            )
        s_base, t_base = student.base_model, teacher.base_model
        s_base.embeddings.load_state_dict(t_base.embeddings.state_dict())
        s_blocks, t_blocks = encoder_blocks(student), encoder_blocks(teacher)
        for j, t in enumerate(init_from):
            s_blocks[j].load_state_dict(t_blocks[t - 1].state_dict())
        pooler = getattr(t_base, "pooler", None)
        if pooler is not None and getattr(s_base, "pooler", None) is not None:
            s_base.pooler.load_state_dict(pooler.state_dict())
        if freeze_embeddings:
            s_base.embeddings.requires_grad_(False)
    elif freeze_embeddings:
        raise ValueError("freeze_embeddings needs init_from: fresh embeddings must be trained")
    return student


# ---------------------------------------------------------------- one run


@dataclass
class RunResult:
    """Accuracy and time of one distillation run."""

    name: str
    seed: int
    test_accuracy: float
    validation_accuracy: float
    train_seconds: float
    log: list[dict[str, float]] = field(default_factory=list)


def distill(
    teacher: nn.Module,
    tokenizer: Any,
    data: IntentData,
    *,
    num_layers: int,
    config: DistillConfig,
    mapping: LayerMapping | None = None,
    hidden: int | None = None,
    init_from: Sequence[int] | None = None,
    freeze_embeddings: bool = False,
    student: nn.Module | None = None,
    epochs: float = 3,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    max_length: int = 64,
    save: bool = False,
    name: str = "",
    progress: bool = False,
    resume: bool | str = False,
    extra_args: dict[str, Any] | None = None,
    callbacks: list[Any] | None = None,
    teacher_cache: TeacherCache | None = None,
) -> tuple[nn.Module, RunResult]:
    """Distil ``teacher`` into a new student (or ``student``) with the DistillationTrainer.

    Returns the trained student and its RunResult (test and validation accuracy).
    With ``save`` the student and tokenizer are written to ``out_dir`` (save_pretrained).
    """
    import tempfile

    from transformers import set_seed

    from .text import fit_and_evaluate

    set_seed(seed)
    if student is None:
        student = make_student(
            teacher,
            num_layers,
            hidden=hidden,
            init_from=init_from,
            freeze_embeddings=freeze_embeddings,
            seed=seed,
        )
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="spectralkd-distill-")
        out_dir = tmp.name
    trainer, scores = fit_and_evaluate(
        student,
        tokenizer,
        data,
        out_dir,
        trainer_class=DistillationTrainer,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        max_length=max_length,
        mixed_precision=torch.cuda.is_available(),
        progress=progress,
        with_index=teacher_cache is not None,
        resume=resume,
        extra_args=extra_args,
        teacher=teacher,
        mapping=mapping,
        distill=config,
        callbacks=callbacks,
        teacher_cache=teacher_cache,
    )
    if save:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        trainer.save_model(str(out_dir))
    run = RunResult(
        name=name,
        seed=seed,
        test_accuracy=scores["test_accuracy"],
        validation_accuracy=scores["validation_accuracy"],
        train_seconds=scores["train_seconds"],
        log=[h for h in trainer.state.log_history if "loss" in h],
    )
    if tmp is not None:
        tmp.cleanup()
    return trainer.model, run


def config_dict(config: DistillConfig) -> dict[str, Any]:
    return asdict(config)
