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
        layers=args.layers,
        epochs=args.epochs,
        student_layers=args.student_layers,
        seed=args.seed,
        progress=not args.quiet,
    )


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
    p.add_argument("--layers", type=_positive_int, default=8, help="teacher blocks (default: 8)")
    p.add_argument("--epochs", type=float, default=12, help="training epochs (default: 12)")
    p.add_argument(
        "--student-layers", type=_positive_int, default=4, help="student blocks to recommend for (default: 4)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)
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
