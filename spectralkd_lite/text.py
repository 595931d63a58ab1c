"""Text models: tokenizers, tiny RoBERTa classifiers, batching, and Trainer fine-tuning.

The ``tiny`` profile builds everything offline: a byte-level BPE tokenizer
trained on the training texts and a RoBERTa built from a config. Both are saved
with ``save_pretrained`` and loaded back with ``from_pretrained``, the same code
that loads ``roberta-large`` from the hub in the ``full`` profile.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from torch.utils.data import DataLoader, Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
    Trainer,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from .config import TrainConfig
from .data import IntentData, IntentSplit
from .modelfiles import check_model_files, check_tokenizer_files
from .pooling import apply_pooling
from .training import (
    KeepBestEpoch,
    StopOnNonFiniteLoss,
    accuracy_metric,
    correct_predictions,
    pack_flags,
    quiet_trainer,
    training_arguments,
    validation_curve,
)

__all__ = [
    "SPECIAL_TOKENS",
    "EncodedSplit",
    "build_tiny_teacher",
    "check_text_model",
    "collator",
    "load_classifier",
    "max_tokens",
    "resume_checkpoint",
    "save_trained",
    "text_batches",
    "tiny_roberta_config",
    "train_and_score",
    "train_bpe_tokenizer",
    "train_classifier",
    "trainer_inputs",
]

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4


def train_bpe_tokenizer(texts: Sequence[str], vocab_size: int = 2000, max_length: int = 64):
    """A RoBERTa-style byte-level BPE tokenizer trained on ``texts`` (offline, seconds).

    Returns a transformers fast tokenizer with RoBERTa's special tokens
    (<s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4) and ``<s> ... </s>`` framing.
    """
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=max_length,
    )


def tiny_roberta_config(
    num_labels: int,
    vocab_size: int,
    n_blocks: int = 8,
    width: int = 64,
    heads: int = 4,
    intermediate: int | None = None,
    max_length: int = 64,
    label_names: Sequence[str] | None = None,
):
    """A small RoBERTa classification config (``tiny`` profile)."""
    if width % heads:
        raise ValueError(f"width {width} must be divisible by the number of heads {heads}")
    names = list(label_names) if label_names is not None else [str(i) for i in range(num_labels)]
    return RobertaConfig(
        vocab_size=vocab_size,
        hidden_size=width,
        num_hidden_layers=n_blocks,
        num_attention_heads=heads,
        intermediate_size=intermediate or 4 * width,
        max_position_embeddings=max_length + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=num_labels,
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


class EncodedSplit(Dataset):
    """Tokenized texts (no padding; the collator pads per batch) with their labels.

    With ``with_index`` each item also carries ``example_index`` (its position in the
    split), which a cache of teacher outputs is looked up by.
    """

    def __init__(
        self, split: IntentSplit, tokenizer: Any, max_length: int = 64, with_index: bool = False
    ) -> None:
        special = tokenizer.num_special_tokens_to_add()
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= special:
            raise ValueError(
                f"max_length {max_length!r} leaves no room for text: the tokenizer adds {special} special "
                f"tokens, so give at least {special + 1}"
            )
        enc = tokenizer(split.texts, truncation=True, max_length=max_length)
        self.input_ids = enc["input_ids"]
        self.labels = split.labels
        self.with_index = with_index

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {"input_ids": self.input_ids[i], "labels": self.labels[i]}
        if self.with_index:
            item["example_index"] = i
        return item


def max_tokens(config: Any) -> int | None:
    """The longest input a model's position embeddings take (None when its config does not say).

    RoBERTa-style models number positions from ``pad_token_id + 1``, so they take
    ``max_position_embeddings - pad_token_id - 1`` tokens; BERT-style models all of them.
    """
    n = getattr(config, "max_position_embeddings", None)
    if not isinstance(n, int):
        return None
    model_type = str(getattr(config, "model_type", ""))
    if "roberta" in model_type or "camembert" in model_type:
        return n - int(getattr(config, "pad_token_id", None) or 0) - 1
    return n


def check_text_model(config: Any, max_length: int, tokenizer: Any = None, what: str = "the model") -> None:
    """Reject, before any forward pass, a ``max_length`` over the model's position embeddings
    and a tokenizer with more tokens than the model's vocabulary (both would index out of range)."""
    longest = max_tokens(config)
    if longest is not None and max_length > longest:
        raise ValueError(
            f"max_length {max_length} is longer than {what} takes: its position embeddings allow at most "
            f"{longest} tokens; give a max_length of at most {longest}"
        )
    vocab = getattr(config, "vocab_size", None)
    if tokenizer is not None and isinstance(vocab, int) and len(tokenizer) > vocab:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the vocabulary of {what} has {vocab}; "
            f"give a model with vocab_size >= {len(tokenizer)} (built for this tokenizer)"
        )


def collator(tokenizer: Any):
    """Pads each batch to its longest sequence and returns the attention mask."""
    return DataCollatorWithPadding(tokenizer, return_tensors="pt")


def text_batches(
    split: IntentSplit, tokenizer: Any, batch_size: int = 64, max_length: int = 64
) -> DataLoader:
    """A DataLoader of padded batches (input_ids, attention_mask, labels) in order."""
    return DataLoader(
        EncodedSplit(split, tokenizer, max_length),
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collator(tokenizer),
    )


def _sampling(train: TrainConfig) -> dict[str, str]:
    """Batches of similar lengths (shuffled in groups: less padding, about a quarter faster on a CPU),
    except when checkpoints are kept to resume from: the length-grouped order is drawn from the
    global RNG at each epoch's start, so only the Trainer's seeded sampler makes a resumed run
    repeat the uninterrupted one exactly."""
    if train.checkpoints or train.resume:
        return {}
    return {"train_sampling_strategy": "group_by_length"}


def trainer_inputs(
    model: Any,
    tokenizer: Any,
    split: IntentSplit,
    train: TrainConfig,
    out_dir: str | os.PathLike,
    with_index: bool = False,
    validation: IntentSplit | None = None,
) -> dict[str, Any]:
    """The keyword arguments every text Trainer here is built with (Trainer or DistillationTrainer).

    ``with_index`` gives each example its position in ``split`` (for a TeacherCache);
    ``validation`` is the split early stopping evaluates on (``train.early_stopping``).
    """
    check_text_model(model.config, train.max_length, tokenizer, "the model to train")
    train_set = EncodedSplit(split, tokenizer, train.max_length, with_index=with_index)
    inputs = {
        "model": model,
        "args": training_arguments(train, out_dir, len(train_set), **_sampling(train)),
        "train_dataset": train_set,
        "data_collator": collator(tokenizer),
        "processing_class": tokenizer,
        "callbacks": [*train.callbacks, StopOnNonFiniteLoss()],
    }
    if train.early_stopping is not None:
        if validation is None or len(validation) == 0:
            raise ValueError("early stopping needs a validation split with examples; the data has none")
        inputs["eval_dataset"] = EncodedSplit(validation, tokenizer, train.max_length)
        inputs["compute_metrics"] = accuracy_metric
        inputs["callbacks"].append(KeepBestEpoch(train.early_stopping))
    return inputs


def train_and_score(trainer: Any, tokenizer: Any, data: IntentData, train: TrainConfig) -> dict[str, Any]:
    """Run ``trainer.train`` (resuming when ``train.resume``), then test the model on validation and test.

    Returns ``{"validation_accuracy", "test_accuracy", "test_correct", "train_seconds", "steps",
    "log"}`` (``test_correct``: ``training.pack_flags`` of each test example's correctness);
    ``log`` holds the Trainer's loss log entries (and the validation accuracy of each
    epoch under early stopping, when the best epoch's weights are the ones tested).
    """
    quiet_trainer(trainer, train.progress)
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(trainer.args.output_dir, train.resume))
    flags = {
        split: correct_predictions(
            trainer.model, text_batches(getattr(data, split), tokenizer, max_length=train.max_length)
        )
        for split in ("validation", "test")
    }
    return {
        **{f"{split}_accuracy": float(f.float().mean()) for split, f in flags.items()},
        "test_correct": pack_flags(flags["test"]),
        "train_seconds": float(result.metrics.get("train_runtime", 0.0)),
        "steps": int(trainer.state.global_step),
        "log": [h for h in trainer.state.log_history if "loss" in h or "eval_accuracy" in h],
    }


def save_trained(trainer: Any, out_dir: str | os.PathLike, train: TrainConfig) -> None:
    """Save the trained model (and tokenizer) to ``out_dir``; drop the epoch checkpoints early
    stopping wrote there (optimiser state included, several times the model's size) unless
    ``train.checkpoints`` asked to keep them."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(folder))
    if not train.checkpoints:
        for checkpoint in folder.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)


def resume_checkpoint(out_dir: str | os.PathLike, resume: bool | str) -> str | None:
    """The checkpoint folder a run resumes from (None: start afresh), checked to be readable.

    ``resume`` True means the last ``checkpoint-N`` in ``out_dir``; a string is a checkpoint folder.
    """
    if not resume:
        return None
    folder = get_last_checkpoint(str(out_dir)) if resume is True else str(resume)
    if folder is None or not Path(folder).is_dir():
        where = out_dir if resume is True else resume
        raise FileNotFoundError(f"no checkpoint to resume from in {where}; start without resume")
    check_model_files(folder)
    return folder


def train_classifier(
    model: Any, tokenizer: Any, data: IntentData, out_dir: str | os.PathLike, train: TrainConfig
) -> dict[str, float]:
    """Fine-tune a sequence classifier with the transformers Trainer, save it, test it.

    Saves model and tokenizer to ``out_dir`` with ``save_pretrained`` and returns
    ``{"validation_accuracy", "test_accuracy", "train_seconds", "steps", "validation_curve"}``;
    ``validation_curve`` is the validation accuracy after each epoch under early stopping
    (``train.early_stopping``), else empty.
    """
    set_seed(train.seed)
    trainer = Trainer(
        **trainer_inputs(model, tokenizer, data.train, train, out_dir, validation=data.validation)
    )
    scores = train_and_score(trainer, tokenizer, data, train)
    save_trained(trainer, out_dir, train)
    curve = validation_curve(scores["log"])
    return {**{k: v for k, v in scores.items() if k != "log"}, "validation_curve": curve}


def load_classifier(name_or_path: str | os.PathLike, **kwargs: Any):
    """Model and tokenizer from a local folder or a hub name (``from_pretrained``)."""
    path = str(name_or_path)
    if not Path(path).is_dir() and (path.startswith((".", "/", "~")) or Path(path).exists()):
        raise FileNotFoundError(f"no model folder at {path} (expected a folder written by save_pretrained)")
    if Path(path).is_dir():
        if not (Path(path) / "config.json").is_file():
            raise FileNotFoundError(
                f"the folder {path} holds no model (no config.json): give a folder written by save_pretrained "
                "(an interrupted train-teacher leaves an empty one; train again)"
            )
        check_model_files(path)
        check_tokenizer_files(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = apply_pooling(AutoModelForSequenceClassification.from_pretrained(path, **kwargs))
    return model, tokenizer


def build_tiny_teacher(
    data: IntentData,
    n_blocks: int = 8,
    width: int = 64,
    heads: int = 4,
    max_length: int = 64,
    vocab_size: int = 2000,
    seed: int = 0,
):
    """A from-scratch RoBERTa classifier and its tokenizer for ``data`` (tiny profile)."""
    set_seed(seed)
    tokenizer = train_bpe_tokenizer(data.train.texts, vocab_size=vocab_size, max_length=max_length)
    config = tiny_roberta_config(
        data.num_labels,
        len(tokenizer),
        n_blocks=n_blocks,
        width=width,
        heads=heads,
        max_length=max_length,
        label_names=data.label_names,
    )
    return RobertaForSequenceClassification(config), tokenizer
