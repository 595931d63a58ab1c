"""One table per idea: the widgets, the command line and the labels offer exactly what the tables hold."""

import types

import pytest
import torch

import spectralkd_lite as skd
from spectralkd_lite import compare, digits, losses, mapping, widgets
from spectralkd_lite.cli import build_parser


def _option(command: str, flag: str):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return next(a for a in sub._actions if flag in a.option_strings)


def test_strategy_names_params_and_help_come_from_the_table():
    assert mapping.STRATEGIES == tuple(mapping.STRATEGY_TABLE)
    for name, strategy in mapping.STRATEGY_TABLE.items():
        for example in strategy.examples:
            assert example in mapping.SPEC_HELP and example in _option("distill", "--mapping").help
        assert name in _option("compare-reports", "--mapping").help
        assert set(strategy.defaults(24, 12)) == set(strategy.params), name


@pytest.mark.parametrize("name", list(mapping.STRATEGY_TABLE))
def test_every_strategy_resolves_by_name_with_its_examples(name):
    n_teacher, n_student = mapping.SEED_SHAPE
    intensity = [float(b % 5) for b in range(1, n_teacher + 1)]
    for example in mapping.STRATEGY_TABLE[name].examples:
        m = skd.resolve(example, n_teacher, n_student, intensity)
        assert m.strategy == name


def test_the_picker_offers_every_strategy_of_the_table_and_manual():
    assert widgets.PICKER_STRATEGIES == (*mapping.STRATEGY_TABLE, "manual")
    intensity = [0.9, 0.7, 0.5, 0.2, 0.3, 0.6, 0.8, 1.0]
    report = skd.SpectralReport(
        model_name="toy",
        layer_names=[f"block {b}" for b in range(1, 9)],
        blocks=list(range(1, 9)),
        channels=[4] * 8,
        intensity=intensity,
        spectra=[[v] * 4 for v in intensity],
        positions=[10] * 8,
        batches=1,
    )
    picker = widgets.LayerPicker(report, 4, raise_errors=True)
    picker.widget()
    assert [value for _, value in picker.controls["strategy"].options] == list(widgets.PICKER_STRATEGIES)
    labels = {name: s.label for name, s in mapping.STRATEGY_TABLE.items()}
    assert widgets.STRATEGY_LABELS == {**labels, "manual": "manual"}


def test_the_distill_widget_offers_the_tables(distill_runner):
    teacher = types.SimpleNamespace(config=types.SimpleNamespace(num_hidden_layers=4))
    runner = distill_runner(teacher, None, None, [1.0, 2.0, 3.0, 4.0])
    runner.widget()
    assert tuple(runner._widgets["strategy"].options) == widgets.PICKER_STRATEGIES
    assert tuple(runner._widgets["feature"].options) == losses.TEXT_FEATURE_KINDS


def test_feature_kinds_labels_and_cli_choices_come_from_the_table():
    table = losses.FEATURE_LOSSES
    assert losses.FEATURE_KINDS == tuple(table)
    assert compare.FEATURE_LABELS == {kind: f.label for kind, f in table.items()}
    assert losses.TEXT_FEATURE_KINDS == tuple(k for k, f in table.items() if f.layout != "maps")
    assert digits.VISION_FEATURE_KINDS == tuple(k for k, f in table.items() if f.layout != "tokens")
    for command in ("distill", "compare"):
        assert list(_option(command, "--feature").choices) == [*losses.TEXT_FEATURE_KINDS, "none"]
    help_text = _option("distill", "--feature").help
    assert all(kind in help_text and table[kind].summary in help_text for kind in losses.TEXT_FEATURE_KINDS)


@pytest.mark.parametrize("kind", list(losses.FEATURE_LOSSES))
def test_feature_loss_dispatches_through_the_table(kind):
    torch.manual_seed(0)
    shape = (2, 3, 4, 4) if losses.FEATURE_LOSSES[kind].layout == "maps" else (2, 5, 3)
    s, t = torch.randn(shape), torch.randn(shape)
    got = losses.feature_loss([s], [t], kind)
    cdim = 1 if losses.FEATURE_LOSSES[kind].layout == "maps" else -1
    s, t = losses.align_channels(s, t, cdim)
    assert torch.allclose(got, losses.FEATURE_LOSSES[kind].loss(s, t, None, "tokens"))
