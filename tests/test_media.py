"""The notebooks' animations: linked from a checkout, embedded from the installed package (Colab)."""

import tomllib
from pathlib import Path

import pytest
from IPython.display import Image, Markdown

from spectralkd_lite import media

ROOT = Path(__file__).resolve().parents[1]
GIF_MAGIC = (b"GIF87a", b"GIF89a")


@pytest.mark.parametrize("name", media.SCENES)
def test_every_scene_is_a_gif_in_the_checkout(name):
    path, checkout = media.animation_file(name)
    assert checkout and path == ROOT / "animations" / "rendered" / f"{name}.gif"
    assert path.read_bytes()[:6] in GIF_MAGIC


def test_a_checkout_links_the_gif_relative_to_the_working_directory(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    shown = media.animation("PhasorScene", "a phasor")
    assert isinstance(shown, Markdown)
    assert shown.data == "![a phasor](../animations/rendered/PhasorScene.gif)"


def test_without_a_checkout_the_packaged_gif_is_embedded(tmp_path, monkeypatch):
    packaged = tmp_path / "_animations"
    packaged.mkdir()
    gif = b"GIF89a" + bytes(range(40))
    (packaged / "WindingScene.gif").write_bytes(gif)
    monkeypatch.setattr(media, "CHECKOUT", tmp_path / "no-checkout")
    monkeypatch.setattr(media, "PACKAGED", packaged)
    shown = media.animation("WindingScene", "winding")
    assert isinstance(shown, Image) and shown.data == gif and shown.format == "gif"
    with pytest.raises(FileNotFoundError, match="neither in .* nor in"):
        media.animation("PhasorScene", "a phasor")


def test_unknown_scene_names_the_available_ones():
    with pytest.raises(ValueError, match="unknown animation 'Nope'; available: PhasorScene, WindingScene"):
        media.animation("Nope", "x")


def test_the_wheel_carries_every_gif_where_media_looks_for_it():
    force = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"
    ]["force-include"]
    package = media.PACKAGED.relative_to(ROOT).as_posix()
    for name in media.SCENES:
        assert force[f"animations/rendered/{name}.gif"] == f"{package}/{name}.gif"
