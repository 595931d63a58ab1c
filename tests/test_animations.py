"""Render every manim scene at low quality and check that each one produced a video.

Skipped locally when manim is not installed; in CI (the CI environment variable set) a missing
manim is a failure, so CI never silently skips the animations.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ANIMATIONS = Path(__file__).resolve().parents[1] / "animations"


def _load_render_module():
    spec = importlib.util.spec_from_file_location("animations_render", ANIMATIONS / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_manim() -> None:
    if importlib.util.find_spec("manim") is not None:
        return
    message = "manim is not installed (pip install 'spectralkd-lite[animations]')"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must render the animations, not skip them")
    pytest.skip(message)


def test_every_scene_renders(tmp_path):
    _require_manim()
    render = _load_render_module()
    make_gif = shutil.which("ffmpeg") is not None
    results = render.render_scenes(
        render.SCENES,
        quality="low",
        media_dir=tmp_path / "media",
        out_dir=tmp_path / "rendered",
        gif=make_gif,
    )
    assert set(results) == set(render.SCENES)
    for scene, paths in results.items():
        video = paths["mp4"]
        assert video == tmp_path / "rendered" / f"{scene}.mp4"
        assert video.is_file() and video.stat().st_size > 0, f"{scene}: no video at {video}"
        if make_gif:
            assert paths["gif"].is_file() and paths["gif"].stat().st_size > 0, f"{scene}: no GIF"


def test_scene_list_matches_scenes_file():
    """Every scene the render script knows is a class in scenes.py (and the other way round)."""
    source = (ANIMATIONS / "scenes.py").read_text()
    render = _load_render_module()
    defined = {
        line.split("(")[0].removeprefix("class ").strip()
        for line in source.splitlines()
        if line.startswith("class ")
    }
    assert defined == set(render.SCENES)


def test_scenes_use_no_latex():
    """LaTeX is not assumed to be installed: no MathTex / Tex in the scenes."""
    source = (ANIMATIONS / "scenes.py").read_text()
    for name in ("MathTex", "Tex(", "Tex,", "SingleStringMathTex"):
        assert name not in source, f"scenes.py uses {name}"
