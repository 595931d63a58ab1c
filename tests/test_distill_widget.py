"""The distillation widget's logic, driven through its ipywidgets without a browser."""

import pytest


@pytest.fixture(scope="module")
def runner(small_teacher, distill_runner):
    teacher, tok, data = small_teacher(10, 6, vocab_size=300, width=16)
    teacher.train()
    return distill_runner(teacher, tok, data, [1.0, 3.0, 2.0, 4.0])


def test_mapping_text_follows_the_strategy(runner):
    box = runner.widget()
    w = runner._widgets
    assert w["strategy"] in box.children[0].children and w["button"] in box.children
    assert "student 1 &lt;- teacher 2" in w["mapping"].value or "student 1 <- teacher 2" in w["mapping"].value
    w["strategy"].value = "paired"
    assert "0.5 * t1 + 0.5 * t2" in w["mapping"].value and runner.last_error is None
    w["strategy"].value = "manual"
    w["spec"].value = "1:9"
    assert "teacher block 9 is out of range: allowed blocks are 1..4" in w["mapping"].value
    assert runner.last_error is not None


def test_run_button_appends_a_row(runner):
    runner.widget()
    w = runner._widgets
    w["strategy"].value = "uniform"
    w["feature"].value = "magnitude"
    before = len(runner.comparison.summary())
    w["button"].click()
    assert runner.last_error is None, runner.last_error
    rows = runner.comparison.summary()
    assert len(rows) == before + 1 and rows[-1]["variant"] == "widget: magnitude, uniform"
    assert "widget: magnitude, uniform" in w["table"].value and "added" in w["status"].value
    w["button"].click()  # the same choice again gets its own row
    assert runner.comparison.summary()[-1]["variant"] == "widget: magnitude, uniform #2"


def test_failed_run_is_shown_not_swallowed(runner):
    runner.widget()
    w = runner._widgets
    w["strategy"].value = "manual"
    w["spec"].value = "3:1"
    w["button"].click()
    assert "student block 3 is out of range" in runner.last_error
    assert "error" in w["status"].value


def test_a_run_from_code_shows_in_the_table(runner):
    runner.widget()
    w = runner._widgets
    assert "widget: mse, paired" not in w["table"].value
    runner.run("paired", feature="mse")
    assert "widget: mse, paired" in w["table"].value
