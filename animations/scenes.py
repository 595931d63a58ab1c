"""Manim (Community edition) scenes for the spectralkd-lite notebooks.

Three short scenes, rendered by ``animations/render.py`` into ``animations/rendered/``:

- ``PhasorScene``: the phasor e^(-j 2 pi k n / N) turning clockwise, k turns in N samples,
  with its real and imaginary parts traced beside it.
- ``WindingScene``: a signal cos(2 pi 3 n / N) wound around the circle by that phasor; as k
  sweeps 0..6 the centre of mass of the wound points stays at the origin except at k = 3.
- ``LayerSpectrumScene``: one token's C activations (bars over channels) turning into the
  magnitudes |F[k]| of their channel-axis DFT (bars over frequencies), and their mean, the
  intensity.

No LaTeX anywhere: every label is a ``Text`` (LaTeX is not assumed to be installed).
Render one by hand with ``python -m manim render -ql animations/scenes.py WindingScene``.
"""

from __future__ import annotations

import numpy as np
from manim import (
    BLUE,
    DOWN,
    GREY_B,
    LEFT,
    ORANGE,
    RED,
    RIGHT,
    UP,
    WHITE,
    YELLOW,
    Arrow,
    Axes,
    Circle,
    Create,
    DashedLine,
    Dot,
    FadeIn,
    Line,
    Rectangle,
    Scene,
    Text,
    TransformFromCopy,
    ValueTracker,
    VGroup,
    VMobject,
    Write,
    always_redraw,
    linear,
    smooth,
)

FONT = "DejaVu Sans"


def label(text: str, size: float = 24, color=WHITE) -> Text:
    """A plain-font text label (no LaTeX)."""
    return Text(text, font=FONT, font_size=size, color=color)


def number(value: float, places: int = 2, size: float = 24, color=WHITE) -> Text:
    """A number rendered as plain text; redraw it with ``always_redraw`` to animate."""
    return label(f"{value:.{places}f}", size, color)


def complex_plane(radius: float, center) -> VGroup:
    """Two axis lines, a unit circle of ``radius`` scene units, and Re / Im labels."""
    ext = radius * 1.25
    x_axis = Line(center + LEFT * ext, center + RIGHT * ext, color=GREY_B, stroke_width=2)
    y_axis = Line(center + DOWN * ext, center + UP * ext, color=GREY_B, stroke_width=2)
    circle = Circle(radius=radius, color=GREY_B, stroke_width=2).move_to(center)
    re = label("Re", 20, GREY_B).next_to(x_axis.get_end(), DOWN, buff=0.1)
    im = label("Im", 20, GREY_B).next_to(y_axis.get_end(), LEFT, buff=0.1)
    return VGroup(x_axis, y_axis, circle, re, im)


class PhasorScene(Scene):
    """e^(-j 2 pi k n / N): k clockwise turns over N samples, with its real and imaginary parts."""

    N = 16

    def construct(self):
        radius = 1.6
        center = np.array([-4.2, -0.4, 0.0])
        title = label("the phasor  e^(-j 2π k n / N)  turns clockwise, k turns in N samples", 26)
        title.to_edge(UP, buff=0.3)
        plane = complex_plane(radius, center)

        axes = Axes(
            x_range=[0, self.N, 4],
            y_range=[-1.2, 1.2, 1],
            x_length=6.4,
            y_length=3.2,
            tips=False,
            axis_config={"color": GREY_B, "stroke_width": 2},
        ).move_to(np.array([2.9, -0.4, 0.0]))
        n_label = label("sample n", 20, GREY_B).next_to(axes, DOWN, buff=0.15)
        re_key = label("real part  cos(2π k n / N)", 20, BLUE)
        im_key = label("imaginary part  -sin(2π k n / N)", 20, ORANGE)
        keys = VGroup(re_key, im_key).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        keys.next_to(axes, UP, buff=0.25)

        t = ValueTracker(0.0)  # continuous sample index 0..N
        k = ValueTracker(1.0)

        def tip():
            angle = -2 * np.pi * k.get_value() * t.get_value() / self.N
            return center + radius * np.array([np.cos(angle), np.sin(angle), 0.0])

        arrow = always_redraw(
            lambda: Arrow(
                center, tip(), buff=0, color=YELLOW, stroke_width=5, max_tip_length_to_length_ratio=0.12
            )
        )

        def samples():
            kk, done = k.get_value(), int(np.floor(t.get_value() + 1e-6))
            dots = VGroup()
            for n in range(min(done, self.N - 1) + 1):
                angle = -2 * np.pi * kk * n / self.N
                dots.add(
                    Dot(
                        center + radius * np.array([np.cos(angle), np.sin(angle), 0.0]),
                        radius=0.05,
                        color=WHITE,
                    )
                )
            return dots

        sample_dots = always_redraw(samples)

        def trace(part):
            def build():
                kk, tt = k.get_value(), max(t.get_value(), 1e-3)
                f = (
                    (lambda x: np.cos(2 * np.pi * kk * x / self.N))
                    if part == "re"
                    else (lambda x: -np.sin(2 * np.pi * kk * x / self.N))
                )
                return axes.plot(f, x_range=[0, tt, self.N / 200], color=BLUE if part == "re" else ORANGE)

            return always_redraw(build)

        re_curve, im_curve = trace("re"), trace("im")

        def stems():
            kk, done = k.get_value(), int(np.floor(t.get_value() + 1e-6))
            dots = VGroup()
            for n in range(min(done, self.N) + 1):
                a = 2 * np.pi * kk * n / self.N
                dots.add(Dot(axes.c2p(n, np.cos(a)), radius=0.045, color=BLUE))
                dots.add(Dot(axes.c2p(n, -np.sin(a)), radius=0.045, color=ORANGE))
            return dots

        curve_dots = always_redraw(stems)
        y_ticks = VGroup(
            label("1", 18, GREY_B).next_to(axes.c2p(0, 1), LEFT, buff=0.12),
            label("-1", 18, GREY_B).next_to(axes.c2p(0, -1), LEFT, buff=0.12),
            *[label(str(i), 18, GREY_B).next_to(axes.c2p(i, 0), DOWN, buff=0.12) for i in (4, 8, 12, 16)],
        )
        counter = always_redraw(
            lambda: label(
                f"k = {k.get_value():.0f}    n = {min(int(np.floor(t.get_value() + 1e-6)), self.N)}    N = {self.N}",
                24,
            ).next_to(plane, DOWN, buff=0.2)
        )

        self.add(title, plane, axes, n_label, keys, y_ticks)
        self.add(re_curve, im_curve, curve_dots, sample_dots, arrow, counter)
        self.play(t.animate.set_value(self.N), run_time=3, rate_func=linear)
        self.wait(0.3)
        t.set_value(0)
        k.set_value(3)
        self.wait(0.2)
        self.play(t.animate.set_value(self.N), run_time=3.5, rate_func=linear)
        self.wait(0.8)


class WindingScene(Scene):
    """Wind cos(2 pi 3 n / N) around the circle; the centre of mass only moves away from 0 at k = 3."""

    N = 48
    SIGNAL_K = 3

    def construct(self):
        n = np.arange(self.N)
        x = np.cos(2 * np.pi * self.SIGNAL_K * n / self.N)

        def wound(kk):
            return x * np.exp(-2j * np.pi * kk * n / self.N)

        def centre_distance(kk):
            return float(np.abs(wound(kk).mean()))

        radius = 1.9
        center = np.array([-3.7, -0.5, 0.0])
        title = label("wind the signal  x[n] = cos(2π·3·n/N)  around the circle at speed k", 26)
        title.to_edge(UP, buff=0.3)
        sub = label("points: x[n] · e^(-j 2π k n / N)      red dot: their centre of mass", 20, GREY_B)
        sub.next_to(title, DOWN, buff=0.15)
        plane = complex_plane(radius, center)

        axes = Axes(
            x_range=[0, 6, 1],
            y_range=[0, 0.6, 0.1],
            x_length=5.6,
            y_length=3.6,
            tips=False,
            axis_config={"color": GREY_B, "stroke_width": 2},
        ).move_to(np.array([3.5, -0.6, 0.0]))
        tick_labels = VGroup(
            *[label(str(i), 18, GREY_B).next_to(axes.c2p(i, 0), DOWN, buff=0.12) for i in range(7)],
            *[label(f"{v:.1f}", 18, GREY_B).next_to(axes.c2p(0, v), LEFT, buff=0.12) for v in (0.2, 0.4)],
        )
        x_name = label("winding speed k", 20, GREY_B).next_to(axes.x_axis, DOWN, buff=0.45)
        y_name = label("|centre of mass|", 20, RED).next_to(axes, UP, buff=0.1).align_to(axes, LEFT)

        k = ValueTracker(0.0)

        def wound_points():
            z = wound(k.get_value())
            pts = [center + radius * np.array([v.real, v.imag, 0.0]) for v in z]
            curve = VMobject(color=BLUE, stroke_width=2).set_points_as_corners([*pts, pts[0]])
            dots = VGroup(*[Dot(p, radius=0.04, color=BLUE) for p in pts])
            return VGroup(curve, dots)

        def centre_dot():
            c = wound(k.get_value()).mean()
            return Dot(center + radius * np.array([c.real, c.imag, 0.0]), radius=0.11, color=RED)

        reached = [1e-3]  # the graph keeps every k swept so far, also when k comes back

        def graph():
            reached[0] = max(reached[0], k.get_value())
            kk = reached[0]
            return axes.plot(centre_distance, x_range=[0, kk, 0.02], color=RED, use_smoothing=False)

        def graph_dot():
            kk = k.get_value()
            return Dot(axes.c2p(kk, centre_distance(kk)), radius=0.07, color=RED)

        k_text = always_redraw(lambda: label(f"k = {k.get_value():.2f}", 26).next_to(plane, DOWN, buff=0.15))

        self.add(title, sub, plane, axes, tick_labels, x_name, y_name)
        self.add(always_redraw(wound_points), always_redraw(centre_dot), always_redraw(graph))
        self.add(always_redraw(graph_dot), k_text)
        self.wait(0.4)
        self.play(k.animate.set_value(6), run_time=6, rate_func=linear)
        self.play(k.animate.set_value(3), run_time=1.2, rate_func=smooth)
        peak = VGroup(label("peak at k = 3,", 20, YELLOW), label("the signal's frequency", 20, YELLOW))
        peak.arrange(DOWN, aligned_edge=LEFT, buff=0.08).next_to(axes.c2p(3, 0.5), RIGHT, buff=0.2)
        self.play(FadeIn(peak), run_time=0.5)
        self.wait(1.0)


class LayerSpectrumScene(Scene):
    """One token's C activations -> |F[k]| of their channel-axis DFT -> the mean, the intensity."""

    C = 16

    def construct(self):
        rng = np.random.default_rng(0)
        c = np.arange(self.C)
        act = 0.8 * np.cos(2 * np.pi * 2 * c / self.C) + 0.2 * rng.standard_normal(self.C)
        act[11] += 2.0  # one strong channel
        mag = np.abs(np.fft.fft(act)) / self.C
        intensity = float(mag.mean())

        title = label("a layer's activation vector (C = 16 channels) and its spectrum", 26)
        title.to_edge(UP, buff=0.25)

        bar_w, gap = 0.42, 0.12
        left = -(self.C * (bar_w + gap)) / 2 + bar_w / 2
        xs = [left + i * (bar_w + gap) for i in range(self.C)]

        top_base, top_scale = 1.45, 0.45
        bottom_base, bottom_scale = -3.0, 4.0

        def bars(values, base, scale, color):
            group = VGroup()
            for xi, v in zip(xs, values, strict=True):
                h = max(abs(v) * scale, 0.01)
                rect = Rectangle(width=bar_w, height=h, stroke_width=0, fill_color=color, fill_opacity=0.9)
                rect.move_to(np.array([xi, base + np.sign(v) * h / 2, 0.0]))
                group.add(rect)
            return group

        top_axis = Line([xs[0] - 0.4, top_base, 0], [xs[-1] + 0.4, top_base, 0], color=GREY_B, stroke_width=2)
        bottom_axis = Line(
            [xs[0] - 0.4, bottom_base, 0], [xs[-1] + 0.4, bottom_base, 0], color=GREY_B, stroke_width=2
        )
        act_bars = bars(act, top_base, top_scale, BLUE)
        act_name = label("x[c]", 24, BLUE).next_to(top_axis, LEFT, buff=0.25)
        act_caption = label("activations over channels c = 0 .. 15 (one token)", 20, BLUE)
        act_caption.move_to(np.array([0.0, 2.9, 0.0]))

        spec_bars = bars(mag, bottom_base, bottom_scale, ORANGE)
        spec_name = label("|F[k]|", 24, ORANGE).next_to(bottom_axis, LEFT, buff=0.25)
        spec_caption = label(
            "|F[k]| = |Σ_c x[c] e^(-j2π k c/C)| / C   over frequencies k = 0 .. 15", 20, ORANGE
        )
        spec_caption.move_to(np.array([0.0, -0.2, 0.0]))
        k_ticks = VGroup(
            *[
                label(str(i), 16, GREY_B).next_to([xs[i], bottom_base, 0], DOWN, buff=0.1)
                for i in range(self.C)
            ]
        )
        mirror = label("mirror image: |F[k]| = |F[C-k]| for real x", 20, GREY_B)
        mirror.next_to(bottom_axis, DOWN, buff=0.45)

        mean_y = bottom_base + intensity * bottom_scale
        mean_line = DashedLine(
            [xs[0] - 0.4, mean_y, 0], [xs[-1] + 0.4, mean_y, 0], color=YELLOW, dash_length=0.12
        )
        mean_text = VGroup(
            label("intensity", 22, YELLOW),
            label("= mean over k", 22, YELLOW),
            label(f"= {intensity:.3f}", 22, YELLOW),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.08)
        mean_text.next_to(mean_line, RIGHT, buff=0.2)

        self.add(title)
        self.play(Create(top_axis), FadeIn(act_name), FadeIn(act_caption), run_time=0.6)
        self.play(*[FadeIn(b, shift=UP * 0.2) for b in act_bars], run_time=1.0)
        self.wait(0.4)
        self.play(Create(bottom_axis), FadeIn(spec_name), FadeIn(k_ticks), Write(spec_caption), run_time=0.8)
        self.play(TransformFromCopy(act_bars, spec_bars), run_time=1.8)
        self.play(FadeIn(mirror), run_time=0.5)
        self.play(
            *[spec_bars[i].animate.set_fill(opacity=0.4) for i in range(self.C // 2 + 1, self.C)],
            run_time=0.6,
        )
        self.wait(0.4)
        self.play(Create(mean_line), FadeIn(mean_text), run_time=0.8)
        self.wait(1.2)
