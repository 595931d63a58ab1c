"""Saved models on disk: which files a model folder holds, reading a pretrained model's config, quiet loading.

The bottom of the package's model code: it imports no other module of the package, so
``config``, ``text``, ``training``, ``teacher`` and ``distill`` all import it and none of
them has to reach upwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from transformers import AutoConfig
from transformers.utils import logging as hf_logging

__all__ = [
    "TOKENIZER_FILES",
    "WEIGHT_FILES",
    "check_model_files",
    "check_tokenizer_files",
    "first_line",
    "local_model_dir",
    "pretrained_model_config",
    "quiet_transformers",
]

# A folder written by save_pretrained holds one of these (single-file or sharded weights).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# A saved tokenizer holds one of these (fast, BPE, WordPiece or SentencePiece vocabularies).
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_model_files(folder: str | os.PathLike) -> Path:
    """Raise ValueError naming the first unreadable (truncated or corrupt) file of a saved model or checkpoint.

    Reads only headers: a .safetensors file's index, a .pt / .pth file's zip directory, and
    each .json file.
    """
    folder = Path(folder)
    for path in sorted(folder.iterdir()):
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), "pt"):
                    pass
            elif path.suffix in (".pt", ".pth"):
                zipfile.ZipFile(path).close()
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except (SafetensorError, zipfile.BadZipFile, ValueError, OSError) as e:
            raise ValueError(
                f"{path} cannot be read ({first_line(e)}): the file is truncated or corrupt; save it again, "
                "or start without it"
            ) from None
    return folder


def check_tokenizer_files(folder: str | os.PathLike, what: str = "the model folder") -> None:
    """Raise FileNotFoundError when a model folder holds no tokenizer: transformers would fall back to a
    tokenizer of a few special tokens and every text would become the same two ids."""
    if not any((Path(folder) / name).is_file() for name in TOKENIZER_FILES):
        raise FileNotFoundError(
            f"{what} {folder} holds no tokenizer (none of {', '.join(TOKENIZER_FILES)}): save the tokenizer "
            "beside the model (tokenizer.save_pretrained(folder)), as train-teacher does"
        )


def local_model_dir(name_or_dir: str) -> Path | None:
    """The folder ``name_or_dir`` names (checked to hold a model), or None for a hub name."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"the student folder {name_or_dir} holds no model (no config.json): give a folder written by "
                "save_pretrained, or a hub name such as roberta-base"
            )
        if not any((path / name).is_file() for name in WEIGHT_FILES):
            raise FileNotFoundError(
                f"the student folder {name_or_dir} has a config.json but no weights ({WEIGHT_FILES[0]} or "
                f"{WEIGHT_FILES[2]}): save the model with save_pretrained"
            )
        check_model_files(path)
        return path
    if path.exists() or name_or_dir.startswith((".", "/", "~")):
        raise FileNotFoundError(
            f"no student model folder at {name_or_dir}: give a folder written by save_pretrained, "
            "or a hub name such as roberta-base"
        )
    return None


def pretrained_model_config(name_or_dir: str | os.PathLike) -> Any:
    """The config of a pretrained model (a hub name or a save_pretrained folder), with clear errors.

    Raises FileNotFoundError for a folder without a model (no config.json, or no
    weights) and OSError when a hub name cannot be read (no internet and no cached copy).
    """
    name = os.fspath(name_or_dir)
    local = local_model_dir(name)
    try:
        return AutoConfig.from_pretrained(str(local or name))
    except OSError as e:
        raise OSError(
            f"cannot read the model {name!r} ({first_line(e)}): "
            "a hub name needs internet or a cached copy; or give a folder written by save_pretrained"
        ) from None


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' logs and loading bars for the block (its messages print local paths)."""
    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
