"""The layer picker, driven through its widgets as a user would, without a browser."""

import json

import pytest

from spectralkd_lite.mapping import LayerMapping, parse_blocks
from spectralkd_lite.report import SpectralReport
from spectralkd_lite.widgets import LayerPicker

# 8 blocks, hottest first: 8, 1, 7, 2, 6, 3, 5, 4 (a U shape)
INTENSITY = [0.9, 0.7, 0.5, 0.2, 0.3, 0.6, 0.8, 1.0]


def make_report(intensity=INTENSITY, channels=8):
    n = len(intensity)
    return SpectralReport(
        model_name="toy",
        layer_names=[f"block {b}" for b in range(1, n + 1)],
        blocks=list(range(1, n + 1)),
        channels=[channels] * n,
        intensity=list(intensity),
        spectra=[[v] * channels for v in intensity],
        positions=[10] * n,
        batches=1,
    )


@pytest.fixture
def picker(tmp_path):
    p = LayerPicker(make_report(), 4, save_path=tmp_path / "runs" / "mapping.json", raise_errors=True)
    p.widget()
    return p


def highlighted(picker):
    """Blocks drawn in the highlight colour in the picker's figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from spectralkd_lite.plots import HIGHLIGHT

    fig = picker.figure()
    bars = fig.axes[0].patches
    chosen = [i + 1 for i, bar in enumerate(bars) if bar.get_facecolor() == to_rgba(HIGHLIGHT)]
    plt.close(fig)
    return chosen


def assert_ok(picker):
    assert picker.error is None and picker.exception is None, picker.error


def test_default_is_top_k(picker):
    assert_ok(picker)
    assert picker.teacher_blocks == [1, 2, 7, 8] == highlighted(picker)
    text = picker.controls["text"].value
    assert "student 1 &lt;- teacher 1" in text and "student 4 &lt;- teacher 8" in text
    assert picker.mapping.params["n_student"] == 4 and picker.mapping.params["n_teacher"] == 8


def test_strategies_through_the_widgets(picker):
    c = picker.controls
    c["k"].value = 2
    assert_ok(picker)
    assert picker.teacher_blocks == [1, 8] == highlighted(picker)
    assert picker.mapping.student_blocks == [2, 4]

    c["strategy"].value = "ushape"
    c["first"].value, c["last"].value = 1, 3
    assert_ok(picker)
    assert picker.teacher_blocks == [1, 6, 7, 8] == highlighted(picker)
    assert picker.mapping.student_blocks == [1, 2, 3, 4]
    assert "teacher blocks [1, 6, 7, 8]" in picker.mapping_text()
    assert c["k"].layout.display == "none" and c["first"].layout.display is None

    c["strategy"].value = "uniform"
    assert_ok(picker)
    assert picker.teacher_blocks == [2, 4, 6, 8] == highlighted(picker)

    c["strategy"].value = "paired"
    assert_ok(picker)
    assert picker.mapping.links[0].teacher == (1, 2) and "0.5 * t1 + 0.5 * t2" in picker.mapping_text()

    c["strategy"].value = "manual"
    c["manual"].value = "2, 3-4"
    assert_ok(picker)
    assert picker.teacher_blocks == [2, 3, 4] == highlighted(picker)
    c["manual"].value = "1:2, 4:0.3*7+0.7*8"
    assert_ok(picker)
    assert picker.mapping.links[1].weights == (0.3, 0.7)
    assert picker.teacher_blocks == [2, 7, 8]

    c["n_student"].value = 6
    c["strategy"].value = "top"
    c["k"].value = 6
    assert_ok(picker)
    assert picker.teacher_blocks == [1, 2, 3, 6, 7, 8]


def test_invalid_choice_shows_a_message_and_keeps_the_last_mapping(picker):
    c = picker.controls
    c["strategy"].value = "ushape"
    c["first"].value, c["last"].value = 2, 2
    assert_ok(picker)
    good = picker.mapping
    c["last"].value = 3  # 2 + 3 > 4 student blocks
    assert picker.exception is None
    assert "first + last" in picker.error and "student has 4" in picker.error
    assert "first + last" in c["message"].value and "color:#c62828" in c["message"].value
    assert picker.mapping == good and c["save"].disabled
    assert "last valid choice" in picker.mapping_text()
    c["last"].value = 1
    assert_ok(picker)
    assert c["message"].value == "" and not c["save"].disabled

    c["strategy"].value = "manual"
    c["manual"].value = "1, 99"
    assert "out of range" in picker.error and "1..8" in picker.error
    c["manual"].value = "one, two"
    assert "cannot read" in picker.error
    c["manual"].value = "1, 2, 3, 4, 5"
    assert "at most 4" in picker.error
    c["strategy"].value = "top"
    c["k"].value = 5
    assert "k must be an integer in 1..4, got 5" in picker.error
    assert picker.exception is None


def test_save_button_writes_the_mapping(picker, tmp_path):
    c = picker.controls
    c["strategy"].value = "ushape"
    c["first"].value, c["last"].value = 1, 2
    c["save"].click()
    assert_ok(picker)
    path = tmp_path / "runs" / "mapping.json"
    loaded = LayerMapping.load(path)
    assert loaded == picker.mapping and loaded.teacher_blocks == [1, 7, 8]
    assert json.loads(path.read_text())["params"]["n_student"] == 4
    assert "saved" in c["message"].value
    other = tmp_path / "other.json"
    c["path"].value = str(other)
    c["save"].click()
    assert LayerMapping.load(other) == picker.mapping


def test_programming_errors_are_recorded_and_raised(tmp_path, monkeypatch):
    quiet = LayerPicker(make_report(), 4, save_path=tmp_path / "m.json")
    quiet.widget()

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(quiet, "compute", broken)
    quiet.controls["k"].value = 2  # the callback must not raise into ipywidgets, nor stay silent
    assert isinstance(quiet.exception, RuntimeError)
    assert "internal error (RuntimeError): boom" in quiet.error
    assert "boom" in quiet.controls["message"].value

    strict = LayerPicker(make_report(), 4, raise_errors=True)
    strict.widget()
    monkeypatch.setattr(strict, "compute", broken)
    with pytest.raises(RuntimeError, match="boom"):
        strict.controls["k"].value = 2


def test_css_classes_for_browser_tests(picker):
    box = picker.widget()
    assert "skd-layer-picker" in box._dom_classes
    assert "skd-mapping-text" in picker.controls["text"]._dom_classes
    assert "skd-figure" in picker.controls["figure"]._dom_classes
    assert "skd-error" in picker.controls["message"]._dom_classes


def test_parse_blocks_and_report_checks():
    assert parse_blocks("3, 1 2-4") == [1, 2, 3, 4]
    for bad in ("", "4-2", "x"):
        with pytest.raises(ValueError):
            parse_blocks(bad)
    report = make_report()
    report.blocks = list(range(0, 8))
    with pytest.raises(ValueError, match="blocks 1..N"):
        LayerPicker(report, 4)


def test_strategy_parameters_are_given_as_params():
    picker = LayerPicker(
        make_report(), 4, strategy="ushape", params={"first": 1, "last": 3}, raise_errors=True
    )
    assert (picker.k, picker.first, picker.last) == (4, 1, 3)
    assert picker.mapping.teacher_blocks == [1, 6, 7, 8]
    with pytest.raises(ValueError, match=r"unknown picker parameters \['depth'\]; allowed: k, first, last"):
        LayerPicker(make_report(), 4, params={"depth": 2})
