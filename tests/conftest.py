import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def small_teacher():
    """A factory: (untrained 4-block RoBERTa teacher in eval mode, BPE tokenizer, IntentData).

    ``every`` keeps every n-th example of the train split and ``eval_every`` of the
    validation and test splits of the built-in set.
    """
    from transformers import RobertaForSequenceClassification

    from spectralkd_lite.data import IntentData, IntentSplit, load_builtin
    from spectralkd_lite.text import tiny_roberta_config, train_bpe_tokenizer

    def make(every: int, eval_every: int, *, vocab_size: int, hidden: int):
        full = load_builtin()

        def cut(split, n):
            return IntentSplit(split.texts[::n], split.labels[::n], split.label_names)

        data = IntentData(
            "small", cut(full.train, every), cut(full.validation, eval_every), cut(full.test, eval_every)
        )
        tok = train_bpe_tokenizer(full.train.texts, vocab_size=vocab_size)
        torch.manual_seed(0)
        config = tiny_roberta_config(data.num_labels, len(tok), num_layers=4, hidden=hidden, heads=2)
        return RobertaForSequenceClassification(config).eval(), tok, data

    return make


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last: the notebooks before them fill the teacher caches."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
