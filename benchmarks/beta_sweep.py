"""Where the feature term starts to matter: a sweep of beta for the spectral and hidden-MSE losses.

    python benchmarks/beta_sweep.py [--data builtin] [--profile laptop] [--betas 0.02,0.2,2,20]

Every feature term is normalised (DistillConfig.normalize): each link's loss is divided by the same
loss of an all-zero student, so a beta means the same for both loss forms. For each beta the
table gives the test accuracy over seeds and the share of the total loss that the feature term
(beta x feature) held in the last epoch. Writes benchmarks/results/beta_sweep.json, .md and .png
with the command, commit, date and core count.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _results import provenance, provenance_line  # noqa: E402

import spectralkd_lite as skd  # noqa: E402
from spectralkd_lite.io import save_figure_atomic, write_json_atomic, write_text_atomic  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="builtin", help="intent data (default: builtin)")
    parser.add_argument("--profile", default="laptop", choices=["tiny", "laptop", "full"])
    parser.add_argument("--betas", default="0.02,0.2,2,20")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    betas = [float(b) for b in args.betas.split(",")]
    seeds = tuple(int(s) for s in args.seeds.split(","))
    origin = provenance()  # taken before the run: the commit whose code this run loads
    start = time.time()
    data = skd.load_intents(args.data)
    teacher, tokenizer, info = skd.get_teacher(args.profile, data)
    n_teacher, n_student = teacher.config.num_hidden_layers, 2
    uniform = skd.resolve("uniform", n_teacher, n_student)
    variants = [skd.Variant("logit KD (beta 0)", skd.DistillConfig(alpha=0.9))]
    for feature, label in (("spectral_tokens", "spectral"), ("mse", "MSE")):
        for beta in betas:
            config = skd.DistillConfig(alpha=0.9, beta=beta, feature=feature, mapping=uniform)
            variants.append(skd.Variant(f"{label}, beta {beta:g}", config))
    student = skd.StudentConfig(n_student, init_from=tuple(uniform.teacher_blocks), freeze_embeddings=True)
    train = skd.TrainConfig(epochs=args.epochs, lr=args.lr, cache_teacher=True)
    comparison = skd.run_comparison(teacher, tokenizer, data, variants, student, train, seeds=seeds)
    comparison.add_reference("teacher", info["test_accuracy"])
    share = {}
    for variant in variants:
        last = [r.log[-1] for r in comparison.runs if r.name == variant.name]
        beta = variant.config.beta
        share[variant.name] = sum(beta * e["loss_feature"] / e["loss"] for e in last) / len(last)
    comparison.meta.update(
        {
            **origin,
            "profile": args.profile,
            "data": args.data,
            "feature_share_last_epoch": share,
            "wall_seconds": round(time.time() - start, 1),
        }
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Beta sweep: when does the (normalised) feature term matter?",
        "",
        provenance_line(comparison.meta),
        f"{args.data} data, {args.profile} teacher, 2-block students from teacher blocks "
        f"{uniform.teacher_blocks}, {args.epochs:g} epochs, seeds {list(seeds)}.",
        "",
        comparison.to_markdown(),
        "",
        "| variant | beta x feature / total loss, last epoch (mean over seeds) |",
        "|---|---:|",
        *(f"| {name} | {value:.3f} |" for name, value in share.items()),
        "",
        *(f"- {comparison.compare(v.name, variants[0].name)}" for v in variants[1:]),
    ]
    write_text_atomic(out / "beta_sweep.md", "\n".join(lines) + "\n")
    write_json_atomic(out / "beta_sweep.json", comparison.to_dict())
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    base = comparison.row(variants[0].name)
    ax.axhspan(100 * base["min"], 100 * base["max"], color="0.85", label="logit KD (beta 0): seed range")
    for label, marker in (("spectral", "o"), ("MSE", "s")):
        rows = [comparison.row(f"{label}, beta {b:g}") for b in betas]
        ax.errorbar(
            betas,
            [100 * r["mean"] for r in rows],
            yerr=[100 * r["std"] for r in rows],
            marker=marker,
            capsize=4,
            label=f"logit KD + {label} (normalised)",
        )
    ax.axhline(100 * info["test_accuracy"], ls="--", color="tab:red", label="teacher")
    ax.set_xscale("log")
    ax.set_xlabel("beta (weight of the normalised feature term)")
    ax.set_ylabel("test accuracy (%), mean ± std")
    n_test = len(data.test)
    ax.set_title(f"Beta sweep ({args.data}: one test example = {100 / n_test:.2f} points)")
    ax.legend(fontsize="small")
    save_figure_atomic(fig, out / "beta_sweep.png", dpi=120)
    print("\n".join(lines))
    print(f"wall time {comparison.meta['wall_seconds']:.0f} s; wrote {out}/beta_sweep.json, .md, .png")


if __name__ == "__main__":
    main()
