"""A GPU memory plan for distillation: will teacher + student + training fit, and if not, what to change.

An estimate, written out so that it can be checked by hand (all sizes in bytes):

    teacher   = its parameters x their element size              (frozen: no gradient, no optimiser state)
    student   = trainable parameters x 16 + frozen ones x 4       (fp32 weights 4 + gradients 4 + AdamW 8)
    acts      = student layers x s b h (34 + 5 a s / h) x f / 2   (Korthikanti et al. 2022, eq. 2)
    teacher_h = (teacher layers + 1) x s b h_t x f                (the hidden states a feature loss reads)
              or, with cache_teacher, the cache's size                (kept on the teacher's device)
    total     = (teacher + student + acts + teacher_h) x 1.1 + 0.5 GiB

with s tokens, b sentences per step, h the student's width, a its attention heads, f
bytes per activation (2 in mixed precision, 4 in fp32), 10% for the allocator's slack
and 0.5 GiB for the CUDA context. The activation formula counts what one transformer
layer keeps for its backward pass in 16-bit; with gradient checkpointing a layer keeps
only its input, 2 s b h bytes at f = 2, and one layer's full activations are rebuilt at
a time. With ``cache_teacher`` the teacher's outputs on the whole training set sit on its
device instead of one step's hidden states: the cache's size when it is known, else the
most a cache may take (``CACHE_BUDGET_BYTES``; a larger one is not built, and the teacher
runs in every step).

``plan_memory`` takes the recipe's batch, and when the estimate exceeds the budget
turns on gradient checkpointing, then halves the batch until it fits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .config import TrainConfig

__all__ = ["CACHE_BUDGET_BYTES", "T4_BYTES", "MemoryPlan", "activation_bytes", "plan_memory"]

GIB = 2**30
# The most memory a text TeacherCache may take; a larger one is not built (the teacher runs per step).
CACHE_BUDGET_BYTES = 2 * GIB
T4_BYTES = 16 * 10**9  # a Colab T4: 16 GB (15.0 GiB)
CONTEXT_BYTES = GIB // 2  # the CUDA context and kernels
SLACK = 1.1  # the caching allocator's fragmentation


def activation_bytes(
    layers: int,
    width: int,
    heads: int,
    batch: int,
    tokens: int,
    element_bytes: int = 2,
    checkpointing: bool = False,
) -> int:
    """Bytes a stack of transformer layers keeps for its backward pass.

    Without checkpointing: ``layers * s*b*h * (34 + 5*a*s/h) * f/2`` (Korthikanti et al.
    2022, arXiv 2205.05198, eq. 2, written for f = 2 bytes). With checkpointing: each
    layer keeps its input (``s*b*h*f``) and one layer's full activations are rebuilt.
    """
    sbh = tokens * batch * width
    per_layer = sbh * (34 + 5 * heads * tokens / width) * element_bytes / 2
    if checkpointing:
        return int(layers * sbh * element_bytes + per_layer)
    return int(layers * per_layer)


def _shape(model: nn.Module) -> tuple[int, int, int]:
    config = model.config
    return int(config.num_hidden_layers), int(config.hidden_size), int(config.num_attention_heads)


@dataclass(frozen=True)
class MemoryPlan:
    """The estimate (bytes) and the training settings that fit ``budget``."""

    teacher: int
    student: int
    activations: int
    teacher_hidden: int  # one step's teacher hidden states, or the teacher cache
    budget: int
    train: TrainConfig
    changed: tuple[str, ...] = ()
    teacher_cached: bool = False  # teacher_hidden is the teacher cache (not one step's hidden states)

    @property
    def allocated(self) -> int:
        """Bytes of tensors alone: what ``torch.cuda.max_memory_allocated`` measures (no CUDA context,
        no allocator slack), the number to put beside a measured peak."""
        return self.teacher + self.student + self.activations + self.teacher_hidden

    @property
    def total(self) -> int:
        """What the GPU must hold: ``allocated`` + 10% allocator slack + 0.5 GiB CUDA context (compare with
        ``torch.cuda.max_memory_reserved`` plus the context, or the device's free memory)."""
        return int(self.allocated * SLACK) + CONTEXT_BYTES

    @property
    def fits(self) -> bool:
        return self.total <= self.budget

    def describe(self) -> str:
        parts = ", ".join(
            f"{name} {size / GIB:.2f}"
            for name, size in [
                ("teacher", self.teacher),
                ("student + gradients + AdamW", self.student),
                ("student activations", self.activations),
                (
                    "teacher cache" if self.teacher_cached else "teacher hidden states",
                    self.teacher_hidden,
                ),
            ]
        )
        checkpointing = "on" if self.train.gradient_checkpointing else "off"
        head = (
            f"estimated peak GPU memory {self.total / GIB:.1f} GiB of {self.budget / GIB:.1f} GiB "
            f"(GiB: {parts}; + 10% slack + 0.5 context) at batch {self.train.batch_size}, "
            f"gradient checkpointing {checkpointing}"
        )
        if self.changed:
            head += "; changed to fit: " + ", ".join(self.changed)
        return head + ("" if self.fits else "; does NOT fit even at batch 1")


def plan_memory(
    teacher: nn.Module,
    student: nn.Module,
    train: TrainConfig,
    budget: int | None = None,
    cache_bytes: int | None = None,
) -> MemoryPlan:
    """The memory plan of distilling ``teacher`` into ``student`` with ``train``.

    ``budget``: bytes available (default: the GPU's memory when there is one, else a
    16 GB T4's, the smallest GPU the ``full`` profile targets). Returns the plan whose
    ``train`` is ``train`` itself when it fits, else with gradient checkpointing on and
    then the batch halved until it does (``changed`` says what moved); when even batch 1
    does not fit, the batch-1 plan with ``fits`` False.

    ``cache_bytes``: the teacher cache's size when ``train.cache_teacher``
    (``distill.text_teacher_cache_bytes``); None: the most a cache may take,
    ``CACHE_BUDGET_BYTES``. A cache over that budget is not built, so one step's teacher
    hidden states count instead.
    """
    if budget is None:
        budget = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else T4_BYTES
    mixed = torch.cuda.is_available() if train.mixed_precision is None else train.mixed_precision
    cache_size = CACHE_BUDGET_BYTES if cache_bytes is None else cache_bytes
    f = 2 if mixed else 4
    t_layers, t_width, _ = _shape(teacher)
    s_layers, s_width, s_heads = _shape(student)
    weights = sum(p.numel() * p.element_size() for p in teacher.parameters())
    trainable = sum(p.numel() for p in student.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in student.parameters() if not p.requires_grad)

    def plan(t: TrainConfig, changed: tuple[str, ...]) -> MemoryPlan:
        acts = activation_bytes(
            s_layers, s_width, s_heads, t.batch_size, t.max_length, f, checkpointing=t.gradient_checkpointing
        )
        cached = t.cache_teacher and cache_size <= CACHE_BUDGET_BYTES
        hidden = cache_size if cached else (t_layers + 1) * t.batch_size * t.max_length * t_width * f
        return MemoryPlan(weights, 16 * trainable + 4 * frozen, acts, hidden, budget, t, changed, cached)

    current = plan(train, ())
    if current.fits:
        return current
    changed: tuple[str, ...] = ()
    if not train.gradient_checkpointing:
        train = dataclasses.replace(train, gradient_checkpointing=True)
        changed = ("gradient checkpointing on",)
        current = plan(train, changed)
    start = train.batch_size
    while not current.fits and train.batch_size > 1:
        train = dataclasses.replace(train, batch_size=train.batch_size // 2)
        current = plan(train, (*changed, f"batch {start} -> {train.batch_size}"))
    return current
