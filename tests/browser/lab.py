"""JupyterLab in a real browser: a server on 127.0.0.1 and helpers that drive its page.

``LabServer`` serves copies of the notebooks from a scratch folder (so that nothing a
test does is saved into the repository's notebooks), with their ``runs/`` caches and
``animations/`` linked in, a random token, autosave off and cell windowing off (every
cell stays in the page). ``stop`` shuts the server down through its API and then
kills whatever it started (kernels included) that is still alive.

``LabNotebook`` wraps a Playwright page on one open notebook: run all cells, find
widgets by their description, and collect every sign of a broken widget or a failing
callback (``problems``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

# JupyterLab user settings for the tests: no autosave, every cell rendered, no news.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# What a broken widget or a failing callback leaves behind in the page or the logs.
PAGE_ERROR_TEXT = ("Error displaying widget", "Error rendering output item", "Failed to load model class")
LOG_ERROR = re.compile(r"Traceback \(most recent call last\)|Exception in comm_msg|Error in observer")
TRACEBACK_TEXT = re.compile(r"Traceback|^\w*(Error|Exception)\b", re.MULTILINE)


def require_browser() -> None:
    """Skip (outside CI) or fail (in CI, ``CI`` set) when Chromium or Playwright is missing."""
    import pytest

    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        message = "the browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A JupyterLab server over a scratch copy of ``notebooks/``."""

    def __init__(self, repo: Path, scratch: Path, env: dict[str, str] | None = None) -> None:
        self.repo = repo
        self.root = scratch / "lab"
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch / "jupyterlab.log"
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    def prepare(self) -> None:
        """Copy the notebooks, link their caches and the animations, write the settings."""
        notebooks = self.root / "notebooks"
        notebooks.mkdir(parents=True)
        for nb in sorted((self.repo / "notebooks").glob("*.ipynb")):
            shutil.copy(nb, notebooks / nb.name)
        runs = self.repo / "notebooks" / "runs"
        runs.mkdir(exist_ok=True)
        (notebooks / "runs").symlink_to(runs, target_is_directory=True)
        (self.root / "animations").symlink_to(self.repo / "animations", target_is_directory=True)
        settings = self.root.parent / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def start(self, timeout: float = 120) -> None:
        self.prepare()
        scratch = self.root.parent
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(scratch / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(scratch / "jupyter-runtime"),
            "JUPYTER_DATA_DIR": str(scratch / "jupyter-data"),
            "IPYTHONDIR": str(scratch / "ipython"),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            **self.env,
        }
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.port_retries=0",
            f"--LabApp.user_settings_dir={scratch / 'lab-settings'}",
            f"--LabApp.workspaces_dir={scratch / 'lab-workspaces'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if os.geteuid() == 0:  # CI machines run as root
            cmd.append("--allow-root")
        log = self.log_path.open("w")
        self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def new_log(self) -> str:
        """The server (and kernel) output written since the previous call."""
        text = self.log()
        new, self._log_offset = text[self._log_offset :], len(text)
        return new

    def stop(self) -> None:
        """Shut down through the API, then kill every process the server started."""
        if self.process is None:
            return
        server = psutil.Process(self.process.pid)
        family = server.children(recursive=True) if self.process.poll() is None else []
        try:
            request = urllib.request.Request(f"{self.url}/api/shutdown?token={self.token}", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            self.process.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass  # whatever is still running is killed below
        for proc in [*family, server]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        self.process.wait(timeout=10)
        self.process = None


class LabNotebook:
    """One notebook open in JupyterLab, driven through the page (``page``: a Playwright Page)."""

    def __init__(self, page: Any, server: LabServer, path: str) -> None:
        self.page = page
        self.server = server
        self.path = path

    def open(self, timeout: float = 120) -> LabNotebook:
        """Open on a fresh workspace (``?reset``) and wait for the kernel."""
        self.server.new_log()
        url = f"{self.server.url}/lab/tree/{self.path}?reset&token={self.server.token}"
        self.page.goto(url)
        self.page.wait_for_function(
            """() => {
                const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                return !!(w && w.context && w.context.isReady && w.sessionContext
                          && w.sessionContext.session && w.sessionContext.session.kernel
                          && w.sessionContext.session.kernel.connectionStatus === 'connected');
            }""",
            timeout=timeout * 1000,
        )
        # Record every error the kernel publishes, including those of widget callbacks,
        # whose messages belong to no cell (JupyterLab sends them to its log console).
        self.page.evaluate(
            """pattern => {
                window.__kernelErrors = [];
                const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                const traceback = new RegExp(pattern, 'm');
                kernel.iopubMessage.connect((_, msg) => {
                    const c = msg.content;
                    if (msg.header.msg_type === 'error') {
                        window.__kernelErrors.push(c.ename + ': ' + c.evalue);
                    } else if (msg.header.msg_type === 'stream' && c.name === 'stderr' && traceback.test(c.text)) {
                        window.__kernelErrors.push(c.text.slice(0, 1500));
                    }
                });
            }""",
            TRACEBACK_TEXT.pattern,
        )
        return self

    def run_all(self, timeout: float = 600) -> None:
        """Clear the outputs, run every cell, wait until each code cell has run (or one failed)."""
        self.page.evaluate(
            """async () => {
                const app = window.jupyterapp;
                await app.commands.execute('notebook:clear-all-cell-outputs');
                app.commands.execute('notebook:run-all-cells');
            }"""
        )
        self.page.wait_for_function(
            """() => {
                const w = window.jupyterapp.shell.currentWidget;
                const cells = w.content.widgets.filter(c => c.model.type === 'code');
                const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
                const done = cells.every(c => c.model.executionCount !== null);
                return failed || (done && w.sessionContext.session.kernel.status === 'idle');
            }""",
            timeout=timeout * 1000,
            polling=500,
        )

    def wait_idle(self, timeout: float = 300) -> None:
        """Wait until the kernel has been idle for a second (callbacks run in the kernel)."""
        self.page.wait_for_timeout(300)
        deadline = time.time() + timeout
        quiet_since = None
        while time.time() < deadline:
            status = self.page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
            )
            if status == "idle":
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since >= 1.0:
                    return
            else:
                quiet_since = None
            self.page.wait_for_timeout(200)
        raise TimeoutError(f"the kernel stayed busy for {timeout} s")

    # ---------------------------------------------------------------- widgets

    def control(self, kind: str, description: str, within: str = "") -> Any:
        """The ipywidgets control of ``kind`` (slider, dropdown, text) labelled ``description``."""
        css = {"slider": ".widget-slider", "dropdown": ".widget-dropdown", "text": ".widget-text"}[kind]
        label = self.page.locator(".widget-label").filter(has_text=re.compile(f"^{re.escape(description)}$"))
        return self.page.locator(f"{within} {css}".strip()).filter(has=label).first

    def _after(self, action: str, check: bool) -> None:
        """Wait for the kernel; with ``check``, fail at once if the action broke anything."""
        self.wait_idle()
        if check:
            found = self.problems()
            assert found == [], f"after {action}: {found}"

    def set_slider(self, description: str, value: float, within: str = "", check: bool = True) -> None:
        """Type ``value`` into the slider's readout and press Enter, as a reader can."""
        readout = self.control("slider", description, within).locator(".widget-readout")
        readout.scroll_into_view_if_needed()
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(str(value))
        self.page.keyboard.press("Enter")
        self._after(f"setting slider {description!r} to {value}", check)

    def slider_value(self, description: str, within: str = "") -> str:
        return self.control("slider", description, within).locator(".widget-readout").inner_text().strip()

    def choose(self, description: str, label: str, within: str = "", check: bool = True) -> None:
        select = self.control("dropdown", description, within).locator("select")
        select.scroll_into_view_if_needed()
        select.select_option(label=label)
        self._after(f"choosing {label!r} in {description!r}", check)

    def type_text(self, description: str, text: str, within: str = "", check: bool = True) -> None:
        box = self.control("text", description, within).locator("input")
        box.scroll_into_view_if_needed()
        box.fill(text)
        box.press("Enter")
        self._after(f"typing {text!r} into {description!r}", check)

    def click(self, css: str, check: bool = True) -> None:
        button = self.page.locator(css)
        button.scroll_into_view_if_needed()
        button.click()
        self._after(f"clicking {css}", check)

    def image_sources(self, css: str) -> list[str]:
        return self.page.locator(f"{css} img").evaluate_all("els => els.map(e => e.src)")

    # ---------------------------------------------------------------- checks

    def problems(self) -> list[str]:
        """Every sign of a broken widget or a failing callback, page and kernel log together."""
        found = []
        text = self.page.locator("body").inner_text()
        found += [f"page shows {t!r}" for t in PAGE_ERROR_TEXT if t in text]
        errors = self.page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.content.widgets
                .filter(c => c.model.type === 'code')
                .flatMap(c => c.model.outputs.toJSON())
                .filter(o => o.output_type === 'error')
                .map(o => o.ename + ': ' + o.evalue)"""
        )
        found += [f"cell error: {e}" for e in errors]
        found += [f"kernel error: {e}" for e in self.page.evaluate("() => window.__kernelErrors.splice(0)")]
        stderr = self.page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
        found += [f"error output: {t[:300]}" for t in stderr if TRACEBACK_TEXT.search(t)]
        for css, pattern in ((".skd-error", "internal error"), (".skd-distill-status", "error:")):
            found += [f"{css}: {t}" for t in self.page.locator(css).all_inner_texts() if pattern in t]
        log = self.server.new_log()
        if LOG_ERROR.search(log):
            found.append("kernel log: " + log[LOG_ERROR.search(log).start() :][:1500])
        return found

    def screenshot(self, folder: Path, name: str, css: str | None = None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        if css is not None:
            target = self.page.locator(css).first
            target.scroll_into_view_if_needed()
            target.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path))
        return path
