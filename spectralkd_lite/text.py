"""Text models: tokenizers, tiny RoBERTa classifiers, batching, and Trainer fine-tuning.

The ``tiny`` profile builds everything offline: a byte-level BPE tokenizer
trained on the training texts and a RoBERTa built from a config. Both are saved
with ``save_pretrained`` and loaded back with ``from_pretrained``, the same code
that loads ``roberta-large`` from the hub in the ``full`` profile.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .data import IntentData, IntentSplit

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4


def train_bpe_tokenizer(texts: Sequence[str], vocab_size: int = 2000, max_length: int = 64):
    """A RoBERTa-style byte-level BPE tokenizer trained on ``texts`` (offline, seconds).

    Returns a transformers fast tokenizer with RoBERTa's special tokens
    (<s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4) and ``<s> ... </s>`` framing.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

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
    num_layers: int = 8,
    hidden: int = 64,
    heads: int = 4,
    intermediate: int | None = None,
    max_length: int = 64,
    label_names: Sequence[str] | None = None,
):
    """A small RoBERTa classification config (``tiny`` profile)."""
    from transformers import RobertaConfig

    if hidden % heads:
        raise ValueError(f"hidden size {hidden} must be divisible by the number of heads {heads}")
    names = list(label_names) if label_names is not None else [str(i) for i in range(num_labels)]
    return RobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        intermediate_size=intermediate or 4 * hidden,
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


def collator(tokenizer: Any):
    """Pads each batch to its longest sequence and returns the attention mask."""
    from transformers import DataCollatorWithPadding

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


def accuracy_metric(eval_pred: Any) -> dict[str, float]:
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())}


def training_arguments(
    out_dir: str | os.PathLike,
    *,
    epochs: float,
    lr: float,
    batch_size: int,
    seed: int,
    warmup_ratio: float = 0.1,
    steps_per_epoch: int = 1,
    mixed_precision: bool = False,
    progress: bool = True,
    **extra: Any,
):
    """TrainingArguments shared by teacher training and distillation."""
    from transformers import TrainingArguments

    bf16 = mixed_precision and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    fp16 = mixed_precision and torch.cuda.is_available() and not bf16
    return TrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=epochs,
        learning_rate=lr,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 64),
        warmup_steps=math.ceil(warmup_ratio * epochs * steps_per_epoch),
        weight_decay=0.01,
        seed=seed,
        bf16=bf16,
        fp16=fp16,
        report_to="none",
        disable_tqdm=not progress,
        logging_strategy="epoch",
        save_strategy=extra.pop("save_strategy", "no"),
        eval_strategy=extra.pop("eval_strategy", "no"),
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        **extra,
    )


def quiet_trainer(trainer: Any, progress: bool) -> None:
    """Without progress bars the Trainer prints every log dict; keep it quiet instead."""
    if not progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)


def fit_and_evaluate(
    model: Any,
    tokenizer: Any,
    data: IntentData,
    out_dir: str | os.PathLike,
    *,
    trainer_class: Any = None,
    epochs: float = 10,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    max_length: int = 64,
    mixed_precision: bool = False,
    progress: bool = True,
    with_index: bool = False,
    resume: bool | str = False,
    extra_args: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> tuple[Any, dict[str, float]]:
    """Train ``model`` on ``data.train`` with a Trainer, then evaluate on validation and test.

    ``trainer_class`` defaults to transformers' Trainer (the DistillationTrainer passes
    itself and its ``trainer_kwargs``); ``with_index`` gives each example its index
    (for a TeacherCache); ``resume`` goes to ``trainer.train(resume_from_checkpoint=)``.
    Returns the trainer and ``{"validation_accuracy", "test_accuracy", "train_seconds"}``.
    """
    from transformers import Trainer

    train = EncodedSplit(data.train, tokenizer, max_length, with_index=with_index)
    args = training_arguments(
        out_dir,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        steps_per_epoch=math.ceil(len(train) / batch_size),
        mixed_precision=mixed_precision,
        progress=progress,
        **(extra_args or {}),
    )
    trainer = (trainer_class or Trainer)(
        model=model,
        args=args,
        train_dataset=train,
        data_collator=collator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=accuracy_metric,
        **trainer_kwargs,
    )
    quiet_trainer(trainer, progress)
    result = trainer.train(resume_from_checkpoint=resume or None)
    scores = {}
    for split in ("validation", "test"):
        metrics = trainer.evaluate(
            EncodedSplit(getattr(data, split), tokenizer, max_length), metric_key_prefix=split
        )
        scores[f"{split}_accuracy"] = metrics[f"{split}_accuracy"]
    scores["train_seconds"] = float(result.metrics.get("train_runtime", 0.0))
    return trainer, scores


def train_classifier(
    model: Any,
    tokenizer: Any,
    data: IntentData,
    out_dir: str | os.PathLike,
    *,
    epochs: float = 10,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    max_length: int = 64,
    mixed_precision: bool = False,
    progress: bool = True,
) -> dict[str, float]:
    """Fine-tune a sequence classifier with the transformers Trainer, save it, test it.

    Saves model and tokenizer to ``out_dir`` with ``save_pretrained`` and returns
    ``{"validation_accuracy", "test_accuracy", "train_seconds"}``.
    """
    from transformers import set_seed

    set_seed(seed)
    trainer, scores = fit_and_evaluate(
        model,
        tokenizer,
        data,
        out_dir,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        max_length=max_length,
        mixed_precision=mixed_precision,
        progress=progress,
    )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out_dir))
    return scores


def load_classifier(name_or_path: str | os.PathLike, **kwargs: Any):
    """Model and tokenizer from a local folder or a hub name (``from_pretrained``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = str(name_or_path)
    if not Path(path).is_dir() and (path.startswith((".", "/", "~")) or Path(path).exists()):
        raise FileNotFoundError(f"no model folder at {path} (expected a folder written by save_pretrained)")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    return model, tokenizer


def build_tiny_teacher(
    data: IntentData,
    num_layers: int = 8,
    hidden: int = 64,
    heads: int = 4,
    max_length: int = 64,
    vocab_size: int = 2000,
    seed: int = 0,
):
    """A from-scratch RoBERTa classifier and its tokenizer for ``data`` (tiny profile)."""
    from transformers import RobertaForSequenceClassification, set_seed

    set_seed(seed)
    tokenizer = train_bpe_tokenizer(data.train.texts, vocab_size=vocab_size, max_length=max_length)
    config = tiny_roberta_config(
        data.num_labels,
        len(tokenizer),
        num_layers=num_layers,
        hidden=hidden,
        heads=heads,
        max_length=max_length,
        label_names=data.label_names,
    )
    return RobertaForSequenceClassification(config), tokenizer


def evaluate_accuracy(
    model: Any, tokenizer: Any, split: IntentSplit, batch_size: int = 128, max_length: int = 64
) -> float:
    """Accuracy of a sequence classifier on a split (one host sync at the end)."""
    from .capture import model_device

    device = model_device(model)
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    try:
        with torch.inference_mode():
            for batch in text_batches(split, tokenizer, batch_size=batch_size, max_length=max_length):
                labels = batch.pop("labels").to(device)
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
                correct += (logits.argmax(-1) == labels).sum()
    finally:
        model.train(was_training)
    return int(correct) / len(split)
