"""The ``spectralkd-lite`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _cmd_analyze(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from .io import ensure_writable_dir
    from .workflows import analyze_text_model, write_report_files

    out = ensure_writable_dir(args.out)
    report = analyze_text_model(
        args.model,
        args.data,
        args.split,
        batch_size=args.batch_size,
        max_length=args.max_length,
        max_batches=args.max_batches,
        device=args.device,
        progress=not args.quiet,
    )
    top = report.top_layers(min(args.top, report.num_layers))
    paths = write_report_files(report, out, highlight=top)
    print(report.format_table(highlight=top))
    print(f"\nmost intense blocks: {top}")
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _cmd_demo(args: argparse.Namespace) -> None:
    from .workflows import demo

    demo(
        args.out,
        distill_epochs=args.distill_epochs,
        layers=args.layers,
        epochs=args.epochs,
        student_layers=args.student_layers,
        seed=args.seed,
        progress=not args.quiet,
    )


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like '0,1,2', got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def _block_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected block numbers like '2,4,6', got {text!r}") from None


def _load_distill_inputs(args: argparse.Namespace):
    from .capture import num_blocks
    from .data import load_intents
    from .text import load_classifier

    teacher, tokenizer = load_classifier(args.teacher)
    data = load_intents(args.data)
    if teacher.config.num_labels != data.num_labels:
        raise ValueError(
            f"the teacher has {teacher.config.num_labels} labels but the data {data.name!r} has {data.num_labels}; "
            "distil on the data the teacher was trained on"
        )
    return teacher, tokenizer, data, num_blocks(teacher)


def _student_spec(spec: str, teacher):
    """An int (blocks, teacher's config), a config.json, or a save_pretrained folder."""
    from pathlib import Path

    if spec.isdigit():
        return int(spec), None
    path = Path(spec)
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if path.is_dir():
        student = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=teacher.config.num_labels
        )
    elif path.is_file():
        config = AutoConfig.from_pretrained(path)
        config.num_labels = teacher.config.num_labels
        student = AutoModelForSequenceClassification.from_config(config)
    else:
        raise FileNotFoundError(
            f"--student {spec!r}: give a number of blocks, a config.json, or a model folder"
        )
    return student.config.num_hidden_layers, student


def _distill_config(args: argparse.Namespace):
    from .distill import DistillConfig

    feature = None if args.feature == "none" else args.feature
    return DistillConfig(
        alpha=args.alpha, temperature=args.temperature, beta=args.beta if feature else 0.0, feature=feature
    )


def _cmd_distill(args: argparse.Namespace) -> None:
    from .distill import distill
    from .io import ensure_writable_dir, write_json_atomic
    from .workflows import resolve_mapping, teacher_intensity

    out = ensure_writable_dir(args.out)
    teacher, tokenizer, data, n_teacher = _load_distill_inputs(args)
    n_student, student = _student_spec(args.student, teacher)
    config = _distill_config(args)
    intensity = teacher_intensity(teacher, tokenizer, data).intensity if args.mapping == "top" else None
    mapping = resolve_mapping(args.mapping, n_teacher, n_student, intensity)
    print(f"mapping ({mapping.strategy}):\n{mapping.describe()}")
    model, run = distill(
        teacher,
        tokenizer,
        data,
        num_layers=n_student,
        student=student,
        config=config,
        mapping=mapping,
        init_from=args.init_from,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        out_dir=out,
        save=True,
        progress=not args.quiet,
        resume=args.resume,
        extra_args={"save_strategy": "epoch", "save_total_limit": 1},
    )
    mapping.save(out / "mapping.json")
    write_json_atomic(
        out / "metrics.json",
        {
            "test_accuracy": run.test_accuracy,
            "validation_accuracy": run.validation_accuracy,
            "train_seconds": run.train_seconds,
            "config": vars(config),
            "seed": args.seed,
        },
    )
    print(
        f"student test accuracy {run.test_accuracy:.4f} (validation {run.validation_accuracy:.4f}); saved to {out}"
    )


def _cmd_compare(args: argparse.Namespace) -> None:
    from .compare import compare_with_references, standard_variants
    from .io import ensure_writable_dir
    from .workflows import resolve_mapping, teacher_intensity

    out = ensure_writable_dir(args.out)
    teacher, tokenizer, data, n_teacher = _load_distill_inputs(args)
    report = teacher_intensity(teacher, tokenizer, data)
    spectral = (
        resolve_mapping(args.mapping, n_teacher, args.student_layers, report.intensity)
        if args.mapping
        else None
    )
    variants = standard_variants(
        n_teacher,
        args.student_layers,
        report.intensity,
        feature=args.feature,
        beta=args.beta,
        spectral_mapping=spectral,
    )
    comparison = compare_with_references(
        teacher,
        tokenizer,
        data,
        variants,
        verbose=not args.quiet,
        num_layers=args.student_layers,
        seeds=args.seeds,
        init_from=args.init_from,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
    )
    paths = comparison.save(out)
    print(comparison.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _add_distill_options(p: argparse.ArgumentParser) -> None:
    from .distill import TEXT_FEATURE_KINDS

    p.add_argument(
        "--teacher",
        required=True,
        help="the teacher: a folder written by save_pretrained (e.g. by train-teacher)",
    )
    p.add_argument(
        "--data",
        default="builtin",
        help="the teacher's data: builtin, a CLINC150 json, a BANKING77 folder, hub:... (default: builtin)",
    )
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument(
        "--feature",
        default="spectral_tokens",
        choices=[*TEXT_FEATURE_KINDS, "none"],
        help="feature loss (default: spectral_tokens)",
    )
    p.add_argument("--alpha", type=float, default=0.9, help="weight of logit KD, 0..1 (default: 0.9)")
    p.add_argument(
        "--beta", type=float, default=0.2, help="weight of the feature loss, the paper's w_fft (default: 0.2)"
    )
    p.add_argument("--temperature", type=float, default=1.0, help="KD temperature T (default: 1)")
    p.add_argument("--epochs", type=float, default=3, help="training epochs (default: 3)")
    p.add_argument("--lr", type=float, default=5e-4, help="learning rate (default: 5e-4)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="batch size (default: 32)")
    p.add_argument(
        "--init-from",
        type=_block_list,
        default=None,
        help="teacher blocks to copy into the student, e.g. '2,4,6' (needs equal widths)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectralkd-lite",
        description=(
            "Spectral analysis and spectral knowledge distillation of transformers. "
            "Layers are named by block number 1..N (hidden_states[i] is block i; 0 is the embeddings)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "analyze",
        help="spectral report of every block of a text model",
        description=(
            "Stream a data split through a Hugging Face text model and measure each block's spectrum "
            "along the channel axis (padding masked). Writes report.json, report.csv, intensity.png "
            "and spectra.png to --out."
        ),
    )
    p.add_argument(
        "--model", required=True, help="a folder written by save_pretrained, or a hub name (needs internet)"
    )
    p.add_argument(
        "--data",
        default="builtin",
        help="'builtin' (the project's intent set), a CLINC150 data_full.json, a BANKING77 folder, "
        "a folder with train/validation/test.csv, or hub:clinc_oos / hub:banking77 (default: builtin)",
    )
    p.add_argument(
        "--split",
        default="validation",
        choices=["train", "validation", "test"],
        help="split to analyse (default: validation)",
    )
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="batch size (default: 64)")
    p.add_argument(
        "--max-length",
        type=_positive_int,
        default=64,
        help="truncate texts to this many tokens (default: 64)",
    )
    p.add_argument(
        "--max-batches", type=_positive_int, default=None, help="stop after this many batches (default: all)"
    )
    p.add_argument(
        "--top", type=_positive_int, default=4, help="highlight this many most intense blocks (default: 4)"
    )
    p.add_argument(
        "--device", default=None, help="torch device, e.g. cpu or cuda (default: where the model loads)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser(
        "demo",
        help="train a small intent classifier offline, analyse it, recommend layers",
        description=(
            "The tiny-profile demo: a RoBERTa built from a config is trained on the built-in intent "
            "data (a minute or two on a CPU), analysed block by block, and the most intense blocks "
            "are recommended for a student. Writes the teacher, report and figures to --out."
        ),
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--layers", type=_positive_int, default=6, help="teacher blocks (default: 6)")
    p.add_argument("--epochs", type=float, default=20, help="training epochs (default: 20)")
    p.add_argument(
        "--student-layers", type=_positive_int, default=4, help="student blocks to recommend for (default: 4)"
    )
    p.add_argument(
        "--distill-epochs",
        type=float,
        default=6,
        help="epochs of each distillation run; 0 skips the distillation table (default: 6)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    from .teacher import register as register_train_teacher

    register_train_teacher(sub)

    from .similarity import register as register_compare_reports

    p = sub.add_parser(
        "distill",
        help="distil a teacher into a smaller student",
        description=(
            "Distil a sequence-classification teacher into a student with the DistillationTrainer: "
            "(1 - alpha) CE + alpha T^2 KL + beta L_feature over the mapped layers. Saves the student, "
            "mapping.json and metrics.json to --out; checkpoints every epoch (resume with --resume)."
        ),
    )
    _add_distill_options(p)
    p.add_argument(
        "--student",
        required=True,
        help="a number of blocks (the teacher's config, shallower), a config.json, or a model folder",
    )
    p.add_argument(
        "--mapping",
        default="top",
        help="top (most intense teacher blocks), ushape, uniform, paired, a spec like '1:2, 2:5+6, 3:0.3*7+0.7*8', "
        "or a mapping .json file (default: top)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --out")
    p.set_defaults(func=_cmd_distill)

    p = sub.add_parser(
        "compare",
        help="compare distillation variants over several seeds",
        description=(
            "Train a student for each variant (no KD, logit KD, + hidden MSE, + spectral with uniform, "
            "spectral and the blog's mappings) and seed; write results.csv, results.md, results.json "
            "and results.png with mean and spread, the teacher and a TF-IDF reference row."
        ),
    )
    _add_distill_options(p)
    p.add_argument("--student-layers", type=_positive_int, default=2, help="student blocks (default: 2)")
    p.add_argument("--seeds", type=_seed_list, default=[0, 1, 2], help="seeds, e.g. '0,1,2' (default: 0,1,2)")
    p.add_argument(
        "--mapping",
        default=None,
        help="the spectral row's mapping (default: top-k by intensity); a .json file or a spec",
    )
    p.set_defaults(func=_cmd_compare)

    register_compare_reports(sub)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args.func(args)
    except (CliError, ValueError, TypeError, FileNotFoundError, PermissionError, OSError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"spectralkd-lite {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
