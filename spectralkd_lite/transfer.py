"""Few labels and a transfer set: the setting where knowledge distillation earns its keep.

A few labelled utterances per intent train the teacher (to convergence, early stopping
on a validation set no larger than the labelled one); the rest of the training texts,
without labels, form a transfer set the teacher labels. Students start from a
*pretrained*, not fine-tuned, encoder's blocks (what a practitioner has, as in Patient
KD and DistilBERT), so the teacher's fine-tuned blocks cannot simply be copied. Rows::

    labelled only      CE on the labelled utterances
    pseudo-labels      CE on labelled + transfer, the transfer labelled by the teacher's top-1
    logit KD           the same data, (1 - alpha) CE + alpha T^2 KL(teacher || student)
    + feature terms    logit KD + beta * normalised MSE / spectral loss on chosen blocks
    paper's weighting  logit KD + 0.2 * the spectral loss on the raw scale (``PAPER_CONFIG``)

Used by ``benchmarks/fewlabel.py`` (CLINC150) and the demo (30 CLINC150 intents, ``data/clinc150_subset``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .compare import COMPARISON_CONFIG, PAPER_CONFIG, Comparison, RunOptions, Variant, run_comparison
from .config import DistillConfig, StudentConfig, TrainConfig
from .data import IntentData, IntentSplit
from .distill import make_student
from .mapping import resolve
from .modelfiles import quiet_transformers

__all__ = [
    "KD",
    "LABELLED",
    "PAIRS",
    "PAPER",
    "FewLabelData",
    "FewLabelOptions",
    "PSEUDO",
    "paired_lines",
    "pretrained_student",
    "pseudo_label_accuracy",
    "run_few_label",
    "transfer_variants",
    "with_transfer",
]

LABELLED = "labelled only"
PSEUDO = "pseudo-labels"
KD = "logit KD"
PAPER = "logit KD + spectral, uniform, paper's weighting"

# (row a, row b): the differences a few-label comparison states, each with its paired interval
PAIRS: tuple[tuple[str, str], ...] = (
    (PSEUDO, LABELLED),
    (KD, LABELLED),
    (KD, PSEUDO),
    ("logit KD + spectral, uniform", LABELLED),
    ("logit KD + MSE, uniform", KD),
    ("logit KD + spectral, uniform", KD),
    ("logit KD + spectral, uniform", "logit KD + MSE, uniform"),
    ("logit KD + spectral, most intense", "logit KD + spectral, uniform"),
    ("logit KD + spectral, least intense", "logit KD + spectral, uniform"),
    ("logit KD + spectral, most intense", "logit KD + spectral, least intense"),
    (PAPER, "logit KD + spectral, uniform"),
)


def transfer_variants(
    n_teacher: int, intensity: Sequence[float], n_student: int = 2, config: DistillConfig = COMPARISON_CONFIG
) -> list[Variant]:
    """The rows of a few-label comparison, ``labelled only`` first.

    ``intensity``: the teacher blocks' spectral intensity (block 1 first); the
    ``most intense`` and ``least intense`` rows align the ``n_student`` hottest and
    coolest teacher blocks, in depth order, one to one. ``config``: alpha, beta and
    the feature loss of the feature rows (the comparison's default: alpha 0.9,
    spectral_tokens at beta 2 on normalised terms); the last row, ``PAPER``, is the
    published weighting on the raw scale (``PAPER_CONFIG``) on the uniform blocks.
    """
    if len(intensity) != n_teacher:
        raise ValueError(f"intensity has {len(intensity)} values for a teacher of {n_teacher} blocks")
    order = sorted(range(1, n_teacher + 1), key=lambda b: intensity[b - 1])

    def one_to_one(blocks: list[int]) -> DistillConfig:
        spec = ", ".join(f"{j}:{t}" for j, t in enumerate(sorted(blocks), start=1))
        return dataclasses.replace(config, mapping=resolve(spec, n_teacher, n_student))

    uniform = resolve("uniform", n_teacher, n_student)
    return [
        Variant(LABELLED, DistillConfig(alpha=0.0)),
        Variant(PSEUDO, DistillConfig(alpha=0.0)),
        Variant(KD, DistillConfig(alpha=config.alpha, temperature=config.temperature)),
        Variant("logit KD + MSE, uniform", dataclasses.replace(config, feature="mse", mapping=uniform)),
        Variant("logit KD + spectral, uniform", dataclasses.replace(config, mapping=uniform)),
        Variant("logit KD + spectral, most intense", one_to_one(order[-n_student:])),
        Variant("logit KD + spectral, least intense", one_to_one(order[:n_student])),
        Variant(PAPER, dataclasses.replace(PAPER_CONFIG, mapping=uniform)),
    ]


def with_transfer(labelled: IntentData, pseudo: IntentSplit) -> IntentData:
    """``labelled`` whose training split also holds the teacher-labelled transfer utterances."""
    train = IntentSplit(
        labelled.train.texts + pseudo.texts, labelled.train.labels + pseudo.labels, labelled.label_names
    )
    return IntentData(labelled.name + "+transfer", train, labelled.validation, labelled.test)


def pseudo_label_accuracy(pseudo: IntentSplit, train: IntentSplit) -> float:
    """The share of ``pseudo``'s utterances whose teacher label is their true one in ``train``
    (the transfer set is cut from ``train``, so every one of its texts has its label there)."""
    truth = dict(zip(train.texts, train.labels, strict=True))
    return sum(truth[t] == y for t, y in zip(pseudo.texts, pseudo.labels, strict=True)) / len(pseudo)


def pretrained_student(
    pretrained: Any, tokenizer: Any, blocks: Sequence[int], folder: str | Path
) -> StudentConfig:
    """A student of ``len(blocks)`` blocks cut from a *pretrained* classifier (not the fine-tuned teacher).

    The blocks (numbered 1..N) and the embeddings are copied, saved with ``tokenizer``
    to ``folder`` (save_pretrained), and returned as a StudentConfig that loads them with
    a fresh head per seed, embeddings frozen, so every row starts from the same weights.
    """
    model = make_student(pretrained, StudentConfig(len(blocks), init_from=tuple(blocks)))
    with quiet_transformers():  # no "Writing model shards" bar: the library does not print
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return StudentConfig.from_pretrained(folder, freeze_embeddings=True)


@dataclasses.dataclass(frozen=True)
class FewLabelData:
    """A few-label setting: ``labelled`` (its train split holds the labelled utterances; its
    validation and test splits judge every row) and ``pseudo``, the transfer utterances with
    the teacher's labels (``teacher.pseudo_label``)."""

    labelled: IntentData
    pseudo: IntentSplit


@dataclasses.dataclass(frozen=True)
class FewLabelOptions(RunOptions):
    """How ``run_few_label`` carries out its runs: ``RunOptions``' ``on_run`` (each run), ``on_update``
    (the comparison so far, after each run), ``workers`` (runs at once) and ``progress``, plus
    ``labelled_epochs`` (labelled only's ceiling, see there)."""

    labelled_epochs: float | None = None


def run_few_label(
    teacher: Any,
    tokenizer: Any,
    data: FewLabelData,
    variants: Sequence[Variant],
    student: StudentConfig,
    train: TrainConfig,
    seeds: Sequence[int],
    **options: Any,
) -> Comparison:
    """Train every row of a few-label comparison over ``seeds``; return the Comparison.

    ``options``: the fields of :class:`FewLabelOptions`.

    ``labelled only`` trains on ``labelled`` for at most ``labelled_epochs`` (None: as
    many optimiser steps as the other rows at most, ``train.epochs`` x (labelled +
    transfer) / labelled, evaluated once per epoch of the others so that it waits as
    many optimiser steps as they do; given, it is evaluated every epoch, its patience
    scaled by that ratio); every other row on ``labelled`` + ``pseudo`` (``with_transfer``)
    for at most ``train.epochs``; all stop early on ``labelled.validation``
    (``train.early_stopping``) and start from ``student``. All rows train as one plan, row after
    row, seed after seed, so that ``workers`` stay busy across rows.
    """
    opts = FewLabelOptions(**options)  # an unknown option is a TypeError naming it
    labelled = data.labelled
    if train.early_stopping is None:
        raise ValueError("a few-label comparison trains to convergence: give train.early_stopping (patience)")
    both = with_transfer(labelled, data.pseudo)
    # labelled only: a small fraction of labelled + transfer, so counted in optimiser steps it gets the others'
    # ceiling and patience (an epoch of a few steps is no unit to wait in): it is evaluated once per epoch of
    # theirs; with an epoch ceiling of its own (labelled_epochs), every epoch, its patience scaled
    steps_per_epoch = math.ceil(len(both.train) / train.batch_size)
    ratio = len(both.train) / len(labelled.train)
    if opts.labelled_epochs is None:
        eval_steps = {"eval_strategy": "steps", "eval_steps": steps_per_epoch}
        alone = dataclasses.replace(
            train, epochs=train.epochs * ratio, training_args=eval_steps | train.training_args
        )
    else:
        patience = max(train.early_stopping, round(train.early_stopping * ratio))
        alone = dataclasses.replace(train, epochs=opts.labelled_epochs, early_stopping=patience)
    rows = [dataclasses.replace(v, data=labelled, train=alone) if v.name == LABELLED else v for v in variants]
    # one plan, labelled only first (its runs are the longest): one pool of workers keeps every core busy
    with quiet_transformers():  # the library does not print: no loading or saving bars
        comparison = run_comparison(
            teacher,
            tokenizer,
            both,
            rows,
            student,
            train,
            seeds,
            on_run=opts.on_run,
            on_update=opts.on_update,
            workers=opts.workers,
            progress=opts.progress,
        )
    comparison.meta.update(
        epochs_by_row={v.name: (v.train or train).epochs for v in rows},
        patience_by_row={v.name: (v.train or train).early_stopping for v in rows},
    )
    return comparison


def paired_lines(comparison: Comparison, pairs: Sequence[tuple[str, str]] = PAIRS) -> list[str]:
    """Markdown bullets: each pair's paired difference with its 95% interval and the smallest
    difference the design detects (``Comparison.paired_difference``), for the pairs present."""
    names = {r.name for r in comparison.runs}
    lines = []
    for a, b in pairs:
        if a in names and b in names:
            d = comparison.paired_difference(a, b)
            if d["low"] > 0:
                verdict = "higher"
            elif d["high"] < 0:
                verdict = "lower"
            else:
                verdict = "no difference shown: the interval spans 0"
            lines.append(
                f"- {a} - {b}: {100 * d['diff']:+.2f} points, 95% interval [{100 * d['low']:+.2f}, "
                f"{100 * d['high']:+.2f}] ({verdict}; smallest detectable difference "
                f"{100 * d['detectable']:.2f} points over {len(d['seeds'])} paired seeds)."
            )
    return lines
