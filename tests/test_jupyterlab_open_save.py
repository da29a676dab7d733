"""Opening a lab in JupyterLab changes nothing: in a real browser (headless Chromium, Playwright).

A temporary copy of one student lab is opened in a JupyterLab server started for the test; once
its kernel is idle (the kernel has sent its kernelspec and language_info, which JupyterLab writes
into the notebook's metadata, marking it modified when they differ) the notebook's tab must not
be marked modified (``jp-mod-dirty``). Saving it with Ctrl+S must then rewrite the file (its
modification time changes) with exactly the same bytes. tests/test_lab_notebooks.py checks the
same without a browser, against what nbformat and ipykernel would write.

Needs Debian's Chromium and the Python package playwright, as tests/test_site.py (never
`playwright install`); skipped without them unless SEGEDU_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .test_site import CHROMIUM, CHROMIUM_ARGS, _require_browser

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "02_conv_arithmetic.ipynb"  # any lab: they are all written the same way
TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait_for(what: str, condition, timeout: float = TIMEOUT_S):
    """Poll ``condition()`` until it returns a true value (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (OSError, urllib.error.URLError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free port serving tmp_path/work: yields (URL, token, folder)."""
    _require_browser()
    pytest.importorskip("jupyterlab")
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    command = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={work}",
               # offline: no update check, no news
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               # window.jupyterapp, so the test can wait for what it checks (_KERNEL_INFO_JS)
               "--LabApp.expose_app_in_browser=True"]
    log = (tmp_path / "jupyterlab.log").open("wb")
    server = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for("the JupyterLab server", lambda: server.poll() is None
                  and _get(f"{base}/api/status?token={token}"))
        yield base, token, work
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# Resolves once the open notebook has taken in its kernel's info: JupyterLab's notebook panel writes
# the kernel's language_info and kernelspec into the notebook's metadata (marking it modified when
# they differ) in handlers of the kernel's `info` and `spec` promises; the test's own handlers of
# those promises run after the panel's, and one task later every such write is done. (A fixed
# sleep after the kernel went idle guessed at this; on a busy machine it could be too short.)
_KERNEL_INFO_JS = """
async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session.kernel;
  await kernel.info;
  await kernel.spec;
  await new Promise(resolve => setTimeout(resolve, 0));
  return panel.context.path;
}
"""


def test_opening_and_saving_a_lab_changes_nothing(jupyterlab):
    from playwright.sync_api import sync_playwright

    base, token, work = jupyterlab
    notebook = work / LAB.name
    shutil.copyfile(LAB, notebook)
    original = notebook.read_bytes()
    os.utime(notebook, (time.time() - 3600, time.time() - 3600))  # an hour old: a save shows
    written = notebook.stat().st_mtime_ns

    def kernel_idle():
        sessions = _get(f"{base}/api/sessions?token={token}")
        states = [s["kernel"]["execution_state"] for s in sessions if s["path"] == LAB.name]
        return states == ["idle"]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/lab/tree/{LAB.name}?token={token}", timeout=TIMEOUT_S * 1000)
            tab = page.locator(".jp-MainAreaWidget .jp-Notebook").first
            tab.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
            _wait_for("the notebook's kernel to be idle", kernel_idle)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
                timeout=TIMEOUT_S * 1000)
            assert page.evaluate(_KERNEL_INFO_JS) == LAB.name
            document_tab = page.locator(f".lm-DockPanel-tabBar .lm-TabBar-tab[title*='{LAB.name}']")
            assert document_tab.count() == 1, "the notebook's tab is not shown"
            assert "jp-mod-dirty" not in (document_tab.get_attribute("class") or ""), (
                "opening the lab marked it modified before any edit")
            assert notebook.stat().st_mtime_ns == written, "opening the lab wrote the file"

            page.locator(".jp-Notebook").first.click()  # focus the notebook, then save
            page.keyboard.press("Control+s")
            _wait_for("the save (the file's modification time)",
                      lambda: notebook.stat().st_mtime_ns != written)
            # the tab is marked clean once the server has answered the save; a tab that stays
            # marked modified fails here after TIMEOUT_S (it was checked after a fixed 0.5 s)
            _wait_for("the saved notebook's tab to be marked unmodified",
                      lambda: "jp-mod-dirty" not in (document_tab.get_attribute("class") or ""))
        finally:
            browser.close()
    saved = notebook.read_bytes()
    if saved != original:
        import difflib

        diff = "\n".join(difflib.unified_diff(original.decode().splitlines(),
                                              saved.decode().splitlines(), "stored", "saved",
                                              lineterm="", n=1))
        pytest.fail(f"saving the unedited lab changed {LAB.name}:\n{diff[:3000]}")
