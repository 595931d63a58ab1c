"""Plain baselines that every comparison table starts from.

``tfidf_baseline``: TF-IDF features of word 1-2-grams and character 2-5-grams
(``char_wb``: n-grams inside word boundaries, which forgives typos and
inflections) feeding a linear classifier. No neural network, seconds on a CPU,
and hard to beat on intent classification: on CLINC150 it reaches about 92.7%
test accuracy in about 15 s, more than teachers trained from scratch there. A
distilled student is only interesting if it beats this row.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from .data import IntentData, IntentSplit

__all__ = [
    "CLASSIFIERS",
    "split_accuracy",
    "tfidf_baseline",
    "tfidf_pipeline",
]

CLASSIFIERS = ("svm", "logreg")


def tfidf_pipeline(classifier: str = "svm", C: float = 1.0, seed: int = 0):
    """The unfitted scikit-learn pipeline: word + char_wb TF-IDF, then a linear classifier.

    ``classifier``: ``svm`` (LinearSVC, one-vs-rest hinge loss) or ``logreg``
    (multinomial LogisticRegression); ``C`` is the inverse regularisation strength.
    """
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
            (
                "char",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True),
            ),
        ]
    )
    if classifier == "svm":
        model = LinearSVC(C=C, random_state=seed)
    elif classifier == "logreg":
        model = LogisticRegression(C=10.0 * C, max_iter=2000, random_state=seed)
    else:
        raise ValueError(f"unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}")
    return Pipeline([("tfidf", features), ("classifier", model)])


def split_accuracy(pipeline: Any, split: IntentSplit) -> float:
    """Fraction of ``split`` that ``pipeline`` labels correctly (0.0 for an empty split)."""
    if len(split) == 0:
        return 0.0
    predicted = np.asarray(pipeline.predict(split.texts))
    return float((predicted == np.asarray(split.labels)).mean())


def tfidf_baseline(
    data: IntentData,
    *,
    classifier: str = "svm",
    C: float = 1.0,
    seed: int = 0,
    return_pipeline: bool = False,
) -> dict[str, Any]:
    """Fit the TF-IDF + linear baseline on ``data.train`` and score validation and test.

    Returns:
        ``{"name", "test_accuracy", "validation_accuracy", "train_seconds", "seconds",
        "features"}``: ``train_seconds`` is the fit, ``seconds`` fit plus scoring,
        ``features`` the TF-IDF vocabulary size. With ``return_pipeline`` the fitted
        pipeline is added under ``"pipeline"``.
    """
    if len(data.train) == 0:
        raise ValueError(f"{data.name}: the training split is empty")
    if len(set(data.train.labels)) < 2:
        raise ValueError(f"{data.name}: the training split needs at least two labels")
    start = time.perf_counter()
    pipeline = tfidf_pipeline(classifier, C=C, seed=seed)
    pipeline.fit(data.train.texts, np.asarray(data.train.labels))
    fitted = time.perf_counter()
    result: dict[str, Any] = {
        "name": f"TF-IDF (word 1-2 + char 2-5) + {'linear SVM' if classifier == 'svm' else 'logistic regression'}",
        "validation_accuracy": split_accuracy(pipeline, data.validation),
        "test_accuracy": split_accuracy(pipeline, data.test),
        "train_seconds": fitted - start,
        "seconds": time.perf_counter() - start,
        "features": sum(len(t.vocabulary_) for _, t in pipeline.named_steps["tfidf"].transformer_list),
    }
    if return_pipeline:
        result["pipeline"] = pipeline
    return result
