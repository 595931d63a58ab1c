"""One front door for layer mappings: the CLI, the widgets and the comparison all go through resolve."""

import json

import pytest

import spectralkd_lite as skd
from spectralkd_lite import cli
from spectralkd_lite.text import load_classifier
from spectralkd_lite.workflows import teacher_report

SPECS = ["uniform", "top", "ushape", "2, 3", "1:2, 2:3", "1:0.3*1+0.7*2, 2:3"]


def links(mapping):
    return [(link.student, link.teacher, link.weights) for link in mapping.links]


@pytest.fixture(scope="module")
def teacher(saved_model):
    model, tokenizer = load_classifier(saved_model)
    data = skd.load_intents("builtin")
    return model, tokenizer, data, teacher_report(model, tokenizer, data)


@pytest.mark.parametrize("spec", SPECS)
def test_the_same_spec_gives_the_same_mapping_everywhere(spec, teacher, saved_model, tmp_path, monkeypatch):
    model, tokenizer, data, report = teacher
    expected = links(skd.resolve(spec, 3, 2, report))
    seen = {}

    def fake_distill(teacher, tokenizer, data, config, train, **kwargs):
        seen["distill"] = config.mapping
        return None, skd.RunResult("", train.seed, 0.5, 0.5, 0.0, steps=1)

    def fake_comparison(teacher, tokenizer, data, variants, student, train, **kwargs):
        seen["compare"] = next(v.config.mapping for v in variants if v.name.endswith("spectral choice"))
        return skd.Comparison()

    monkeypatch.setattr(cli, "distill", fake_distill)
    monkeypatch.setattr(cli, "run_comparison", fake_comparison)
    monkeypatch.setattr(cli, "reference_accuracies", lambda *a: {"teacher": 0.5})
    common = ["--teacher", str(saved_model), "--mapping", spec, "--quiet"]
    assert cli.main(["distill", *common, "--student", "2", "--out", str(tmp_path / "d")]) == 0
    assert cli.main(["compare", *common, "--student-blocks", "2", "--out", str(tmp_path / "c")]) == 0
    saved = skd.LayerMapping.load(tmp_path / "d" / "mapping.json")

    picker = skd.LayerPicker(report, 2, strategy="manual", manual=spec, raise_errors=True)
    runner = skd.DistillRunner(
        model, tokenizer, data, skd.Comparison(), skd.StudentConfig(2), skd.TrainConfig(), report
    )
    from_file = skd.resolve(str(saved.save(tmp_path / "m.json")), 3, 2)
    for where, mapping in {
        "cli distill": seen["distill"],
        "cli distill mapping.json": saved,
        "cli compare": seen["compare"],
        "layer picker": picker.mapping,
        "distill widget": runner.mapping_for(spec),
        "mapping file": from_file,
    }.items():
        assert links(mapping) == expected, where
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["config"]["mapping"] == saved.spec()
