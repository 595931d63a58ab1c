"""Every command's success path, run as a user runs it: the ``spectralkd-lite`` program in a subprocess,
on the smallest real input (the tiny profile, a few examples per intent, a fraction of an epoch).

Each test checks the exit status, every file the command says it wrote, and that those files load
back. One teacher, trained by the ``train-teacher`` command itself, serves every other command.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import spectralkd_lite as skd
from spectralkd_lite.data import SPLITS, builtin_dir, load_intents
from spectralkd_lite.io import LOCK_NAME
from spectralkd_lite.report import SpectralReport
from spectralkd_lite.text import load_classifier, text_batches
from spectralkd_lite.workflows import analyze_text_model

PER_INTENT = {"train": 3, "validation": 1, "test": 1}  # examples of each of the 24 built-in intents


def _program() -> list[str]:
    """The installed ``spectralkd-lite`` entry point next to this Python (else ``python -m``)."""
    script = Path(sys.executable).parent / "spectralkd-lite"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "spectralkd_lite.cli"]


def run_cli(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", **(env or {})}
    environment.pop("SPECTRALKD_DEBUG", None)
    return subprocess.run(
        [*_program(), *map(str, args)], capture_output=True, text=True, env=environment, cwd=cwd, timeout=600
    )


def ok(result: subprocess.CompletedProcess) -> str:
    """The stdout of a run that must have succeeded (else the failure with its stderr)."""
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """A folder of train/validation/test.csv: the first few built-in examples of each intent."""
    folder = tmp_path_factory.mktemp("data") / "tiny_intents"
    folder.mkdir()
    for split in SPLITS:
        with (builtin_dir() / f"{split}.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        kept, seen = [], {}
        for row in rows:
            if seen.get(row["intent"], 0) < PER_INTENT[split]:
                seen[row["intent"]] = seen.get(row["intent"], 0) + 1
                kept.append(row)
        with (folder / f"{split}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["text", "intent"])
            writer.writeheader()
            writer.writerows(kept)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data) -> tuple[Path, subprocess.CompletedProcess]:
    """``train-teacher`` on the tiny data: (its --out folder, the finished process)."""
    out = tmp_path_factory.mktemp("teacher") / "teacher"
    result = run_cli(
        "train-teacher", "--profile", "tiny", "--data", tiny_data, "--epochs", "0.5", "--quiet", "--out", out
    )
    return out, result


@pytest.fixture(scope="module")
def teacher(trained) -> Path:
    out, result = trained
    ok(result)
    return out


@pytest.fixture(scope="module")
def teacher_report(teacher, tiny_data, tmp_path_factory) -> tuple[Path, str]:
    """``analyze`` of the teacher: (its --out folder, what it printed)."""
    out = tmp_path_factory.mktemp("analysis")
    printed = ok(
        run_cli("analyze", "--model", teacher, "--data", tiny_data, "--out", out, "--quiet", "--top", "2")
    )
    return out, printed


@pytest.fixture(scope="module")
def student(teacher, tiny_data, tmp_path_factory) -> tuple[Path, str]:
    """``distill`` of the teacher into 2 blocks: (its --out folder, what it printed)."""
    out = tmp_path_factory.mktemp("student") / "student"
    args = [
        "--teacher",
        teacher,
        "--data",
        tiny_data,
        "--student",
        "2",
        "--mapping",
        "uniform",
        "--epochs",
        "0.25",
        "--batch-size",
        "8",
    ]
    printed = ok(run_cli("distill", *args, "--quiet", "--out", out))
    return out, printed


def _wrote(printed: str) -> list[Path]:
    """The paths of the line ``wrote a, b, c`` a command prints last."""
    line = [x for x in printed.splitlines() if x.startswith("wrote ")][-1]
    return [Path(p) for p in line[len("wrote ") :].split(", ")]


def test_train_teacher_exits_0_and_saves_a_loadable_teacher(trained, tiny_data):
    out, result = trained
    printed = ok(result)
    assert "blocks x" in printed and f"wrote {out}" in printed
    info = json.loads((out / "teacher.json").read_text())
    assert info["profile"] == "tiny" and info["data"] == "tiny_intents" and info["num_labels"] == 24
    assert f"{info['n_blocks']} blocks x {info['width']} channels" in printed
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    mode = (out / "config.json").stat().st_mode & 0o777
    assert (out / "model.safetensors").stat().st_mode & 0o777 == mode  # not 0600 beside 0644
    assert "shards" not in result.stderr and "%|" not in result.stderr  # --quiet: no progress bars
    assert not (out / LOCK_NAME).exists()
    model, tokenizer = load_classifier(out)
    assert model.config.num_labels == 24 and model.config.num_hidden_layers == info["n_blocks"]
    assert len(tokenizer("set an alarm")["input_ids"]) > 3  # a real tokenizer, not a fallback


def test_analyze_exits_0_and_writes_a_loadable_report(teacher_report, teacher):
    out, printed = teacher_report
    paths = _wrote(printed)
    assert sorted(p.name for p in paths) == ["intensity.png", "report.csv", "report.json", "spectra.png"]
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    report = SpectralReport.load(out / "report.json")
    depth = json.loads((teacher / "config.json").read_text())["num_hidden_layers"]
    assert report.blocks == list(range(1, depth + 1))
    assert report.meta == {"data": "tiny_intents", "split": "validation"}
    assert report.positions[0] > 24  # the validation split's real tokens, not the padding
    with (out / "report.csv").open(newline="") as f:
        assert len(list(csv.DictReader(f))) == depth


def test_distill_exits_0_and_saves_a_loadable_student(student, tiny_data):
    out, printed = student
    assert f"saved to {out}" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["steps"] >= 1
    links = json.loads((out / "mapping.json").read_text())["links"]
    assert [link["student"] for link in links] == [1, 2]
    model, tokenizer = load_classifier(out)
    assert model.config.num_hidden_layers == 2 and model.config.num_labels == 24
    assert len(tokenizer("set an alarm")["input_ids"]) > 3


def test_compare_reports_exits_0_and_writes_similarity(teacher_report, student, tmp_path):
    student_report = analyze_text_model(str(student[0]), "builtin", progress=False, max_batches=1)
    student_json = student_report.save(tmp_path / "student.json")
    printed = ok(
        run_cli("compare-reports", teacher_report[0] / "report.json", student_json, "--out", tmp_path / "sim")
    )
    assert "| student |" in printed or "student" in printed.splitlines()[1]
    similarity = json.loads((tmp_path / "sim" / "similarity.json").read_text())
    assert len(similarity["layers"]) == 2
    assert (tmp_path / "sim" / "similarity.png").stat().st_size > 1000
    assert f"wrote {tmp_path / 'sim' / 'similarity.png'}" in printed


def test_compare_exits_0_and_writes_the_table(teacher, tiny_data, tmp_path):
    out = tmp_path / "compare"
    args = ["--teacher", teacher, "--data", tiny_data, "--student", "1", "--seeds", "0"]
    args += ["--epochs", "0.1", "--batch-size", "8"]
    printed = ok(run_cli("compare", *args, "--quiet", "--out", out))
    paths = _wrote(printed)
    assert sorted(p.name for p in paths) == ["results.csv", "results.json", "results.md", "results.png"]
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = {r["variant"] for r in rows}
    assert {"no KD", "logit KD", "teacher (reference)", "TF-IDF + linear (reference)"} <= names
    assert all(0.0 <= float(r["mean"]) <= 1.0 for r in rows)
    assert json.loads((out / "results.json").read_text())


def test_demo_exits_0_and_writes_report_mapping_and_comparison(tmp_path):
    """The default demo: it trains the profile's teacher (into $SPECTRALKD_CACHE), then everything else."""
    out = tmp_path / "demo"
    args = ["--profile", "tiny", "--teacher-epochs", "0.05", "--student-epochs", "0.05", "--seeds", "0"]
    env = {"SPECTRALKD_CACHE": str(tmp_path / "cache")}
    printed = ok(
        run_cli("demo", *args, "--student-blocks", "1", "--quiet", "--out", out, cwd=tmp_path, env=env)
    )
    assert printed.startswith("profile: tiny (chosen by the caller)")
    assert "recommended teacher blocks" in printed and "comparison/results.png" in printed
    # the few-label setting, one progress line per trained run, and the one-line verdict
    assert (
        "120 labelled utterances (5 per intent)" in printed
        and "the teacher labels the transfer set" in printed
    )
    assert re.search(r"^  \[1/\d+\] labelled only, seed 0: \d+\.\d\d%", printed, re.M)
    assert re.search(
        r"in one line: with 5 labels per intent and 840 unlabelled utterances, distilling the teacher on the "
        r"transfer set \(logit KD \+ the spectral term on the uniform blocks\) moved the student [+-]\d+\.\d\d "
        r"points \(95% interval .*\) against the student trained on the labels alone; aligning the most intense "
        r"teacher blocks \[\d+\] instead of the uniform ones \[\d+\] moved it [+-]\d+\.\d\d points",
        printed,
    )
    SpectralReport.load(out / "report.json")
    skd.LayerMapping.load(out / "mapping.json")
    for name in (
        "report.csv",
        "intensity.png",
        "spectra.png",
        "comparison/results.md",
        "comparison/results.csv",
    ):
        assert (out / name).stat().st_size > 0, name
    assert any((tmp_path / "cache").rglob("config.json"))  # the teacher went to the shared cache


def test_the_readme_library_example_runs(teacher, tiny_data, tmp_path):
    """The README's library snippet, as written, on the trained teacher."""
    model, tokenizer = load_classifier(teacher)
    data = load_intents(tiny_data)
    dataloader = text_batches(data.validation, tokenizer, batch_size=8)
    report = skd.analyze(model, dataloader, progress=False)
    assert "| block |" in report.format_table()
    assert len(report.top_layers(4)) == 4
    assert SpectralReport.load(report.save(tmp_path / "report.json")).blocks == report.blocks
    mapping = skd.resolve("top", report.num_layers, 2, report)
    assert "student 1 <- teacher" in mapping.describe()
    skd.plot_intensity(report, highlight=mapping.teacher_blocks)
    config = skd.DistillConfig(alpha=0.9, beta=2.0, feature="spectral_tokens", mapping=mapping)
    train = skd.TrainConfig(epochs=0.1, batch_size=8, progress=False)
    student_model, run = skd.distill(model, tokenizer, data, config, train, student=skd.StudentConfig(2))
    assert student_model.config.num_hidden_layers == 2 and 0.0 <= run.test_accuracy <= 1.0
