"""DistillationTrainer and students: frozen teacher, mapping checks, every term, resume."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

import spectralkd_lite as skd
from spectralkd_lite.distill import text_teacher_cache, text_teacher_cache_bytes
from spectralkd_lite.mapping import parse_manual
from spectralkd_lite.text import EncodedSplit, collator, text_batches
from spectralkd_lite.training import LinkedTeacher

DistillConfig, StudentConfig, TrainConfig = skd.DistillConfig, skd.StudentConfig, skd.TrainConfig
distill, distill_step_losses, make_student = skd.distill, skd.distill_step_losses, skd.make_student


@pytest.fixture(scope="module")
def small(small_teacher):
    return small_teacher(8, 4, vocab_size=400, width=32)


def batch_of(small, n=8):
    teacher, tok, data = small
    return next(iter(text_batches(data.train, tok, batch_size=n)))


def test_linked_teacher_combines_weighted_blocks(small):
    teacher, _, _ = small
    mapping = parse_manual("1:2, 2:0.3*3+0.7*4")
    linked = LinkedTeacher(mapping, 4)
    hs = [torch.randn(2, 5, 32) for _ in range(5)]
    combined = linked.combine(hs)
    torch.testing.assert_close(combined[0], hs[2])
    torch.testing.assert_close(combined[1], 0.3 * hs[3] + 0.7 * hs[4])


def test_step_losses_match_the_formula(small):
    teacher, _, _ = small
    student = make_student(teacher, StudentConfig(2, width=16, heads=2), seed=1)
    batch = batch_of(small)
    cfg = DistillConfig(alpha=0.9, beta=0.2, feature="mse", temperature=2.0)
    mapping = skd.resolve("1:2, 2:3+4", 4, 2)
    losses, out = distill_step_losses(student, teacher, batch, cfg, LinkedTeacher(mapping, 4))
    with torch.no_grad():
        t = teacher(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
        )
    s_logits = out.logits.detach().double().numpy()
    t_logits = t.logits.double().numpy()
    labels = batch["labels"].numpy()

    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    k = s_logits.shape[1]
    onehot = np.eye(k)[labels] * 0.9 + 0.1 / k
    ce = -(onehot * log_softmax(s_logits)).sum(1).mean()
    pt, ls = np.exp(log_softmax(t_logits / 2)), log_softmax(s_logits / 2)
    kd = 4 * (pt * (np.log(pt) - ls)).sum(1).mean()
    # teacher width 32 -> student 16: mean of channel pairs, then MSE over real tokens
    mask = batch["attention_mask"].numpy().astype(bool)
    feats = []
    for sb, tb in ((1, [2]), (2, [3, 4])):
        tt = np.mean([t.hidden_states[i].double().numpy() for i in tb], axis=0)
        tt = tt.reshape(*tt.shape[:2], 16, 2).mean(-1)
        ss = out.hidden_states[sb].detach().double().numpy()
        # normalized (the default): the error over the teacher layer's mean square, both over real tokens
        feats.append(((ss - tt) ** 2)[mask].mean() / (tt**2)[mask].mean())
    feat = np.mean(feats)
    losses = {k: v.detach() for k, v in losses.items()}
    assert float(losses["ce"]) == pytest.approx(ce, rel=1e-4)
    assert float(losses["kd"]) == pytest.approx(kd, rel=1e-4)
    assert float(losses["feature"]) == pytest.approx(feat, rel=1e-4)
    assert float(losses["total"]) == pytest.approx(0.1 * ce + 0.9 * kd + 0.2 * feat, rel=1e-4)


def test_teacher_is_frozen_and_student_learns(small):
    teacher, tok, data = small
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    mapping = skd.resolve("uniform", 4, 2)
    student, run = distill(
        teacher,
        tok,
        data,
        DistillConfig(beta=0.2, feature="spectral_tokens", mapping=mapping),
        TrainConfig(epochs=2, lr=3e-3, batch_size=16),
        student=StudentConfig(2),
    )
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student.parameters())
    assert {"loss_ce", "loss_kd", "loss_feature"} <= set(run.log[-1])
    assert run.log[-1]["loss_feature"] > 0
    assert run.steps == 2 * math.ceil(len(data.train) / 16)
    student.eval()  # no dropout, as in evaluation
    with torch.no_grad():
        correct = sum(
            int(
                (
                    student(**{k: v for k, v in b.items() if k != "labels"}).logits.argmax(-1) == b["labels"]
                ).sum()
            )
            for b in text_batches(data.test, tok)
        )
    assert run.test_accuracy == pytest.approx(correct / len(data.test))


def test_student_initialised_from_teacher_blocks(small):
    teacher, _, _ = small
    student = make_student(teacher, StudentConfig(2, init_from=(2, 4)))
    t_sd, s_sd = teacher.state_dict(), student.state_dict()
    torch.testing.assert_close(
        s_sd["roberta.encoder.layer.1.attention.self.query.weight"],
        t_sd["roberta.encoder.layer.3.attention.self.query.weight"],
    )
    torch.testing.assert_close(
        s_sd["roberta.embeddings.word_embeddings.weight"], t_sd["roberta.embeddings.word_embeddings.weight"]
    )
    with pytest.raises(ValueError, match="init_from block 9 is out of range: allowed blocks are 1..4"):
        make_student(teacher, StudentConfig(2, init_from=(1, 9)))
    with pytest.raises(ValueError, match="needs the teacher's width 32"):
        make_student(teacher, StudentConfig(2, width=16, heads=2, init_from=(1, 2)))
    with pytest.raises(ValueError, match="init_from names 3 teacher blocks for a student of 2 blocks"):
        StudentConfig(2, init_from=(1, 2, 3))


def test_mapping_that_does_not_fit_is_rejected_before_training(small):
    teacher, tok, data = small
    too_deep = parse_manual("1:2, 3:4")  # student block 3 of a 2-block student
    train, student = TrainConfig(epochs=1), StudentConfig(2)

    def config(mapping=None):
        return DistillConfig(beta=0.2, feature="mse", mapping=mapping)

    with pytest.raises(ValueError, match="student block 3 is out of range: allowed blocks are 1..2"):
        distill(teacher, tok, data, config(too_deep), train, student=student)
    with pytest.raises(ValueError, match="teacher block 7 is out of range: allowed blocks are 1..4"):
        distill(teacher, tok, data, config(parse_manual("1:7")), train, student=student)
    with pytest.raises(ValueError, match="needs a layer mapping"):
        distill(teacher, tok, data, config(), train, student=student)
    patch_grids = DistillConfig(beta=0.2, feature="spectral_2d", mapping=parse_manual("1:2"))
    with pytest.raises(
        ValueError, match="'spectral_2d' is for patch grids; text students take spectral_tokens"
    ):
        distill(teacher, tok, data, patch_grids, train, student=student)
    with pytest.raises(ValueError, match="unknown feature loss 'fft'"):
        DistillConfig(beta=0.2, feature="fft")
    for field, value, message in [
        ("alpha", 1.5, r"alpha must be in \[0, 1\], got 1.5"),
        ("beta", float("nan"), "beta must be a finite number, got nan"),
        ("temperature", 0.0, r"temperature must be in \[0.01, inf\), got 0.0"),
    ]:
        with pytest.raises(ValueError, match=message):
            DistillConfig(**{field: value})
    with pytest.raises(ValueError, match=r"epochs must be in \(0, inf\), got 0"):
        TrainConfig(epochs=0)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def test_resume_from_checkpoint_gives_the_same_result(small, tmp_path):
    teacher, tok, data = small
    config = DistillConfig(beta=0.2, feature="spectral_tokens", mapping=skd.resolve("uniform", 4, 2))
    # the same run with checkpoints, once uninterrupted and once stopped mid-epoch 2 and resumed
    train = TrainConfig(epochs=2, lr=3e-3, batch_size=16, seed=3, checkpoints=True)
    steps_per_epoch = math.ceil(len(data.train) / 16)
    full, _ = distill(teacher, tok, data, config, train, student=StudentConfig(2), out_dir=tmp_path / "full")
    cut = dataclasses.replace(train, callbacks=(StopAt(steps_per_epoch + 1),))
    distill(teacher, tok, data, config, cut, student=StudentConfig(2), out_dir=tmp_path / "cut")
    saved = [int(p.name.split("-")[1]) for p in (tmp_path / "cut").glob("checkpoint-*")]
    assert saved and steps_per_epoch <= max(saved) < 2 * steps_per_epoch
    again = dataclasses.replace(train, resume=True)
    resumed, run = distill(
        teacher, tok, data, config, again, student=StudentConfig(2), out_dir=tmp_path / "cut"
    )
    assert run.steps == 2 * steps_per_epoch
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_comparison_table(small, tmp_path):
    teacher, tok, data = small
    variants = skd.standard_variants(4, 2, [0.1, 0.3, 0.2, 0.4])
    names = [v.name for v in variants]
    assert names[:2] == ["no KD", "logit KD"]
    assert (
        "logit KD + spectral, spectral choice" in names and "logit KD + spectral, mean of 2 blocks" in names
    )
    spectral = next(v for v in variants if v.name == "logit KD + spectral, spectral choice")
    assert spectral.config.mapping.teacher_blocks == [2, 4] and spectral.describe() == "1:2, 2:4"
    comp = skd.run_comparison(
        teacher, tok, data, variants[:2], StudentConfig(2), TrainConfig(epochs=1, batch_size=32), seeds=(0, 1)
    )
    comp.add_reference("TF-IDF", 0.5)
    rows = comp.summary()
    accs = [r.test_accuracy for r in comp.runs if r.name == "no KD"]
    assert [r.seed for r in comp.runs] == [0, 1, 0, 1]
    assert rows[0]["mean"] == pytest.approx(np.mean(accs)) and rows[0]["std"] == pytest.approx(
        np.std(accs, ddof=1)
    )
    assert rows[0]["steps"] == math.ceil(len(data.train) / 32)
    md = comp.to_markdown()
    assert "TF-IDF (reference)" in md and "| no KD |" in md
    n_test = len(data.test)
    assert f"Test set: {n_test} examples; one example = {100 / n_test:.2f} points." in md
    paths = comp.save(tmp_path)
    assert paths["figure"].stat().st_size > 1000
    again = skd.Comparison.load(paths["json"])
    assert again.summary() == comp.summary() and again.references == comp.references
    assert (tmp_path / "results.csv").read_text().splitlines()[
        0
    ] == "variant,mean,std,min,max,n,steps,seconds,layers"
    with pytest.raises(ValueError, match="distinct seeds"):
        skd.run_comparison(teacher, tok, data, variants[:1], StudentConfig(2), TrainConfig(), seeds=(0, 0))


def test_a_bad_plan_is_rejected_before_training():
    row = skd.Variant("no KD", DistillConfig(alpha=0.0))
    with pytest.raises(ValueError, match="unique names, got \\['no KD', 'no KD'\\]"):
        skd.compare.check_plan([row, row], (0, 1))
    with pytest.raises(ValueError, match=r"distinct seeds, got \[\]"):
        skd.compare.check_plan([row], ())
    with pytest.raises(TypeError, match="unexpected keyword argument .worker."):
        skd.run_comparison(None, None, None, [row], StudentConfig(2), TrainConfig(), worker=2)


def test_training_args_reach_the_trainer_last_and_unknown_names_are_refused(tmp_path):
    """TrainConfig.training_args: TrainingArguments fields TrainConfig does not cover, applied last."""
    extra = {"lr_scheduler_type": "constant", "logging_strategy": "steps", "logging_steps": 3}
    train = TrainConfig(lr=1e-3, training_args=extra)
    args = skd.training.training_arguments(train, tmp_path, 100)
    assert (args.lr_scheduler_type, args.logging_strategy, args.logging_steps) == ("constant", "steps", 3)
    assert args.learning_rate == 1e-3 and args.remove_unused_columns is False  # the rest still derived
    assert train == TrainConfig(lr=1e-3, training_args=dict(extra)) != TrainConfig(lr=1e-3)
    typo = TrainConfig(training_args={"learning_rat": 1e-3, "warmup": 2})
    with pytest.raises(
        ValueError, match="not fields of transformers.TrainingArguments: learning_rat, warmup"
    ):
        skd.training.training_arguments(typo, tmp_path, 100)
    with pytest.raises(ValueError, match="training_args are for the transformers Trainer"):
        skd.training.fit_tensors(
            torch.nn.Linear(2, 2), 4, None, TrainConfig(training_args={"max_grad_norm": 1.0})
        )


def test_comparison_sentence_follows_the_seed_ranges():
    comp = skd.Comparison()
    for name, accs in {"a": [0.80, 0.81, 0.82], "b": [0.83, 0.84, 0.85], "c": [0.81, 0.82, 0.83]}.items():
        for seed, acc in enumerate(accs):
            comp.add(skd.Variant(name, DistillConfig()), skd.RunResult(name, seed, acc, None, 1.0))
    assert "+3.00 points" in comp.compare("b", "a") and "exceeds the seed spread" in comp.compare("b", "a")
    assert "within the seed spread" in comp.compare("c", "a")


def test_standard_rows_carry_the_seed_preset_for_24_to_12_and_drop_the_blog_rows_on_request():
    rows = {v.name: v.config for v in skd.standard_variants(24, 12)}
    assert rows["logit KD + spectral, seed preset"].mapping.teacher_blocks == [*range(1, 10), 21, 22, 23]
    assert "logit KD + spectral, mean of 2 blocks" in rows
    core = [v.name for v in skd.standard_variants(24, 12, blog_rows=False)]
    assert core == [
        "no KD",
        "logit KD",
        "logit KD + MSE, uniform",
        "logit KD + spectral, uniform",
        "logit KD + spectral, seed preset",
    ]
    assert all("seed preset" not in v.name for v in skd.standard_variants(6, 2))


def _comparison(rows: dict[str, list[float]]) -> skd.Comparison:
    comp = skd.Comparison()
    for name, accs in rows.items():
        for seed, acc in enumerate(accs):
            comp.add(skd.Variant(name, DistillConfig()), skd.RunResult(name, seed, acc, None, 1.0, steps=10))
    return comp


def test_margin_counts_seed_standard_deviations():
    # a: mean 0.81, sample std 0.01; b: mean 0.84, std 0.02 -> (0.84 - 0.81) / 0.02 = 1.5
    comp = _comparison({"a": [0.80, 0.81, 0.82], "b": [0.82, 0.84, 0.86], "c": [0.9, 0.9], "d": [0.8, 0.8]})
    assert comp.margin("b", "a") == pytest.approx(1.5)
    assert comp.margin("a", "b") == pytest.approx(-1.5)
    assert comp.margin("c", "d") == math.inf and comp.margin("d", "d") == 0.0


def test_verdicts_state_the_best_row_the_kd_gain_and_the_pairs_present():
    # no KD mean 0.90 (std 0.01); logit KD mean 0.93 (std 0.02): +3.00 points, 1.5 std, ranges overlap?
    # no KD 0.89-0.91, logit KD 0.91-0.95: they touch at 0.91, so they overlap
    comp = _comparison({"no KD": [0.89, 0.90, 0.91], "logit KD": [0.91, 0.93, 0.95]})
    comp.add_reference("teacher", 0.96)
    comp.meta["test_examples"] = 400
    lines = comp.verdicts()
    assert lines[0] == (
        "- Highest mean: logit KD, 93.00% = 0.969 of the teacher's accuracy; its seed range overlaps no KD, "
        "so no row is the best."
    )
    assert "logit KD vs no KD: +3.00 points" in lines[1] and "within the seed spread" in lines[1]
    assert "+1.5 seed standard deviations (not more than 2" in lines[1]
    assert len(lines) == 3 and lines[2] == "- Resolution: 400 test examples, so one example is 0.25 points."
    # a pair whose rows are missing is skipped; a named pair is stated
    assert comp.verdicts(pairs=[("no KD", "logit KD"), ("x", "no KD")])[2].startswith(
        "- no KD vs logit KD: -3.00"
    )


def test_verdicts_name_a_best_row_only_beyond_the_spread_and_no_ratio_over_a_zero_spread():
    comp = _comparison(
        {"no KD": [0.0067, 0.0067, 0.0067], "logit KD": [0.0067, 0.0067, 0.0067], "x": [0.9, 0.91, 0.9]}
    )
    comp.meta["test_examples"] = 4500
    lines = comp.verdicts(pairs=[("logit KD", "no KD")])
    assert lines[0] == "- Best student: **x**, 90.33%."
    zero = [line for line in lines if line.startswith("- logit KD vs no KD")][0]
    assert "seed standard deviations" not in zero and "no ratio to it is given" in zero
    gain = [line for line in lines if line.startswith("- x vs no KD")][0]
    assert "seed standard deviations" in gain and "Paired" not in gain  # no per-example results stored


def test_extend_adds_rows_and_refuses_a_repeated_variant():
    first, second = _comparison({"a": [0.8, 0.9]}), _comparison({"b": [0.7, 0.7]})
    second.add_reference("teacher", 0.95)
    first.extend(second)
    assert [r["variant"] for r in first.summary()] == ["a", "b"] and first.references == {"teacher": 0.95}
    with pytest.raises(ValueError, match="already in this comparison: b"):
        first.extend(_comparison({"b": [0.5]}))


def test_sectioned_results_load_back_with_the_shared_references(tmp_path):
    two, three = _comparison({"no KD": [0.9, 0.92]}), _comparison({"logit KD": [0.93, 0.95]})
    path = tmp_path / "bench.json"
    sections = {
        "two": {"title": "2 blocks", **two.to_dict()},
        "three": {"title": "3 blocks", **three.to_dict()},
    }
    path.write_text(
        json.dumps({"meta": {"commit": "abc"}, "references": {"teacher": 0.96}, "sections": sections})
    )
    meta, loaded = skd.compare.load_sections(path)
    assert meta == {"commit": "abc"} and list(loaded) == ["two", "three"]
    assert loaded["three"].meta["title"] == "3 blocks" and loaded["three"].references == {"teacher": 0.96}
    assert loaded["three"].row("logit KD")["mean"] == pytest.approx(0.94)
    assert loaded["two"].row("no KD")["steps"] == 10
    path.write_text(json.dumps(two.to_dict()))
    with pytest.raises(ValueError, match="not a sectioned results file"):
        skd.compare.load_sections(path)


def test_teacher_cache_gives_the_live_teacher_losses(small):
    teacher, tok, data = small
    mapping = skd.resolve("paired", 4, 2)
    cache = text_teacher_cache(teacher, data.train, tok, mapping.teacher_blocks)
    assert cache.logits.shape == (len(data.train), data.num_labels)
    assert sorted(cache.blocks) == mapping.teacher_blocks
    items = [EncodedSplit(data.train, tok, with_index=True)[i] for i in (3, 0, 11, 5)]
    batch = collator(tok)(items)
    assert batch["example_index"].tolist() == [3, 0, 11, 5]
    student = make_student(teacher, StudentConfig(2), seed=0).eval()  # no dropout: both passes agree
    cfg = DistillConfig(beta=0.2, feature="spectral_tokens", mapping=mapping)
    linked = LinkedTeacher(mapping, 4)
    cached, _ = distill_step_losses(student, teacher, batch, cfg, linked, cache)
    live, _ = distill_step_losses(
        student, teacher, {k: v for k, v in batch.items() if k != "example_index"}, cfg, linked
    )
    for key in ("ce", "kd", "feature", "total"):
        torch.testing.assert_close(cached[key], live[key], rtol=1e-4, atol=1e-6)


def test_the_text_cache_keeps_only_real_tokens(small):
    """The cache holds each example's real tokens; a lookup gives them back padded with zeros."""
    teacher, tok, data = small
    cache = text_teacher_cache(teacher, data.train, tok, [1, 3], max_length=16)
    ids = tok(data.train.texts, truncation=True, max_length=16)["input_ids"]
    lengths = [len(i) for i in ids]
    assert cache.offsets.tolist() == np.concatenate([[0], np.cumsum(lengths)]).tolist()
    assert cache.blocks[3].shape == (sum(lengths), teacher.config.hidden_size)
    assert cache.nbytes == text_teacher_cache_bytes(data.train, tok, 2, teacher.config.hidden_size, 16)
    index = torch.tensor([5, 0, 2])
    length = max(lengths[i] for i in index.tolist()) + 2  # a batch padded past its longest example
    _, got = cache.lookup(index, length)
    with torch.no_grad():  # the teacher on each example alone, unpadded
        for row, i in enumerate(index.tolist()):
            hidden = teacher(torch.tensor([ids[i]]), output_hidden_states=True).hidden_states[3][0]
            n = lengths[i]
            torch.testing.assert_close(got[3][row, :n], hidden, rtol=2e-3, atol=2e-3)  # float16 storage
            assert not got[3][row, n:].any()  # padding positions are zeros
    with pytest.raises(ValueError, match="padded length"):
        cache.lookup(index)


def test_a_step_reads_only_the_cached_blocks_its_mapping_aligns(small):
    teacher, tok, data = small
    cache = text_teacher_cache(teacher, data.train, tok, [1, 2, 3, 4])
    index = torch.tensor([4, 1, 7])
    logits, every = cache.lookup(index, 6)
    _, some = cache.lookup(index, 6, blocks=[3, 1])
    assert list(some) == [3, 1] and sorted(every) == [1, 2, 3, 4]
    for b in (1, 3):  # the same values as the full lookup
        torch.testing.assert_close(some[b], every[b])
    assert cache.lookup(index, 6, blocks=[])[1] == {}
    batch = collator(tok)([EncodedSplit(data.train, tok, with_index=True)[i] for i in (3, 0)])
    student = make_student(teacher, StudentConfig(2), seed=0).eval()
    small_cache = text_teacher_cache(teacher, data.train, tok, [2])
    cfg = DistillConfig(beta=0.2, feature="mse", mapping=skd.resolve("1:2, 2:4", 4, 2))
    with pytest.raises(
        ValueError, match=r"the teacher cache holds blocks \[2\]; this mapping needs \[2, 4\]"
    ):
        distill_step_losses(student, teacher, batch, cfg, LinkedTeacher(cfg.mapping, 4), small_cache)
    logit_only, _ = distill_step_losses(student, teacher, batch, DistillConfig(alpha=0.9), None, small_cache)
    assert torch.isfinite(logit_only["total"])  # logit KD reads the cached logits and no block
