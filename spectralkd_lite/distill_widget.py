"""A widget that runs a short distillation with a mapping the reader picks and adds a row.

The logic (``DistillRunner.run``) is plain Python, unit-tested without a browser;
``DistillRunner.widget()`` wraps it in core ipywidgets (works on Colab).
A failed run shows its error in the widget and is kept in ``last_error``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ipywidgets as w

from .capture import num_blocks
from .compare import Comparison, Variant
from .config import DistillConfig, StudentConfig, TrainConfig
from .distill import distill
from .losses import TEXT_FEATURE_KINDS
from .mapping import LayerMapping, resolve
from .widgets import PICKER_STRATEGIES, enable_colab_widgets

__all__ = [
    "DistillRunner",
]


class DistillRunner:
    """Runs one short distillation per click and appends it to a Comparison.

    Args:
        teacher, tokenizer, data: as for ``distill``.
        comparison: the table rows are appended to.
        student: the student of every run (depth, ``init_from`` teacher blocks, ...).
        train: epochs, learning rate and seed of each run.
        report: the teacher's spectral report (for the ``top`` strategy).
    """

    def __init__(
        self,
        teacher: Any,
        tokenizer: Any,
        data: Any,
        comparison: Comparison,
        student: StudentConfig,
        train: TrainConfig,
        report: Any = None,
    ) -> None:
        self.teacher, self.tokenizer, self.data = teacher, tokenizer, data
        self.comparison = comparison
        self.student, self.train, self.report = student, train, report
        self.n_teacher = num_blocks(teacher)
        self.last_error: str | None = None
        self._widgets: dict[str, Any] = {}

    def mapping_for(self, spec: str) -> LayerMapping:
        """The mapping of a strategy name or spec for this teacher and student (``mapping.resolve``)."""
        return resolve(spec, self.n_teacher, self.student.n_student_blocks, self.report)

    def run(self, spec: str, feature: str = "spectral_tokens", beta: float = 0.2) -> dict[str, Any]:
        """Distil once with the chosen mapping and feature loss; append and return the row."""
        config = DistillConfig(alpha=0.9, beta=beta, feature=feature, mapping=self.mapping_for(spec))
        config.check("tokens")  # a loss for patch grids, rejected before any training
        name = f"widget: {feature}, {spec}"
        k = 2
        while name in self.comparison.variants:
            name = f"{name.split(' #')[0]} #{k}"
            k += 1
        variant = Variant(name, config)
        _, run = distill(
            self.teacher, self.tokenizer, self.data, variant.config, self.train, student=self.student
        )
        self.comparison.add(variant, dataclasses.replace(run, name=name))
        if self._widgets:  # a run started from code shows in the widget's table too
            self._widgets["table"].value = self._table_html()
        return self.comparison.row(name)

    # ------------------------------------------------------------ display

    def widget(self) -> Any:
        """Dropdowns for the strategy and feature loss, a manual spec box, a Run button, the table."""
        enable_colab_widgets()
        strategy = w.Dropdown(options=list(PICKER_STRATEGIES), value="top", description="mapping")
        feature = w.Dropdown(
            options=list(TEXT_FEATURE_KINDS), value="spectral_tokens", description="feature loss"
        )
        spec = w.Text(value="1:2, 2:6", description="manual", placeholder="e.g. 1:2, 2:5+6")
        mapping_text = w.HTML()
        mapping_text.add_class("skd-distill-mapping")
        button = w.Button(description="Run distillation", button_style="primary")
        button.add_class("skd-distill-run")
        status = w.HTML()
        status.add_class("skd-distill-status")
        table = w.HTML(self._table_html())
        table.add_class("skd-distill-table")

        def chosen() -> str:
            return spec.value if strategy.value == "manual" else strategy.value

        def show_mapping(_change: Any = None) -> None:
            try:
                m = self.mapping_for(chosen())
                mapping_text.value = "<pre>" + m.describe() + "</pre>"
                self.last_error = None
            except ValueError as e:
                mapping_text.value = f"<span style='color:#b00'>{e}</span>"
                self.last_error = str(e)

        def on_run(_button: Any) -> None:
            button.disabled = True
            status.value = "training ..."
            try:
                row = self.run(chosen(), feature.value)
                status.value = f"added <b>{row['variant']}</b>: {100 * row['mean']:.2f}%"
                table.value = self._table_html()
                self.last_error = None
            except Exception as e:  # shown to the reader, kept for tests
                self.last_error = f"{type(e).__name__}: {e}"
                status.value = f"<span style='color:#b00'>error: {e}</span>"
            finally:
                button.disabled = False

        strategy.observe(show_mapping, "value")
        spec.observe(show_mapping, "value")
        button.on_click(on_run)
        show_mapping()
        self._widgets = {
            "strategy": strategy,
            "feature": feature,
            "spec": spec,
            "button": button,
            "status": status,
            "table": table,
            "mapping": mapping_text,
        }
        box = w.VBox([w.HBox([strategy, feature]), spec, mapping_text, button, status, table])
        box.add_class("skd-distill-widget")
        return box

    def _table_html(self) -> str:
        rows = self.comparison.summary()
        head = "<tr><th>variant</th><th>test accuracy %</th><th>seeds</th></tr>"
        body = "".join(
            f"<tr><td>{r['variant']}</td><td>{100 * r['mean']:.2f} ± {100 * r['std']:.2f}</td><td>{r['n']}</td></tr>"
            for r in rows
        )
        return f"<table>{head}{body}</table>"
