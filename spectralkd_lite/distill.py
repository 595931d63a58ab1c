"""Distilling a text classifier: students, the DistillationTrainer, and one hand-written step.

The objective is a ``DistillConfig`` (its formula there; computed by ``training.step_losses``).
Its ``LayerMapping`` decides which blocks meet (block numbers 1..N; hidden_states[i] is block i);
several teacher blocks of one link are combined by one tensor contraction (``training.LinkedTeacher``).

Students are cut from the teacher (``StudentConfig(n_blocks, width=..., init_from=...)``)
or are pretrained models of the teacher's tokenizer family (``StudentConfig.from_pretrained(
"roberta-base")`` or a save_pretrained folder). When the widths differ (roberta-large 1024 ->
roberta-base 768) the feature term aligns channels by pooling (parameter-free) or by a
learned projection per link (``DistillConfig(channel_align="project")``).
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, set_seed

from .capture import eval_mode, model_device, num_blocks, to_device
from .config import DistillConfig, StudentConfig, TrainConfig
from .data import IntentData, IntentSplit
from .losses import ChannelProjection
from .mapping import LayerMapping
from .memory import CACHE_BUDGET_BYTES
from .modelfiles import TOKENIZER_FILES, first_line, local_model_dir, quiet_transformers
from .pooling import use_mean_pooling
from .text import save_trained, text_batches, train_and_score, trainer_inputs
from .training import LinkedFeatures, LinkedTeacher, RunResult, TeacherCache, step_losses, validation_curve

__all__ = [
    "PROJECTIONS_FILE",
    "DistillationTrainer",
    "check_student_tokenizer",
    "distill",
    "distill_step_losses",
    "encoder_blocks",
    "load_pretrained_student",
    "make_projections",
    "make_student",
    "text_teacher_cache",
    "text_teacher_cache_bytes",
]

# The learned channel projections of a run, saved beside the student and in each checkpoint.
PROJECTIONS_FILE = "channel_projections.safetensors"


def text_teacher_cache_bytes(
    split: IntentSplit, tokenizer: Any, n_blocks: int, width: int, max_length: int
) -> int:
    """The memory a text TeacherCache of ``n_blocks`` blocks would take.

    float16 blocks holding each example's real tokens (no padding), float32 logits, int64 offsets.
    """
    lengths = [
        len(ids) for ids in tokenizer(split.texts, truncation=True, max_length=max_length)["input_ids"]
    ]
    return sum(lengths) * width * n_blocks * 2 + len(lengths) * (split.num_labels * 4 + 8) + 8


def text_teacher_cache(
    teacher: nn.Module,
    split: IntentSplit,
    tokenizer: Any,
    blocks: list[int],
    max_length: int = 64,
    budget: int = CACHE_BUDGET_BYTES,
) -> TeacherCache | None:
    """Run ``teacher`` over a split once (inference mode, on its device): logits and ``blocks``.

    ``blocks`` are hidden_states indices (block numbers; 0 = embeddings) to keep,
    e.g. the union of the teacher blocks of every mapping a comparison uses; they are
    kept in float16 on the teacher's device. Returns None, without running the
    teacher, when the cache would take more than ``budget`` bytes: the teacher then
    runs in every step instead.
    """
    width = int(teacher.config.hidden_size)
    if text_teacher_cache_bytes(split, tokenizer, len(blocks), width, max_length) > budget:
        return None
    device = model_device(teacher)

    def outputs():
        for batch in text_batches(split, tokenizer, batch_size=128, max_length=max_length):
            batch.pop("labels")
            out = teacher(**{k: v.to(device) for k, v in batch.items()}, output_hidden_states=bool(blocks))
            lengths = batch["attention_mask"].sum(1)
            yield out.logits, {b: out.hidden_states[b] for b in blocks}, lengths

    with eval_mode(teacher), torch.inference_mode():
        return TeacherCache.from_batches(outputs(), dtype=torch.float16)


def distill_step_losses(
    student: nn.Module,
    teacher: nn.Module | None,
    inputs: dict[str, Tensor],
    config: DistillConfig,
    linked: LinkedTeacher | None = None,
    cache: TeacherCache | None = None,
    projections: nn.ModuleList | None = None,
) -> tuple[dict[str, Tensor], Any]:
    """Every term of the objective for one batch of text (``training.step_losses``), and the student's outputs.

    Gathers the logits and hidden states: ``inputs`` holds input_ids, attention_mask and labels (B,)
    (and ``example_index`` when the teacher's outputs come from ``cache``); the teacher runs in eval
    mode under no_grad. ``linked``: the teacher side of ``config.mapping`` (built here when not given).
    ``projections``: ``make_projections``, for ``channel_align="project"``.
    """
    if linked is None and config.uses_features and config.mapping is not None and teacher is not None:
        linked = LinkedTeacher(config.mapping, num_blocks(teacher))
    inputs = to_device(inputs, student)  # the device rule: the batch goes where the student lives
    labels = inputs.pop("labels")
    index = inputs.pop("example_index", None)
    want_hidden = config.uses_features
    out = student(**inputs, output_hidden_states=want_hidden)
    teacher_logits, features = None, None
    if config.uses_teacher:
        if want_hidden and linked is None:
            raise ValueError("a feature loss needs a layer mapping")
        needed = list(linked.columns) if want_hidden else []
        if cache is not None and index is not None:
            if not set(needed) <= set(cache.blocks):
                raise ValueError(
                    f"the teacher cache holds blocks {sorted(cache.blocks)}; this mapping needs {needed}"
                )
            teacher_logits, t_hidden = cache.lookup(index, inputs["input_ids"].shape[1], blocks=needed)
        elif teacher is None:
            raise ValueError("this objective needs a teacher (alpha > 0 or a feature loss)")
        else:
            with torch.no_grad():
                t_out = teacher(**inputs, output_hidden_states=want_hidden)
            teacher_logits, t_hidden = t_out.logits, t_out.hidden_states
        if want_hidden:
            s_layers = [out.hidden_states[j] for j in linked.student_blocks]
            features = LinkedFeatures(s_layers, list(linked.combine(t_hidden)), inputs.get("attention_mask"))
    return step_losses(config, out.logits, labels, teacher_logits, features, projections), out


class DistillationTrainer(Trainer):
    """A transformers Trainer whose loss is the distillation objective.

    The teacher is frozen, in eval mode, on the student's device, run under no_grad (in the
    Trainer's autocast under bf16 or fp16; its weights are never cast). The mapping is validated
    against both models when the trainer is built. Each term (ce, kd, feature) is summed on the
    device and logged, averaged, at every logging step: no host sync per batch. With
    ``channel_align="project"`` it holds ``projections`` (one ``ChannelProjection`` per link),
    trains them in the student's optimiser (an extra parameter group; not gradient-clipped, one
    process only) and saves them as ``PROJECTIONS_FILE`` with the student and in every checkpoint.
    Everything else (progress, evaluation, checkpoints and resume, mixed precision, gradient
    accumulation, torchrun / accelerate) is the Trainer's own.
    """

    def __init__(
        self,
        *args: Any,
        teacher: nn.Module | None = None,
        distill: DistillConfig | None = None,
        teacher_cache: TeacherCache | None = None,
        **kwargs: Any,
    ) -> None:
        self.distill = distill or DistillConfig()
        self.teacher_cache = teacher_cache
        mapping, features = self.distill.mapping, self.distill.uses_features
        model = kwargs.get("model", args[0] if args else None)
        depths = (num_blocks(model), num_blocks(teacher)) if features and teacher is not None else ()
        self.distill.check("tokens", *depths)
        if self.distill.uses_teacher and teacher is None:
            raise ValueError("this objective needs a teacher (alpha > 0 or a feature loss)")
        self.linked = LinkedTeacher(mapping, num_blocks(teacher)) if features else None
        self.projections: nn.ModuleList | None = None
        if self.distill.uses_features and self.distill.channel_align == "project":
            self.projections = make_projections(model, teacher, mapping)
        super().__init__(*args, **kwargs)
        if self.projections is not None:
            if self.args.world_size > 1:
                raise ValueError(
                    "channel_align='project' trains its projections in one process only; "
                    "use channel_align='pool' under torchrun"
                )
            self.projections.to(self.args.device)
        self.teacher = None
        if teacher is not None and self.distill.uses_teacher:
            # Moved to the student's device, never cast: under mixed precision the Trainer's
            # autocast runs its forward in bf16 / fp16, and the caller's teacher keeps its weights.
            teacher = teacher.to(self.args.device)
            teacher.eval()
            teacher.requires_grad_(False)
            self.teacher = teacher
        self._term_sums: dict[str, Tensor] = {}
        self._term_count = 0

    # compute_loss returns a mean over the micro-batch, so under gradient accumulation the Trainer
    # divides it by the number of micro-batches (it would not, for a model whose forward takes **kwargs).
    loss_is_scaled_for_ga = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: D102
        if not model.training:  # evaluation (early stopping) needs the student's logits, not the teacher
            inputs = {k: v for k, v in inputs.items() if k != "example_index"}
            out = model(**inputs)
            return (out.loss, out) if return_outputs else out.loss
        losses, out = distill_step_losses(
            model, self.teacher, inputs, self.distill, self.linked, self.teacher_cache, self.projections
        )
        for key in ("ce", "kd", "feature"):
            value = losses[key].detach()
            self._term_sums[key] = self._term_sums[key] + value if key in self._term_sums else value
        self._term_count += 1
        return (losses["total"], out) if return_outputs else losses["total"]

    def create_optimizer(self, model: nn.Module | None = None):  # noqa: D102
        # transformers before 5.3 (or so) takes no model argument here
        optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
        if self.projections is not None:
            params = list(self.projections.parameters())
            held = {id(p) for group in optimizer.param_groups for p in group["params"]}
            if not held & {id(p) for p in params}:
                optimizer.add_param_group({"params": params, "weight_decay": self.args.weight_decay})
        return optimizer

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.projections is not None and self.args.should_save:
            folder = Path(output_dir if output_dir is not None else self.args.output_dir)
            weights = {k: v.detach().contiguous().cpu() for k, v in self.projections.state_dict().items()}
            save_file(weights, str(folder / PROJECTIONS_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = Path(resume_from_checkpoint) / PROJECTIONS_FILE
        if self.projections is not None and path.is_file():
            self.projections.load_state_dict(load_file(str(path), device=str(self.args.device)))

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:  # noqa: D102
        if self._term_count and "loss" in logs:
            means = torch.stack([t.float() for t in self._term_sums.values()]) / self._term_count
            # under torchrun each process holds its share of the batch: average them, as the Trainer does "loss"
            means = self.accelerator.reduce(means, reduction="mean")
            for key, value in zip(self._term_sums, means.tolist(), strict=True):
                logs[f"loss_{key}"] = round(value, 5)
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


def make_projections(student: nn.Module, teacher: nn.Module, mapping: LayerMapping) -> nn.ModuleList:
    """One learned channel map per link of ``mapping``: student width C_s -> teacher width C_t.

    Each is a ``losses.ChannelProjection`` (a bias-free nn.Linear(C_s, C_t) on the last
    axis of (B, L, C_s) hidden states), freshly initialised under the current torch seed.
    """
    c_s, c_t = int(student.config.hidden_size), int(teacher.config.hidden_size)
    return nn.ModuleList(ChannelProjection(c_s, c_t) for _ in mapping.student_blocks)


def check_student_tokenizer(
    student: nn.Module, tokenizer: Any, source: str, teacher: nn.Module | None = None
) -> None:
    """Reject a pretrained student that cannot read the teacher's token ids.

    Teacher and student see the same ``input_ids``, so the student's vocabulary must
    cover the tokenizer, and its embeddings must have been trained on the same tokens:
    when ``source`` comes with a tokenizer, its vocabulary (token -> id) must equal
    ``tokenizer``'s (roberta-large, roberta-base and distilroberta-base share one);
    without one, the student's vocab_size must equal the teacher's.
    """
    vocab = int(student.config.vocab_size)
    if len(tokenizer) > vocab:
        raise ValueError(
            f"the student {source} has a vocabulary of {vocab} tokens but the teacher's tokenizer has "
            f"{len(tokenizer)}: give a student of the teacher's tokenizer family"
        )
    own = None
    local = Path(source).expanduser()
    if not local.is_dir() or any((local / name).is_file() for name in TOKENIZER_FILES):
        try:
            with quiet_transformers():
                own = AutoTokenizer.from_pretrained(str(local) if local.is_dir() else source)
        except (OSError, ValueError):
            own = None  # no readable tokenizer: fall back to the vocabulary sizes
    if own is not None:
        if own.get_vocab() != tokenizer.get_vocab():
            raise ValueError(
                f"the tokenizer of the student {source} ({len(own)} tokens) is not the teacher's "
                f"({len(tokenizer)} tokens): teacher and student must read the same token ids; give a student "
                "of the teacher's family (e.g. roberta-base or distilroberta-base for roberta-large)"
            )
    elif teacher is not None and vocab != int(teacher.config.vocab_size):
        raise ValueError(
            f"the student {source} has a vocabulary of {vocab} tokens, the teacher {teacher.config.vocab_size}: "
            "they come from different tokenizers; give a student of the teacher's family (or save the "
            "student with its tokenizer)"
        )


def load_pretrained_student(
    teacher: nn.Module, student: StudentConfig, seed: int = 0, tokenizer: Any = None
) -> nn.Module:
    """The pretrained student ``student.pretrained`` with a fresh head for the teacher's labels.

    Loaded with ``AutoModelForSequenceClassification.from_pretrained(name_or_dir,
    num_labels=the teacher's)`` (label names copied from the teacher; a saved head of
    another size is replaced), the head initialised under ``seed``. Checks that its
    depth is ``student.n_student_blocks`` and, given the teacher's ``tokenizer``, that
    it reads the same token ids (``check_student_tokenizer``).
    """
    source = str(student.pretrained)
    local = local_model_dir(source)
    labels = teacher.config.num_labels
    torch.manual_seed(seed)
    try:
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                str(local or source),
                num_labels=labels,
                id2label=dict(teacher.config.id2label),
                label2id=dict(teacher.config.label2id),
                ignore_mismatched_sizes=True,
            )
    except OSError as e:
        raise OSError(
            f"cannot load the student {source!r} ({first_line(e)}): "
            "a hub name needs internet or a cached copy; or give a folder written by save_pretrained"
        ) from None
    depth = num_blocks(model)
    if depth != student.n_student_blocks:
        raise ValueError(
            f"the student {source} has {depth} blocks, but the StudentConfig says {student.n_student_blocks}: "
            f"give n_student_blocks={depth} (StudentConfig.from_pretrained reads it)"
        )
    if tokenizer is not None:
        check_student_tokenizer(model, tokenizer, source, teacher)
    return _finish_student(model, student, teacher)


def _finish_student(model: nn.Module, student: StudentConfig, teacher: nn.Module) -> nn.Module:
    """What every student path ends with: the embeddings frozen and the mean-pooling head when
    ``student`` asks for them, and the model on its teacher's device (the device rule)."""
    if student.freeze_embeddings:  # StudentConfig allows it only over copied or pretrained embeddings
        model.base_model.embeddings.requires_grad_(False)
    if student.pooling == "mean":
        use_mean_pooling(model)
    return model.to(model_device(teacher))


def make_student(
    teacher: nn.Module, student: StudentConfig, seed: int = 0, tokenizer: Any = None
) -> nn.Module:
    """A shallower (and optionally narrower) student of the teacher's class and config, or a pretrained one.

    Args:
        teacher: a Hugging Face sequence classifier (BERT / RoBERTa style).
        student: depth, width and heads (default: the teacher's), ``init_from``
            teacher block numbers (1..N), one per student block, to copy (DistilBERT
            style) with the embeddings (needs the teacher's width), and
            ``freeze_embeddings``: keep the copied embeddings fixed (the word-embedding
            matrix is most of a small student's parameters, and updating it roughly
            doubles a CPU training step). With ``student.pretrained`` (a hub name or a
            save_pretrained folder) the student is that model with a fresh head
            (``load_pretrained_student``).
        seed: seeds the fresh weights.
        tokenizer: the teacher's; a pretrained student is checked to read the same token ids.

    The student is returned on the teacher's device (``capture.default_device``'s rule).
    """
    if student.pretrained is not None:
        return load_pretrained_student(teacher, student, seed=seed, tokenizer=tokenizer)
    n_teacher = num_blocks(teacher)
    if student.n_student_blocks > n_teacher:
        raise ValueError(
            f"a student of {student.n_student_blocks} blocks is deeper than its {n_teacher}-block teacher: "
            f"a student cut from the teacher has 1..{n_teacher} blocks"
        )
    width, heads, init_from = student.width, student.heads, student.init_from
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = student.n_student_blocks
    if width is not None and width != config.hidden_size:
        heads = heads or max(1, width // 64)
        if width % heads:
            raise ValueError(f"student width {width} must be divisible by its {heads} heads")
        config.intermediate_size = 4 * width
        config.hidden_size = width
        config.num_attention_heads = heads
    torch.manual_seed(seed)
    model = type(teacher)(config)
    if init_from is not None:
        for t in init_from:
            if not 1 <= t <= n_teacher:
                raise ValueError(f"init_from block {t} is out of range: allowed blocks are 1..{n_teacher}")
        if config.hidden_size != teacher.config.hidden_size:
            raise ValueError(
                f"initialising from teacher blocks needs the teacher's width {teacher.config.hidden_size}, "
                f"the student has {config.hidden_size}"
            )
        s_base, t_base = model.base_model, teacher.base_model
        s_base.embeddings.load_state_dict(t_base.embeddings.state_dict())
        s_blocks, t_blocks = encoder_blocks(model), encoder_blocks(teacher)
        for j, t in enumerate(init_from):
            s_blocks[j].load_state_dict(t_blocks[t - 1].state_dict())
        pooler = getattr(t_base, "pooler", None)
        if pooler is not None and getattr(s_base, "pooler", None) is not None:
            s_base.pooler.load_state_dict(pooler.state_dict())
    return _finish_student(model, student, teacher)


# ---------------------------------------------------------------- one run


def distill(
    teacher: nn.Module,
    tokenizer: Any,
    data: IntentData,
    config: DistillConfig,
    train: TrainConfig,
    *,
    student: StudentConfig | nn.Module,
    out_dir: str | os.PathLike | None = None,
    cache: TeacherCache | None = None,
) -> tuple[nn.Module, RunResult]:
    """Distil ``teacher`` into a student with the DistillationTrainer, then test it.

    ``student`` is a StudentConfig (a student cut from the teacher, or a pretrained
    one, ``StudentConfig.from_pretrained``; seeded by ``train.seed``) or a model to
    train in place. Teacher and student may differ in width: ``config.channel_align``
    says how their channels meet. With ``out_dir`` the student and
    tokenizer are saved there (save_pretrained), with checkpoints when
    ``train.checkpoints``; ``cache`` holds the teacher's outputs on ``data.train``.
    Returns the trained student and its RunResult (test and validation accuracy).
    """
    set_seed(train.seed)
    if isinstance(student, StudentConfig):
        model = make_student(teacher, student, seed=train.seed, tokenizer=tokenizer)
    else:
        model = student
    scratch = tempfile.TemporaryDirectory(prefix="spectralkd-distill-") if out_dir is None else None
    folder = Path(scratch.name if scratch is not None else out_dir)
    try:
        trainer = DistillationTrainer(
            **trainer_inputs(
                model,
                tokenizer,
                data.train,
                train,
                folder,
                with_index=cache is not None,
                validation=data.validation,
            ),
            teacher=teacher,
            distill=config,
            teacher_cache=cache,
        )
        scores = train_and_score(trainer, tokenizer, data, train)
        if out_dir is not None:
            save_trained(trainer, folder, train)
    finally:
        if scratch is not None:
            scratch.cleanup()
    run = RunResult(name="", seed=train.seed, **scores, validation_curve=validation_curve(scores["log"]))
    return trainer.model, run
