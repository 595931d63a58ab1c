"""The one training stack shared by text and vision: results, evaluation, teacher cache, loops.

Text models train with the transformers Trainer (:func:`training_arguments`), the small vision
models with :func:`fit_tensors`; both compute a step's terms with :func:`step_losses`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from transformers import TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from .capture import eval_mode, model_device
from .config import DistillConfig, TrainConfig
from .losses import distillation_loss, feature_loss
from .mapping import LayerMapping

__all__ = [
    "KeepBestEpoch",
    "LOSS_KEYS",
    "LinkedFeatures",
    "LinkedTeacher",
    "RunResult",
    "StopOnNonFiniteLoss",
    "TeacherCache",
    "accuracy_metric",
    "amp_dtype",
    "correct_predictions",
    "evaluate_accuracy",
    "fit_tensors",
    "native_bf16",
    "validation_curve",
    "pack_flags",
    "predictions",
    "quiet_trainer",
    "step_losses",
    "training_arguments",
    "warmup_cosine",
]

LOSS_KEYS = ("total", "ce", "kd", "feature")


@dataclass
class RunResult:
    """One training run.

    name: the variant; seed; test_accuracy and validation_accuracy (None when the
    data has no validation split) as fractions; train_seconds; steps: optimiser
    steps taken; log: the loss log, one dict per logging point (``loss``,
    ``loss_ce``, ``loss_kd``, ``loss_feature``, ``epoch``); test_correct: "0"/"1" per
    test example in order (``pack_flags``), for paired statistics between runs;
    validation_curve: validation accuracy after each epoch (empty without early
    stopping), kept when the log is not, so that saved results show whether a run
    stopped by early stopping or at its epoch ceiling.
    """

    name: str
    seed: int
    test_accuracy: float
    validation_accuracy: float | None
    train_seconds: float
    steps: int = 0
    log: list[dict[str, float]] = field(default_factory=list)
    test_correct: str | None = None
    validation_curve: list[float] = field(default_factory=list)


def validation_curve(log: Iterable[Mapping[str, float]]) -> list[float]:
    """The ``eval_accuracy`` of each evaluation in a Trainer log (``state.log_history``), in order."""
    return [h["eval_accuracy"] for h in log if "eval_accuracy" in h]


@torch.inference_mode()
def predictions(model: nn.Module, batches: Iterable[Mapping[str, Tensor]]) -> tuple[Tensor, Tensor]:
    """(predicted, labels), each (N,) long on the CPU: the classifier's top-1 class and each batch's ``labels``.

    Batches of model inputs with ``labels``, in order; the model runs in eval mode on its
    device (text ``input_ids``/``attention_mask`` or vision ``pixel_values`` alike). The
    results stay on the device until the end: one transfer, no host sync per batch.
    """
    device = model_device(model)
    predicted, labels = [], []
    with eval_mode(model):
        for batch in batches:
            inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            predicted.append(model(**inputs).logits.argmax(-1))
            labels.append(batch["labels"].to(device))
    if not predicted or sum(len(p) for p in predicted) == 0:
        raise ValueError("no examples to evaluate: the batches are empty")
    return torch.cat(predicted).cpu(), torch.cat(labels).cpu()


def correct_predictions(model: nn.Module, batches: Iterable[Mapping[str, Tensor]]) -> Tensor:
    """(N,) bool on the CPU: whether the classifier's top-1 prediction is right, example by example
    (``predictions`` compared with the labels)."""
    predicted, labels = predictions(model, batches)
    return predicted == labels


def evaluate_accuracy(model: nn.Module, batches: Iterable[Mapping[str, Tensor]]) -> float:
    """Top-1 accuracy of a classifier over batches of model inputs with ``labels``, in eval mode
    (the mean of ``correct_predictions``)."""
    return float(correct_predictions(model, batches).float().mean())


def pack_flags(flags: Tensor) -> str:
    """(N,) bool -> a string of "0"/"1", one character per example (how runs store their test results)."""
    return "".join("1" if f else "0" for f in flags.tolist())


@dataclass
class TeacherCache:
    """A frozen teacher's outputs on a training set, computed once.

    The teacher runs in eval mode, so its outputs for an example do not change
    between epochs or between the runs of a comparison: caching them removes the
    teacher's forward pass from every training step.

    Attributes:
        logits: (N, K) for the N examples, in order.
        blocks: block number (``hidden_states`` index) -> the block's outputs: text, the
            real tokens of all examples one after another, (sum of lengths, C), so that
            padding takes no memory; vision, (N, C, H, W) patch-grid maps.
        offsets: text only: (N + 1,) where example i's tokens start (``offsets[i + 1]``:
            where they end); None for vision.
    """

    logits: Tensor
    blocks: dict[int, Tensor] = field(default_factory=dict)
    offsets: Tensor | None = None

    @classmethod
    def from_batches(
        cls,
        outputs: Iterable[tuple[Tensor, Mapping[int, Tensor], Tensor | None]],
        dtype: torch.dtype = torch.float32,
    ) -> TeacherCache:
        """Concatenate per-batch (logits (B, K), {block: (B, ...)}, lengths (B,) or None).

        Logits are kept in float32, blocks in ``dtype`` (``torch.float16`` halves their
        memory; ``lookup`` returns float32). Token outputs (B, L, C) need the batch's
        real lengths: only the first ``lengths[i]`` positions of each row are kept.
        """
        logits, per_block, counts = [], {}, []
        for batch_logits, feats, lengths in outputs:
            logits.append(batch_logits.float())
            if lengths is not None:
                counts.append(lengths.to(device=batch_logits.device, dtype=torch.long))
            for b, t in feats.items():
                if t.dim() == 3:  # (B, L, C): keep the real tokens, one after another
                    if lengths is None:
                        raise ValueError(
                            f"block {b}'s token outputs {tuple(t.shape)} need the batch's lengths"
                        )
                    real = torch.arange(t.shape[1], device=t.device) < counts[-1][:, None].to(t.device)
                    t = t[real]  # (sum of lengths, C)
                per_block.setdefault(b, []).append(t.to(dtype))
        if not logits:
            raise ValueError("no batches to cache: the training split is empty")
        offsets = None
        if counts:
            offsets = nn.functional.pad(torch.cat(counts).cumsum(0), (1, 0))
        return cls(torch.cat(logits), {b: torch.cat(parts) for b, parts in per_block.items()}, offsets)

    def lookup(
        self, index: Tensor, length: int | None = None, blocks: Iterable[int] | None = None
    ) -> tuple[Tensor, dict[int, Tensor]]:
        """Logits (B, K) and {block: (B, ...)} of examples ``index`` (B,).

        Text blocks come back as (B, length, C) in float32: each example's cached tokens
        (cut to ``length``), then zeros where the batch pads it (the losses mask those
        positions). ``blocks``: the cached blocks to return (default: all), so that a step
        gathers and converts only the blocks its mapping aligns.
        """
        index = index.to(self.logits.device)
        wanted = self.blocks.items() if blocks is None else [(b, self.blocks[b]) for b in blocks]
        rows = real = None
        if self.offsets is not None:
            if length is None:
                raise ValueError("a text cache's lookup needs the batch's padded length")
            start = self.offsets[index]  # (B,)
            position = torch.arange(length, device=start.device)  # (L,)
            real = position < (self.offsets[index + 1] - start)[:, None]  # (B, L)
            rows = torch.where(real, start[:, None] + position, 0)  # (B, L) rows of the flat tokens
        out = {}
        for b, t in wanted:
            if rows is not None and t.dim() == 2:
                out[b] = t[rows].float() * real[..., None]
            else:
                out[b] = t[index].float()
        return self.logits[index], out

    @property
    def nbytes(self) -> int:
        """Memory held by the cache, in bytes."""
        extra = self.offsets.nbytes if self.offsets is not None else 0
        return self.logits.nbytes + extra + sum(t.nbytes for t in self.blocks.values())


class LinkedTeacher:
    """The teacher's side of a mapping: which teacher blocks to combine, and how.

    ``combine(blocks)`` takes anything indexable by block number (a
    ``hidden_states`` tuple, or a TeacherCache lookup) and returns one tensor per
    link, stacked: the weighted sum of its teacher blocks, computed for all links
    in one tensor contraction (links, used) x (used, ...) -> (links, ...).
    """

    def __init__(self, mapping: LayerMapping, n_teacher: int) -> None:
        full = mapping.teacher_weight_matrix(n_teacher)  # (links, N + 1)
        self.columns = [i for i in range(n_teacher + 1) if bool(full[:, i].any())]
        self.weights = full[:, self.columns]  # (links, used)
        self.student_blocks = mapping.student_blocks

    def combine(self, blocks: Sequence[Tensor] | Mapping[int, Tensor]) -> Tensor:
        used = torch.stack([blocks[i] for i in self.columns])  # (used, B, ...)
        w = self.weights.to(device=used.device, dtype=used.dtype)
        return torch.tensordot(w, used, dims=1)  # (links, B, ...)


@dataclass
class LinkedFeatures:
    """The feature side of one step. student, teacher: per link of the mapping, the student's block
    and the weighted sum of its teacher blocks (text (B, L, C), vision (B, C, H, W)); mask: text's
    attention mask (B, L); channel_dim: None = the feature loss's own (1 for maps, -1 for tokens)."""

    student: Sequence[Tensor]
    teacher: Sequence[Tensor]
    mask: Tensor | None = None
    channel_dim: int | None = None


def step_losses(
    config: DistillConfig,
    logits: Tensor,
    labels: Tensor,
    teacher_logits: Tensor | None = None,
    features: LinkedFeatures | None = None,
    projections: Sequence[nn.Module] | None = None,
) -> dict[str, Tensor]:
    """Every term of the objective ``config`` for one batch, {"total", "ce", "kd", "feature"} (0-d float32):
    the one computation of a step's terms for text (``distill.distill_step_losses``) and vision
    (``digits.vision_step_losses``), which only gather the logits and ``features``.

        total = (1 - alpha) * CE(logits, labels) + alpha * T^2 * KL(teacher_logits || logits)
                + beta * feature_loss(features.student, features.teacher)     # mean over links

    Teacher tensors are detached here. Channels meet by ``config.channel_align``: "pool" pools the
    wider of each pair, "project" maps the student's by ``projections`` (a ``ChannelProjection`` per link).
    """
    if config.alpha > 0 and teacher_logits is None:
        raise ValueError("this objective needs the teacher's logits (alpha > 0)")
    feature = None
    if config.uses_features:
        if features is None:
            raise ValueError("a feature loss (beta > 0) needs the linked features of a layer mapping")
        project = config.channel_align == "project"
        if project and projections is None:
            raise ValueError("channel_align='project' needs the learned projections (make_projections)")
        feature = feature_loss(
            list(features.student),
            [t.detach() for t in features.teacher],
            config.feature,
            features.mask,
            channel_dim=features.channel_dim,
            magnitude_axis=config.magnitude_axis,
            projections=list(projections) if project else None,
            normalize=config.normalize,
        )
    return distillation_loss(
        logits,
        teacher_logits.detach() if config.alpha > 0 else None,
        labels,
        feature,
        alpha=config.alpha,
        temperature=config.temperature,
        beta=config.beta if feature is not None else 0.0,
        label_smoothing=config.label_smoothing,
    )


def _checkpointing(on: bool) -> dict[str, Any]:
    """The Trainer's activation (gradient) checkpointing switch, under its name in this transformers.

    Non-reentrant, so that the blocks still get gradients when the embeddings below
    them are frozen.
    """
    names = {f.name for f in fields(TrainingArguments)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {key: on, f"{key}_kwargs": {"use_reentrant": False} if on else None}


def native_bf16(device: str | torch.device = "cuda") -> bool:
    """True when the GPU ``device`` computes in bfloat16 in hardware: compute capability 8.0 or newer
    (Ampere: A100, L4, H100, ...).

    ``torch.cuda.is_bf16_supported()`` alone also answers True on a T4 (capability 7.5), where
    bfloat16 is emulated at about float32's speed; that GPU is better off in float16.
    """
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device) >= (8, 0) and torch.cuda.is_bf16_supported(
        including_emulation=False
    )


def amp_dtype(train: TrainConfig, device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype of mixed-precision training on ``device``, or None for float32.

    ``train.mixed_precision`` None means "on where CUDA is"; when on, a GPU trains in
    bfloat16 where it computes it natively (:func:`native_bf16`: Ampere and newer) and in
    float16 (with a gradient scaler) otherwise, a T4 included; a CPU always trains in float32.
    One rule for the Trainer (text), :func:`fit_tensors` (vision) and benchmarks/gpu_full.py.
    """
    device = torch.device(device)
    cuda = device.type == "cuda" and torch.cuda.is_available()
    if not cuda or train.mixed_precision is False:
        return None
    return torch.bfloat16 if native_bf16(device) else torch.float16


def training_arguments(train: TrainConfig, out_dir: str | os.PathLike, n_train: int, **extra: Any):
    """``transformers.TrainingArguments`` for a TrainConfig and a training set of n_train examples.

    With ``train.early_stopping`` the model is evaluated on the validation split every
    epoch; ``KeepBestEpoch`` stops training and restores the best epoch's weights (kept
    in memory, not as a checkpoint per epoch). ``train.training_args`` are applied last (checked here).
    """
    dtype = amp_dtype(train, "cuda")  # the Trainer puts the model on the GPU when there is one
    steps_per_epoch = math.ceil(n_train / train.batch_size)
    saving: dict[str, Any] = {"save_strategy": "no", "eval_strategy": "no"}
    if train.checkpoints:
        saving = {**saving, "save_strategy": "epoch", "save_total_limit": 1}
    if train.early_stopping is not None:
        saving = {**saving, "eval_strategy": "epoch"}
    derived = dict(
        output_dir=str(out_dir),
        num_train_epochs=train.epochs,
        learning_rate=train.lr,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=max(train.batch_size, 64),
        warmup_steps=math.ceil(train.warmup_ratio * train.epochs * steps_per_epoch),
        weight_decay=train.weight_decay,
        seed=train.seed,
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        report_to="none",
        disable_tqdm=not train.progress,
        logging_strategy="epoch",
        **_checkpointing(train.gradient_checkpointing),
        logging_nan_inf_filter=False,  # a NaN loss must reach the log, where StopOnNonFiniteLoss sees it
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        # keep every column of our datasets: ``example_index`` is how a TeacherCache is read
        remove_unused_columns=False,
    )
    unknown = sorted(set(train.training_args) - {f.name for f in fields(TrainingArguments)})
    if unknown:
        raise ValueError(f"training_args: not fields of transformers.TrainingArguments: {', '.join(unknown)}")
    return TrainingArguments(**{**derived, **saving, **extra, **train.training_args})


class KeepBestEpoch(TrainerCallback):
    """Early stopping on validation accuracy, the best epoch's weights kept in host memory.

    After each evaluation a better ``eval_accuracy`` copies the model's weights to the CPU;
    ``patience`` evaluations in a row without one stop training, counted only once the
    accuracy has risen above its first value (a student still on its starting plateau, at
    chance, is not converged: it trains on to the epoch ceiling); when training ends the
    best weights are loaded back. Unlike transformers' EarlyStoppingCallback with
    load_best_model_at_end it writes no checkpoint (model and optimiser state) every
    epoch, which costs more than a whole epoch of a small student.
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best: float | None = None
        self.first: float | None = None
        self.waited = 0
        self.weights: dict[str, Tensor] | None = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any):
        accuracy = (metrics or {}).get("eval_accuracy")
        model = kwargs.get("model")
        if accuracy is None or model is None:
            return
        if self.first is None:
            self.first = accuracy
        if self.best is None or accuracy > self.best:
            self.best, self.waited = accuracy, 0
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        elif self.best > self.first:
            self.waited += 1
            if self.waited >= self.patience:
                control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any):
        model = kwargs.get("model")
        if self.weights is not None and model is not None:
            model.load_state_dict(self.weights)


class StopOnNonFiniteLoss(TrainerCallback):
    """Stop training with FloatingPointError at the first logged loss that is NaN or infinite.

    It reads the losses the Trainer logs anyway (every logging step, and the run's mean at
    the end), so it adds no host sync to the training steps.
    """

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any
    ):
        for key in ("loss", "train_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                raise FloatingPointError(
                    f"training stopped at step {state.global_step} (epoch {state.epoch or 0:.2f}): the loss is "
                    f"{value}; lower the learning rate, or check the data, the mapping weights, beta and "
                    "the temperature"
                )


def accuracy_metric(eval_pred: Any) -> dict[str, float]:
    """``compute_metrics`` for the Trainer's evaluation: top-1 accuracy of (logits, labels)."""
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())}


def quiet_trainer(trainer: Any, progress: bool) -> None:
    """Without progress bars the Trainer prints every log dict; keep it quiet instead."""
    if not progress:
        trainer.remove_callback(PrinterCallback)


def warmup_cosine(total_steps: int, warmup: float) -> Callable[[int], float]:
    """LR factor: linear warm-up over the first ``warmup`` fraction of steps, then cosine to 0."""
    warm = max(1, int(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def fit_tensors(
    model: nn.Module,
    n_train: int,
    step: Callable[[Tensor], dict[str, Tensor]],
    train: TrainConfig,
) -> tuple[list[dict[str, float]], int]:
    """AdamW + warm-up/cosine over shuffled index batches; ``step(idx)`` returns the loss terms.

    ``step`` gets the indices (batch_size,) of one batch on the model's device and
    returns a dict with ``LOSS_KEYS``. Loss terms are summed on the device and read
    back once, at the end; a NaN or infinite loss stops the run with FloatingPointError
    at the end of its epoch (one host read per epoch). Returns (one log dict per epoch, optimiser steps taken).

    Mixed precision follows :func:`amp_dtype`: ``step`` runs under autocast in that dtype
    (the weights, optimiser and FFT losses stay float32); in float16 a gradient scaler
    skips the steps whose gradients overflow, as the Trainer does.
    """
    if train.training_args:
        raise ValueError("training_args are for the transformers Trainer (text models); this loop takes none")
    epochs = int(train.epochs)
    if epochs != train.epochs or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1 for this loop, got {train.epochs}")
    steps_per_epoch = n_train // train.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {train.batch_size} is larger than the {n_train} training samples")
    device = model_device(model)
    dtype = amp_dtype(train, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(epochs * steps_per_epoch, train.warmup_ratio)
    )
    shuffle = torch.Generator().manual_seed(train.seed)
    torch.manual_seed(train.seed)  # dropout
    epoch_sums = []
    model.train()
    with warnings.catch_warnings():
        # in float16 the scaler skips the steps whose gradients overflow (the first few, while it
        # finds its scale); the schedule moves on regardless, as the Trainer's does
        warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
        for _ in range(epochs):
            order = torch.randperm(n_train, generator=shuffle).to(device)
            sums = torch.zeros(len(LOSS_KEYS), device=device)
            for i in range(steps_per_epoch):
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    terms = step(order[i * train.batch_size : (i + 1) * train.batch_size])
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(terms["total"]).backward()
                scaler.step(optimizer)  # a plain optimizer.step() when the scaler is off
                scaler.update()
                scheduler.step()
                sums += torch.stack([terms[k].detach() for k in LOSS_KEYS])
            if not bool(torch.isfinite(sums).all()):  # one host read per epoch
                raise FloatingPointError(
                    f"training stopped in epoch {len(epoch_sums) + 1}: a loss is NaN or infinite "
                    f"({dict(zip(LOSS_KEYS, sums.tolist(), strict=True))}); lower the learning rate, or check "
                    "the data, the mapping weights, beta and the temperature"
                )
            epoch_sums.append(sums / steps_per_epoch)
    model.eval()
    means = torch.stack(epoch_sums).cpu().tolist()  # (epochs, terms): one host sync
    log = [
        {
            "epoch": e + 1,
            "loss": row[0],
            **{f"loss_{k}": v for k, v in zip(LOSS_KEYS[1:], row[1:], strict=True)},
        }
        for e, row in enumerate(means)
    ]
    return log, epochs * steps_per_epoch
