"""A real browser: Debian's Chromium driven by Playwright logs in, lands in JupyterLab and runs a gaia_lab cell."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.platform, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
# Without the background-networking flags Chromium keeps dialling out, and this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
CELL = (
    "import gaia_lab as gl, os\n"
    "providers = [p.name for p in gl.open_catalog().providers]\n"
    "print('GAIA', gl.__version__, 'gateway' if os.environ.get('DASK_GATEWAY__ADDRESS') else '-', providers)"
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian chromium is required for browser tests: apt-get install -y chromium ({CHROMIUM} missing)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield launched
        finally:
            launched.close()


def test_browser_logs_in_opens_jupyterlab_and_runs_a_cell(platform, secrets, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        started = time.monotonic()
        page.goto(f"{platform.info.hub_url}hub/login", timeout=60_000)
        page.fill("#username_input", "erin")
        page.fill("#password_input", secrets["user_password"])
        page.click("#login_submit")
        # The hub spawns the server and sends the browser on to JupyterLab (the default UI).
        page.wait_for_url("**/user/erin/lab**", timeout=240_000)
        page.wait_for_selector(".jp-LauncherCard", timeout=180_000)
        print(f"login -> JupyterLab launcher: {time.monotonic() - started:.1f} s")
        page.click('.jp-LauncherCard[data-category="Notebook"]')
        page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=120_000)
        # Kernel idle before typing, so Shift+Enter runs the cell rather than queueing it behind start-up.
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
        editor.click()
        page.keyboard.insert_text(CELL)
        output = page.locator(".jp-OutputArea-output", has_text="GAIA 0.")
        # Right after start-up JupyterLab may report the kernel idle before its session accepts requests, and a
        # run request then goes nowhere; run the cell again (Ctrl+Enter stays on it) until it prints.
        for attempt in range(4):
            editor.click()
            page.keyboard.press("Control+Enter")
            try:
                output.first.wait_for(timeout=30_000 * (attempt + 1))
                break
            except PlaywrightTimeout:
                continue
        else:
            raise AssertionError("the cell never printed its output")
        text = output.first.inner_text()
        assert "gateway" in text, text
        assert "odatis" in text, text
        page.screenshot(path=str(ARTIFACTS / "platform-jupyterlab.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "platform-jupyterlab-failure.png"))
        raise
    finally:
        page.close()
