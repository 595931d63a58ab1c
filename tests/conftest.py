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

    def make(every: int, eval_every: int, *, vocab_size: int, width: int):
        full = load_builtin()

        def cut(split, n):
            return IntentSplit(split.texts[::n], split.labels[::n], split.label_names)

        data = IntentData(
            "small", cut(full.train, every), cut(full.validation, eval_every), cut(full.test, eval_every)
        )
        tok = train_bpe_tokenizer(full.train.texts, vocab_size=vocab_size)
        torch.manual_seed(0)
        config = tiny_roberta_config(data.num_labels, len(tok), n_blocks=4, width=width, heads=2)
        return RobertaForSequenceClassification(config).eval(), tok, data

    return make


@pytest.fixture(scope="session")
def distill_runner():
    """A factory: the distillation widget's runner of a teacher (2-block students, 1 epoch), into a new
    Comparison; ``report``: the teacher's intensity per block."""
    import spectralkd_lite as skd

    def make(teacher, tokenizer, data, report):
        student, train = skd.StudentConfig(2), skd.TrainConfig(epochs=1)
        return skd.DistillRunner(teacher, tokenizer, data, skd.Comparison(), student, train, report)

    return make


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory):
    """A folder with an untrained 3-block x 16 RoBERTa classifier of the built-in intents and its tokenizer."""
    from transformers import RobertaForSequenceClassification

    from spectralkd_lite.data import load_builtin
    from spectralkd_lite.text import tiny_roberta_config, train_bpe_tokenizer

    data = load_builtin()
    tok = train_bpe_tokenizer(data.train.texts, vocab_size=500)
    config = tiny_roberta_config(data.num_labels, len(tok), n_blocks=3, width=16, heads=2)
    path = tmp_path_factory.mktemp("model")
    RobertaForSequenceClassification(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last: the notebooks before them fill the teacher caches."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
