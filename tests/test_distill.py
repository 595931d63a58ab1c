"""DistillationTrainer and students: frozen teacher, mapping checks, every term, resume."""

import math

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from spectralkd_lite.compare import Comparison, run_comparison, standard_variants
from spectralkd_lite.distill import DistillConfig, LinkedTeacher, distill, distill_step_losses, make_student
from spectralkd_lite.mapping import build_mapping, parse_manual
from spectralkd_lite.text import text_batches


@pytest.fixture(scope="module")
def small(small_teacher):
    return small_teacher(8, 4, vocab_size=400, hidden=32)


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
    student = make_student(teacher, 2, hidden=16, heads=2, seed=1)
    batch = batch_of(small)
    cfg = DistillConfig(alpha=0.9, beta=0.2, feature="mse", temperature=2.0)
    mapping = build_mapping("manual", 4, 2, spec="1:2, 2:3+4")
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
        feats.append(((ss - tt) ** 2)[mask].mean())
    feat = np.mean(feats)
    losses = {k: v.detach() for k, v in losses.items()}
    assert float(losses["ce"]) == pytest.approx(ce, rel=1e-4)
    assert float(losses["kd"]) == pytest.approx(kd, rel=1e-4)
    assert float(losses["feature"]) == pytest.approx(feat, rel=1e-4)
    assert float(losses["total"]) == pytest.approx(0.1 * ce + 0.9 * kd + 0.2 * feat, rel=1e-4)


def test_teacher_is_frozen_and_student_learns(small):
    teacher, tok, data = small
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    mapping = build_mapping("uniform", 4, 2)
    student, run = distill(
        teacher,
        tok,
        data,
        num_layers=2,
        config=DistillConfig(beta=0.2, feature="spectral_tokens"),
        mapping=mapping,
        epochs=2,
        lr=3e-3,
        batch_size=16,
        seed=0,
    )
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student.parameters())
    assert {"loss_ce", "loss_kd", "loss_feature"} <= set(run.log[-1])
    assert run.log[-1]["loss_feature"] > 0
    assert 0.0 <= run.test_accuracy <= 1.0


def test_student_initialised_from_teacher_blocks(small):
    teacher, _, _ = small
    student = make_student(teacher, 2, init_from=[2, 4])
    t_sd, s_sd = teacher.state_dict(), student.state_dict()
    torch.testing.assert_close(
        s_sd["roberta.encoder.layer.1.attention.self.query.weight"],
        t_sd["roberta.encoder.layer.3.attention.self.query.weight"],
    )
    torch.testing.assert_close(
        s_sd["roberta.embeddings.word_embeddings.weight"], t_sd["roberta.embeddings.word_embeddings.weight"]
    )
    with pytest.raises(ValueError, match="init_from block 9 is out of range: allowed blocks are 1..4"):
        make_student(teacher, 2, init_from=[1, 9])
    with pytest.raises(ValueError, match="needs the teacher's width 32"):
        make_student(teacher, 2, hidden=16, heads=2, init_from=[1, 2])


def test_mapping_that_does_not_fit_is_rejected_before_training(small):
    teacher, tok, data = small
    too_deep = parse_manual("1:2, 3:4")  # student block 3 of a 2-block student
    with pytest.raises(ValueError, match="student block 3 is out of range: allowed blocks are 1..2"):
        distill(
            teacher, tok, data, num_layers=2, config=DistillConfig(beta=0.2, feature="mse"), mapping=too_deep
        )
    with pytest.raises(ValueError, match="teacher block 7 is out of range: allowed blocks are 1..4"):
        distill(
            teacher,
            tok,
            data,
            num_layers=2,
            config=DistillConfig(beta=0.2, feature="mse"),
            mapping=parse_manual("1:7"),
        )
    with pytest.raises(ValueError, match="needs a layer mapping"):
        distill(teacher, tok, data, num_layers=2, config=DistillConfig(beta=0.2, feature="mse"))
    with pytest.raises(ValueError, match="unknown feature loss 'fft'"):
        DistillConfig(beta=0.2, feature="fft")


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def test_resume_from_checkpoint_gives_the_same_result(small, tmp_path):
    teacher, tok, data = small
    kwargs = dict(
        num_layers=2,
        config=DistillConfig(beta=0.2, feature="spectral_tokens"),
        mapping=build_mapping("uniform", 4, 2),
        epochs=2,
        lr=3e-3,
        batch_size=16,
        seed=3,
    )
    steps = 2 * math.ceil(len(data.train) / 16)
    full, _ = distill(teacher, tok, data, out_dir=tmp_path / "full", **kwargs)
    save = {"save_strategy": "steps", "save_steps": 4}
    distill(teacher, tok, data, out_dir=tmp_path / "cut", extra_args=save, callbacks=[StopAt(4)], **kwargs)
    assert (tmp_path / "cut" / "checkpoint-4").is_dir()
    resumed, _ = distill(teacher, tok, data, out_dir=tmp_path / "cut", extra_args=save, resume=True, **kwargs)
    assert steps > 4
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_comparison_table(small, tmp_path):
    teacher, tok, data = small
    variants = standard_variants(4, 2, intensity=[0.1, 0.3, 0.2, 0.4])
    names = [v.name for v in variants]
    assert names[:2] == ["no KD", "logit KD"]
    assert (
        "logit KD + spectral, spectral choice" in names and "logit KD + spectral, mean of 2 blocks" in names
    )
    spectral = next(v for v in variants if v.name == "logit KD + spectral, spectral choice")
    assert spectral.mapping.teacher_blocks == [2, 4]
    comp = run_comparison(
        teacher, tok, data, variants[:2], num_layers=2, seeds=(0, 1), epochs=1, batch_size=32
    )
    comp.add_reference("TF-IDF", 0.5)
    rows = comp.summary()
    accs = [r.test_accuracy for r in comp.runs if r.name == "no KD"]
    assert rows[0]["mean"] == pytest.approx(np.mean(accs)) and rows[0]["std"] == pytest.approx(
        np.std(accs, ddof=1)
    )
    md = comp.to_markdown()
    assert "TF-IDF (reference)" in md and "| no KD |" in md
    paths = comp.save(tmp_path)
    assert paths["figure"].stat().st_size > 1000
    assert (tmp_path / "results.csv").read_text().splitlines()[
        0
    ] == "variant,mean,std,min,max,n,seconds,layers"
    assert isinstance(comp, Comparison)


def test_teacher_cache_gives_the_live_teacher_losses(small):
    from spectralkd_lite.distill import TeacherCache
    from spectralkd_lite.text import EncodedSplit, collator

    teacher, tok, data = small
    cache = TeacherCache.build(teacher, data.train, tok, batch_size=7)  # other padding than the batch below
    assert cache.logits.shape == (len(data.train), data.num_labels) and cache.hidden.shape[1] == 5
    items = [EncodedSplit(data.train, tok, with_index=True)[i] for i in (3, 0, 11, 5)]
    batch = collator(tok)(items)
    assert batch["example_index"].tolist() == [3, 0, 11, 5]
    student = make_student(teacher, 2, seed=0).eval()  # no dropout: both passes see the same student
    cfg = DistillConfig(beta=0.2, feature="spectral_tokens")
    linked = LinkedTeacher(build_mapping("paired", 4, 2), 4)
    cached, _ = distill_step_losses(student, teacher, batch, cfg, linked, cache)
    live, _ = distill_step_losses(
        student, teacher, {k: v for k, v in batch.items() if k != "example_index"}, cfg, linked
    )
    for key in ("ce", "kd", "feature", "total"):
        torch.testing.assert_close(cached[key], live[key], rtol=1e-4, atol=1e-6)
