"""What the notebooks show from the repository, wherever they run: the rendered manim animations (GIFs)
and the committed benchmark results (``results_dir``).

In a clone of the repository the GIFs sit in ``animations/rendered/`` and a notebook links them
by a relative path, so the stored notebook stays small. An installed package (``pip install`` from
the repository, as on Colab) carries copies in ``spectralkd_lite/_animations/`` (pyproject's
force-include); where no checkout is at hand, the GIF is embedded in the cell's output instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from IPython.display import Image, Markdown

__all__ = [
    "CHECKOUT",
    "PACKAGED",
    "RESULTS_CHECKOUT",
    "RESULTS_PACKAGED",
    "SCENES",
    "animation",
    "animation_file",
    "results_dir",
]

CHECKOUT = Path(__file__).resolve().parent.parent / "animations" / "rendered"
PACKAGED = Path(__file__).resolve().parent / "_animations"
SCENES = ("PhasorScene", "WindingScene", "LayerSpectrumScene")
RESULTS_CHECKOUT = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
RESULTS_PACKAGED = Path(__file__).resolve().parent / "_results"


def animation_file(name: str) -> tuple[Path, bool]:
    """The GIF of scene ``name`` and whether it lies in a checkout (True) or the installed package."""
    if name not in SCENES:
        raise ValueError(f"unknown animation {name!r}; available: {', '.join(SCENES)}")
    for folder, checkout in ((CHECKOUT, True), (PACKAGED, False)):
        path = folder / f"{name}.gif"
        if path.is_file():
            return path, checkout
    raise FileNotFoundError(
        f"the {name} animation is neither in {CHECKOUT} nor in {PACKAGED}: render it with "
        "`python animations/render.py` in a clone of the repository, or reinstall the package"
    )


def animation(name: str, caption: str) -> Markdown | Image:
    """Display object of scene ``name``: a Markdown image linked relative to the working
    directory in a checkout (``caption`` is its alt text), else the packaged GIF embedded."""
    path, checkout = animation_file(name)
    if checkout:
        return Markdown(f"![{caption}]({Path(os.path.relpath(path)).as_posix()})")
    return Image(data=path.read_bytes(), format="gif")


def results_dir() -> Path:
    """The committed benchmark results: ``benchmarks/results`` in a checkout, else the copy the installed
    package carries (pyproject's force-include ships every file of that folder). Raises
    FileNotFoundError when neither exists."""
    for folder in (RESULTS_CHECKOUT, RESULTS_PACKAGED):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        f"no benchmark results in {RESULTS_CHECKOUT} nor in {RESULTS_PACKAGED}: reinstall the package "
        "from the repository (pip install git+...), which ships them"
    )
