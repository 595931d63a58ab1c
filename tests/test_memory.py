"""The GPU memory plan: its formula checked against numbers worked out by hand, and what it changes to fit."""

import dataclasses

import torch
from transformers import RobertaConfig, RobertaForSequenceClassification

import spectralkd_lite as skd
from spectralkd_lite.memory import CONTEXT_BYTES, GIB, activation_bytes


def test_activation_bytes_match_the_formula_by_hand():
    # roberta-base, batch 32 x 64 tokens, 16-bit: s*b*h = 64*32*768 = 1,572,864;
    # per layer 1,572,864 * (34 + 5*12*64/768 = 39) = 61,341,696; 12 layers: 736,100,352
    assert activation_bytes(12, 768, 12, 32, 64) == 736_100_352
    # checkpointing: 12 layer inputs of 2*1,572,864 bytes = 37,748,736, plus one layer rebuilt
    assert activation_bytes(12, 768, 12, 32, 64, checkpointing=True) == 37_748_736 + 61_341_696
    # fp32 activations: twice the 16-bit figure
    assert activation_bytes(12, 768, 12, 32, 64, element_bytes=4) == 2 * 736_100_352


def model(layers: int, width: int) -> RobertaForSequenceClassification:
    config = RobertaConfig(
        vocab_size=100,
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * width,
        max_position_embeddings=40,
        num_labels=5,
    )
    return RobertaForSequenceClassification(config)


def test_plan_adds_up_its_parts_and_keeps_a_recipe_that_fits():
    teacher, student = model(4, 16), model(2, 8)
    student.roberta.embeddings.requires_grad_(False)
    frozen = sum(p.numel() for p in student.roberta.embeddings.parameters())
    trainable = sum(p.numel() for p in student.parameters()) - frozen
    train = skd.TrainConfig(batch_size=8, max_length=16, mixed_precision=False)
    plan = skd.plan_memory(teacher, student, train, budget=64 * GIB)
    assert plan.fits and plan.train is train and plan.changed == ()
    assert plan.teacher == 4 * sum(p.numel() for p in teacher.parameters())  # fp32 weights only
    assert plan.student == 16 * trainable + 4 * frozen
    assert plan.activations == activation_bytes(2, 8, 2, 8, 16, element_bytes=4)
    assert plan.teacher_hidden == 5 * 8 * 16 * 16 * 4  # 4 blocks + embeddings, b*s*h_t, fp32
    parts = plan.teacher + plan.student + plan.activations + plan.teacher_hidden
    assert plan.total == int(parts * 1.1) + CONTEXT_BYTES
    # with the teacher cache, the cache sits on the teacher's device instead: its size when known,
    # else the most a cache may take; one over that budget is not built, so a step's hidden states count
    cached = dataclasses.replace(train, cache_teacher=True)
    assert skd.plan_memory(teacher, student, cached, 64 * GIB, cache_bytes=12345).teacher_hidden == 12345
    assert skd.plan_memory(teacher, student, cached, 64 * GIB).teacher_hidden == 2 * GIB
    over = skd.plan_memory(teacher, student, cached, 64 * GIB, cache_bytes=2 * GIB + 1)
    assert over.teacher_hidden == plan.teacher_hidden and "teacher hidden states" in over.describe()
    assert (
        "teacher cache 0.00" in skd.plan_memory(teacher, student, cached, 64 * GIB, cache_bytes=1).describe()
    )
    assert "at batch 8, gradient checkpointing off" in plan.describe()


def test_plan_turns_on_checkpointing_then_halves_the_batch():
    teacher, student = model(4, 64), model(4, 64)
    train = skd.TrainConfig(batch_size=256, max_length=32, mixed_precision=True)
    fixed = skd.plan_memory(teacher, student, train, budget=10 * GIB).total - CONTEXT_BYTES
    # a budget just below the recipe's estimate: checkpointing alone is enough
    plan = skd.plan_memory(teacher, student, train, budget=fixed + CONTEXT_BYTES - 1)
    assert plan.fits and plan.train.gradient_checkpointing and plan.train.batch_size == 256
    assert plan.changed == ("gradient checkpointing on",)
    # a tighter budget: the batch halves too, and the plan says from what to what
    small = skd.plan_memory(
        teacher, student, dataclasses.replace(train, gradient_checkpointing=True), budget=10 * GIB
    )
    budget = small.total - small.activations // 2
    plan = skd.plan_memory(teacher, student, train, budget=budget)
    assert (
        plan.fits
        and plan.train.batch_size < 256
        and plan.changed[-1] == f"batch 256 -> {plan.train.batch_size}"
    )
    # nothing fits below the weights themselves
    hopeless = skd.plan_memory(teacher, student, train, budget=CONTEXT_BYTES)
    assert not hopeless.fits and hopeless.train.batch_size == 1 and "does NOT fit" in hopeless.describe()


def test_training_arguments_pass_checkpointing_to_the_trainer():
    from spectralkd_lite.training import training_arguments

    args = training_arguments(skd.TrainConfig(gradient_checkpointing=True), "unused", 100)
    key = (
        "activation_checkpointing" if hasattr(args, "activation_checkpointing") else "gradient_checkpointing"
    )
    assert getattr(args, key) and getattr(args, f"{key}_kwargs") == {"use_reentrant": False}
    assert not getattr(training_arguments(skd.TrainConfig(), "unused", 100), key)
    assert (
        torch.cuda.is_available()
        or skd.plan_memory(model(2, 8), model(1, 8), skd.TrainConfig()).budget == 16 * 10**9
    )
