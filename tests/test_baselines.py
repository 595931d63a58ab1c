"""The TF-IDF + linear reference row."""

import numpy as np
import pytest

from spectralkd_lite.baselines import tfidf_baseline
from spectralkd_lite.data import IntentData, IntentSplit, load_builtin


def test_tfidf_beats_chance_on_the_builtin_set():
    data = load_builtin()
    result = tfidf_baseline(data, return_pipeline=True)
    chance = 1 / data.num_labels
    assert result["test_accuracy"] > 0.8 > 10 * chance
    assert result["validation_accuracy"] > 0.8
    assert result["seconds"] >= result["train_seconds"] > 0 and result["features"] > 1000
    # the accuracy is the plain fraction of correct test predictions
    predicted = result["pipeline"].predict(data.test.texts)
    correct = int(np.sum(np.asarray(predicted) == np.asarray(data.test.labels)))
    assert result["test_accuracy"] == correct / len(data.test)


def test_seeded_and_logistic_regression():
    data = load_builtin()
    a = tfidf_baseline(data, seed=3)
    b = tfidf_baseline(data, seed=3)
    assert a["test_accuracy"] == b["test_accuracy"]
    assert tfidf_baseline(data, classifier="logreg")["test_accuracy"] > 0.8


def test_bad_inputs():
    names = ["a", "b"]
    tiny = IntentSplit(["x y", "z w"], [0, 0], names)
    with pytest.raises(ValueError, match="at least two labels"):
        tfidf_baseline(IntentData("t", tiny, tiny, tiny))
    ok = IntentSplit(["red apple", "blue sky"], [0, 1], names)
    with pytest.raises(ValueError, match="unknown classifier"):
        tfidf_baseline(IntentData("t", ok, ok, ok), classifier="forest")
