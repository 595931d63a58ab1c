"""A widget that runs a short distillation with a mapping the reader picks and adds a row.

The logic (``DistillRunner.run``) is plain Python, unit-tested without a browser;
``DistillRunner.widget()`` wraps it in core ipywidgets (works on Colab).
A failed run shows its error in the widget and is kept in ``last_error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .compare import Comparison, Variant
from .distill import TEXT_FEATURE_KINDS, DistillConfig, distill
from .mapping import STRATEGIES, LayerMapping, build_mapping


class DistillRunner:
    """Runs one short distillation per click and appends it to a Comparison.

    Args:
        teacher, tokenizer, data: as for ``distill``.
        comparison: the table rows are appended to.
        num_layers: student blocks.
        intensity: the teacher's intensity per block (for the 'top' strategy).
        init_from: teacher blocks copied into each new student (or None).
        epochs, lr, seed: of each run.
    """

    def __init__(
        self,
        teacher: Any,
        tokenizer: Any,
        data: Any,
        comparison: Comparison,
        *,
        num_layers: int,
        n_teacher: int,
        intensity: Sequence[float] | None = None,
        init_from: Sequence[int] | None = None,
        freeze_embeddings: bool = False,
        epochs: float = 1,
        lr: float = 5e-4,
        seed: int = 0,
    ) -> None:
        self.teacher, self.tokenizer, self.data = teacher, tokenizer, data
        self.comparison = comparison
        self.num_layers, self.n_teacher = num_layers, n_teacher
        self.intensity = list(intensity) if intensity is not None else None
        self.init_from = list(init_from) if init_from is not None else None
        self.freeze_embeddings = freeze_embeddings
        self.epochs, self.lr, self.seed = epochs, lr, seed
        self.last_error: str | None = None
        self._widgets: dict[str, Any] = {}

    def mapping_for(self, strategy: str, spec: str = "") -> LayerMapping:
        """The mapping of a strategy for this teacher and student (validated)."""
        if strategy == "top":
            return build_mapping("top", self.n_teacher, self.num_layers, intensity=self.intensity)
        if strategy == "ushape":
            first = max(1, self.num_layers // 3)
            return build_mapping(
                "ushape", self.n_teacher, self.num_layers, first=first, last=self.num_layers - first
            )
        if strategy == "manual":
            return build_mapping("manual", self.n_teacher, self.num_layers, spec=spec)
        if strategy in STRATEGIES:
            return build_mapping(strategy, self.n_teacher, self.num_layers)
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")

    def run(
        self, strategy: str, feature: str = "spectral_tokens", beta: float = 0.2, spec: str = ""
    ) -> dict[str, Any]:
        """Distil once with the chosen mapping and feature loss; append and return the row."""
        if feature not in TEXT_FEATURE_KINDS:
            raise ValueError(f"unknown feature loss {feature!r}; allowed: {', '.join(TEXT_FEATURE_KINDS)}")
        mapping = self.mapping_for(strategy, spec)
        name = f"widget: {feature}, {strategy}" + (f" ({spec})" if strategy == "manual" else "")
        k = 2
        while name in self.comparison.variants:
            name = f"{name.split(' #')[0]} #{k}"
            k += 1
        variant = Variant(name, DistillConfig(alpha=0.9, beta=beta, feature=feature), mapping)
        _, run = distill(
            self.teacher,
            self.tokenizer,
            self.data,
            num_layers=self.num_layers,
            config=variant.config,
            mapping=mapping,
            init_from=self.init_from,
            freeze_embeddings=self.freeze_embeddings,
            epochs=self.epochs,
            lr=self.lr,
            seed=self.seed,
            name=name,
        )
        self.comparison.variants[name] = variant
        self.comparison.runs.append(run)
        if self._widgets:  # a run started from code shows in the widget's table too
            self._widgets["table"].value = self._table_html()
        return self.comparison.row(name)

    # ------------------------------------------------------------ display

    def widget(self) -> Any:
        """Dropdowns for the strategy and feature loss, a manual spec box, a Run button, the table."""
        import ipywidgets as w

        strategy = w.Dropdown(
            options=["top", "ushape", "uniform", "paired", "manual"], value="top", description="mapping"
        )
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

        def show_mapping(_change: Any = None) -> None:
            try:
                m = self.mapping_for(strategy.value, spec.value)
                mapping_text.value = "<pre>" + m.describe() + "</pre>"
                self.last_error = None
            except ValueError as e:
                mapping_text.value = f"<span style='color:#b00'>{e}</span>"
                self.last_error = str(e)

        def on_run(_button: Any) -> None:
            button.disabled = True
            status.value = "training ..."
            try:
                row = self.run(strategy.value, feature.value, spec=spec.value)
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
