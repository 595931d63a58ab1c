"""Mean pooling: the head of a student trained from random initialisation reads the mean of its real tokens."""

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, RobertaForSequenceClassification

import spectralkd_lite as skd
from spectralkd_lite.distill import make_student
from spectralkd_lite.pooling import masked_mean, use_mean_pooling
from spectralkd_lite.text import load_classifier, tiny_roberta_config, train_bpe_tokenizer


def tiny_bert(num_labels: int, vocab: int) -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(config).eval()


def tiny_roberta(num_labels: int, vocab: int) -> RobertaForSequenceClassification:
    config = tiny_roberta_config(num_labels, vocab, n_blocks=2, width=16, heads=2)
    return RobertaForSequenceClassification(config).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(skd.data.load_builtin().train.texts, vocab_size=300)


SENTENCES = ["book a table for two tonight", "what is my balance", "play some jazz please and then stop"]


def test_masked_mean_matches_numpy():
    hidden = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    h, m = hidden.numpy(), mask.numpy().astype(float)
    expected = np.stack([h[i][m[i] == 1].mean(axis=0) for i in range(3)])
    np.testing.assert_allclose(masked_mean(hidden, mask).numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(masked_mean(hidden, None).numpy(), h.mean(axis=1), rtol=1e-6, atol=1e-6)


def head_by_hand(model, mean: np.ndarray) -> np.ndarray:
    """The classifier head applied to a sentence vector, written out: dense + tanh, then the output layer."""
    w = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    if isinstance(model, BertForSequenceClassification):
        pooled = np.tanh(mean @ w["bert.pooler.dense.weight"].T + w["bert.pooler.dense.bias"])
        return pooled @ w["classifier.weight"].T + w["classifier.bias"]
    x = np.tanh(mean @ w["classifier.dense.weight"].T + w["classifier.dense.bias"])
    return x @ w["classifier.out_proj.weight"].T + w["classifier.out_proj.bias"]


@pytest.mark.parametrize("build", [tiny_bert, tiny_roberta])
def test_the_head_reads_the_mean_of_real_tokens_and_ignores_padding(build, tokenizer):
    torch.manual_seed(0)
    model = use_mean_pooling(build(4, len(tokenizer)))
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    last = out.hidden_states[-1].numpy()
    mask = batch["attention_mask"].numpy()
    means = np.stack([last[i][mask[i] == 1].mean(axis=0) for i in range(len(SENTENCES))])
    np.testing.assert_allclose(out.logits.numpy(), head_by_hand(model, means), rtol=1e-4, atol=1e-5)
    for i, sentence in enumerate(SENTENCES):  # alone, without padding: the same logits
        with torch.no_grad():
            alone = model(**tokenizer([sentence], return_tensors="pt")).logits
        np.testing.assert_allclose(alone[0].numpy(), out.logits[i].numpy(), rtol=1e-4, atol=1e-5)
    assert use_mean_pooling(model) is model  # applied twice: still one hook
    with torch.no_grad():
        again = model(**batch).logits
    np.testing.assert_allclose(again.numpy(), out.logits.numpy(), rtol=1e-6, atol=1e-6)


def test_a_saved_mean_pooling_model_loads_with_its_pooling(tokenizer, tmp_path):
    torch.manual_seed(0)
    model = use_mean_pooling(tiny_roberta(4, len(tokenizer)))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, tok = load_classifier(tmp_path)
    assert loaded.config.sentence_pooling == "mean"
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        np.testing.assert_allclose(
            loaded.eval()(**batch).logits.numpy(), model(**batch).logits.numpy(), rtol=1e-5, atol=1e-6
        )


def test_a_student_from_scratch_gets_mean_pooling(small_teacher):
    teacher, tok, _ = small_teacher(8, 4, vocab_size=300, width=16)
    student = make_student(teacher, skd.StudentConfig(2, pooling="mean"), seed=0).eval()
    plain = make_student(teacher, skd.StudentConfig(2), seed=0).eval()
    assert student.config.sentence_pooling == "mean"
    assert getattr(plain.config, "sentence_pooling", "first") == "first"
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():  # the same weights; only what the head reads differs
        assert not torch.allclose(student(**batch).logits, plain(**batch).logits)
        alone = student(**tok([SENTENCES[0]], return_tensors="pt")).logits
        torch.testing.assert_close(alone[0], student(**batch).logits[0], rtol=1e-4, atol=1e-5)


def test_an_unknown_pooling_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="pooling must be one of first, mean, got 'max'"):
        skd.StudentConfig(2, pooling="max")
