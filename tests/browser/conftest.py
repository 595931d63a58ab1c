"""Fixtures of the browser suite: one JupyterLab server and one Chromium for the session.

The suite needs Debian's Chromium (``/usr/bin/chromium``) and Playwright for Python
(the ``dev`` extra); ``make test`` installs both. Outside CI a machine without
Chromium skips the suite; in CI (``CI`` set) it fails instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .lab import CHROMIUM, CHROMIUM_ARGS, REPO, LabServer, require_browser

SCREENSHOTS = Path(os.environ.get("SPECTRALKD_SCREENSHOTS", REPO / "test-artifacts" / "screenshots"))


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    require_browser()
    # SPECTRALKD_QUICK: notebook 03 trains each model one epoch, notebook 05 runs its comparison on one
    # seed for a fifth of an epoch.
    server = LabServer(REPO, tmp_path_factory.mktemp("jupyterlab"), env={"SPECTRALKD_QUICK": "1"})
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(lab_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
