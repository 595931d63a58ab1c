"""The pieces of the fair experiment: teachers trained to convergence, few labels and a
transfer set, pseudo-labels, per-example test results and paired intervals."""

import json
import warnings

import numpy as np
import pytest
import torch

import spectralkd_lite as skd
from spectralkd_lite import teacher as T
from spectralkd_lite.data import IntentData, IntentSplit, few_label_split, load_builtin
from spectralkd_lite.training import RunResult, correct_predictions, pack_flags

TINY = {"n_blocks": 2, "width": 16, "heads": 2, "vocab_size": 300, "batch_size": 16, "lr": 3e-3}


@pytest.fixture(scope="module")
def small_data():
    data = load_builtin()
    pick = lambda s, n: IntentSplit(s.texts[::n], s.labels[::n], s.label_names)  # noqa: E731
    return IntentData("builtin-small", pick(data.train, 4), pick(data.validation, 4), pick(data.test, 4))


def test_teacher_trains_to_convergence_and_keeps_its_best_epoch(small_data, tmp_path):
    info = T.train_teacher("tiny", small_data, tmp_path / "t", epochs=60, patience=2, **TINY)
    curve = info["validation_curve"]
    # it stopped on its own, two epochs after its best one, long before the 60-epoch ceiling
    assert info["converged"] and len(curve) < 60 and info["epochs_trained"] == len(curve)
    best = int(np.argmax(curve))
    assert len(curve) - 1 - best == 2 and max(curve[best + 1 :]) <= curve[best]
    # the saved model is the best epoch's: its validation accuracy is the curve's maximum
    model, tok = T.load_classifier(tmp_path / "t")
    acc = skd.evaluate_accuracy(model, skd.text_batches(small_data.validation, tok))
    assert acc == pytest.approx(max(curve), abs=1e-6) == info["validation_accuracy"]


def test_a_recipe_that_ends_while_validation_rises_warns(small_data, tmp_path):
    with pytest.warns(UserWarning, match="still rising"):
        info = T.train_teacher("tiny", small_data, tmp_path / "t", epochs=1, patience=2, **TINY)
    assert info["converged"] is False and info["epochs_trained"] == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # no early stopping asked: no curve, no such warning
        info = T.train_teacher("tiny", small_data, tmp_path / "u", epochs=1, patience=0, **TINY)
    assert not [w for w in caught if "still rising" in str(w.message)]
    assert info["validation_curve"] == [] and info["converged"] is None


def test_the_laptop_recipe_is_a_ceiling_with_early_stopping():
    for profile in ("tiny", "laptop", "full"):
        recipe = T.recipe_for(profile, load_builtin())
        assert recipe.patience is not None and recipe.patience >= 2 and recipe.epochs >= 10


def test_few_label_split_draws_per_intent_and_keeps_the_rest_as_transfer():
    data = load_builtin()
    labelled, transfer = few_label_split(data, per_intent=3, validation_per_intent=2, seed=1)
    counts = np.bincount(labelled.train.labels, minlength=data.num_labels)
    assert (counts == 3).all() and (np.bincount(labelled.validation.labels) == 2).all()
    assert sorted(labelled.train.texts + transfer) == sorted(data.train.texts)  # a partition of train
    assert labelled.test == data.test and labelled.name == "builtin-few3"
    again, _ = few_label_split(data, 3, 2, seed=1)
    other, _ = few_label_split(data, 3, 2, seed=2)
    assert again.train.texts == labelled.train.texts != other.train.texts
    with pytest.raises(ValueError, match=r"has \d+ training utterances; 1000 per intent"):
        few_label_split(data, 1000, 2)
    with pytest.raises(ValueError, match="must be >= 1"):
        few_label_split(data, 0, 2)


def test_pseudo_labels_and_per_example_results_match_one_example_at_a_time(small_teacher):
    model, tok, data = small_teacher(8, 8, vocab_size=300, width=16)
    texts = data.test.texts
    split = T.pseudo_label(model, tok, texts, data.label_names)
    one_by_one = [int(model(**tok(t, return_tensors="pt")).logits.argmax(-1)) for t in texts]
    assert split.texts == texts and split.labels == one_by_one
    flags = correct_predictions(model, skd.text_batches(data.test, tok, batch_size=5))
    expected = [p == y for p, y in zip(one_by_one, data.test.labels, strict=True)]
    assert flags.tolist() == expected and pack_flags(flags) == "".join("1" if e else "0" for e in expected)
    assert skd.evaluate_accuracy(model, skd.text_batches(data.test, tok)) == pytest.approx(np.mean(expected))
    with pytest.raises(ValueError, match="transfer set is empty"):
        T.pseudo_label(model, tok, [], data.label_names)


def comparison_of(flags: dict[str, np.ndarray]) -> skd.Comparison:
    c = skd.Comparison()
    for name, rows in flags.items():
        for seed, row in enumerate(rows):
            run = RunResult(
                name, seed, float(row.mean()), None, 0.0, test_correct=pack_flags(torch.tensor(row))
            )
            c.add(skd.Variant(name, skd.DistillConfig()), run)
    return c


def test_paired_difference_matches_the_formula_for_paired_proportions():
    rng = np.random.default_rng(0)
    n = 4000
    b = rng.random(n) < 0.7
    a = b.copy()
    flip = rng.random(n)
    a[flip < 0.08] = True  # a fixes the wrong ones among 8% of the examples (2.4% of all)...
    a[(flip >= 0.08) & (flip < 0.09)] = False  # ...and breaks the right ones among 1% (0.7%)
    # the same flags for every seed: resampling seeds adds nothing, so the standard error is the
    # textbook one of a paired difference of proportions, sd(a - b) / sqrt(n)
    c = comparison_of({"a": np.stack([a] * 5), "b": np.stack([b] * 5)})
    d = c.paired_difference("a", "b", n_boot=4000)
    d_i = a.astype(float) - b.astype(float)
    assert d["diff"] == pytest.approx(d_i.mean(), abs=1e-12)
    assert d["se"] == pytest.approx(d_i.std(ddof=1) / np.sqrt(n), rel=0.1)
    assert d["low"] < d["diff"] < d["high"] and d["low"] > 0 and d["seeds"] == [0, 1, 2, 3, 4]
    assert d["detectable"] == pytest.approx(2.8 * d["se"])
    same = c.paired_difference("b", "b")
    assert same["diff"] == same["low"] == same["high"] == 0.0


def test_paired_difference_widens_with_the_seed_spread():
    rng = np.random.default_rng(1)
    base = rng.random((5, 3000)) < 0.8
    steady = comparison_of({"a": base, "b": base.copy()})
    noisy_a = base.copy()
    for s in range(5):  # seed s moves a by a different amount: a seed-level spread
        noisy_a[s, : 60 * s] = True
    noisy = comparison_of({"a": noisy_a, "b": base})
    assert steady.paired_difference("a", "b")["high"] == 0.0
    d = noisy.paired_difference("a", "b")
    assert d["high"] - d["low"] > 0 and d["low"] <= d["diff"] <= d["high"]


def test_the_same_row_of_two_comparisons_pairs_by_seed_after_renaming():
    """Two schedules of one row (two Comparisons): renamed, joined and paired, the difference is the
    mean over seeds and examples of their per-example flags' difference."""
    rng = np.random.default_rng(2)
    short, long = rng.random((3, 500)) < 0.8, rng.random((3, 500)) < 0.7
    both = comparison_of({"no KD": long, "other": long}).renamed("long", ["no KD", "absent"])
    both.extend(comparison_of({"no KD": short}).renamed("short"))
    assert set(both.variants) == {"no KD, long", "no KD, short"}
    assert {r.name for r in both.runs} == set(both.variants) and len(both.runs) == 6
    d = both.paired_difference("no KD, long", "no KD, short")
    assert d["diff"] == pytest.approx((long.astype(float) - short.astype(float)).mean(), abs=1e-12)
    with pytest.raises(ValueError, match="already in this comparison"):
        both.extend(comparison_of({"no KD": short}).renamed("short"))


def test_paired_difference_needs_shared_seeds_with_results():
    c = comparison_of({"a": np.ones((2, 10), bool)})
    c.add(skd.Variant("b", skd.DistillConfig()), RunResult("b", 7, 1.0, None, 0.0))
    with pytest.raises(ValueError, match="share no seed"):
        c.paired_difference("a", "b")
    with pytest.raises(KeyError, match="no variant 'z'"):
        c.paired_difference("a", "z")


def test_rank_correlation_matches_scipy_and_its_interval_reflects_the_test_set():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    values = {f"m{i}": float(v) for i, v in enumerate(rng.permutation(8))}
    # accuracy rises with the value (0.5 + 0.03 per rank) on 3 seeds of 2,000 test examples
    flags = {name: rng.random((3, 2000)) < 0.5 + 0.03 * v for name, v in values.items()}
    c = comparison_of(flags)
    r = c.rank_correlation(values)
    means = [flags[name].mean() for name in values]
    assert r["rho"] == pytest.approx(spearmanr(means, list(values.values())).statistic, abs=1e-12)
    assert r["low"] <= r["rho"] <= r["high"] and r["low"] > 0.5 and r["rows"] == 8 and r["seeds"] == [0, 1, 2]
    # the same rows on 40 test examples: the interval spans far more
    small = comparison_of({name: f[:, :40] for name, f in flags.items()}).rank_correlation(values)
    assert small["high"] - small["low"] > 2 * (r["high"] - r["low"])
    with pytest.raises(ValueError, match="at least 3 rows"):
        c.rank_correlation({"m0": 1.0, "m1": 2.0})


def test_transfer_rows_align_the_hottest_and_coolest_blocks_in_depth_order():
    from spectralkd_lite.transfer import LABELLED, PAPER, transfer_variants

    intensity = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8]
    rows = {v.name: v for v in transfer_variants(6, intensity, n_student=2)}
    order = np.argsort(intensity) + 1  # block numbers, coolest first
    most = rows["logit KD + spectral, most intense"].config.mapping
    least = rows["logit KD + spectral, least intense"].config.mapping
    assert most.teacher_blocks == sorted(order[-2:].tolist()) == [2, 6]
    assert least.teacher_blocks == sorted(order[:2].tolist()) == [3, 5]
    assert most.student_blocks == least.student_blocks == [1, 2]
    assert (
        list(rows)[0] == LABELLED and rows[LABELLED].config.alpha == 0 == rows["pseudo-labels"].config.alpha
    )
    assert rows["logit KD"].config.alpha == 0.9 and not rows["logit KD"].config.uses_features
    # the published objective as a row: beta * w_fft = 0.2 on the raw (not normalised) spectral term,
    # on the same blocks as the normalised uniform row
    paper, ours = rows[PAPER].config, rows["logit KD + spectral, uniform"].config
    assert (paper.alpha, paper.temperature, paper.beta, paper.normalize) == (0.9, 1.0, 0.2, False)
    assert paper.feature == ours.feature == "spectral_tokens" and ours.normalize
    assert paper.mapping.teacher_blocks == ours.mapping.teacher_blocks == [3, 6]
    with pytest.raises(ValueError, match="5 values for a teacher of 6 blocks"):
        transfer_variants(6, intensity[:5])


def test_a_few_label_comparison_trains_each_row_on_its_data(small_teacher, tmp_path):
    from spectralkd_lite.transfer import (
        FewLabelData,
        pretrained_student,
        run_few_label,
        transfer_variants,
        with_transfer,
    )

    model, tok, data = small_teacher(4, 8, vocab_size=300, width=16)
    labelled, transfer = few_label_split(data, 2, 1, seed=0)
    pseudo = T.pseudo_label(model, tok, transfer, data.label_names)
    both = with_transfer(labelled, pseudo)
    assert len(both.train) == len(labelled.train) + len(transfer) and both.validation == labelled.validation
    student = pretrained_student(model, tok, [1, 2], tmp_path / "init")
    rows = transfer_variants(4, [0.1, 0.4, 0.3, 0.2])[:3]  # labelled only, pseudo-labels, logit KD
    train = skd.TrainConfig(epochs=1, batch_size=64, early_stopping=1)
    seen = []
    setting = FewLabelData(labelled, pseudo)
    c = run_few_label(
        model,
        tok,
        setting,
        rows,
        student,
        train,
        [0],
        labelled_epochs=2,
        on_update=lambda c: seen.append(len(c.runs)),
    )
    assert seen == [1, 2, 3] and [r.name for r in c.runs] == [v.name for v in rows]
    steps = {r.name: r.steps for r in c.runs}
    # labelled only: 48 utterances, one batch an epoch, 2 epochs; the others: labelled + transfer, one epoch
    assert steps["labelled only"] == 2 and steps["pseudo-labels"] == steps["logit KD"] == -(
        -len(both.train) // 64
    )
    assert c.meta["epochs_by_row"] == {"labelled only": 2, "pseudo-labels": 1, "logit KD": 1}
    # each run keeps its validation curve, one value per epoch, through a save and a load
    saved = skd.Comparison.from_dict(json.loads(json.dumps(c.to_dict())))
    assert [len(r.validation_curve) for r in saved.runs] == [2, 1, 1]
    assert all(0 <= a <= 1 for r in saved.runs for a in r.validation_curve)
    assert saved.runs[0].validation_curve[-1] == pytest.approx(c.runs[0].validation_curve[-1])
    # labelled only waits as many optimiser steps as the others: its patience is scaled like its ceiling
    ratio = len(both.train) / len(labelled.train)
    assert c.meta["patience_by_row"] == {"labelled only": round(ratio), "pseudo-labels": 1, "logit KD": 1}
    # by default labelled only gets as many optimiser steps at most as the transfer rows and is evaluated once
    # per epoch of theirs; both rows train in one pool of two workers, each on its own data
    pooled = run_few_label(model, tok, setting, rows[:2], student, train, [0], workers=2)
    assert pooled.meta["epochs_by_row"]["labelled only"] == pytest.approx(
        len(both.train) / len(labelled.train)
    )
    per_epoch = -(-len(both.train) // 64)
    alone, pseudo_run = pooled.runs
    assert pseudo_run.steps == per_epoch and len(pseudo_run.validation_curve) == 1
    assert per_epoch <= alone.steps <= per_epoch + 1  # one labelled batch an epoch, ratio epochs (rounded up)
    assert len(alone.validation_curve) == -(-alone.steps // per_epoch)  # and once at the end
    with pytest.raises(TypeError, match="patience"):  # an option that does not exist is named
        run_few_label(model, tok, setting, rows, student, train, [0], patience=3)
    with pytest.raises(ValueError, match="give train.early_stopping"):
        run_few_label(model, tok, setting, rows, student, skd.TrainConfig(), [0], labelled_epochs=1)
