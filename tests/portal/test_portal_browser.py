"""The portal in a real browser (Debian's Chromium driven by Playwright), on the session's platform: log in, search in
French, see the footprints drawn, open a dataset page, open it in JupyterLab and run the notebook made there, star two
datasets and see them on the User WebMap. Every request the browser makes must stay on 127.0.0.1. Screenshots of
each step go to artifacts/portal-*.png."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.platform.test_ui_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.platform, pytest.mark.browser, pytest.mark.slow]

USER = "cartographer"
QUERY = "température de surface de la mer"
STAC_API_PREFIX = "/services/gaia-lab-stac/"
# Software WebGL for MapLibre in a GPU-less headless Chromium.
WEBGL_ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--ignore-gpu-blocklist"]


@pytest.fixture(scope="module")
def portal_browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *WEBGL_ARGS]
        )
        try:
            yield launched
        finally:
            launched.close()


def portal_url(platform: Any) -> str:
    assert platform.info.portal_url, "the platform serves no portal"
    return str(platform.info.portal_url)


def test_portal_refuses_requests_without_a_hub_login(platform: Any, make_user: Any) -> None:
    url = portal_url(platform)
    page = requests.get(url, allow_redirects=False, timeout=30)
    assert page.status_code == 302, page.text
    assert "/hub/api/oauth2/authorize" in page.headers["Location"]
    for path in ("config.json", "basemap.geojson", "static/app.js", "quicklook.png?entry=odatis/ostia-sst", "docs/"):
        answer = requests.get(url + path, allow_redirects=False, headers={"Accept": "application/json"}, timeout=30)
        assert answer.status_code in (302, 403), (path, answer.status_code)
    refused = requests.post(url + "api/open", json={"entry": "odatis/ostia-sst"}, allow_redirects=False, timeout=30)
    assert refused.status_code == 403, refused.text
    fake = requests.get(
        url + "config.json", headers={"Authorization": "token not-a-token"}, allow_redirects=False, timeout=30
    )
    assert fake.status_code in (302, 403)
    # A hub user's own token is let through, and the page learns who it is and which STAC API to call.
    user = make_user("mapreader")
    config = requests.get(url + "config.json", headers={"Authorization": f"token {user.token}"}, timeout=30)
    assert config.status_code == 200, config.text
    assert config.json()["user"] == "mapreader"
    assert config.json()["stac_api_url"] == STAC_API_PREFIX
    # The launcher's Docs card leads here: the project's docs as pages.
    docs = requests.get(url + "docs/portal", headers={"Authorization": f"token {user.token}"}, timeout=30)
    assert docs.status_code == 200 and "<h2>First visit</h2>" in docs.text, docs.text[:300]


def _rendered(page: Any, minimum: int, timeout: float = 60_000) -> int:
    page.wait_for_function(
        "(n) => { const m = document.querySelector('#map'); return m && Number(m.dataset.rendered || 0) >= n; }",
        arg=minimum,
        timeout=timeout,
    )
    return int(page.locator("#map").get_attribute("data-rendered") or 0)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"))


def test_portal_search_dataset_open_in_jupyterlab_and_webmap(
    platform: Any, secrets: dict[str, str], portal_browser: Any
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    url = portal_url(platform)
    context = portal_browser.new_context(viewport={"width": 1400, "height": 900})
    outside: list[str] = []

    def guard(route: Any) -> None:
        target = urllib.parse.urlsplit(route.request.url)
        if target.scheme in ("http", "https", "ws", "wss") and target.hostname != "127.0.0.1":
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    try:
        # Log in at the hub, sent on to the portal (through its OAuth login).
        page.goto(f"{platform.info.hub_url}hub/login?next={urllib.parse.quote(urllib.parse.urlsplit(url).path)}")
        page.fill("#username_input", USER)
        page.fill("#password_input", secrets["user_password"])
        page.click("#login_submit")
        page.wait_for_selector(".hub-cards li", timeout=120_000)
        assert page.locator(".hub-cards li").count() == 7
        assert _rendered(page, 3) >= 3
        _shot(page, "home")

        # Search in French: the thesaurus expansion is shown, the ocean datasets' footprints drawn.
        page.fill("#q", QUERY)
        page.press("#q", "Enter")
        page.wait_for_selector("#expansion", timeout=60_000)
        expansion = page.locator("#expansion").inner_text()
        assert "sea_surface_temperature" in expansion, expansion
        results = page.locator("#results li.card").evaluate_all("nodes => nodes.map(n => n.dataset.collection)")
        assert "odatis.ostia-sst" in results, results
        assert _rendered(page, 1) >= 1
        _shot(page, "search")

        # The dataset page: metadata, extent and item footprints on the map, a quicklook.
        page.click('#results li.card[data-collection="odatis.ostia-sst"] a.title')
        page.wait_for_selector('.actions .star[data-collection="odatis.ostia-sst"]', timeout=60_000)
        assert "odatis/ostia-sst" in page.locator("table.metadata").inner_text()
        page.wait_for_function(
            "() => { const i = document.querySelector('#quicklook'); return i && i.complete && i.naturalWidth > 0; }",
            timeout=120_000,
        )
        assert _rendered(page, 1) == 1
        star = '.actions .star[data-collection="odatis.ostia-sst"]'
        page.click(star)
        page.wait_for_selector(f'{star}[aria-pressed="true"]', timeout=30_000)
        _shot(page, "dataset")

        # A second star, from another hub; both on the User WebMap. The page changes by its hash (the same document):
        # wait for the new dataset's own star, not for any dataset page.
        page.goto(f"{url}#/dataset/aeris.meteosat-bt108")
        star = '.actions .star[data-collection="aeris.meteosat-bt108"]'
        page.wait_for_selector(star, timeout=60_000)
        page.click(star)
        page.wait_for_selector(f'{star}[aria-pressed="true"]', timeout=30_000)
        page.click("#webmap-link")
        page.wait_for_selector("#results li.card", timeout=60_000)
        shown = page.locator("#results li.card").evaluate_all("nodes => nodes.map(n => n.dataset.collection)")
        assert sorted(shown) == ["aeris.meteosat-bt108", "odatis.ostia-sst"], shown
        assert _rendered(page, 2) == 2
        assert page.locator("#starred-count").inner_text() == "2"
        _shot(page, "webmap")
        # Kept by the federation's STAC API for this user, in the order starred.
        stored = page.evaluate(
            "(api) => fetch(api + 'starred', {credentials: 'same-origin'}).then((r) => r.json())", STAC_API_PREFIX
        )
        assert stored["user"] == USER
        assert [s["collection"] for s in stored["starred"]] == ["odatis.ostia-sst", "aeris.meteosat-bt108"]

        # Open in JupyterLab: the notebook is written into the user's home and opened; run it to the end.
        page.goto(f"{url}#/dataset/odatis.ostia-sst")
        page.click("#open-jupyterlab", timeout=60_000)
        page.wait_for_url(f"**/user/{USER}/lab/tree/portal/odatis-ostia-sst.ipynb", timeout=300_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
        # Opened from a URL while JupyterLab is still loading its kernel specs, the notebook may ask for its kernel,
        # the notebook's own (Python 3) preselected: accept it, as a user would.
        dialog = page.locator(".jp-Dialog:has-text('Select Kernel')")
        try:
            dialog.wait_for(timeout=15_000)
            dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        except PlaywrightTimeout:
            pass
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)
        output = page.locator(".jp-OutputArea-output", has_text="xarray.Dataset")
        for attempt in range(4):
            page.click("li.lm-MenuBar-item:has-text('Run')")
            page.click("li.lm-Menu-item:has-text('Run All Cells')")
            try:
                output.first.wait_for(timeout=60_000 * (attempt + 1))
                break
            except PlaywrightTimeout:
                continue
        else:
            raise AssertionError("the notebook never showed its cube")
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        assert any("variables: sst" in text for text in outputs), outputs
        assert not any("Traceback" in text for text in outputs), outputs
        _shot(page, "notebook")
        written = platform.layout.homes_dir / USER / "portal" / "odatis-ostia-sst.ipynb"
        content = json.loads(written.read_text())
        assert content["metadata"]["gaia_lab"]["entry"] == "odatis/ostia-sst"
        # First visit: the tutorials' read-only originals, and a writable copy of the user's own.
        home = platform.layout.homes_dir / USER
        tutorials = sorted(p.name for p in (home / "workshop").glob("*.ipynb"))
        assert tutorials and sorted(p.name for p in (home / "my-workshop").glob("*.ipynb")) == tutorials
        assert (home / "my-workshop" / tutorials[0]).stat().st_uid == home.stat().st_uid
        assert (home / "my-workshop" / tutorials[0]).stat().st_mode & 0o200
    except Exception:
        _shot(page, "failure")
        # What the page said, in the test's output: a screenshot stays on the machine that ran it.
        print(f"portal page at failure ({page.url}):\n{page.locator('main').inner_text(timeout=5_000)}")
        raise
    finally:
        page.close()
        context.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"


def test_launcher_has_a_gaia_lab_section(platform: Any, make_user: Any) -> None:
    """The session's JupyterLab lists the portal, the tutorials and the docs under "GAIA Lab", and a card leads to
    the portal."""
    user = make_user("launcher-reader")
    # The hub's home page links to the portal (its Services menu).
    home = user.session.get(f"{platform.info.hub_url}hub/home", timeout=60)
    assert home.status_code == 200 and 'href="/services/gaia-lab-portal/"' in home.text, home.text[:500]
    user.start_server()
    started = time.monotonic()
    base = f"{platform.info.hub_url}user/{user.name}/"
    headers = {"Authorization": f"token {user.token}"}
    while True:
        answer = requests.get(base + "server-proxy/servers-info", headers=headers, timeout=30)
        if answer.status_code == 200 or time.monotonic() - started > 120:
            break
        time.sleep(1)
    assert answer.status_code == 200, answer.text
    entries = {server["name"]: server["launcher_entry"] for server in answer.json()["server_processes"]}
    assert {name: entry["title"] for name, entry in entries.items() if entry["category"] == "GAIA Lab"} == {
        "gaia-lab-portal": "Portal",
        "gaia-lab-tutorials": "Tutorials",
        "gaia-lab-docs": "Docs",
    }
    hop = requests.get(base + "gaia-lab-portal/", headers=headers, allow_redirects=False, timeout=60)
    assert hop.status_code == 302, hop.text
    assert hop.headers["Location"] == "/services/gaia-lab-portal/"
    hop = requests.get(base + "gaia-lab-tutorials/", headers=headers, allow_redirects=False, timeout=60)
    assert hop.status_code == 302 and hop.headers["Location"] == f"/user/{user.name}/lab/tree/my-workshop", hop.headers
