"""Watch a student's spectra move during training: a transformers TrainerCallback.

``SpectralSnapshots(batches, every=5)`` keeps a few fixed batches (the first
``max_batches`` of ``batches``) and, at the start of training, after every
``every``-th optimiser step and at the end, runs ``analyze`` on the model being
trained. ``analyze`` switches the model to eval mode (no dropout, so no random
numbers are drawn and the training run is unchanged), runs under
``torch.inference_mode`` and restores train mode. Each snapshot is a
SpectralReport with its step; ``meta["step"]`` and ``meta["epoch"]`` record it.

Usage::

    snaps = SpectralSnapshots(text_batches(data.validation, tokenizer), every=5)
    student, run = distill(teacher, tokenizer, data, cfg, TrainConfig(callbacks=[snaps]), student=...)
    snaps.steps                       # [0, 5, 10, ..., last]
    snaps.similarity_to(teacher_report)   # one ReportSimilarity per snapshot
    plots.plot_snapshot_curves(snaps.snapshots, teacher=teacher_report)

Cost per snapshot: ``max_batches`` forward passes of the student (by default 2),
with O(layers x channels) memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback

from .analysis import analyze
from .mapping import LayerMapping
from .report import SpectralReport
from .similarity import ReportSimilarity, compare_reports

__all__ = [
    "Snapshot",
    "SpectralSnapshots",
]


@dataclass
class Snapshot:
    """The student's spectral report after ``step`` optimiser steps (``epoch``: fractional epoch)."""

    step: int
    epoch: float
    report: SpectralReport


class SpectralSnapshots(TrainerCallback):
    """Record the trained model's SpectralReport every ``every`` optimiser steps.

    Args:
        batches: batches of model inputs (dicts, as for ``analyze``); the first
            ``max_batches`` are kept (in a list) and reused for every snapshot.
        every: steps between snapshots (a snapshot after step s when s % every == 0).
        max_batches: batches kept (default 2: cheap).
        at_start: also record the model before the first step (step 0).
        at_end: also record the model at the end of training when the last step
            was not a multiple of ``every``.
        name: model name stored in each report (default: the model's).
    """

    def __init__(
        self,
        batches: Iterable[Mapping[str, Any]],
        every: int = 10,
        *,
        max_batches: int = 2,
        at_start: bool = True,
        at_end: bool = True,
        name: str | None = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer number of steps, got {every!r}")
        if max_batches < 1:
            raise ValueError(f"max_batches must be >= 1, got {max_batches}")
        self.batches = list(itertools.islice(iter(batches), max_batches))
        if not self.batches:
            raise ValueError("no batches to analyze: the data is empty")
        self.every = every
        self.at_start = at_start
        self.at_end = at_end
        self.name = name
        self.snapshots: list[Snapshot] = []

    # ------------------------------------------------------------ Trainer events

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.snapshots = []
        if self.at_start and model is not None:
            self.record(model, state.global_step, float(state.epoch or 0.0))

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if model is not None and state.global_step % self.every == 0:
            self.record(model, state.global_step, float(state.epoch or 0.0))

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if (
            self.at_end
            and model is not None
            and (not self.snapshots or self.snapshots[-1].step != state.global_step)
        ):
            self.record(model, state.global_step, float(state.epoch or 0.0))

    # ------------------------------------------------------------ use

    def record(self, model: Any, step: int, epoch: float = 0.0) -> Snapshot:
        """Analyse ``model`` on the kept batches now and store the report as step ``step``."""
        report = analyze(
            model,
            self.batches,
            progress=False,
            model_name=self.name,
            meta={"step": int(step), "epoch": round(float(epoch), 4)},
        )
        snap = Snapshot(int(step), float(epoch), report)
        self.snapshots.append(snap)
        return snap

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    @property
    def reports(self) -> list[SpectralReport]:
        return [s.report for s in self.snapshots]

    def similarity_to(
        self, teacher: SpectralReport, mapping: LayerMapping | None = None, **kwargs: Any
    ) -> list[ReportSimilarity]:
        """``compare_reports(teacher, snapshot report, mapping=...)`` for every snapshot, in step order."""
        return [compare_reports(teacher, s.report, mapping=mapping, **kwargs) for s in self.snapshots]
