"""An honest comparison of distillation variants: several seeds, mean and spread, baselines.

Every table has the no-KD and logit-KD-only rows (logit KD alone is a strong
baseline), and reference rows (the teacher, TF-IDF + a linear classifier) so a
reader sees where the students stand.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from .baselines import tfidf_baseline
from .config import DistillConfig, StudentConfig, TrainConfig
from .distill import distill, text_teacher_cache
from .io import csv_text, read_json, save_figure_atomic, write_json_atomic, write_text_atomic
from .losses import FEATURE_LOSSES
from .mapping import SEED_SHAPE, parse_manual, resolve
from .memory import CACHE_BUDGET_BYTES
from .plots import plot_comparison
from .text import text_batches
from .training import RunResult, evaluate_accuracy

__all__ = [
    "COMPARISON_CONFIG",
    "PAPER_CONFIG",
    "FEATURE_LABELS",
    "VERDICT_PAIRS",
    "Comparison",
    "RunOptions",
    "Variant",
    "check_plan",
    "load_sections",
    "reference_accuracies",
    "run_comparison",
    "standard_variants",
]


@dataclass(frozen=True)
class Variant:
    """One row of a comparison: a name and its objective (``config.mapping`` = the aligned layers).

    ``data`` and ``train``: a row that trains on data or a schedule of its own (the few-label
    comparison's ``labelled only``); None, the comparison's. A row with data of its own reads
    no teacher cache (the cache holds the comparison's training split).
    """

    name: str
    config: DistillConfig
    data: Any = field(default=None, compare=False, repr=False)
    train: TrainConfig | None = None

    def describe(self) -> str:
        """The aligned layers in the one link format (``"1:3, 2:6"``), or "-" without a mapping."""
        mapping = self.config.mapping
        return mapping.spec() if mapping is not None else "-"


# Row labels of the feature losses ("spectral" is the token-axis loss, the default), from losses.FEATURE_LOSSES.
FEATURE_LABELS = {kind: loss.label for kind, loss in FEATURE_LOSSES.items()}


# The pairs of rows whose difference Comparison.verdicts states, when both rows exist.
VERDICT_PAIRS: tuple[tuple[str, str], ...] = (
    ("logit KD", "no KD"),
    ("logit KD + spectral, uniform", "logit KD"),
    ("logit KD + spectral, uniform", "logit KD + MSE, uniform"),
    ("logit KD + spectral, spectral choice", "logit KD + spectral, uniform"),
    ("logit KD + spectral, seed preset", "logit KD + spectral, uniform"),
)
# The tutorial's feature weight: with normalised feature terms, the beta sweep
# (benchmarks/results/beta_sweep.md) found beta <= 0.2 changes nothing measurable
# and beta >= 2 lifts the students beyond the seed spread.
COMPARISON_CONFIG = DistillConfig(alpha=0.9, beta=2.0, feature="spectral_tokens")
# The official SpectralKD objective on the raw scale: (1 - alpha) CE + alpha T^2 KL + beta * w_fft * L,
# with beta * w_fft = 0.2 (DeiT students) and the feature term not divided by the teacher's energy.
PAPER_CONFIG = DistillConfig(alpha=0.9, temperature=1.0, beta=0.2, feature="spectral_tokens", normalize=False)


def standard_variants(
    n_teacher: int,
    n_student: int,
    report: Any = None,
    config: DistillConfig | None = None,
    blog_rows: bool = True,
) -> list[Variant]:
    """The rows of the tutorial's comparison.

    no KD; logit KD only; logit KD + hidden MSE (uniform); logit KD + the feature loss
    of ``config`` (uniform); the same with the spectrally chosen blocks (``top``, when
    ``report`` is given, or ``config.mapping`` when set, e.g. from the layer picker);
    the seed preset when the shapes are 24 -> 12; and, with ``blog_rows``, the blog's
    variants: every 2nd teacher block, the mean of two teacher blocks, 0.3 / 0.7.
    ``config`` gives alpha, beta and the feature loss (default: logit KD alpha 0.9 +
    spectral_tokens at beta 2, ``COMPARISON_CONFIG``).
    """
    config = config or COMPARISON_CONFIG
    if not config.uses_features:
        raise ValueError("the comparison's config needs a feature loss and beta > 0 for its feature rows")
    label = FEATURE_LABELS[config.feature]

    def row(spec: str) -> DistillConfig:
        return dataclasses.replace(config, mapping=resolve(spec, n_teacher, n_student))

    uniform = resolve("uniform", n_teacher, n_student)
    spectral = config.mapping
    if spectral is None and report is not None:
        spectral = resolve("top", n_teacher, n_student, report)
    rows = [
        Variant("no KD", DistillConfig(alpha=0.0)),
        Variant("logit KD", DistillConfig(alpha=config.alpha, temperature=config.temperature)),
        Variant("logit KD + MSE, uniform", dataclasses.replace(config, feature="mse", mapping=uniform)),
        Variant(f"logit KD + {label}, uniform", dataclasses.replace(config, mapping=uniform)),
    ]
    if spectral is not None:
        rows.append(
            Variant(f"logit KD + {label}, spectral choice", dataclasses.replace(config, mapping=spectral))
        )
    if (n_teacher, n_student) == SEED_SHAPE:  # the original write-up's teacher 1-9, 21-23 -> student 1-12
        rows.append(Variant(f"logit KD + {label}, seed preset", row("seed")))
    if blog_rows and 2 * n_student <= n_teacher:
        every2 = row("uniform(step=2, start=2)")
        if every2.mapping != uniform:
            rows.append(Variant(f"logit KD + {label}, every 2nd block", every2))
        rows.append(Variant(f"logit KD + {label}, mean of 2 blocks", row("paired")))
        rows.append(Variant(f"logit KD + {label}, 0.3/0.7 of 2 blocks", row("paired(weights=0.3/0.7)")))
    return rows


@dataclass
class Comparison:
    """Runs of every variant over several seeds, plus reference rows."""

    runs: list[RunResult] = field(default_factory=list)
    variants: dict[str, Variant] = field(default_factory=dict)
    references: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def add_reference(self, name: str, accuracy: float) -> None:
        """A reference row (the teacher, TF-IDF + linear): one accuracy, no seeds."""
        self.references[name] = float(accuracy)

    def add(self, variant: Variant, run: RunResult) -> None:
        """Record one run of ``variant`` (its name must match the run's)."""
        if run.name != variant.name:
            raise ValueError(f"run {run.name!r} recorded under variant {variant.name!r}")
        self.variants[variant.name] = variant
        self.runs.append(run)

    def renamed(self, suffix: str, rows: Collection[str] | None = None) -> Comparison:
        """A copy of ``rows`` (default: all) each called "<name>, <suffix>", without references: to pair
        the same rows of two comparisons (another epoch ceiling, another teacher) in one, with ``extend``."""
        keep = set(self.variants) if rows is None else set(rows) & set(self.variants)
        out = Comparison(meta=dict(self.meta))
        for r in self.runs:
            if r.name in keep:
                name = f"{r.name}, {suffix}"
                out.add(
                    dataclasses.replace(self.variants[r.name], name=name), dataclasses.replace(r, name=name)
                )
        return out

    def extend(self, other: Comparison) -> None:
        """Add ``other``'s runs, variants and references (rows run later on the same students and data)."""
        clash = set(other.variants) & set(self.variants)
        if clash:
            raise ValueError(f"variants already in this comparison: {', '.join(sorted(clash))}")
        self.runs.extend(other.runs)
        self.variants.update(other.variants)
        self.references.update(other.references)

    def summary(self) -> list[dict[str, Any]]:
        """One row per variant: mean, std (sample), min, max of test accuracy, n seeds, seconds."""
        rows = []
        for name in dict.fromkeys(r.name for r in self.runs):
            accs = [r.test_accuracy for r in self.runs if r.name == name]
            secs = [r.train_seconds for r in self.runs if r.name == name]
            steps = [r.steps for r in self.runs if r.name == name]
            rows.append(
                {
                    "variant": name,
                    "mean": statistics.fmean(accs),
                    "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                    "min": min(accs),
                    "max": max(accs),
                    "n": len(accs),
                    "seconds": statistics.fmean(secs),
                    "steps": round(statistics.fmean(steps)),
                    "layers": self.variants[name].describe() if name in self.variants else "-",
                }
            )
        return rows

    def best(self) -> dict[str, Any]:
        return max(self.summary(), key=lambda r: r["mean"])

    def row(self, name: str) -> dict[str, Any]:
        for r in self.summary():
            if r["variant"] == name:
                return r
        raise KeyError(f"no variant {name!r}; have {', '.join(r['variant'] for r in self.summary())}")

    def exceeds_spread(self, a: str, b: str) -> bool:
        """True when the seed ranges [min, max] of variants a and b do not overlap."""
        ra, rb = self.row(a), self.row(b)
        return ra["min"] > rb["max"] or rb["min"] > ra["max"]

    def margin(self, a: str, b: str) -> float:
        """(mean a - mean b) in units of the larger of the two seed standard deviations.

        More than 2 is the benchmark's "beats by more than two seed standard
        deviations"; +-inf when both rows have zero spread and different means, 0 when equal.
        """
        ra, rb = self.row(a), self.row(b)
        diff, spread = ra["mean"] - rb["mean"], max(ra["std"], rb["std"])
        if spread > 0:
            return diff / spread
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)

    def _correct(self, names: Sequence[str]) -> tuple[list[int], np.ndarray]:
        """The seeds every row in ``names`` ran with per-example test results, and those results
        as a (rows, seeds, test examples) array of 0/1."""
        runs = {
            name: {r.seed: r.test_correct for r in self.runs if r.name == name and r.test_correct}
            for name in names
        }
        for name in names:
            if name not in self.variants and not any(r.name == name for r in self.runs):
                raise KeyError(
                    f"no variant {name!r}; have {', '.join(dict.fromkeys(r.name for r in self.runs))}"
                )
        seeds = sorted(set.intersection(*(set(runs[name]) for name in names)))
        if not seeds:
            raise ValueError(
                f"{', '.join(map(repr, names))} share no seed with per-example test results (test_correct): "
                "cannot pair them"
            )
        lengths = {len(runs[name][s]) for name in names for s in seeds}
        if len(lengths) > 1:
            raise ValueError(f"{', '.join(map(repr, names))} were tested on different numbers of examples")
        flags = np.array(
            [[[c == "1" for c in runs[name][s]] for s in seeds] for name in names], dtype=np.float64
        )
        return seeds, flags

    def rank_correlation(self, values: dict[str, float], n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
        """Spearman's rank correlation between the rows' test accuracy and a value per row, with a 95% interval.

        ``values``: row name -> a number (for example the mean spectral intensity of the
        teacher blocks a row aligns). Accuracy is the mean over the seeds all rows share;
        the interval resamples those seeds and the test examples together (``n_boot`` draws,
        as in ``paired_difference``), so it shows how much of the correlation the finite
        seeds and test set can explain. Returns {"rho", "low", "high", "seeds", "rows"}.
        """
        if len(values) < 3:
            raise ValueError(f"a rank correlation needs at least 3 rows, got {len(values)}")
        names = list(values)
        seeds, flags = self._correct(names)  # (R, S, N)
        _, n_seeds, n_examples = flags.shape
        c_s, c_x = _bootstrap_counts(n_seeds, n_examples, n_boot, seed)
        draws = np.einsum("bs,rsn,bn->br", c_s, flags, c_x) / (n_seeds * n_examples)  # (B, R)
        x = np.array([values[name] for name in names])
        rho = _spearman(flags.mean(axis=(1, 2))[None], x)[0]
        low, high = np.nanpercentile(_spearman(draws, x), [2.5, 97.5])
        return {"rho": float(rho), "low": float(low), "high": float(high), "seeds": seeds, "rows": len(names)}

    def paired_difference(self, a: str, b: str, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
        """Row a minus row b in test accuracy, paired by seed and test example, with a 95% interval.

        Uses the runs of both rows that share a seed and stored ``test_correct``. The
        interval is a paired bootstrap that resamples seeds and test examples together
        (``n_boot`` draws): each draw's difference is ``c_s @ D @ c_x / (S N)`` with
        D (S, N) the per-seed, per-example differences (-1, 0, 1) and c_s, c_x the
        multinomial counts of the drawn seeds and examples. ``detectable`` is the
        smallest difference this design finds with 80% power at the 5% level,
        2.8 x the bootstrap standard error. Returns {"diff", "low", "high", "se",
        "detectable", "seeds"} (fractions, not points).
        """
        seeds, flags = self._correct((a, b))
        d = flags[0] - flags[1]  # (S, N)
        c_s, c_x = _bootstrap_counts(*d.shape, n_boot, seed)
        draws = np.einsum("bs,sn,bn->b", c_s, d, c_x) / d.size
        se = float(draws.std(ddof=1))
        low, high = np.percentile(draws, [2.5, 97.5])
        return {
            "diff": float(d.mean()),
            "low": float(low),
            "high": float(high),
            "se": se,
            "detectable": 2.8 * se,
            "seeds": seeds,
        }

    def compare(self, a: str, b: str) -> str:
        """One sentence: the mean difference of variants a and b and whether it exceeds the seed spread.

        "Exceeds" means the two rows' min-max ranges over seeds do not overlap.
        """
        diff = 100 * (self.row(a)["mean"] - self.row(b)["mean"])
        verdict = (
            "exceeds the seed spread (the ranges do not overlap)"
            if self.exceeds_spread(a, b)
            else "is within the seed spread (the min-max ranges overlap)"
        )
        return f"{a} vs {b}: {diff:+.2f} points in mean test accuracy; the difference {verdict}."

    def verdicts(self, pairs: Sequence[tuple[str, str]] = VERDICT_PAIRS) -> list[str]:
        """The Markdown bullet lines a reader needs, computed from the rows present.

        The highest row (and its share of the "teacher" reference when there is one),
        named the best only when its seed range clears every other row's; the best KD
        row against "no KD"; then each of ``pairs`` whose two rows both exist: the mean
        difference, whether it exceeds the seed spread, the margin in seed standard
        deviations (only when the spread is at least one test example: never a ratio
        over a zero spread) and, when the runs kept their per-example results, the
        paired 95% interval; and the test-set resolution.
        """
        rows = self.summary()
        names = [r["variant"] for r in rows]
        best = self.best()
        ties = [r["variant"] for r in rows if r["variant"] != best["variant"] and r["max"] >= best["min"]]
        if ties:
            lines = [f"- Highest mean: {best['variant']}, {100 * best['mean']:.2f}%"]
        else:
            lines = [f"- Best student: **{best['variant']}**, {100 * best['mean']:.2f}%"]
        if "teacher" in self.references:
            lines[0] += f" = {best['mean'] / self.references['teacher']:.3f} of the teacher's accuracy"
        if ties:
            lines[0] += f"; its seed range overlaps {', '.join(ties)}, so no row is the best"
        lines[0] += "."
        n_test = self.meta.get("test_examples")
        floor = 1 / n_test if n_test else 0.0
        pairs = list(pairs)
        if "no KD" in names and len(names) > 1:
            kd = max((r for r in rows if r["variant"] != "no KD"), key=lambda r: r["mean"])
            pairs.insert(0, (kd["variant"], "no KD"))
        for a, b in dict.fromkeys(pairs):
            if a not in names or b not in names:
                continue
            line = f"- {self.compare(a, b)}"
            if max(self.row(a)["std"], self.row(b)["std"]) >= max(floor, 1e-12):
                m = self.margin(a, b)
                line += (
                    f" That is {m:+.1f} seed standard deviations ({'more' if abs(m) > 2 else 'not more'} "
                    "than 2 either way)."
                )
            else:
                line += " The seed spread is under one test example, so no ratio to it is given."
            try:
                d = self.paired_difference(a, b)
            except ValueError:
                d = None  # runs without per-example results: no paired interval
            if d is not None:
                line += f" Paired 95% interval: [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] points."
            lines.append(line)
        if n_test:
            lines.append(
                f"- Resolution: {n_test} test examples, so one example is {100 / n_test:.2f} points."
            )
        return lines

    def to_markdown(self) -> str:
        lines = [
            "| variant | test accuracy (mean ± std) | min – max | seeds | steps / run | s / run | aligned layers |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for name, acc in self.references.items():
            lines.append(f"| {name} (reference) | {100 * acc:.2f} | | | | | |")
        for r in self.summary():
            lines.append(
                f"| {r['variant']} | {100 * r['mean']:.2f} ± {100 * r['std']:.2f} | "
                f"{100 * r['min']:.2f} – {100 * r['max']:.2f} | {r['n']} | {r['steps']} | {r['seconds']:.1f} | "
                f"{r['layers']} |"
            )
        n_test = self.meta.get("test_examples")
        if n_test:
            lines.append(f"\nTest set: {n_test} examples; one example = {100 / n_test:.2f} points.")
        return "\n".join(lines)

    def to_csv(self) -> str:
        header = ["variant", "mean", "std", "min", "max", "n", "steps", "seconds", "layers"]
        rows = [
            [f"{name} (reference)", f"{acc:.6f}", "", "", "", "", "", "", ""]
            for name, acc in self.references.items()
        ]
        rows += [
            [
                r["variant"],
                *(f"{r[k]:.6f}" for k in ("mean", "std", "min", "max")),
                r["n"],
                r["steps"],
                f"{r['seconds']:.2f}",
                r["layers"],
            ]
            for r in self.summary()
        ]
        return csv_text(header, rows)

    def to_dict(self) -> dict[str, Any]:
        """The summary, references, runs (without loss logs), variants' settings and meta as JSON values."""
        return {
            "summary": self.summary(),
            "references": self.references,
            "runs": [{k: v for k, v in vars(r).items() if k != "log"} for r in self.runs],
            "variants": {name: v.config.to_dict() for name, v in self.variants.items()},
            "meta": self.meta,
        }

    @classmethod
    def load(cls, path: str | os.PathLike) -> Comparison:
        """A Comparison saved as JSON (``save``'s results.json, or a benchmark's), to read and compare again."""
        return cls.from_dict(read_json(path, "comparison results file"), str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "the data") -> Comparison:
        """The inverse of ``to_dict`` (``source`` names the origin in errors)."""
        if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
            raise ValueError(f"{source} is not a comparison results file (no 'runs' list)")
        fields = {f.name for f in dataclasses.fields(RunResult)}
        runs = [RunResult(**{k: v for k, v in r.items() if k in fields}) for r in data["runs"]]
        variants = {}
        for name, settings in data.get("variants", {}).items():
            spec = settings.get("mapping")
            config = {k: v for k, v in settings.items() if k != "mapping"}
            variants[name] = Variant(
                name, DistillConfig(**config, mapping=parse_manual(spec) if spec else None)
            )
        return cls(runs, variants, dict(data.get("references", {})), dict(data.get("meta", {})))

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """results.csv, results.md, results.json and results.png in ``out_dir`` (atomic writes)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "csv": write_text_atomic(out / "results.csv", self.to_csv()),
            "markdown": write_text_atomic(out / "results.md", self.to_markdown() + "\n"),
            "json": write_json_atomic(out / "results.json", self.to_dict()),
        }
        fig = self.plot()
        paths["figure"] = save_figure_atomic(fig, out / "results.png", dpi=120)
        plt.close(fig)
        return paths

    def plot(self, ax: Any = None, title: str | None = None):
        """Test accuracy per variant, seeds and references: ``plots.plot_comparison``."""
        return plot_comparison(self, ax, title)


def _bootstrap_counts(n_seeds: int, n_examples: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial counts of ``n_boot`` resamplings of the seeds (B, S) and of the test examples (B, N)."""
    rng = np.random.default_rng(seed)
    c_s = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot)
    c_x = rng.multinomial(n_examples, np.full(n_examples, 1 / n_examples), size=n_boot)
    return c_s, c_x


def _spearman(scores: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``scores`` (B, R) with ``x`` (R,): the Pearson correlation of
    their ranks (ties share their mean rank); NaN where a row's scores are all equal."""
    from scipy.stats import rankdata  # here: scipy.stats takes over a second to import, every run of the CLI

    r_s = rankdata(scores, axis=1)
    r_x = rankdata(x)
    r_s = r_s - r_s.mean(axis=1, keepdims=True)
    r_x = r_x - r_x.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (r_s @ r_x) / np.sqrt((r_s**2).sum(axis=1) * (r_x**2).sum())


def load_sections(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Comparison]]:
    """A results file in sections (benchmarks/clinc150.py's): its meta and one Comparison per section.

    Each section's title is in its Comparison's ``meta["title"]``; the file's
    reference rows (teacher, TF-IDF) are added to every section.
    """
    data = read_json(path, "sectioned results file")
    if not isinstance(data, dict) or not isinstance(data.get("sections"), dict):
        raise ValueError(f"{path} is not a sectioned results file (no 'sections' object)")
    sections = {}
    for key, section in data["sections"].items():
        c = Comparison.from_dict(section, f"{path} section {key!r}")
        c.references = {**data.get("references", {}), **c.references}
        c.meta["title"] = section.get("title", key)
        sections[key] = c
    return dict(data.get("meta", {})), sections


def check_plan(variants: Sequence[Variant], seeds: Sequence[int]) -> None:
    """Reject a comparison plan before any training: repeated variant names, no seeds or repeated seeds."""
    names = [v.name for v in variants]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"give one or more variants with unique names, got {names}")
    if len(seeds) < 1 or len(set(seeds)) != len(seeds):
        raise ValueError(f"give one or more distinct seeds, got {list(seeds)}")


def start_workers() -> Any:
    """The process context of a comparison's workers, started ahead of need.

    Workers are forked from a fork server (never from the caller: a process forked after
    OpenMP has run can hang) that imports this package once, so each worker starts in
    about a second instead of importing torch and transformers itself (some 10 s on a
    small CPU). The server starts in the background: call this early (the demo does,
    before training its teacher) and the import overlaps other work. Returns the context
    (where there is no fork server, as on Windows, spawned workers: they import the package each).
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return torch.multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    context = torch.multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    forkserver.ensure_running()
    return context


# What every run of a comparison shares, set once per worker process (run_comparison, workers > 1).
_WORKER: dict[str, Any] = {}


def _worker_init(shared: dict[str, Any], threads: int) -> None:
    """A worker's set-up: its threads, and the teacher rebuilt from its class, config and weights
    (a Hugging Face model carries hooks that do not pickle; the weights come in shared memory)."""
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()  # a worker's bars would interleave with the caller's output
    model_class, config, state = shared.pop("teacher")
    teacher = model_class(config)
    teacher.load_state_dict(state)
    _WORKER.update(shared, teacher=teacher.eval())


def _run_one(task: tuple[Variant, int], shared: dict[str, Any] | None = None) -> RunResult:
    """One run of a comparison: ``task`` = (variant, seed); ``shared`` as in run_comparison."""
    variant, seed = task
    w = _WORKER if shared is None else shared
    _, run = distill(
        w["teacher"],
        w["tokenizer"],
        w["data"] if variant.data is None else variant.data,
        variant.config,
        dataclasses.replace(variant.train or w["train"], seed=seed),
        student=w["student"],
        cache=w["cache"] if variant.data is None else None,
    )
    return dataclasses.replace(run, name=variant.name)


@dataclass(frozen=True)
class RunOptions:
    """How ``run_comparison`` carries out its runs, never what they compute (see there)."""

    on_run: Callable[[RunResult], None] | None = None
    on_update: Callable[[Comparison], None] | None = None
    workers: int = 1
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, got {self.workers!r}")


def run_comparison(
    teacher: Any,
    tokenizer: Any,
    data: Any,
    variants: Sequence[Variant],
    student: StudentConfig,
    train: TrainConfig,
    seeds: Sequence[int] = (0, 1, 2),
    **options: Any,
) -> Comparison:
    """Train a fresh student for every variant and seed; return the Comparison.

    ``options``: the fields of :class:`RunOptions` (``on_run``, ``on_update``, ``workers``,
    ``progress``). Every run starts from the same student construction (``student.init_from``
    teacher blocks when given, else from scratch with the seed), so rows differ only in the objective. With
    ``train.cache_teacher`` the teacher runs over the training split once, keeping its logits
    and the blocks the variants align, and every step of every run reuses them. ``on_run`` is
    called after each run, in the order of the plan (the command line prints a line there), then
    ``on_update`` with the comparison so far (to save partial results).

    ``workers`` > 1 trains that many runs at once, each in its own process (``start_workers``;
    the teacher and its cache reach them through shared memory) with the CPU's
    cores divided between them: small students use several cores poorly, so two
    one-thread runs finish sooner than two two-thread runs one after the other. A
    run's result depends only on its seed and on the number of threads it had.

    ``progress`` shows a tqdm progress bar over the runs (off by default: the command
    line prints a line per run through ``on_run`` instead, and prints nothing with ``--quiet``).
    """
    check_plan(variants, seeds)
    opts = RunOptions(**options)  # an unknown option is a TypeError naming it
    workers, progress = opts.workers, opts.progress
    if workers > 1 and any(p.is_cuda for p in teacher.parameters()):
        raise ValueError("workers > 1 divides the CPU's cores between runs; on a GPU, use workers=1")
    comparison = Comparison()
    start = time.time()
    cache = None
    if train.cache_teacher:
        blocks = sorted(
            {t for v in variants if v.config.uses_features for t in v.config.mapping.teacher_blocks}
        )
        cache = text_teacher_cache(teacher, data.train, tokenizer, blocks, train.max_length)
        comparison.meta["teacher_cache"] = (
            f"{cache.nbytes / 2**20:.0f} MiB, blocks {blocks}"
            if cache is not None
            else f"off: over the {CACHE_BUDGET_BYTES / 2**30:g} GiB budget, the teacher ran in every step"
        )
    shared = {"teacher": teacher, "tokenizer": tokenizer, "data": data, "train": train, "student": student}
    shared["cache"] = cache
    tasks = [(variant, seed) for variant in variants for seed in seeds]
    workers = min(workers, len(tasks))
    if workers == 1:
        runs = (_run_one(task, shared) for task in tasks)
        pool = None
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = start_workers()
        # the teacher as (class, config, weights); the model itself does not pickle
        sent = shared | {"teacher": (type(teacher), teacher.config, teacher.state_dict())}
        pool = context.Pool(workers, initializer=_worker_init, initargs=(sent, threads))
        runs = pool.imap(_run_one, tasks)  # results come back in the order of the plan
    bar = tqdm(total=len(tasks), disable=not progress, desc="runs", unit="run")
    try:
        for (variant, seed), run in zip(tasks, runs, strict=True):
            comparison.add(variant, run)
            bar.set_postfix_str(f"{variant.name}, seed {seed}", refresh=False)
            bar.update()
            if opts.on_run is not None:
                opts.on_run(run)
            if opts.on_update is not None:
                opts.on_update(comparison)
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        bar.close()
    if pool is not None:
        pool.close()
        pool.join()
    comparison.meta.update(
        workers=workers,
        test_examples=len(data.test),
        n_student_blocks=student.n_student_blocks,
        init_from=list(student.init_from or []),
        freeze_embeddings=student.freeze_embeddings,
        pretrained_student=student.pretrained,
        pooling=student.pooling,
        seeds=list(seeds),
        epochs=train.epochs,
        lr=train.lr,
        batch_size=train.batch_size,
        wall_seconds=round(time.time() - start, 1),
    )
    return comparison


def reference_accuracies(teacher: Any, tokenizer: Any, data: Any) -> dict[str, float]:
    """The reference rows a reader needs beside the students: the teacher and TF-IDF + linear.

    The teacher on ``data.test``; a TF-IDF word and character n-gram linear
    classifier trained on ``data.train``.
    """
    return {
        "teacher": evaluate_accuracy(teacher, text_batches(data.test, tokenizer)),
        "TF-IDF + linear": tfidf_baseline(data)["test_accuracy"],
    }
