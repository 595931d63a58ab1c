"""The notebooks' widgets in JupyterLab, driven in Chromium as a reader would use them.

Each test opens a notebook on a fresh workspace, runs every cell, uses the widgets and
asserts on what the page shows, then checks that nothing failed: no cell error, no
"Error displaying widget", no traceback in a widget's output, no internal error in our
widgets and no exception in the kernel log (``LabNotebook.problems``). The first test
shows that this check catches a failing callback. Screenshots go to
``test-artifacts/screenshots`` (or ``$SPECTRALKD_SCREENSHOTS``).
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from .lab import LabNotebook

pytestmark = pytest.mark.browser


def run_notebook(page, lab_server, name: str) -> LabNotebook:
    nb = LabNotebook(page, lab_server, f"notebooks/{name}").open()
    nb.run_all()
    assert nb.problems() == []
    return nb


def test_a_failing_callback_is_caught(page, lab_server, screenshots):
    """A callback that raises (in interact, in an observer) must show up in problems()."""
    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell(
            "from ipywidgets import Dropdown, IntSlider, interact\n"
            "def f(x=1):\n"
            "    print('ratio', 10 // (2 - x))\n"
            "interact(f, x=IntSlider(value=1, min=0, max=3, description='x'));"
        ),
        nbformat.v4.new_code_cell(
            "d = Dropdown(options=['a', 'b'], value='a', description='pick')\n"
            "d.observe(lambda change: {}['missing'], names='value')\n"
            "d"
        ),
    ]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, lab_server.root / "notebooks" / "broken_widget.ipynb")
    nb = run_notebook(page, lab_server, "broken_widget.ipynb")
    assert "ratio 10" in page.locator(".widget-interact").inner_text()

    nb.set_slider("x", 2, check=False)
    found = nb.problems()
    assert any("ZeroDivisionError" in p for p in found), found

    nb.choose("pick", "b", check=False)
    found = nb.problems()
    nb.screenshot(screenshots, "00_broken_widget")
    assert any("KeyError" in p for p in found), found


def test_01_phasor_sliders_redraw(page, lab_server, screenshots):
    nb = run_notebook(page, lab_server, "01_phasors_and_the_dft.ipynb")
    interact = ".widget-interact"
    assert page.locator(interact).count() == 1
    before = nb.image_sources(interact)
    assert len(before) == 1, "the interact output shows one figure"

    nb.set_slider("k", 10)
    assert nb.slider_value("k") == "10.00"
    after_k = nb.image_sources(interact)
    assert len(after_k) == 1 and after_k != before, "moving k redraws the figure"

    nb.set_slider("f1", 40)
    assert nb.slider_value("f1") == "40"
    assert nb.image_sources(interact) != after_k
    nb.screenshot(screenshots, "01_phasors_sliders", css=interact)
    assert nb.problems() == []


def test_03_layer_explorer(page, lab_server, screenshots):
    nb = run_notebook(page, lab_server, "03_vision_transformer_spectra.ipynb")
    interact = page.locator(".widget-interact").filter(has=page.locator(".widget-label", has_text="layer"))
    assert interact.count() == 1
    text = interact.inner_text()
    assert re.search(r"intensity [0-9.]+ \(rank \d+ of \d+\)", text), text

    options = interact.locator("select").first.locator("option").all_inner_texts()
    other = next(o for o in options if o != "uniform")
    nb.choose("model", other)
    nb.set_slider("layer", 2)
    changed = interact.inner_text()
    assert changed != text and re.search(r"intensity [0-9.]+ \(rank \d+ of \d+\)", changed)
    nb.screenshot(screenshots, "03_layer_explorer", css=".widget-interact >> nth=-1")
    assert nb.problems() == []


def mapping_text(page) -> str:
    return page.locator(".skd-mapping-text").inner_text()


def test_04_layer_picker(page, lab_server, screenshots):
    nb = run_notebook(page, lab_server, "04_text_classifier_spectra.ipynb")
    picker = ".skd-layer-picker"
    assert page.locator(picker).count() == 1
    first = mapping_text(page)
    n_teacher = int(re.search(r"of 1\.\.(\d+) ->", first).group(1))
    figure = nb.image_sources(".skd-figure")
    assert len(figure) == 1

    # uniform, 2 student blocks: the last block of each half of the teacher
    nb.set_slider("student blocks", 2, within=picker)
    nb.choose("strategy", "uniform (last of each group)", within=picker)
    expected = [n_teacher // 2, n_teacher]
    assert f"teacher blocks {expected} of 1..{n_teacher}" in mapping_text(page)
    assert "student 2 <- teacher " + str(n_teacher) in mapping_text(page)
    assert nb.image_sources(".skd-figure") != figure, "the highlighted blocks are redrawn"

    # top-k: k slider; the k most intense blocks
    nb.choose("strategy", "top-k by intensity", within=picker)
    nb.set_slider("k (top)", 1, within=picker)
    assert re.search(r"teacher blocks \[\d+\] of", mapping_text(page)), mapping_text(page)

    # manual: an invalid choice names the allowed range and disables Save; a valid one maps
    nb.choose("strategy", "manual", within=picker)
    nb.type_text("manual", f"1, {n_teacher + 5}", within=picker)
    error = page.locator(".skd-error").inner_text()
    assert f"1..{n_teacher}" in error and str(n_teacher + 5) in error, error
    assert page.locator(".skd-save").is_disabled()
    nb.type_text("manual", f"1, {n_teacher}", within=picker)
    assert f"teacher blocks [1, {n_teacher}]" in mapping_text(page)
    assert page.locator(".skd-error").inner_text().strip() == ""

    target = lab_server.root / "picked-mapping.json"
    nb.type_text("save to", str(target), within=picker)
    nb.click(".skd-save")
    assert "saved" in page.locator(".skd-error").inner_text()
    saved = json.loads(target.read_text())
    assert [link["teacher"] for link in saved["links"]] == [[1], [n_teacher]]
    nb.screenshot(screenshots, "04_layer_picker", css=picker)
    assert nb.problems() == []


def test_05_distillation_widget_adds_a_row(page, lab_server, screenshots):
    nb = run_notebook(page, lab_server, "05_spectral_distillation.ipynb")
    box = ".skd-distill-widget"
    assert page.locator(box).count() == 1
    rows = page.locator(".skd-distill-table tr")
    before = rows.count()

    nb.choose("mapping", "uniform", within=box)
    assert "student 1 <- teacher" in page.locator(".skd-distill-mapping").inner_text()
    nb.choose("feature loss", "mse", within=box)
    nb.click(".skd-distill-run")  # returns when the kernel is idle again: the run is over
    status = page.locator(".skd-distill-status").inner_text()
    assert "added widget: mse, uniform" in status, status
    assert rows.count() == before + 1
    assert "widget: mse, uniform" in page.locator(".skd-distill-table").inner_text()
    nb.screenshot(screenshots, "05_distillation_widget", css=box)
    assert nb.problems() == []


def test_stop_leaves_no_server_or_kernel_behind(tmp_path):
    """LabServer.stop ends the server and every kernel it started."""
    import urllib.request

    import psutil

    from .lab import REPO, LabServer, require_browser

    require_browser()
    server = LabServer(REPO, tmp_path)
    try:
        server.start()
        request = urllib.request.Request(
            f"{server.url}/api/kernels?token={server.token}", data=b"{}", method="POST"
        )
        urllib.request.urlopen(request, timeout=30).close()
        pids = [server.process.pid]
        pids += [p.pid for p in psutil.Process(server.process.pid).children(recursive=True)]
        assert len(pids) >= 2, "a kernel was started"
    finally:
        server.stop()
    alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert alive == []
