"""The DistillationTrainer under the Trainer's machinery: the teacher cache is read, the teacher is
left as it was, and gradient accumulation gives the gradient of the whole batch."""

import dataclasses

import pytest
import torch
from torch import nn
from transformers import TrainingArguments

import spectralkd_lite as skd
from spectralkd_lite.distill import DistillationTrainer, text_teacher_cache
from spectralkd_lite.text import trainer_inputs


@pytest.fixture(scope="module")
def small(small_teacher):
    return small_teacher(8, 4, vocab_size=400, width=32)


def count_forwards(model):
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    return calls, handle


def test_the_cache_replaces_the_teacher_in_every_step(small):
    teacher, tok, data = small
    mapping = skd.resolve("uniform", 4, 2)
    config = skd.DistillConfig(beta=0.2, feature="spectral_tokens", mapping=mapping)
    train = skd.TrainConfig(epochs=1, batch_size=16)
    cache = text_teacher_cache(teacher, data.train, tok, mapping.teacher_blocks)
    assert sorted(cache.blocks) == [2, 4] and cache.blocks[2].dtype == torch.float16
    calls, handle = count_forwards(teacher)
    try:
        _, cached = skd.distill(teacher, tok, data, config, train, student=skd.StudentConfig(2), cache=cache)
        assert len(calls) == 0  # no teacher forward at all: every step read the cache
        _, live = skd.distill(teacher, tok, data, config, train, student=skd.StudentConfig(2))
        assert len(calls) == cached.steps == live.steps
    finally:
        handle.remove()
    assert cached.log[-1]["loss_kd"] == pytest.approx(live.log[-1]["loss_kd"], rel=1e-3)
    assert cached.log[-1]["loss_feature"] == pytest.approx(live.log[-1]["loss_feature"], rel=1e-2)


def test_a_cache_over_the_budget_is_not_built(small):
    teacher, tok, data = small
    calls, handle = count_forwards(teacher)
    try:
        assert text_teacher_cache(teacher, data.train, tok, [2, 4], budget=1000) is None
    finally:
        handle.remove()
    assert calls == []


def test_the_teacher_keeps_its_dtype_and_weights(small, tmp_path):
    teacher, tok, data = small
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = skd.make_student(teacher, skd.StudentConfig(2), seed=0)
    inputs = trainer_inputs(student, tok, data.train, skd.TrainConfig(epochs=1, batch_size=16), tmp_path)
    inputs["args"] = dataclasses.replace(inputs["args"], bf16=True, max_steps=2, use_cpu=True)
    trainer = DistillationTrainer(**inputs, teacher=teacher, distill=skd.DistillConfig(alpha=0.9))
    trainer.train()
    for k, v in teacher.state_dict().items():
        assert v.dtype == before[k].dtype, k
        torch.testing.assert_close(v, before[k], msg=k)


def sgd_step(teacher, tok, data, out_dir, batch_size, accumulation):
    """One plain SGD step (lr 1) of a dropout-free student; returns its weight change and the logged loss."""
    student = skd.make_student(teacher, skd.StudentConfig(2), seed=0)
    for module in student.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    start = {k: v.clone() for k, v in student.state_dict().items()}
    inputs = trainer_inputs(student, tok, data.train, skd.TrainConfig(batch_size=batch_size), out_dir)
    inputs["args"] = TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        learning_rate=1.0,
        lr_scheduler_type="constant",
        optim="sgd",
        weight_decay=0.0,
        report_to="none",
        save_strategy="no",
        remove_unused_columns=False,
        use_cpu=True,
        seed=0,
    )
    config = skd.DistillConfig(alpha=0.9, beta=0.2, feature="mse", mapping=skd.resolve("uniform", 4, 2))
    result = DistillationTrainer(**inputs, teacher=teacher, distill=config).train()
    change = {k: v - start[k] for k, v in student.state_dict().items() if v.is_floating_point()}
    return change, result.training_loss


def test_two_accumulated_half_batches_give_the_whole_batch_step(small, tmp_path):
    teacher, tok, data = small
    whole, whole_loss = sgd_step(teacher, tok, data, tmp_path / "whole", batch_size=8, accumulation=1)
    halves, halves_loss = sgd_step(teacher, tok, data, tmp_path / "halves", batch_size=4, accumulation=2)
    name = "classifier.out_proj.weight"
    assert whole[name].abs().sum() > 0
    # the feature term is a mean over each micro-batch's real tokens, so the halves agree to about 1%
    torch.testing.assert_close(halves[name], whole[name], rtol=0.05, atol=1e-6)
    assert halves_loss == pytest.approx(whole_loss, rel=0.01)


def test_a_student_that_never_leaves_its_start_trains_to_the_ceiling(small):
    teacher, tok, data = small
    steps_per_epoch = -(-len(data.train) // 16)
    frozen = skd.TrainConfig(epochs=3, lr=1e-12, batch_size=16, early_stopping=1)  # nothing can improve
    _, run = skd.distill(
        teacher, tok, data, skd.DistillConfig(alpha=0.9), frozen, student=skd.StudentConfig(2)
    )
    evaluated = [e["eval_accuracy"] for e in run.log if "eval_accuracy" in e]
    # still on its starting plateau: patience does not count, so it runs every epoch, and keeps epoch 1
    assert run.steps == 3 * steps_per_epoch and len(evaluated) == 3
    assert run.validation_accuracy == pytest.approx(evaluated[0])


def test_keep_best_epoch_stops_after_patience_once_it_has_improved_and_restores_the_best():
    from types import SimpleNamespace

    from spectralkd_lite.training import KeepBestEpoch

    model = torch.nn.Linear(2, 1)
    callback = KeepBestEpoch(patience=2)
    stops = []
    for epoch, accuracy in enumerate([0.1, 0.1, 0.3, 0.2, 0.25, 0.4]):
        with torch.no_grad():
            model.weight.fill_(epoch)  # the weights of epoch k are all k
        control = SimpleNamespace(should_training_stop=False)
        callback.on_evaluate(None, None, control, metrics={"eval_accuracy": accuracy}, model=model)
        stops.append(control.should_training_stop)
    # 0.1 -> 0.1: still on the plateau (no stop); 0.3 is best; 0.2 and 0.25 are two misses: stop at epoch 4
    assert stops == [False, False, False, False, True, False]
    callback.on_train_end(None, None, None, model=model)
    assert callback.best == 0.4 and torch.equal(model.weight, torch.full((1, 2), 5.0))
    plateau = KeepBestEpoch(patience=1)
    for accuracy in (0.04, 0.04, 0.04):
        control = SimpleNamespace(should_training_stop=False)
        plateau.on_evaluate(None, None, control, metrics={"eval_accuracy": accuracy}, model=model)
        assert not control.should_training_stop


def test_empty_validation_is_refused(small):
    _, _, data = small
    # a validation split without examples cannot even be built, so early stopping always has one
    with pytest.raises(ValueError, match="needs at least one text"):
        dataclasses.replace(data.validation, texts=[], labels=[])


def test_gradient_checkpointing_trains_the_same_student(small):
    """Recomputing the blocks in the backward pass changes memory, not the result (frozen embeddings included)."""
    teacher, tok, data = small
    config = skd.DistillConfig(beta=2.0, feature="spectral_tokens", mapping=skd.resolve("uniform", 4, 2))
    student = skd.StudentConfig(2, init_from=(2, 4), freeze_embeddings=True)
    runs = {}
    for checkpointing in (False, True):
        train = skd.TrainConfig(epochs=1, batch_size=16, gradient_checkpointing=checkpointing)
        model, runs[checkpointing] = skd.distill(teacher, tok, data, config, train, student=student)
        on = getattr(
            model, "is_activation_checkpointing", None
        )  # transformers 5; 4.x: is_gradient_checkpointing
        assert (on if on is not None else model.is_gradient_checkpointing) is checkpointing
    plain, recomputed = runs[False].log[-1], runs[True].log[-1]
    assert runs[True].steps == runs[False].steps > 0
    for key in ("loss", "loss_ce", "loss_kd", "loss_feature"):
        assert recomputed[key] == pytest.approx(plain[key], rel=1e-4), key
    assert runs[True].test_accuracy == pytest.approx(runs[False].test_accuracy)


def test_parallel_workers_give_the_runs_of_one_process(small):
    """Two spawned workers (one thread each) train the same runs, in the plan's order, as one process
    with one thread; the teacher and its cache reach the workers unchanged."""
    teacher, tok, data = small
    mapping = skd.resolve("uniform", 4, 2)
    variants = [
        skd.Variant("logit KD", skd.DistillConfig(alpha=0.9)),
        skd.Variant("spectral", skd.DistillConfig(beta=0.2, feature="spectral_tokens", mapping=mapping)),
    ]
    train = skd.TrainConfig(epochs=1, batch_size=16, cache_teacher=True)
    student = skd.StudentConfig(2, init_from=(2, 4))
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = skd.run_comparison(teacher, tok, data, variants, student, train, seeds=(0, 1))
    finally:
        torch.set_num_threads(threads)
    seen = []
    two = skd.run_comparison(
        teacher, tok, data, variants, student, train, seeds=(0, 1), on_run=seen.append, workers=2
    )
    assert two.meta["workers"] == 2 and one.meta["workers"] == 1
    assert (
        [(r.name, r.seed) for r in two.runs]
        == [(r.name, r.seed) for r in one.runs]
        == [("logit KD", 0), ("logit KD", 1), ("spectral", 0), ("spectral", 1)]
    )
    assert [(r.name, r.seed) for r in seen] == [(r.name, r.seed) for r in two.runs]
    for a, b in zip(one.runs, two.runs, strict=True):
        assert a.steps == b.steps and a.test_accuracy == b.test_accuracy
        assert a.log[-1]["loss"] == pytest.approx(b.log[-1]["loss"], rel=1e-5)
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(v, before[k], msg=k)
    with pytest.raises(ValueError, match="workers must be a whole number >= 1, got 0"):
        skd.run_comparison(teacher, tok, data, variants, student, train, workers=0)


def test_workers_come_from_a_fork_server_where_there_is_one(monkeypatch):
    """Never forked from the caller (after OpenMP has run, a fork can hang): a fork server, else spawn."""
    import multiprocessing

    from spectralkd_lite.compare import start_workers

    assert start_workers().get_start_method() == "forkserver"  # Linux, where CI runs
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])  # as on Windows
    assert start_workers().get_start_method() == "spawn"
