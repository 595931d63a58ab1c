"""The command line in process: help, analyze, distill and compare on a saved model, one-line errors (the demo and
every other command in a subprocess: test_cli_commands.py)."""

import csv
import json

import pytest

from spectralkd_lite.cli import build_parser, main
from spectralkd_lite.report import SpectralReport


def subcommands():
    parser = build_parser()
    return list(parser._subparsers._group_actions[0].choices)


def test_help_is_complete(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for name in subcommands():
        assert name in text
        with pytest.raises(SystemExit):
            main([name, "--help"])
        sub = capsys.readouterr().out
        assert "usage: spectralkd-lite " + name in sub
        for action in build_parser()._subparsers._group_actions[0].choices[name]._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"


def _run(capsys, out, *args: str) -> str:
    """``spectralkd-lite ARGS --out OUT --quiet`` in process: it exits 0; returns what it printed."""
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    return capsys.readouterr().out


def test_analyze_writes_report_and_figures(saved_model, tmp_path, capsys):
    out = tmp_path / "out"
    printed = _run(capsys, out, "analyze", "--model", str(saved_model), "--max-batches", "2", "--top", "2")
    assert "| block |" in printed and "most intense blocks" in printed
    report = SpectralReport.load(out / "report.json")
    assert report.blocks == [1, 2, 3] and report.batches == 2
    assert report.meta == {"data": "builtin", "split": "validation"}
    assert (out / "intensity.png").stat().st_size > 1000 and (out / "spectra.png").stat().st_size > 1000
    assert (out / "report.csv").read_text().startswith("block,name,channels,intensity,rank")
    assert json.loads((out / "report.json").read_text())["schema_version"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/nonexistent/model"], "no model folder at /nonexistent/model"),
        (["--data", "nowhere"], "unknown data 'nowhere'"),
        (["--out", "{file}/sub"], "cannot create output folder"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(saved_model, tmp_path, capsys, args, message):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = {"--model": str(saved_model), "--data": "builtin", "--out": str(tmp_path / "o")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[flag] = value.replace("{file}", str(blocker))
    code = main(["analyze", "--quiet", *[x for kv in argv.items() for x in kv]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bad_argument_values(capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "--model", "x", "--out", "y", "--batch-size", "0"])
    assert e.value.code == 2
    assert "expected a positive integer, got 0" in capsys.readouterr().err


def test_distill_command_saves_student_mapping_and_metrics(saved_model, tmp_path, capsys):
    out = tmp_path / "student"
    args = ["distill", "--teacher", str(saved_model), "--student", "2", "--mapping", "uniform"]
    printed = _run(capsys, out, *args, "--epochs", "0.5")
    assert "student 1 <- teacher" in printed and "student test accuracy" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["config"]["feature"] == "spectral_tokens"
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2
    # uniform, 3 teacher blocks onto 2: the last block of each group (1.5 blocks each) -> 2, 3
    links = json.loads((out / "mapping.json").read_text())["links"]
    assert [link["teacher"] for link in links] == [[2], [3]]


def test_compare_command_writes_the_table_with_reference_rows(saved_model, tmp_path, capsys):
    out = tmp_path / "compare"
    args = ["compare", "--teacher", str(saved_model), "--student-blocks", "2", "--seeds", "0"]
    printed = _run(capsys, out, *args, "--epochs", "0.25")
    assert "teacher (reference)" in printed and "TF-IDF + linear (reference)" in printed
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = [r["variant"] for r in rows]
    assert {"no KD", "logit KD", "logit KD + spectral, uniform", "TF-IDF + linear (reference)"} <= set(names)
    assert all(0.0 <= float(r["mean"]) <= 1.0 for r in rows)
    assert (out / "results.md").exists()
