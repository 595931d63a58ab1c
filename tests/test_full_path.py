"""The full profile's path on a CPU: a 24-block teacher and a narrower, pretrained 12-block student
loaded by path, both channel alignments, the seed preset, mixed precision off, distill, compare, CLI.

The models are tiny stand-ins of roberta-large (24 blocks) and roberta-base (12 blocks, narrower),
built from configs and saved with save_pretrained: nothing is downloaded.
"""

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from transformers import RobertaForSequenceClassification, TrainerCallback

import spectralkd_lite as skd
from spectralkd_lite.cli import main
from spectralkd_lite.distill import PROJECTIONS_FILE, distill_step_losses, make_projections
from spectralkd_lite.losses import feature_loss
from spectralkd_lite.teacher import CLINC150_ENV, RECIPES, default_data, teacher_data
from spectralkd_lite.text import load_classifier, text_batches, tiny_roberta_config, train_bpe_tokenizer
from spectralkd_lite.training import training_arguments
from spectralkd_lite.workflows import DEMO_STUDENT_TRAIN

T_WIDTH, S_WIDTH = 32, 24  # roberta-large 1024 -> roberta-base 768, in miniature
SEED_TEACHER = [1, 2, 3, 4, 5, 6, 7, 8, 9, 21, 22, 23]


def _write_subset(folder: Path, per_intent: dict[str, int]) -> Path:
    """A few utterances of every built-in intent per split, as train/validation/test.csv."""
    full = skd.load_intents("builtin")
    folder.mkdir()
    for split, n in per_intent.items():
        part = full.split(split)
        seen: dict[int, int] = {}
        with (folder / f"{split}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "intent"])
            for text, label in zip(part.texts, part.labels, strict=True):
                if seen.get(label, 0) < n:
                    seen[label] = seen.get(label, 0) + 1
                    w.writerow([text, part.label_names[label]])
    return folder


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Folders of a 24 x 32 teacher and a 12 x 24 student (save_pretrained, one tokenizer) and small data."""
    root = tmp_path_factory.mktemp("full")
    data_dir = _write_subset(root / "data", {"train": 3, "validation": 1, "test": 1})
    data = skd.load_intents(data_dir)
    tok = train_bpe_tokenizer(skd.load_intents("builtin").train.texts, vocab_size=300)
    paths = {"data": data_dir}
    for name, blocks, width in (("teacher", 24, T_WIDTH), ("student", 12, S_WIDTH)):
        torch.manual_seed(0)
        config = tiny_roberta_config(
            data.num_labels, len(tok), n_blocks=blocks, width=width, heads=2, label_names=data.label_names
        )
        paths[name] = root / name
        RobertaForSequenceClassification(config).save_pretrained(paths[name])
        tok.save_pretrained(paths[name])
    teacher, tokenizer = load_classifier(paths["teacher"])
    return {**paths, "teacher_model": teacher.eval(), "tokenizer": tokenizer, "dataset": data, "root": root}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _quick_train(**changes) -> skd.TrainConfig:
    """The full profile's student recipe, cut to a few steps (its mixed precision stays switched on)."""
    return dataclasses.replace(DEMO_STUDENT_TRAIN["full"], **{"epochs": 1, "batch_size": 16, **changes})


def test_full_profile_recipe_and_data():
    train = DEMO_STUDENT_TRAIN["full"]
    assert 2e-5 <= train.lr <= 5e-5 and 3 <= train.epochs <= 5 and train.warmup_ratio > 0
    assert (
        train.mixed_precision
        and RECIPES["full"].mixed_precision
        and RECIPES["full"].base_model == "roberta-large"
    )
    if not torch.cuda.is_available():  # mixed precision asked for, but switched off on a CPU
        args = training_arguments(train, "unused", 100)
        assert not args.bf16 and not args.fp16
    assert default_data("full") == "hub:clinc_oos"  # CLINC150, not the built-in intents


def test_full_teacher_data_can_be_a_local_clinc150(tmp_path, monkeypatch):
    pairs = [["what is my balance", "balance"], ["play a song", "play_music"]]
    path = tmp_path / "data_full.json"
    path.write_text(json.dumps({"train": pairs, "val": pairs, "test": pairs}))
    monkeypatch.setenv(CLINC150_ENV, str(path))
    data = teacher_data("full")
    assert data.name == "clinc150" and data.label_names == ["balance", "play_music"]
    monkeypatch.setenv(CLINC150_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        teacher_data("full")


def test_profile_student_is_roberta_base_in_full_and_cut_from_the_teacher_elsewhere(monkeypatch):
    import importlib

    from transformers import RobertaConfig

    config_module = importlib.import_module("spectralkd_lite.config")  # from_pretrained reads it here

    asked = []
    monkeypatch.setattr(  # the hub is out of reach here: answer the config read as roberta-base's
        config_module,
        "pretrained_model_config",
        lambda name: asked.append(name) or RobertaConfig(num_hidden_layers=12, hidden_size=768),
    )
    full = skd.profile_student("full", 24)
    assert asked == ["roberta-base"] and full.pretrained == "roberta-base" and full.n_student_blocks == 12
    assert full.init_from is None and not full.freeze_embeddings
    # 24 -> 12 is the seed preset's shape: notebook 05 offers that row with this student
    assert any("seed preset" in v.name for v in skd.standard_variants(24, full.n_student_blocks))
    cut = skd.profile_student("laptop", 6, 3)
    assert cut.init_from == (2, 4, 6) and cut.freeze_embeddings and cut.pretrained is None


def test_pretrained_student_loads_by_path(full):
    teacher, tok = full["teacher_model"], full["tokenizer"]
    config = skd.StudentConfig.from_pretrained(full["student"])
    assert config.n_student_blocks == 12 and config.pretrained == str(full["student"])
    student = skd.make_student(teacher, config, tokenizer=tok)
    saved = RobertaForSequenceClassification.from_pretrained(full["student"])
    assert student.config.num_hidden_layers == 12 and student.config.hidden_size == S_WIDTH
    assert student.config.num_labels == teacher.config.num_labels
    assert student.config.id2label == teacher.config.id2label
    torch.testing.assert_close(
        student.roberta.encoder.layer[11].output.dense.weight,
        saved.roberta.encoder.layer[11].output.dense.weight,
    )
    frozen = skd.make_student(teacher, dataclasses.replace(config, freeze_embeddings=True), tokenizer=tok)
    assert not any(p.requires_grad for p in frozen.roberta.embeddings.parameters())


def test_bad_pretrained_students_get_clear_errors(full, tmp_path):
    teacher, tok = full["teacher_model"], full["tokenizer"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no model"):
        skd.StudentConfig.from_pretrained(tmp_path / "empty")
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.json").write_text((full["student"] / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no weights"):
        skd.StudentConfig.from_pretrained(tmp_path / "config_only")
    with pytest.raises(FileNotFoundError, match="no student model folder"):
        skd.StudentConfig.from_pretrained(tmp_path / "missing")
    with pytest.raises(ValueError, match="drop width=16"):
        skd.StudentConfig(12, width=16, pretrained=str(full["student"]))
    with pytest.raises(ValueError, match="has 12 blocks, but the StudentConfig says 6"):
        skd.make_student(teacher, skd.StudentConfig(6, pretrained=str(full["student"])), tokenizer=tok)
    # another tokenizer family: a vocabulary of other tokens, or (without a tokenizer) of another size
    other_tok = train_bpe_tokenizer(
        ["zebra quokka yak"] * 5 + full["dataset"].train.texts[:20], vocab_size=300
    )
    config = tiny_roberta_config(4, len(tok) + 10, n_blocks=12, width=S_WIDTH, heads=2)
    for name, tokenizer in (("other_tok", other_tok), ("no_tok", None)):
        RobertaForSequenceClassification(config).save_pretrained(tmp_path / name)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp_path / name)
    with pytest.raises(ValueError, match="is not the teacher's"):
        skd.make_student(teacher, skd.StudentConfig.from_pretrained(tmp_path / "other_tok"), tokenizer=tok)
    with pytest.raises(ValueError, match="different tokenizers"):
        skd.make_student(teacher, skd.StudentConfig.from_pretrained(tmp_path / "no_tok"), tokenizer=tok)
    small = tiny_roberta_config(4, 50, n_blocks=12, width=S_WIDTH, heads=2)
    RobertaForSequenceClassification(small).save_pretrained(tmp_path / "small_vocab")
    with pytest.raises(ValueError, match="vocabulary of 50 tokens"):
        skd.make_student(teacher, skd.StudentConfig.from_pretrained(tmp_path / "small_vocab"), tokenizer=tok)


@pytest.mark.parametrize("align", ["pool", "project"])
def test_seed_preset_feature_term_averages_its_twelve_links(full, align):
    teacher, tok, data = full["teacher_model"], full["tokenizer"], full["dataset"]
    mapping = skd.resolve("seed", 24, 12)
    assert mapping.student_blocks == list(range(1, 13)) and mapping.teacher_blocks == SEED_TEACHER
    student = skd.make_student(teacher, skd.StudentConfig.from_pretrained(full["student"]), tokenizer=tok)
    config = skd.DistillConfig(beta=2.0, feature="spectral_tokens", mapping=mapping, channel_align=align)
    projections = make_projections(student, teacher, mapping) if align == "project" else None
    batch = next(iter(text_batches(data.train, tok, batch_size=8)))
    losses, out = distill_step_losses(student, teacher, batch, config, projections=projections)
    assert all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        t_hidden = teacher(**{k: v for k, v in batch.items() if k != "labels"}, output_hidden_states=True)
    per_link = [
        feature_loss(
            [out.hidden_states[s]],
            [t_hidden.hidden_states[t]],
            "spectral_tokens",
            batch["attention_mask"],
            projections=[projections[i]] if projections is not None else None,
            normalize=True,
        )
        for i, (s, t) in enumerate(zip(range(1, 13), SEED_TEACHER, strict=True))
    ]
    assert float(losses["feature"].detach()) == pytest.approx(
        float(torch.stack(per_link).mean().detach()), rel=1e-5
    )
    if align == "project":
        with pytest.raises(ValueError, match="needs the learned projections"):
            distill_step_losses(student, teacher, batch, config)


class _WatchProjections(TrainerCallback):
    """Keeps the learned projection weights (student width -> teacher width) the optimiser holds."""

    def __init__(self) -> None:
        self.before: list[torch.Tensor] = []
        self.params: list[torch.Tensor] = []

    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        self.params = [
            p for g in optimizer.param_groups for p in g["params"] if tuple(p.shape) == (T_WIDTH, S_WIDTH)
        ]
        self.before = [p.detach().clone() for p in self.params]


@pytest.mark.parametrize("align", ["pool", "project"])
def test_distill_trains_the_pretrained_student_and_not_the_teacher(full, tmp_path, align):
    teacher, tok, data = full["teacher_model"], full["tokenizer"], full["dataset"]
    teacher_before = _state(teacher)
    student_before = _state(RobertaForSequenceClassification.from_pretrained(full["student"]))
    watch = _WatchProjections()
    config = skd.DistillConfig(
        alpha=0.9,
        beta=2.0,
        feature="spectral_tokens",
        mapping=skd.resolve("seed", 24, 12),
        channel_align=align,
    )
    student, run = skd.distill(
        teacher,
        tok,
        data,
        config,
        _quick_train(lr=1e-3, callbacks=(watch,)),
        student=skd.StudentConfig.from_pretrained(full["student"]),
        out_dir=tmp_path / "student",
    )
    logged = [entry for entry in run.log if "loss" in entry]
    assert logged and all(
        torch.isfinite(torch.tensor(entry[k]))
        for entry in logged
        for k in ("loss", "loss_kd", "loss_feature")
    )
    assert all(entry["loss_feature"] > 0 for entry in logged)
    assert 0.0 <= run.test_accuracy <= 1.0 and run.steps == 5  # 72 examples / 16
    after = student.state_dict()
    moved = [k for k, v in student_before.items() if "classifier" not in k and not torch.equal(v, after[k])]
    assert any(k.startswith("roberta.encoder.layer.11.") for k in moved)  # the pretrained blocks trained
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    saved = json.loads((tmp_path / "student" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 12 and saved["hidden_size"] == S_WIDTH
    if align == "project":
        assert len(watch.params) == 12  # one projection per link, trained with the student
        assert all(not torch.equal(p.detach(), b) for p, b in zip(watch.params, watch.before, strict=True))
        assert (tmp_path / "student" / PROJECTIONS_FILE).is_file()
    else:
        assert watch.params == [] and not (tmp_path / "student" / PROJECTIONS_FILE).exists()


def test_run_comparison_with_a_pretrained_student(full):
    teacher, tok, data = full["teacher_model"], full["tokenizer"], full["dataset"]
    seed = skd.DistillConfig(beta=2.0, feature="spectral_tokens", mapping=skd.resolve("seed", 24, 12))
    variants = [
        skd.Variant("no KD", skd.DistillConfig(alpha=0.0)),
        skd.Variant("logit KD", skd.DistillConfig(alpha=0.9)),
        skd.Variant("seed, pooled", seed),
        skd.Variant("seed, projected", dataclasses.replace(seed, channel_align="project")),
    ]
    student = skd.StudentConfig.from_pretrained(full["student"])
    comparison = skd.run_comparison(
        teacher, tok, data, variants, student, _quick_train(epochs=0.5, cache_teacher=True), seeds=(0,)
    )
    rows = {row["variant"]: row for row in comparison.summary()}
    assert set(rows) == {v.name for v in variants}
    assert all(0.0 <= row["mean"] <= 1.0 for row in rows.values())
    assert comparison.meta["n_student_blocks"] == 12 and "blocks" in comparison.meta["teacher_cache"]
    assert all(run.steps == 3 for run in comparison.runs)


def test_cli_distill_with_a_student_folder_and_the_seed_preset(full, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "distill",
        "--teacher",
        str(full["teacher"]),
        "--student",
        str(full["student"]),
        "--mapping",
        "seed",
    ]
    args += [
        "--data",
        str(full["data"]),
        "--epochs",
        "0.5",
        "--batch-size",
        "16",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main([*args, "--channel-align", "project"]) == 0
    printed = capsys.readouterr().out
    assert "pretrained" in printed and "student 12 <- teacher 23" in printed
    links = json.loads((out / "mapping.json").read_text())["links"]
    assert [link["teacher"] for link in links] == [[t] for t in SEED_TEACHER]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["channel_align"] == "project" and metrics["steps"] == 3
    assert json.loads((out / "config.json").read_text())["hidden_size"] == S_WIDTH
    # the projections are checkpointed with the student and read back on resume
    assert list(out.glob(f"checkpoint-*/{PROJECTIONS_FILE}"))
    resumed = [a if a != "0.5" else "1" for a in args]
    assert main([*resumed, "--channel-align", "project", "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 5
    # the student's folder is never written over, and an empty folder is named
    assert main([*args[:-2], "--out", str(full["student"])]) == 2
    assert "is the student's folder (--student)" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    bad = [
        "distill",
        "--teacher",
        str(full["teacher"]),
        "--student",
        str(tmp_path / "empty"),
        "--out",
        str(out),
    ]
    assert main([*bad, "--overwrite", "--quiet"]) == 2
    assert "holds no model" in capsys.readouterr().err


def test_cli_compare_with_a_student_folder(full, tmp_path, capsys):
    out = tmp_path / "compare"
    args = ["compare", "--teacher", str(full["teacher"]), "--student", str(full["student"]), "--seeds", "0"]
    args += ["--data", str(full["data"]), "--mapping", "seed", "--epochs", "0.25", "--batch-size", "16"]
    assert main([*args, "--quiet", "--out", str(out)]) == 0
    with (out / "results.csv").open(newline="") as f:
        names = [row["variant"] for row in csv.DictReader(f)]
    assert {"no KD", "logit KD", "logit KD + spectral, spectral choice", "teacher (reference)"} <= set(names)
    assert json.loads((out / "results.json").read_text())["meta"]["n_student_blocks"] == 12
    capsys.readouterr()
