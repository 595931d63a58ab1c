"""The mapping, separated from the initialisation: do the most intense teacher blocks teach best?

    python benchmarks/mappings.py --data ../shared/data/clinc150/data_full.json

The direct test of the claim that the teacher layers to distil from are the most
intense ones. In fewlabel.py's setting (CLINC150, 10 labelled utterances per intent,
the rest as a transfer set the teacher labels, the same teacher), every student starts
from one fixed initialisation that is not the teacher's blocks (the pretrained
all-MiniLM-L6-v2's blocks 1 and 2), so the choice of teacher blocks can only act
through the loss. A 2-block student trains with logit KD + the spectral loss (token
axis, normalised, beta 2: ``skd.compare.COMPARISON_CONFIG``) on each of the 15 pairs
of the teacher's 6 blocks (student block 1 to the shallower one), over --seeds; logit
KD without a feature term is the reference row. Every run has fewlabel.py's schedule
(up to --epochs passes over labelled + transfer, early stopping on the 750 validation
utterances) and the same seeds and data order, so the runs of fewlabel.py's rows that
are one of these (logit KD; the spectral term on the uniform, most and least intense
blocks: each a pair here) are taken from --out/fewlabel.json, not trained again, when
that file holds the same teacher and schedule; the results say which. (One epoch is too
short: the rows differ most there and are unstable, logit KD alone 17.7% and 39.8% on
two seeds, the least intense pair 2.6%.) This teacher's intensity rises with depth, so
the rank correlation with depth is reported beside the one with intensity.

Reported: each mapping's accuracy beside its teacher blocks' mean spectral intensity;
the spread of the 15 mapping means against the seed spread (a one-way ANOVA over the
per-seed accuracies); Spearman's rank correlation between a mapping's accuracy and its
intensity, with a 95% interval from a bootstrap over seeds and test utterances
(``Comparison.rank_correlation``); the most against the least intense pair, paired.
Results go to --out/mappings.json, .md and .png after every run (atomically), so an
interrupted command leaves the runs it finished, and a rerun trains only what is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from _results import provenance, provenance_line
from fewlabel import add_setting_arguments, prepare, print_run
from scipy.stats import f_oneway, spearmanr

import spectralkd_lite as skd
from spectralkd_lite.compare import COMPARISON_CONFIG
from spectralkd_lite.io import read_json, save_figure_atomic, write_json_atomic, write_text_atomic
from spectralkd_lite.transfer import KD, FewLabelData, run_few_label


def pair_name(a: int, b: int) -> str:
    return f"spectral on teacher blocks {a}, {b}"


def mapping_rows(n_teacher: int, intensity: list[float]) -> tuple[list[skd.Variant], dict[str, float]]:
    """Logit KD, then logit KD + spectral on every pair of teacher blocks; and each pair row's
    mean intensity over its two blocks."""
    rows = [
        skd.Variant(
            KD, skd.DistillConfig(alpha=COMPARISON_CONFIG.alpha, temperature=COMPARISON_CONFIG.temperature)
        )
    ]
    values = {}
    for a, b in itertools.combinations(range(1, n_teacher + 1), 2):
        mapping = skd.resolve(f"1:{a}, 2:{b}", n_teacher, 2)
        rows.append(skd.Variant(pair_name(a, b), dataclasses.replace(COMPARISON_CONFIG, mapping=mapping)))
        values[pair_name(a, b)] = (intensity[a - 1] + intensity[b - 1]) / 2
    return rows, values


def findings(c: skd.Comparison, values: dict[str, float]) -> tuple[list[str], dict]:
    """The verdict lines and their numbers, from the pair rows that have every seed."""
    seeds = sorted({r.seed for r in c.runs})
    done = [n for n in values if sorted(r.seed for r in c.runs if r.name == n) == seeds]
    if len(done) < 3 or len(seeds) < 2:
        return [
            f"- {len(done)} of {len(values)} mappings have every seed: too few for the statistics yet."
        ], {}
    done_values = {n: values[n] for n in done}
    per_seed = {n: [r.test_accuracy for r in c.runs if r.name == n] for n in done}
    means = {n: statistics.fmean(a) for n, a in per_seed.items()}
    spread_means = statistics.stdev(means.values())
    seed_sd = statistics.fmean(statistics.stdev(a) for a in per_seed.values())
    anova = f_oneway(*per_seed.values())
    rank = c.rank_correlation(done_values)
    rank["p"] = float(spearmanr(list(means.values()), list(done_values.values())).pvalue)
    depth = {n: sum(map(int, n.rsplit("blocks ", 1)[1].split(", "))) / 2 for n in done}
    by_depth = c.rank_correlation(depth)
    together = float(spearmanr(list(done_values.values()), list(depth.values())).statistic)
    hot, cold = max(done_values, key=done_values.get), min(done_values, key=done_values.get)
    best, worst = max(means, key=means.get), min(means, key=means.get)
    hot_cold = c.paired_difference(hot, cold)
    numbers = {
        "mappings": len(done),
        "std_of_mapping_means": spread_means,
        "mean_seed_std": seed_sd,
        "seed_std_of_a_mean": seed_sd / len(seeds) ** 0.5,
        "anova_f": float(anova.statistic),
        "anova_p": float(anova.pvalue),
        "spearman": rank,
        "spearman_depth": by_depth,
        "intensity_depth": together,
        "most_minus_least_intense": hot_cold,
        "best": best,
        "worst": worst,
    }
    lines = [
        f"- Spread across the {len(done)} mappings: the mapping means range from {100 * means[worst]:.2f}% "
        f"({worst}) to {100 * means[best]:.2f}% ({best}); their standard deviation is {100 * spread_means:.2f} "
        f"points, against a seed standard deviation of {100 * seed_sd:.2f} points within a mapping "
        f"({100 * seed_sd / len(seeds) ** 0.5:.2f} for a mean of {len(seeds)} seeds). One-way ANOVA over the "
        f"per-seed accuracies: F = {anova.statistic:.2f}, p = {anova.pvalue:.3f} "
        f"({'the mappings differ beyond the seed noise' if anova.pvalue < 0.05 else 'no difference between mappings beyond the seed noise'}).",
        f"- Rank correlation (Spearman) between a mapping's accuracy and its blocks' mean spectral intensity: "
        f"{rank['rho']:+.2f}, 95% interval [{rank['low']:+.2f}, {rank['high']:+.2f}] (bootstrap over seeds and "
        f"test utterances; {'positive' if rank['low'] > 0 else 'negative' if rank['high'] < 0 else 'the interval spans 0'}); "
        f"against no relation at all across the {len(done)} mapping means, p = {rank['p']:.2f}. With the pair's "
        f"mean depth instead: {by_depth['rho']:+.2f} [{by_depth['low']:+.2f}, {by_depth['high']:+.2f}]; in this "
        f"teacher a pair's intensity and depth have a rank correlation of {together:+.2f}, so the two readings "
        f"{'cannot be told apart' if abs(together) > 0.7 else 'can partly be told apart'}.",
        f"- The most intense pair ({hot}) minus the least intense ({cold}): {100 * hot_cold['diff']:+.2f} points, "
        f"95% interval [{100 * hot_cold['low']:+.2f}, {100 * hot_cold['high']:+.2f}] (smallest detectable "
        f"difference {100 * hot_cold['detectable']:.2f} points over {len(hot_cold['seeds'])} paired seeds).",
    ]
    if KD in {r.name for r in c.runs}:
        d = c.paired_difference(best, KD)
        lines.append(
            f"- The best mapping ({best}) minus logit KD alone: {100 * d['diff']:+.2f} points, 95% interval "
            f"[{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] (the best of {len(done)} is picked after the fact, "
            "so this overstates it)."
        )
    return lines, numbers


def plot(c: skd.Comparison, values: dict[str, float], setting: dict, path: Path, chance: float) -> None:
    """Full scale (chance, the teacher) beside a marked zoom: accuracy against intensity."""
    fig, (full, zoom) = plt.subplots(1, 2, figsize=(13, 4.2))
    names = [n for n in values if any(r.name == n for r in c.runs)]
    acc = {n: [100 * r.test_accuracy for r in c.runs if r.name == n] for n in names}
    x = [values[n] for n in names]
    mean = [statistics.fmean(acc[n]) for n in names]
    sd = [statistics.stdev(acc[n]) if len(acc[n]) > 1 else 0.0 for n in names]
    kd = [100 * r.test_accuracy for r in c.runs if r.name == KD]
    for ax in (full, zoom):
        ax.errorbar(
            x, mean, yerr=sd, fmt="o", color="tab:blue", label="logit KD + spectral on a pair (± seed std)"
        )
        if kd:
            ax.axhline(statistics.fmean(kd), color="tab:orange", ls="-.", label="logit KD alone")
        ax.set_xlabel("mean spectral intensity of the pair's two teacher blocks")
    for n, xi, yi in zip(names, x, mean, strict=True):
        zoom.annotate(
            n.rsplit(" ", 2)[-2] + n.rsplit(" ", 1)[-1],
            (xi, yi),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    full.axhline(100 * chance, color="k", ls=":", label=f"chance ({100 * chance:.2f}%)")
    full.axhline(100 * setting["teacher_test"], color="tab:red", ls="--", label="teacher")
    full.set_ylim(0, 100)
    full.set_ylabel("test accuracy (%)")
    full.set_title("15 mappings: full scale")
    full.legend(loc="lower right", fontsize="small")
    zoom.set_ylabel("test accuracy (%), ZOOMED: axis does not start at 0")
    zoom.set_title("zoom: accuracy against the blocks' intensity")
    zoom.set_facecolor("#f4f4f4")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)


def write_results(out: Path, meta: dict, c: skd.Comparison, values: dict[str, float], setting: dict) -> None:
    lines, numbers = findings(c, values)
    d = meta["data"]
    md = ["# The mapping, separated from the initialisation: CLINC150, 15 pairs of teacher blocks", ""]
    md += [provenance_line(meta), ""]
    md.append(
        f"Setting (fewlabel.py's): {d['labelled']} labelled utterances ({d['per_intent']} per intent), "
        f"{d['transfer']} transfer utterances labelled by the teacher, {d['validation']} validation, "
        f"{d['test']} test (one = {100 / d['test']:.3f} points), {d['intents']} intents (chance "
        f"{100 / d['intents']:.2f}%). Teacher (seed {meta['teacher_seed']}): {100 * setting['teacher_test']:.2f}% "
        f"test; spectral intensity by block {[round(v, 4) for v in setting['intensity']]}."
    )
    t = meta["train"]
    md.append(
        f"Students: 2 blocks cut from the pretrained all-MiniLM-L6-v2 (blocks {meta['student_init']}), the same "
        f"start for every row; lr {t['lr']:g}, batch {t['batch_size']}, at most {t['epochs']:g} epochs over labelled "
        f"+ transfer with early stopping (patience {t['patience']}) on validation; logit KD (alpha {COMPARISON_CONFIG.alpha}, T "
        f"{COMPARISON_CONFIG.temperature:g}) + spectral (token axis, beta {COMPARISON_CONFIG.beta:g}, normalised) "
        "on the pair, student block 1 to the shallower teacher block."
    )
    for row, source in setting.get("reused", {}).items():
        md.append(
            f"- {row}: runs taken from {source} (the same teacher, start, data and schedule), not trained again."
        )
    md += ["", c.to_markdown(), ""]
    rows = sorted(values, key=values.get)
    md += ["| teacher blocks | mean intensity | test accuracy (mean ± std) |", "|---|---:|---:|"]
    for n in rows:
        accs = [r.test_accuracy for r in c.runs if r.name == n]
        if accs:
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            md.append(
                f"| {n.rsplit('blocks ', 1)[1]} | {values[n]:.4f} | {100 * statistics.fmean(accs):.2f} ± {100 * sd:.2f} |"
            )
    md += ["", "## Findings", ""] + lines
    md.append(f"- wall time of the last command: {setting['wall_seconds']:.0f} s.")
    write_json_atomic(
        out / "mappings.json",
        {"meta": meta, "setting": setting, "findings": numbers, "values": values, "comparison": c.to_dict()},
    )
    write_text_atomic(out / "mappings.md", "\n".join(md) + "\n")
    plot(c, values, setting, out / "mappings.png", 1 / d["intents"])


def reuse_fewlabel(
    path: Path, rows: list[skd.Variant], seeds: list[int], meta: dict, teacher_test: float, teacher_seed: int
) -> skd.Comparison:
    """The runs of fewlabel.py (``path``) that are rows of this sweep: the same teacher, data,
    start and schedule, a row with the same objective (compared as ``DistillConfig.to_dict``), a
    seed in ``seeds``; renamed to this sweep's row names. ``meta["reused"]`` says where each came from."""
    found = skd.Comparison()
    if not path.exists():
        return found
    saved = read_json(path, "few-label results")
    section = saved["sections"].get(f"teacher seed {teacher_seed}")
    few_train = {k: saved["meta"]["train"].get(k) for k in ("lr", "batch_size", "patience", "epochs")}
    same = (
        section is not None
        and section["setting"]["teacher_test"] == teacher_test
        and few_train == {k: meta["train"][k] for k in few_train}
        and saved["meta"]["student_init"] == meta["student_init"]
        and {k: saved["meta"]["data"].get(k) for k in meta["data"]} == meta["data"]
    )
    if not same:
        return found
    c = skd.Comparison.from_dict(section, f"{path} section teacher seed {teacher_seed}")
    for v in rows:
        for name, few in c.variants.items():
            if few.config.to_dict() == v.config.to_dict():
                for r in c.runs:
                    if r.name == name and r.seed in seeds:
                        found.add(v, dataclasses.replace(r, name=v.name))
                found.meta.setdefault("reused", {})[v.name] = (
                    f"fewlabel.json, teacher seed {teacher_seed}, row {name!r}"
                )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_setting_arguments(parser)
    parser.set_defaults(seeds="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    meta = provenance()
    start = time.time()
    st = prepare(args)
    rows, values = mapping_rows(st.teacher.config.num_hidden_layers, st.report.intensity)
    train = st.train
    meta.update(st.meta)
    meta["teacher_seed"] = args.teacher_seed
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "mappings.json"
    kept = skd.Comparison()  # runs of an earlier command with the same teacher and schedule
    if path.exists():
        earlier = read_json(path, "mapping results")
        if (
            earlier["setting"]["teacher_test"] == st.teacher_test
            and earlier["meta"]["train"] == meta["train"]
        ):
            kept = skd.Comparison.from_dict(earlier["comparison"], f"{path} comparison")
    reused = reuse_fewlabel(out / "fewlabel.json", rows, seeds, meta, st.teacher_test, args.teacher_seed)
    for v in rows:
        for r in reused.runs:
            if r.name == v.name and (r.name, r.seed) not in {(k.name, k.seed) for k in kept.runs}:
                kept.add(v, r)
    done = {(r.name, r.seed) for r in kept.runs}
    todo = [v for v in rows if any((v.name, s) not in done for s in seeds)]
    order = [v.name for v in rows]

    def save(new: skd.Comparison) -> None:
        c = skd.Comparison()
        retrained = {(r.name, r.seed) for r in new.runs}
        for source in (kept, new):
            for r in source.runs:
                if source is new or (r.name, r.seed) not in retrained:
                    c.add(source.variants[r.name], r)
        c.runs.sort(key=lambda r: (order.index(r.name), r.seed))
        c.references = {"teacher": st.teacher_test, "TF-IDF + linear": st.tfidf}
        setting = {
            "teacher_test": st.teacher_test,
            "intensity": st.report.intensity,
            "pseudo_label_accuracy": st.pseudo_acc,
            "wall_seconds": round(time.time() - start, 1),
            "reused": reused.meta.get("reused", {}),
        }
        write_results(out, meta, c, values, setting)

    print(f"{len(todo)} of {len(rows)} rows to train over seeds {seeds}", flush=True)
    result = run_few_label(
        st.teacher,
        st.tokenizer,
        FewLabelData(st.labelled, st.pseudo),
        todo,
        st.student,
        train,
        seeds,
        on_run=print_run,
        on_update=save,
        workers=args.workers,
    )
    save(result)
    print((out / "mappings.md").read_text(), flush=True)


if __name__ == "__main__":
    main()
