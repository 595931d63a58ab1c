"""The layer picker: choose which teacher blocks a student learns from, on the intensity plot.

The logic lives in ``LayerPicker`` and runs without a browser: its state
(strategy, k, first, last, manual blocks, student depth) gives the selected
teacher blocks, the ``LayerMapping`` (through ``mapping.resolve``), the
mapping text and the highlighted intensity figure. ``LayerPicker.widget()`` wraps
that state in core ipywidgets; every callback only copies widget values into the
state and calls ``refresh``.

Errors are never swallowed silently. An invalid choice (first + last larger than
the student, k larger than the student, a block out of range, ...) is a
ValueError from the mapping code: it is shown as a message in the widget and
kept in ``picker.error``, and the last valid mapping stays in ``picker.mapping``.
Any other exception is a bug: it is shown too, kept in ``picker.exception``, and
re-raised when the picker was made with ``raise_errors=True`` (what the tests do).

Blocks are numbered 1..N (``hidden_states[i]`` is block i; 0 is the embeddings).

CSS classes for browser tests: ``skd-layer-picker`` (the whole widget),
``skd-figure`` (the figure output), ``skd-mapping-text``, ``skd-error`` (the message
line), ``skd-save`` (the Save button).
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w
import matplotlib.pyplot as plt
from IPython.display import display

from .mapping import STRATEGY_TABLE, LayerMapping, resolve, strategy_defaults
from .plots import plot_intensity
from .report import SpectralReport

__all__ = [
    "PICKER_STRATEGIES",
    "STRATEGY_LABELS",
    "LayerPicker",
    "enable_colab_widgets",
]

# The picker offers every strategy of mapping.STRATEGY_TABLE, then a box for blocks or links.
PICKER_STRATEGIES = (*STRATEGY_TABLE, "manual")
STRATEGY_LABELS = {**{name: s.label for name, s in STRATEGY_TABLE.items()}, "manual": "manual"}


def enable_colab_widgets() -> bool:
    """On Colab, turn on its custom widget manager, without which ipywidgets 8 shows no widget there
    (Colab's own manager renders only ipywidgets 7). Returns True when it did, False elsewhere."""
    if "google.colab" not in sys.modules:
        return False
    from google.colab import output  # only on Colab

    output.enable_custom_widget_manager()
    return True


class LayerPicker:
    """Pick teacher blocks for a student of ``n_student`` blocks from a spectral report.

    Attributes (the state; change them and call ``refresh``, or use the widget):
        strategy: one of PICKER_STRATEGIES.
        k: blocks for ``top``; first, last: blocks at each end for ``ushape`` (given as
            ``params``, e.g. ``{"first": 1, "last": 2}``; default: ``strategy_defaults``).
        manual: for ``manual``, teacher blocks (``"1, 2, 5-6"``, mapped in depth order
            onto student blocks spread over the student) or a full mapping
            (``"1:2, 2:5+6, 3:0.3*7+0.7*8"``).
        n_student: the student's depth.
        mapping: the last valid LayerMapping (its params also record n_teacher and n_student).
        error: the message of the current invalid choice or failure, None when all is well.
        exception: the last unexpected (non-ValueError) exception, None when there was none.
    """

    def __init__(
        self,
        report: SpectralReport,
        n_student: int | None = None,
        *,
        strategy: str = "top",
        params: Mapping[str, int] | None = None,
        manual: str = "",
        save_path: str | os.PathLike = "runs/mapping.json",
        raise_errors: bool = False,
    ) -> None:
        if report.num_layers < 1:
            raise ValueError("the report has no layers")
        if list(report.blocks) != list(range(1, report.num_layers + 1)):
            raise ValueError(
                f"the picker needs a report of blocks 1..N, got blocks {report.blocks[0]}..{report.blocks[-1]}"
            )
        self.report = report
        self.n_teacher = report.num_layers
        self.n_student = n_student if n_student is not None else max(1, self.n_teacher // 2)
        defaults = {
            **strategy_defaults("top", self.n_teacher, self.n_student),
            **strategy_defaults("ushape", self.n_teacher, self.n_student),
        }
        unknown = sorted(set(params or {}) - set(defaults))
        if unknown:
            raise ValueError(f"unknown picker parameters {unknown}; allowed: {', '.join(defaults)}")
        self.strategy = strategy
        self.k, self.first, self.last = ({**defaults, **(params or {})}[n] for n in ("k", "first", "last"))
        self.manual = manual or ", ".join(str(b) for b in report.top_layers(defaults["k"]))
        self.save_path = Path(save_path)
        self.raise_errors = raise_errors
        self.mapping: LayerMapping | None = None
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.status = ""
        self.controls: dict[str, Any] = {}
        self._syncing = False
        self.refresh()

    # ------------------------------------------------------------ logic

    def compute(self) -> LayerMapping:
        """The mapping of the current state; raises ValueError for an invalid choice."""
        if self.strategy not in PICKER_STRATEGIES:
            raise ValueError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(PICKER_STRATEGIES)}"
            )
        n_t, n_s = self.n_teacher, self.n_student
        spec = {
            "top": f"top(k={self.k})",
            "ushape": f"ushape(first={self.first}, last={self.last})",
            "manual": self.manual,
        }.get(self.strategy, self.strategy)
        mapping = resolve(spec, n_t, n_s, self.report)
        return LayerMapping(
            mapping.links, mapping.strategy, {**mapping.params, "n_teacher": n_t, "n_student": n_s}
        )

    @property
    def teacher_blocks(self) -> list[int]:
        """Teacher blocks of the current mapping (empty while the choice is invalid and none was valid)."""
        return self.mapping.teacher_blocks if self.mapping is not None else []

    def mapping_text(self) -> str:
        """The mapping in words: a summary line, then one line per student block."""
        if self.mapping is None:
            return "no valid mapping yet"
        m = self.mapping
        head = "last valid choice: " if self.error else ""
        head += (
            f"{STRATEGY_LABELS.get(m.strategy, m.strategy)}: teacher blocks {m.teacher_blocks} of "
            f"1..{self.n_teacher} -> student blocks {m.student_blocks} of 1..{self.n_student}"
        )
        return head + "\n" + m.describe()

    def figure(self, ax: Any = None):
        """The intensity bar chart with the selected teacher blocks highlighted (a matplotlib Figure)."""
        blocks = self.teacher_blocks
        title = f"Spectral intensity by block; selected for a {self.n_student}-block student: {blocks}"
        return plot_intensity(self.report, highlight=blocks, ax=ax, title=title)

    def refresh(self) -> bool:
        """Recompute the mapping from the state; True when the state is valid.

        A ValueError (an invalid choice) sets ``error`` and keeps the last valid
        mapping; any other exception sets ``error`` and ``exception`` and is
        re-raised when ``raise_errors``.
        """
        return self._guard(self._recompute)

    def _recompute(self) -> None:
        self.mapping = self.compute()
        self.error = None

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the current mapping as JSON, atomically (``LayerMapping.save``), creating the folder.

        Raises ValueError while the current choice is invalid.
        """
        if self.error is not None or self.mapping is None:
            raise ValueError(f"nothing valid to save: {self.error or 'no mapping'}")
        path = Path(path) if path is not None else self.save_path
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = self.mapping.save(path)
        self.status = f"saved {saved}"
        return saved

    def _guard(self, action: Callable[[], Any]) -> bool:
        """Run ``action`` then redraw; an invalid choice becomes a message, a bug is recorded too."""
        ok = True
        try:
            action()
        except ValueError as e:
            self.error = str(e)
            ok = False
        except Exception as e:
            self._fail(e)
            return False
        try:
            self._render()
        except Exception as e:
            self._fail(e)
            return False
        return ok

    def _fail(self, e: Exception) -> None:
        self.exception = e
        self.error = f"internal error ({type(e).__name__}): {e}"
        if self.controls:
            self.controls["message"].value = self._message_html()
        if self.raise_errors:
            raise e

    # ------------------------------------------------------------ display

    def widget(self):
        """The interactive picker: controls, the highlighted figure, the mapping text, Save.

        Returns an ipywidgets VBox (class ``skd-layer-picker``); the controls are
        also in ``self.controls`` by name: strategy, k, first, last, n_student,
        manual, path, save, figure, text, message. On Colab it first turns on the
        widget manager that ipywidgets 8 needs there (``enable_colab_widgets``).
        """
        enable_colab_widgets()
        n_t = self.n_teacher
        style = {"description_width": "110px"}
        c = {
            "strategy": w.Dropdown(
                options=[(STRATEGY_LABELS[s], s) for s in PICKER_STRATEGIES],
                value=self.strategy,
                description="strategy",
                style=style,
            ),
            "n_student": w.IntSlider(
                value=self.n_student, min=1, max=max(n_t, 12), description="student blocks", style=style
            ),
            "k": w.IntSlider(value=self.k, min=1, max=n_t, description="k (top)", style=style),
            "first": w.IntSlider(value=self.first, min=0, max=n_t, description="first", style=style),
            "last": w.IntSlider(value=self.last, min=0, max=n_t, description="last", style=style),
            "manual": w.Text(
                value=self.manual,
                description="manual",
                placeholder="teacher blocks '1, 2, 5-6' or mapping '1:2, 2:5+6'",
                continuous_update=False,
                style=style,
                layout=w.Layout(width="420px"),
            ),
            "path": w.Text(value=str(self.save_path), description="save to", style=style),
            "save": w.Button(description="Save mapping", icon="save", button_style="primary"),
            "figure": w.Output(),
            "text": w.HTML(),
            "message": w.HTML(),
        }
        c["figure"].add_class("skd-figure")
        c["text"].add_class("skd-mapping-text")
        c["message"].add_class("skd-error")
        c["save"].add_class("skd-save")
        self.controls = c
        for name in ("strategy", "n_student", "k", "first", "last", "manual"):
            c[name].observe(self._on_change, names="value")
        c["path"].observe(self._on_path, names="value")
        c["save"].on_click(self._on_save)
        box = w.VBox(
            [
                w.HBox([c["strategy"], c["n_student"]]),
                w.HBox([c["k"], c["first"], c["last"]]),
                c["manual"],
                c["figure"],
                c["text"],
                c["message"],
                w.HBox([c["path"], c["save"]]),
            ]
        )
        box.add_class("skd-layer-picker")
        self._render()
        return box

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        c = self.controls
        self.strategy = c["strategy"].value
        self.n_student = int(c["n_student"].value)
        self.k = int(c["k"].value)
        self.first = int(c["first"].value)
        self.last = int(c["last"].value)
        self.manual = str(c["manual"].value)
        self.status = ""
        self.refresh()

    def _on_path(self, change: dict[str, Any]) -> None:
        self.save_path = Path(str(change["new"]))

    def _on_save(self, _button: Any = None) -> None:
        self._guard(self.save)

    def _render(self) -> None:
        """Bring the widgets (when built) in line with the state."""
        c = self.controls
        if not c:
            return
        show = {
            "k": self.strategy == "top",
            "first": self.strategy == "ushape",
            "last": self.strategy == "ushape",
            "manual": self.strategy == "manual",
        }
        for name, visible in show.items():
            c[name].layout.display = None if visible else "none"
        c["text"].value = f"<pre>{html.escape(self.mapping_text())}</pre>"
        c["message"].value = self._message_html()
        c["save"].disabled = self.error is not None or self.mapping is None
        self._draw(c["figure"])

    def _message_html(self) -> str:
        if self.error:
            return f'<span style="color:#c62828">&#9888; {html.escape(self.error)}</span>'
        if self.status:
            return f'<span style="color:#2e7d32">{html.escape(self.status)}</span>'
        return ""

    def _draw(self, out: Any) -> None:
        out.clear_output(wait=True)
        with out:
            fig = self.figure()
            display(fig)
            plt.close(fig)
