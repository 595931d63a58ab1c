"""Every bad input of the probe in issue #18 (and #17's): a clear one-line error, never a raw traceback,
a silent NaN or a lost model.

One row per bad input: the command line (exit status 2, the phrase on the last line of stderr) or the
Python call (the exception or warning class, a phrase of its message).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from spectralkd_lite import cli
from spectralkd_lite.analysis import LayerSource, analyze
from spectralkd_lite.compare import check_plan
from spectralkd_lite.config import DistillConfig, StudentConfig, TrainConfig
from spectralkd_lite.data import IntentData, IntentSplit, load_builtin, load_hub, load_intents
from spectralkd_lite.distill import make_student
from spectralkd_lite.io import LOCK_NAME, folder_lock, write_json_atomic, write_text_atomic
from spectralkd_lite.losses import (
    classification_loss,
    hidden_mse,
    logit_kd,
    magnitude_loss,
    spectral_loss_2d,
    spectral_loss_channels,
    spectral_loss_tokens,
)
from spectralkd_lite.mapping import MAPPING_SCHEMA, LayerLink, LayerMapping, parse_blocks, resolve, select_top
from spectralkd_lite.plots import plot_intensity
from spectralkd_lite.report import SCHEMA, SpectralReport
from spectralkd_lite.similarity import compare_reports
from spectralkd_lite.spectrum import layer_spectrum, patch_tokens, stacked_magnitude_sums
from spectralkd_lite.text import check_text_model, load_classifier, train_classifier
from spectralkd_lite.training import LOSS_KEYS, fit_tensors

NAN, INF = float("nan"), float("inf")
HAS_DATASETS = importlib.util.find_spec("datasets") is not None


def _report(**changes) -> dict:
    """A valid report's JSON (three blocks of 4 channels), with ``changes`` written over it."""
    spectra = [[0.4, 0.2, 0.1, 0.2], [0.3, 0.2, 0.2, 0.2], [0.5, 0.1, 0.1, 0.1]]
    data = {
        "schema": SCHEMA,
        "schema_version": 1,
        "model_name": "m",
        "layer_names": ["block 1", "block 2", "block 3"],
        "blocks": [1, 2, 3],
        "channels": [4, 4, 4],
        "intensity": [sum(s) / 4 for s in spectra],
        "spectra": spectra,
        "positions": [10, 10, 10],
        "batches": 1,
        "meta": {},
        "rms": [],
    }
    return {**data, **changes}


def _write_intents(folder: Path, splits: dict[str, str], data: bytes | None = None) -> Path:
    folder.mkdir(parents=True)
    for name, text in splits.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    if data is not None:
        (folder / "train.csv").write_bytes(data)
    return folder


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def paths(saved_model, tmp_path_factory) -> dict[str, str]:
    """Every bad file or folder the rows name, by placeholder."""
    root = tmp_path_factory.mktemp("bad")
    ok = "text,intent\nhello there,greet\nbye now,leave\n"
    p: dict[str, Path] = {"model": Path(saved_model), "tmp": root}
    p["csv_big"] = _write_intents(
        root / "csv_big", {"train": ok, "validation": ok, "test": f'text,intent\n"{"a" * 200_000}",greet\n'}
    )
    p["non_utf8"] = _write_intents(
        root / "non_utf8", {"validation": ok, "test": ok}, b"text,intent\ncaf\xe9 \xff,greet\n"
    )
    p["no_validation"] = _write_intents(root / "no_validation", {"train": ok, "test": ok})
    p["unseen"] = _write_intents(
        root / "unseen", {"train": ok, "validation": ok, "test": "text,intent\nhi,wave\n"}
    )
    p["custom3"] = _write_intents(
        root / "custom3", {s: ok + "what time is it,clock\n" for s in ("train", "validation", "test")}
    )
    p["truncated_model"] = root / "truncated_model"
    shutil.copytree(saved_model, p["truncated_model"])
    _truncate(p["truncated_model"] / "model.safetensors")
    p["empty_teacher"] = root / "empty_teacher"
    p["empty_teacher"].mkdir()
    p["holds_model"] = root / "holds_model"
    shutil.copytree(saved_model, p["holds_model"])
    p["holds_checkpoint"] = root / "holds_checkpoint"
    (p["holds_checkpoint"] / "checkpoint-30").mkdir(parents=True)
    p["resume_truncated"] = root / "resume_truncated"
    shutil.copytree(saved_model, p["resume_truncated"] / "checkpoint-2")
    _truncate(p["resume_truncated"] / "checkpoint-2" / "model.safetensors")
    p["resume_empty"] = root / "resume_empty"
    p["resume_empty"].mkdir()
    p["no_tokenizer"] = root / "no_tokenizer"
    shutil.copytree(
        saved_model, p["no_tokenizer"], ignore=shutil.ignore_patterns("tokenizer*", "special_tokens*")
    )
    p["one_intent"] = _write_intents(
        root / "one_intent",
        {s: "text,intent\nhello there,greet\nhi,greet\n" for s in ("train", "validation", "test")},
    )
    p["locked"] = root / "locked"
    p["locked"].mkdir()
    config = json.loads((Path(saved_model) / "config.json").read_text())
    p["small_vocab"] = root / "small_vocab.json"
    p["small_vocab"].write_text(json.dumps({**config, "vocab_size": 10}))
    mappings = {
        "map_list": [{"student": 1, "teacher": [2]}],
        "map_no_teacher": {"schema": MAPPING_SCHEMA, "links": [{"student": 1}]},
        "map_teacher_text": {"schema": MAPPING_SCHEMA, "links": [{"student": 1, "teacher": "23"}]},
        "map_student_float": {"schema": MAPPING_SCHEMA, "links": [{"student": 1.9, "teacher": [2]}]},
    }
    reports = {
        "report": _report(),
        "report_empty": _report(
            layer_names=[], blocks=[], channels=[], intensity=[], spectra=[], positions=[]
        ),
        "report_repeated": _report(blocks=[1, 2, 2]),
        "report_inf": _report(intensity=[0.2, INF, 0.2]),
        "report_block_6": _report(blocks=[1, 2, 6]),
        "report_negative": _report(intensity=[0.2, -0.1, 0.2]),
        "report_text": _report(intensity=[0.2, "high", 0.2]),
        "report_null": _report(intensity=[0.2, None, 0.2]),
    }
    for name, data in {**mappings, **reports}.items():
        p[name] = root / f"{name}.json"
        p[name].write_text(json.dumps(data))
    return {k: str(v) for k, v in p.items()}


DISTILL = ["distill", "--teacher", "{model}", "--student", "2", "--mapping", "uniform", "--quiet"]
OUT = ["--out", "{tmp}/out"]
ANALYZE = ["analyze", "--model", "{model}", "--out", "{tmp}/analysis", "--quiet"]
REPORTS = ["compare-reports", "--out", "{tmp}/similarity"]

# One row per bad input, "id | command line | phrase": the command line is split as a shell splits it,
# DISTILL, OUT, ANALYZE and REPORTS stand for the options above, and words in braces are filled from
# ``paths``; the phrase must be on the last line of stderr.
CLI_TABLE = [
    # raw tracebacks before: exceptions other than ValueError / TypeError / OSError
    "csv-field-over-limit | ANALYZE --data {csv_big} | not a readable CSV row",
    "device-bogus | ANALYZE --device bogus | unknown device 'bogus'",
    "device-absent | ANALYZE --device cuda:99 | device 'cuda:99' is not available",
    "max-length-over-positions | ANALYZE --max-length 100 | allow at most 64 tokens",
    "truncated-safetensors | analyze --model {truncated_model} --out {tmp}/analysis --quiet | truncated or corrupt",
    "hub-unknown | ANALYZE --data hub:nonsense | unknown hub data set 'nonsense'",
    "map-json-list | DISTILL OUT --mapping {map_list} | not a spectralkd-lite layer mapping",
    "map-json-no-teacher | DISTILL OUT --mapping {map_no_teacher} | with 'student' and 'teacher'",
    "map-json-teacher-text | DISTILL OUT --mapping {map_teacher_text} | 'teacher' must be a list of block numbers",
    "map-json-student-1.9 | DISTILL OUT --mapping {map_student_float} | 'student' must be a block number",
    "map-underscore | DISTILL OUT --mapping 1_0:2 | cannot read mapping entry '1_0:2'",
    "map-teacher-minus-1 | DISTILL OUT --mapping 1:-1 | cannot read mapping entry '1:-1'",
    "map-nan-weights | DISTILL OUT --mapping 1:nan*2+nan*3 | finite weights >= 0",
    "map-inf-weight | DISTILL OUT --mapping 1:inf*2+0*3 | finite weights >= 0",
    "map-does-not-fit | DISTILL OUT --mapping 1:9 | teacher block 9 is out of range: allowed blocks are 1..3",
    "student-vocab-smaller | DISTILL OUT --student {small_vocab} | the tokenizer has 500 tokens but the vocabulary of the model to train has 10",
    "resume-truncated | DISTILL --out {resume_truncated} --resume | truncated or corrupt",
    "resume-nothing | DISTILL --out {resume_empty} --resume | no checkpoint to resume from",
    "empty-teacher-folder | distill --teacher {empty_teacher} --student 2 OUT | holds no model (no config.json)",
    # NaN, inf and out-of-range numbers
    "beta-nan | DISTILL OUT --beta nan | --beta: the value must be a finite number, got nan",
    "beta-negative | DISTILL OUT --beta -1 | --beta: the value must be in [0, inf), got -1.0",
    "temperature-inf | DISTILL OUT --temperature inf | --temperature: the value must be a finite",
    "temperature-nan | DISTILL OUT --temperature nan | --temperature: the value must be a finite",
    "temperature-0 | DISTILL OUT --temperature 0 | --temperature: the value must be in [0.01, inf), got 0.0",
    "temperature-underflows-kd | DISTILL OUT --temperature 1e-30 | --temperature: the value must be in [0.01, inf), got 1e-30",
    "alpha-2 | DISTILL OUT --alpha 2 | --alpha: the value must be in [0, 1], got 2.0",
    "epochs-0 | DISTILL OUT --epochs 0 | --epochs: the value must be in (0, inf), got 0.0",
    "epochs-minus-1 | DISTILL OUT --epochs -1 | --epochs: the value must be in (0, inf), got -1.0",
    "epochs-nan | DISTILL OUT --epochs nan | --epochs: the value must be a finite number",
    "lr-0 | DISTILL OUT --lr 0 | --lr: the value must be in (0, inf)",
    "lr-text | DISTILL OUT --lr abc | --lr: expected a number, got 'abc'",
    "demo-epochs-0 | demo --student-epochs 0 | --student-epochs: the value must be in (0, inf)",
    "seeds-repeated | compare --teacher {model} OUT --seeds 0,0 | expected distinct seeds",
    "workers-0 | compare --teacher {model} OUT --workers 0 | --workers: expected a positive integer, got 0",
    "max-length-1 | ANALYZE --max-length 1 | max_length 1 leaves no room for text",
    "init-from-underscore | DISTILL OUT --init-from 1_0,2 | cannot read '1_0'",
    # data loss
    "out-is-teacher | DISTILL --out {model} | is the teacher's folder (--teacher)",
    "out-has-checkpoints | DISTILL --out {holds_checkpoint} | holds checkpoints of an earlier run",
    "out-has-model | DISTILL --out {holds_model} | already holds a model",
    "train-teacher-out-has-model | train-teacher --profile tiny --out {holds_model} | already holds a model",
    # misleading messages before
    "csv-not-utf8 | ANALYZE --data {non_utf8} | non_utf8/train.csv: not UTF-8 text",
    "report-empty | REPORTS {report_empty} {report} | has no layers",
    "report-repeated-blocks | REPORTS {report} {report_repeated} | block 2 appears more than once",
    "report-inf-intensity | REPORTS {report_inf} {report} | block 2 has intensity inf",
    # issue 26: silent wrong results
    "analyze-no-tokenizer | analyze --model {no_tokenizer} --out {tmp}/analysis --quiet | no_tokenizer holds no tokenizer",
    "distill-teacher-no-tokenizer | distill --teacher {no_tokenizer} --student 2 OUT | no_tokenizer holds no tokenizer (none of tokenizer.json",
    "data-one-intent | train-teacher --profile tiny --data {one_intent} --out {tmp}/one | the data 'one_intent' has 1 intent (greet): a classifier needs at least 2",
    "analyze-out-empty | analyze --model {model} --out '' | argument --out: is empty: give a folder",
    "train-teacher-out-empty | train-teacher --profile tiny --out '' | argument --out: is empty",
    "distill-out-empty | DISTILL --out '' | argument --out: is empty",
    "student-deeper-than-teacher | distill --teacher {model} --student 99 --mapping uniform --quiet OUT | --student 99: not a number of blocks in 1..3; --student takes a number of blocks 1..3",
    "report-block-beyond-depth | REPORTS {report_block_6} {report} | has blocks 1, 2, 6: a model's report numbers its blocks 1..N",
    "report-negative-intensity | REPORTS {report} {report_negative} | report_negative.json: report field 'intensity': block 2 has -0.1",
    # issue 26: misleading messages
    "model-empty | analyze --model '' --out {tmp}/a | argument --model: is empty: give a folder written by save_pretrained, or a hub name",
    "student-minus-1 | distill --teacher {model} --student -1 --mapping uniform --quiet OUT | --student -1: not a number of blocks in 1..3",
    "student-2.5 | distill --teacher {model} --student 2.5 --mapping uniform --quiet OUT | --student 2.5: not a number of blocks in 1..3",
    "student-empty | distill --teacher {model} --student '' --mapping uniform --quiet OUT | --student is empty; --student takes a number of blocks 1..3 (the teacher has 3), a model folder",
    "report-text-intensity | REPORTS {report_text} {report} | report_text.json: report field 'intensity': block 2 has 'high' (str); expected a number",
    "report-null-intensity | REPORTS {report} {report_null} | report_null.json: report field 'intensity': block 2 has None (NoneType)",
    "distill-mapping-empty | DISTILL OUT --mapping '' | argument --mapping: is empty",
    "reports-mapping-empty | REPORTS {report} {report} --mapping '' | argument --mapping: is empty",
    # issue 17: data problems before any training
    "data-no-validation | ANALYZE --data {no_validation} | has no validation.csv",
    "test-labels-unseen | ANALYZE --data {unseen} | unseen: split 'test' has labels not in the training split: wave",
    "custom-data-named-by-folder | DISTILL OUT --data {custom3} | the data 'custom3' has 3",
]
# rows that need the datasets package to be missing
WITHOUT_DATASETS = [
    "hub-without-datasets | ANALYZE --data hub:clinc_oos | needs the datasets package",
    "profile-full-without-datasets | train-teacher --profile full --out {tmp}/full | needs the datasets package",
]
PREFIXES = {"DISTILL": DISTILL, "OUT": OUT, "ANALYZE": ANALYZE, "REPORTS": REPORTS}


def _cli_row(row: str, marks=()):
    row_id, command, phrase = row.split(" | ", 2)
    argv = [arg for word in shlex.split(command) for arg in PREFIXES.get(word, [word])]
    return pytest.param(argv, phrase, id=row_id, marks=marks)


NEEDS_NO_DATASETS = pytest.mark.skipif(HAS_DATASETS, reason="datasets is installed")
CLI_ROWS = [_cli_row(row) for row in CLI_TABLE] + [
    _cli_row(row, NEEDS_NO_DATASETS) for row in WITHOUT_DATASETS
]


@pytest.mark.parametrize(("argv", "phrase"), CLI_ROWS)
def test_command_line_bad_input(paths, capsys, argv, phrase):
    try:
        code = cli.main([a.format(**paths) for a in argv])
    except SystemExit as e:  # argparse rejects the value itself
        code = e.code
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert code == cli.EXIT_BAD_INPUT, err
    assert "Traceback" not in err and "error:" in last
    assert phrase.format(**paths) in last, last


def _nan_module_batches() -> tuple[nn.Module, list[dict[str, torch.Tensor]]]:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.block(x)

    return Block(), [{"x": torch.tensor([[[NAN, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]]])}]


def _analyze_nan():
    model, batches = _nan_module_batches()
    return analyze(model, batches, LayerSource(modules=("block",)), progress=False)


def _nan_step(idx: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(NAN, requires_grad=True) for k in LOSS_KEYS}


def _train_nan_model(saved_model: str, tmp: Path) -> None:
    model, tok = load_classifier(saved_model)
    with torch.no_grad():
        model.classifier.out_proj.weight.fill_(NAN)
    full = load_builtin()
    cut = [
        IntentSplit(s.texts[:8], s.labels[:8], s.label_names)
        for s in (full.train, full.validation, full.test)
    ]
    train_classifier(model, tok, IntentData("tiny", *cut), tmp / "nan", TrainConfig(epochs=1, batch_size=4))


def _analyze_padded_without_mask(saved_model: str) -> None:
    model, tok = load_classifier(saved_model)
    batch = tok(["set an alarm for seven please", "hi"], padding=True, return_tensors="pt")
    analyze(model, [{"input_ids": batch["input_ids"]}], progress=False)


def _analyze_on_meta(saved_model: str) -> None:
    from transformers import AutoConfig, AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(AutoConfig.from_pretrained(saved_model))
    analyze(model, [{"input_ids": torch.tensor([[0, 5, 2]])}], progress=False)


def _small_report() -> SpectralReport:
    return SpectralReport(**{k: v for k, v in _report().items() if "schema" not in k})


def _link(teacher: tuple[int, ...], weights: tuple[float, ...]) -> LayerMapping:
    return LayerMapping((LayerLink(1, teacher, weights),))


API_ROWS = [
    # empty inputs reaching the FFT
    pytest.param(
        lambda p: layer_spectrum(torch.zeros(0, 5, 8)), ValueError, "are empty", id="spectrum-empty-batch"
    ),
    pytest.param(
        lambda p: layer_spectrum(torch.zeros(2, 5, 0)), ValueError, "are empty", id="spectrum-no-channels"
    ),
    pytest.param(
        lambda p: spectral_loss_tokens(torch.zeros(0, 5, 3), torch.zeros(0, 5, 3)),
        ValueError,
        "non-empty",
        id="loss-tokens-empty-batch",
    ),
    pytest.param(
        lambda p: spectral_loss_channels(torch.zeros(2, 5, 0), torch.zeros(2, 5, 0)),
        ValueError,
        "non-empty",
        id="loss-channels-no-channels",
    ),
    pytest.param(
        lambda p: spectral_loss_2d(torch.zeros(0, 2, 4, 4), torch.zeros(0, 2, 4, 4)),
        ValueError,
        "non-empty",
        id="loss-2d-empty-batch",
    ),
    pytest.param(
        lambda p: hidden_mse(torch.zeros(0, 3), torch.zeros(0, 3)), ValueError, "empty", id="mse-empty"
    ),
    # masks and prefixes
    pytest.param(
        lambda p: layer_spectrum(torch.ones(2, 3, 4), torch.full((2, 3), 2)),
        ValueError,
        "only 0 and 1",
        id="mask-value-2",
    ),
    pytest.param(
        lambda p: stacked_magnitude_sums(torch.ones(1, 2, 3, 4), torch.full((2, 3), 0.5)),
        ValueError,
        "only 0 and 1",
        id="mask-value-half",
    ),
    pytest.param(
        lambda p: patch_tokens(torch.ones(1, 5, 4), -1),
        ValueError,
        "num_prefix_tokens=-1",
        id="prefix-negative",
    ),
    pytest.param(
        lambda p: LayerSource(num_prefix_tokens=-1),
        ValueError,
        "must be >= 0",
        id="layer-source-prefix-negative",
    ),
    # labels of the classification loss
    pytest.param(
        lambda p: classification_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0])),
        ValueError,
        "integer class indices",
        id="labels-float",
    ),
    pytest.param(
        lambda p: classification_loss(torch.zeros(2, 3), torch.tensor([0, 3])),
        ValueError,
        r"in 0..2, got values 0..3",
        id="labels-too-large",
    ),
    pytest.param(
        lambda p: classification_loss(torch.zeros(2, 3), torch.tensor([-1, 0])),
        ValueError,
        r"in 0..2",
        id="labels-negative",
    ),
    # mappings
    pytest.param(
        lambda p: _link((-1,), (1.0,)).teacher_weight_matrix(12),
        ValueError,
        "teacher block -1 is out of range",
        id="weight-matrix-block-minus-1",
    ),
    pytest.param(
        lambda p: _link((13,), (1.0,)).teacher_weight_matrix(12),
        ValueError,
        "allowed blocks are 1..12",
        id="weight-matrix-block-13",
    ),
    pytest.param(
        lambda p: _link((2, 3), (NAN, NAN)).validate(4, 12),
        ValueError,
        "must be finite numbers >= 0",
        id="mapping-nan-weights",
    ),
    pytest.param(
        lambda p: resolve("paired(weights=nan/nan)", 12, 4),
        ValueError,
        "cannot read 'weights=nan/nan'",
        id="paired-nan-weights",
    ),
    pytest.param(
        lambda p: resolve("top(k=1_0)", 12, 4, [1.0] * 12),
        ValueError,
        "cannot read 'k=1_0'",
        id="param-underscore",
    ),
    pytest.param(
        lambda p: resolve({"links": [{"student": 1, "teacher": "23"}]}, 24, 4),
        ValueError,
        "'teacher' must be a list",
        id="dict-teacher-text",
    ),
    pytest.param(
        lambda p: resolve({"links": [{"student": 1.9, "teacher": [2]}]}, 24, 4),
        ValueError,
        "'student' must be a block number",
        id="dict-student-float",
    ),
    pytest.param(
        lambda p: resolve({"links": [{"student": 1, "teacher": [2], "weights": ["1"]}]}, 24, 4),
        ValueError,
        "'weights' must be a list of numbers",
        id="dict-weights-text",
    ),
    pytest.param(
        lambda p: LayerMapping.from_dict([{"student": 1, "teacher": [2]}]),
        ValueError,
        "got list",
        id="dict-is-list",
    ),
    pytest.param(
        lambda p: resolve([1, 2], 12, 4), TypeError, "a mapping spec must be a string", id="spec-list"
    ),
    pytest.param(lambda p: parse_blocks("1_0"), ValueError, "cannot read '1_0'", id="blocks-underscore"),
    pytest.param(lambda p: parse_blocks("-1"), ValueError, "cannot read '-1'", id="blocks-minus-1"),
    pytest.param(
        lambda p: select_top([NAN, 1.0, 2.0], 1), ValueError, "intensity of block 1 is nan", id="top-nan"
    ),
    pytest.param(
        lambda p: resolve("top", 3, 1, [1.0, INF, 2.0]),
        ValueError,
        "intensity of block 2 is inf",
        id="top-inf",
    ),
    # settings
    pytest.param(
        lambda p: DistillConfig(beta=NAN, feature="mse"),
        ValueError,
        "beta must be a finite number",
        id="config-beta-nan",
    ),
    pytest.param(
        lambda p: DistillConfig(temperature=INF),
        ValueError,
        "temperature must be a finite",
        id="config-temperature-inf",
    ),
    pytest.param(
        lambda p: TrainConfig(epochs=0), ValueError, r"epochs must be in \(0, inf\)", id="config-epochs-0"
    ),
    pytest.param(
        lambda p: TrainConfig(epochs=NAN),
        ValueError,
        "epochs must be a finite number",
        id="config-epochs-nan",
    ),
    pytest.param(lambda p: check_plan([], [0, 0]), ValueError, "unique names", id="plan-empty"),
    # reports
    pytest.param(
        lambda p: SpectralReport(**{k: v for k, v in _report(blocks=[1, 1, 2]).items() if "schema" not in k}),
        ValueError,
        "block 1 appears more than once",
        id="report-repeated-blocks-api",
    ),
    # data
    pytest.param(lambda p: load_hub("nonsense"), ValueError, "unknown hub data set", id="hub-unknown-api"),
    # models
    pytest.param(
        lambda p: check_text_model(load_classifier(p["model"])[0].config, 65),
        ValueError,
        "at most 64 tokens",
        id="max-length-over-positions-api",
    ),
    # issue 26: silent wrong results and misleading messages of the library
    pytest.param(
        lambda p: IntentSplit([], [], ["a", "b"]), ValueError, "needs at least one text", id="split-empty"
    ),
    pytest.param(
        lambda p: IntentSplit(["hi"], [2], ["a", "b"]),
        ValueError,
        r"indices into label_names, 0..1, got 2",
        id="split-label-out-of-range",
    ),
    pytest.param(
        lambda p: DistillConfig(temperature=1e-30),
        ValueError,
        r"temperature must be in \[0.01, inf\), got 1e-30",
        id="config-temperature-underflows-kd",
    ),
    pytest.param(
        lambda p: logit_kd(torch.zeros(2, 3), torch.zeros(2, 3), temperature=1e-30),
        ValueError,
        "at least 0.01",
        id="logit-kd-temperature-underflows",
    ),
    pytest.param(
        lambda p: logit_kd(torch.tensor([[NAN, 0.0, 1.0]]), torch.zeros(1, 3)),
        FloatingPointError,
        "logit_kd: the loss is nan: the student logits hold NaN or inf",
        id="logit-kd-nan",
    ),
    pytest.param(
        lambda p: spectral_loss_tokens(torch.zeros(1, 4, 2), torch.full((1, 4, 2), NAN)),
        FloatingPointError,
        "spectral_loss_tokens: the loss is nan: the teacher features hold NaN or inf",
        id="spectral-tokens-nan",
    ),
    pytest.param(
        lambda p: make_student(load_classifier(p["model"])[0], StudentConfig(99)),
        ValueError,
        "a student of 99 blocks is deeper than its 3-block teacher",
        id="make-student-deeper",
    ),
    pytest.param(
        lambda p: StudentConfig(2, init_from="12"),
        ValueError,
        r"init_from must be a list of teacher block numbers >= 1, one per student block, e.g. \(2, 4\), got .12.",
        id="init-from-text",
    ),
    pytest.param(
        lambda p: _analyze_padded_without_mask(p["model"]),
        ValueError,
        "batch 1 holds padding .* but no attention_mask",
        id="analyze-padding-without-mask",
    ),
    pytest.param(lambda p: _analyze_on_meta(p["model"]), ValueError, "on the meta device", id="analyze-meta"),
    pytest.param(
        lambda p: compare_reports(_small_report(), SpectralReport.load(p["report_block_6"])),
        ValueError,
        "has blocks 1, 2, 6",
        id="compare-reports-block-beyond-depth",
    ),
    pytest.param(
        lambda p: plot_intensity(_small_report(), highlight=[99]),
        ValueError,
        r"highlight names block 99, which is not in the report; it has blocks 1..3",
        id="plot-intensity-missing-block",
    ),
    pytest.param(
        lambda p: _small_report().save(p["tmp"]),
        IsADirectoryError,
        "it is a folder; give the path of a file",
        id="report-save-to-folder",
    ),
    # non-finite values: a warning at analysis, an error in training
    pytest.param(
        lambda p: _analyze_nan(), RuntimeWarning, "NaN or inf in the spectrum", id="hidden-states-nan"
    ),
    pytest.param(
        lambda p: fit_tensors(nn.Linear(2, 2), 4, _nan_step, TrainConfig(epochs=2, batch_size=2)),
        FloatingPointError,
        "training stopped in epoch 1",
        id="fit-tensors-nan-loss",
    ),
    pytest.param(
        lambda p: _train_nan_model(p["model"], Path(p["tmp"])),
        FloatingPointError,
        "the loss is nan",
        id="trainer-nan-loss",
    ),
]

# Python calls that read a bad file of ``paths``: (id, the reader, the file, the exception, a phrase of its message)
FILE_ROWS = [
    ("report-load-inf", SpectralReport.load, "report_inf", ValueError, "block 2 has intensity inf"),
    ("data-no-validation-api", load_intents, "no_validation", ValueError, "has no validation.csv"),
    ("csv-field-over-limit-api", load_intents, "csv_big", ValueError, "csv_big/test.csv, line"),
    ("load-truncated", load_classifier, "truncated_model", ValueError, "truncated or corrupt"),
    ("load-empty-folder", load_classifier, "empty_teacher", FileNotFoundError, "holds no model"),
    ("load-no-tokenizer", load_classifier, "no_tokenizer", FileNotFoundError, "holds no tokenizer"),
    (
        "data-one-intent-api",
        load_intents,
        "one_intent",
        ValueError,
        r"has 1 intent \(greet\): a classifier needs at least 2",
    ),
]
API_ROWS += [
    pytest.param(lambda p, read=read, key=key: read(p[key]), error, phrase, id=row_id)
    for row_id, read, key, error, phrase in FILE_ROWS
]


@pytest.mark.parametrize(("call", "expected", "phrase"), API_ROWS)
def test_python_bad_input(paths, call, expected, phrase):
    if issubclass(expected, Warning):
        with pytest.warns(expected, match=phrase):
            call(paths)
    else:
        with pytest.raises(expected, match=phrase):
            call(paths)


# ---------------------------------------------------------------- behaviour beside the table


def test_all_padding_batch_gives_zero_in_every_loss():
    s, t, mask = torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.zeros(2, 5)
    for value in (
        spectral_loss_tokens(s, t, mask),
        spectral_loss_channels(s, t, mask),
        magnitude_loss(s, t, mask, "tokens"),
        magnitude_loss(s, t, mask, "channels"),
        hidden_mse(s, t, mask),
    ):
        assert float(value) == 0.0


def test_nonzero_mask_values_count_as_real_tokens_in_every_loss():
    s, t = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    for loss in (spectral_loss_tokens, spectral_loss_channels, magnitude_loss, hidden_mse):
        assert float(loss(s, t, 2 * mask)) == pytest.approx(float(loss(s, t, mask)))


def test_nan_intensity_ranks_last():
    report = SpectralReport(
        **{k: v for k, v in _report(intensity=[0.2, NAN, 0.1]).items() if "schema" not in k}
    )
    assert report.top_layers(3) == [1, 3, 2]


def test_atomic_writes_get_the_mode_of_a_plain_write(tmp_path):
    old = os.umask(0o027)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    assert (
        (tmp_path / "a.json").stat().st_mode & 0o777
        == (tmp_path / "plain.txt").stat().st_mode & 0o777
        == 0o640
    )
    (tmp_path / "a.json").chmod(0o604)
    write_text_atomic(tmp_path / "a.json", "y")  # an existing file keeps its mode, as with open(..., "w")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o604


def test_custom_folder_is_named_after_itself(paths):
    assert load_intents(paths["custom3"]).name == "custom3"
    assert load_builtin().name == "builtin"


def test_an_unexpected_error_is_one_line_with_exit_status_1(monkeypatch, capsys):
    def boom(args):
        raise KeyError("surprise")

    monkeypatch.setattr(cli, "_cmd_compare_reports", boom)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(["compare-reports", "a.json", "b.json"]) == cli.EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and cli.DEBUG_ENV in err


def _distill_argv(paths, mapping: str, out: str, *flags: str) -> list[str]:
    """``distill`` of the saved model into a 2-block student with ``mapping``, writing to ``out``."""
    return [
        "distill",
        "--teacher",
        paths["model"],
        "--student",
        "2",
        "--mapping",
        mapping,
        "--out",
        out,
        *flags,
    ]


def test_overwrite_and_resume_get_past_the_refusal(paths, capsys):
    """With --overwrite (or --resume) the run goes on to its next check: here a mapping that does not fit."""
    for flag, out in (("--overwrite", paths["holds_model"]), ("--resume", paths["holds_checkpoint"])):
        assert cli.main(_distill_argv(paths, "1:9", out, flag)) == cli.EXIT_BAD_INPUT
        assert "teacher block 9 is out of range" in capsys.readouterr().err


def test_a_second_run_on_the_same_out_is_refused(paths, capsys):
    """While one run holds --out, another run writing there stops at once, naming the holder."""
    out = paths["locked"]
    with folder_lock(out):
        assert cli.main(_distill_argv(paths, "uniform", out)) == cli.EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert f"another run (process {os.getpid()}) is writing to {out}" in err
    assert not (Path(out) / LOCK_NAME).exists()  # released and removed on a normal exit


def test_a_crashed_run_leaves_no_stuck_lock(tmp_path):
    """A killed run leaves its lock file, but the OS has dropped its lock: the next run takes the folder."""
    (tmp_path / LOCK_NAME).write_text("999999\n")  # what a killed run leaves behind
    with folder_lock(tmp_path) as lock:
        assert lock.read_text() == f"{os.getpid()}\n"
        with pytest.raises(FileExistsError, match=f"another run \\(process {os.getpid()}\\)"):
            with folder_lock(tmp_path):
                pass
    assert list(tmp_path.iterdir()) == []


def test_without_fcntl_nothing_is_locked(tmp_path, monkeypatch):
    """Where fcntl is missing (Windows; here a stand-in that makes its import fail) the lock is a no-op:
    no lock file is written and a second holder is not refused."""
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` now raises ImportError
    with folder_lock(tmp_path) as lock:
        assert lock == tmp_path / LOCK_NAME and not lock.exists()
        with folder_lock(tmp_path):
            pass
    assert list(tmp_path.iterdir()) == []


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path):
    """Spreadsheet programs save UTF-8 CSVs with a byte-order mark; the header is still text,intent."""
    rows = "text,intent\nhello there,greet\nbye now,leave\n"
    folder = tmp_path / "bom"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        (folder / f"{split}.csv").write_text(rows, encoding="utf-8-sig")
    assert (folder / "train.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    data = load_intents(folder)
    assert data.label_names == ["greet", "leave"] and data.train.texts == ["hello there", "bye now"]


def test_compare_says_when_it_trains_fewer_runs_at_once_than_workers(paths, capsys, monkeypatch):
    """--workers over the number of runs is reduced, and the run says so (the training itself is stubbed)."""

    def stop(*args, **kwargs):
        raise ValueError("stubbed")

    monkeypatch.setattr(cli, "run_comparison", stop)
    argv = [
        "compare",
        "--teacher",
        paths["model"],
        "--seeds",
        "0",
        "--workers",
        "100",
        "--out",
        f"{paths['tmp']}/c",
    ]
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    out = capsys.readouterr().out
    assert "--workers 100: there are" in out and "runs to train" in out
