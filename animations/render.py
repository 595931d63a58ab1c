"""Render every scene of ``animations/scenes.py`` and copy small MP4s and GIFs to ``animations/rendered/``.

Usage (from the repository root)::

    python animations/render.py                    # low quality (480p15), all scenes
    python animations/render.py --quality medium   # 720p30; high = 1080p60
    python animations/render.py WindingScene       # only the scenes named

manim writes its cache and partial movie files under ``animations/media/`` (git-ignored); the
finished videos are copied to ``animations/rendered/<Scene>.mp4`` and converted to a small GIF,
``animations/rendered/<Scene>.gif`` (10 fps, 480 px wide, 32 colours), which the notebooks show.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENES_FILE = HERE / "scenes.py"
SCENES = ("PhasorScene", "WindingScene", "LayerSpectrumScene")
QUALITY_FLAGS = {"low": "l", "medium": "m", "high": "h"}
GIF_FPS = 10
GIF_WIDTH = 480
MP4_CRF = 28
GIF_COLORS = 32  # flat colours on black: 32 look the same as 256 and keep the GIFs small


def _find_video(media_dir: Path, scene: str, suffix: str) -> Path:
    candidates = [
        p for p in (media_dir / "videos").rglob(f"{scene}{suffix}") if "partial_movie_files" not in p.parts
    ]
    if not candidates:
        raise FileNotFoundError(f"manim wrote no {scene}{suffix} under {media_dir / 'videos'}")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def mp4_to_gif(mp4: Path, gif: Path, fps: int = GIF_FPS, width: int = GIF_WIDTH) -> Path:
    """Convert an MP4 to a small looping GIF with ffmpeg (a palette of GIF_COLORS made from the video)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not on PATH; install it (apt-get install ffmpeg) to make GIFs")
    filters = (
        f"fps={fps},scale={width}:-1:flags=lanczos,split[a][b];"
        f"[a]palettegen=max_colors={GIF_COLORS}:stats_mode=diff[p];[b][p]paletteuse=dither=none"
    )
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(mp4), "-vf", filters, "-loop", "0", str(gif)], check=True
    )
    return gif


def compact_mp4(src: Path, dst: Path, crf: int = MP4_CRF) -> Path:
    """Re-encode ``src`` as H.264 at ``crf`` (about half manim's size, same look); a plain copy without ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return Path(shutil.copyfile(src, dst))
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(src), "-c:v", "libx264", "-crf", str(crf), "-preset", "slow"]
        + ["-pix_fmt", "yuv420p", "-movflags", "+faststart", "-an", str(dst)],
        check=True,
    )
    return dst


def render_scenes(
    scenes: list[str] | tuple[str, ...] = SCENES,
    quality: str = "low",
    media_dir: Path | str = HERE / "media",
    out_dir: Path | str | None = HERE / "rendered",
    gif: bool = True,
) -> dict[str, dict[str, Path]]:
    """Render ``scenes`` with manim (one process) and return ``{scene: {"mp4": path, "gif": path}}``.

    Args:
        scenes: scene class names from ``scenes.py``.
        quality: ``low`` (480p15), ``medium`` (720p30) or ``high`` (1080p60).
        media_dir: manim's ``--media_dir`` (cache, partial movie files, the full-size videos).
        out_dir: where ``<Scene>.mp4`` and ``<Scene>.gif`` are copied; None keeps them in media_dir.
        gif: also make a GIF of each scene (needs ffmpeg).
    """
    if quality not in QUALITY_FLAGS:
        raise ValueError(f"quality must be one of {sorted(QUALITY_FLAGS)}, got {quality!r}")
    unknown = [s for s in scenes if s not in SCENES]
    if unknown:
        raise ValueError(f"unknown scene(s) {unknown}; the scenes are {list(SCENES)}")
    media_dir = Path(media_dir).resolve()
    media_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "manim",
        "render",
        f"-q{QUALITY_FLAGS[quality]}",
        "--media_dir",
        str(media_dir),
        "--progress_bar",
        "none",
        str(SCENES_FILE),
        *scenes,
    ]
    subprocess.run(cmd, check=True, cwd=HERE)

    results: dict[str, dict[str, Path]] = {}
    for scene in scenes:
        mp4 = _find_video(media_dir, scene, ".mp4")
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            mp4 = compact_mp4(mp4, out / f"{scene}.mp4")
        paths = {"mp4": mp4}
        if gif:
            paths["gif"] = mp4_to_gif(mp4, mp4.with_suffix(".gif"))
        results[scene] = paths
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenes", nargs="*", default=list(SCENES), help=f"scenes to render (default: all of {SCENES})"
    )
    parser.add_argument("--quality", choices=sorted(QUALITY_FLAGS), default="low")
    parser.add_argument("--media-dir", default=str(HERE / "media"), help="manim's --media_dir (git-ignored)")
    parser.add_argument(
        "--out-dir", default=str(HERE / "rendered"), help="where the MP4s and GIFs are copied"
    )
    parser.add_argument("--no-gif", action="store_true", help="skip the GIFs")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    results = render_scenes(args.scenes, args.quality, args.media_dir, args.out_dir, gif=not args.no_gif)
    for scene, paths in results.items():
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in paths.values())
        print(f"{scene}: {sizes}")
    print(
        f"rendered {len(results)} scene(s) at {args.quality} quality in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
