"""Where a committed benchmark result came from: the command, commit, date and machine."""

from __future__ import annotations

import datetime
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(names: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, row name) over ``rounds`` rounds of ``names``, the order rotated by one each
    round, so that no row always runs first (or right after a warm machine)."""
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            yield r, name


def time_rounds(runs: dict[str, Callable[[], object]], rounds: int, device: str, per: int = 1):
    """Milliseconds per ``per`` units (steps, batches) of each row: one warm-up call of each, then
    one sample per row in each of ``rounds`` interleaved rounds (a GPU synchronised around each)."""
    cuda = device.startswith("cuda")
    for fn in runs.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _, name in interleaved(list(runs), rounds):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        runs[name]()
        if cuda:
            torch.cuda.synchronize()
        samples[name].append(1000 * (time.perf_counter() - start) / per)
    return samples


def print_result(setup: str, samples: dict[str, list[float]], unit: str, verdict: str, notes=()) -> None:
    """On stdout: the setup, each row's median in ``unit``, the notes and the verdict."""
    print(setup)
    width = max(map(len, samples))
    for name, values in samples.items():
        print(f"{name:{width}s} {statistics.median(values):8.2f} {unit}")
    for note in notes:
        print(note)
    print(verdict)


def provenance() -> dict[str, object]:
    """The command line, git commit, UTC date, CPU cores and torch threads of this run."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {
        "command": "python " + shlex.join(sys.argv),
        "commit": commit.stdout.strip() or "unknown",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def provenance_line(meta: dict) -> str:
    """One Markdown line naming the command, commit, date and cores of ``provenance()``."""
    return (
        f"`{meta['command']}` at commit {meta['commit']}, {meta['date']}, {meta['cpu_cores']} CPU cores "
        f"({meta['torch_threads']} torch threads)."
    )


def write_ratio_result(
    stem: str,
    meta: dict,
    title: str,
    setup: str,
    samples: dict[str, list[float]],
    unit: str,
    headline: str,
    goal: float,
    notes: list[str] | None = None,
    out: Path = RESULTS,
    extra: dict | None = None,
) -> str:
    """Write ``stem``.json, .md and .png under ``out`` (atomically) and return the verdict line.

    ``samples[row]`` holds one measurement per round (rounds interleave the rows);
    the first row is the baseline, and each row's ratio is taken round by round
    against the baseline of the same round, so that a drift in machine load hits
    both sides of a ratio alike. ``headline`` names the row whose median ratio is
    held to ``goal``. ``extra`` adds keys to the JSON (measurements beside the ratios).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spectralkd_lite.io import save_figure_atomic, write_json_atomic, write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    base = next(iter(samples))
    ratios = {
        name: [v / b for v, b in zip(values, samples[base], strict=True)] for name, values in samples.items()
    }
    summary = {
        name: {
            "median": statistics.median(samples[name]),
            "ratio_median": statistics.median(r),
            "ratio_min": min(r),
            "ratio_max": max(r),
        }
        for name, r in ratios.items()
    }
    ratio = summary[headline]["ratio_median"]
    verdict = (
        f"{headline} / {base}: median ratio {ratio:.3f} over {len(ratios[headline])} rounds "
        f"(min {summary[headline]['ratio_min']:.3f}, max {summary[headline]['ratio_max']:.3f}); "
        f"goal <= {goal:.2f}: {'met' if ratio <= goal else 'NOT met'}"
    )
    write_json_atomic(
        out / f"{stem}.json",
        {
            "meta": meta,
            "setup": setup,
            "unit": unit,
            "goal": goal,
            "headline": headline,
            "samples": samples,
            "ratios": ratios,
            "summary": summary,
            "verdict": verdict,
        }
        | (extra or {}),
    )
    lines = [
        f"# {title}",
        "",
        provenance_line(meta),
        "",
        setup,
        "",
        f"| row | median ({unit}) | ratio to {base}: median | min – max |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {name} | {s['median']:.4g} | {s['ratio_median']:.3f} | {s['ratio_min']:.3f} – {s['ratio_max']:.3f} |"
        for name, s in summary.items()
    ]
    lines += ["", f"**{verdict}**", ""] + [f"- {n}" for n in notes or []]
    write_text_atomic(out / f"{stem}.md", "\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(ratios) + 1.6), layout="constrained")
    for y, (name, r) in enumerate(ratios.items()):
        ax.scatter(r, [y] * len(r), s=18, alpha=0.6, color="tab:blue")
        ax.plot([summary[name]["ratio_median"]] * 2, [y - 0.3, y + 0.3], color="black", lw=2)
    ax.axvline(1.0, color="grey", lw=1, label="1 (no overhead)")
    ax.axvline(goal, color="tab:red", ls="--", lw=1, label=f"goal {goal:.2f}")
    ax.set_yticks(range(len(ratios)), list(ratios))
    ax.set_xlim(0, max(goal, max(max(r) for r in ratios.values())) * 1.08)
    ax.set_xlabel(f"ratio to {base}, per round (dots) and median (bar)")
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small", loc="lower left")
    save_figure_atomic(fig, out / f"{stem}.png", dpi=110)
    plt.close(fig)
    return verdict
