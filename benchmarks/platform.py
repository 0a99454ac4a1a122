"""The platform, end to end on this machine: login -> a usable JupyterLab, and cluster request -> first result on
Dask Gateway versus a LocalCluster started in the same run, both through gl.cluster().

A login is measured as a user lives it, in Debian's Chromium driven by Playwright (as tests/platform/
test_ui_browser.py does): from pressing "Sign in" on the login page of a new user to JupyterLab's launcher drawn
(the application restored), then to a new notebook's kernel reporting idle. p50 and p95 over ``--users`` new users.
The HTTP measure of earlier runs (login POST -> /lab answering 200) is kept as a second row: it stops before the
browser has loaded and started anything.

The Gateway and the HTTP login measures are taken twice: on the platform as configured (JupyterLab servers,
schedulers and nannies forked from warm processes, docs/platform.md#warm-processes), then on a second platform with
``warm_processes`` off. Logins start once the sessions' warm process listens (``gaia-lab up`` does not wait for it).

Goals: login -> usable JupyterLab p50 < 3 s, p95 < 5 s; Gateway cluster request -> first result < 2 s.
Run: python -m benchmarks.platform [--users 10] [--clusters 3]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import dask.config
import dask_gateway  # noqa: F401  (loads its config defaults now, not inside a dask.config.set that would undo them)
import requests

from benchmarks import processes
from benchmarks.common import median, print_table, record
from gaia_lab.cluster import cluster
from gaia_lab.platform import Platform, load_config
from gaia_lab.platform.warm_processes import ready

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hubclient import HubUser

PORTS = dict.fromkeys(
    ("port", "hub_port", "proxy_api_port", "gateway_port", "gateway_tcp_port", "gateway_api_port", "lake_port"), 0
)


def lake_dir() -> Path:
    if lake := os.environ.get("GAIA_LAB_TEST_LAKE"):
        return Path(lake)
    from benchmarks.common import demo_lake

    return demo_lake()


def login_to_lab(base: str, name: str, password: str) -> float:
    """Seconds from the login POST to JupyterLab's page answering 200 (spawn included); the session stays up."""
    user = HubUser(base, name, password)
    started = time.perf_counter()
    user.login()
    user.create_token()
    user.start_server()
    lab = user.session.get(f"{base}user/{name}/lab", timeout=60)
    lab.raise_for_status()
    return time.perf_counter() - started


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


class Login(NamedTuple):
    """Seconds from pressing "Sign in" to each step of a new user's first visit, in the order they happen."""

    lab_page: float  # the session's /lab page answered: hub login, OAuth redirects and the server's spawn done
    lab_ready: float  # JupyterLab's launcher drawn: its assets loaded and the application restored
    kernel_idle: float  # a new notebook's kernel started and reporting idle


def login_in_browser(browser: Any, base: str, name: str, password: str) -> Login:
    """One new user's login in Chromium, timed step by step (where the time of a login goes)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    lab_page = f"/user/{name}/lab"
    answered: list[float] = []

    def on_response(response: Any) -> None:
        if not answered and urlsplit(response.url).path.rstrip("/") == lab_page and response.status == 200:
            answered.append(time.perf_counter())

    try:
        page.goto(f"{base}hub/login", timeout=60_000)
        page.fill("#username_input", name)
        page.fill("#password_input", password)
        page.on("response", on_response)
        started = time.perf_counter()
        page.click("#login_submit")
        page.wait_for_selector(".jp-LauncherCard", timeout=240_000)
        lab_ready = time.perf_counter() - started
        page.click('.jp-LauncherCard[data-category="Notebook"]')
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        kernel_idle = time.perf_counter() - started
    finally:
        page.close()
    HubUser(base, name, password).login()
    return Login(answered[0] - started if answered else math.nan, lab_ready, kernel_idle)


def browser_logins(base: str, password: str, users: int) -> list[Login]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            # Each session stays up until every login is measured (a workshop's sessions pile up the same way).
            return [login_in_browser(browser, base, f"browser{index}", password) for index in range(users)]
        finally:
            browser.close()


def _stop_server(base: str, name: str, password: str) -> None:
    user = HubUser(base, name, password)
    user.login()
    user.create_token()
    user.stop_server()


def stop_servers(base: str, names: list[str], password: str) -> None:
    """Stop these users' sessions together, before the cluster measures (their stops would otherwise take turns)."""
    with ThreadPoolExecutor(max(1, len(names))) as pool:
        list(pool.map(lambda name: _stop_server(base, name, password), names))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: with 10 values the p95 is the slowest, a true upper bound of the run."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def first_result(settings: dict) -> float:
    """Seconds from gl.cluster() (one worker) to the first task's result, with the given dask config."""
    started = time.perf_counter()
    with dask.config.set(settings), cluster(n_workers=1, adaptive=None, worker_memory="1 GiB") as client:
        assert client.submit(sum, range(10)).result(timeout=120) == 45
        return time.perf_counter() - started


def gateway_settings(platform: Platform, name: str, password: str) -> dict[str, Any]:
    user = HubUser(platform.info.hub_url, name, password)
    user.login()
    token = user.create_token()
    return {
        "gateway.address": platform.info.gateway_url,
        "gateway.proxy-address": platform.info.gateway_proxy_address,
        "gateway.auth.type": "jupyterhub",
        "gateway.auth.kwargs": {"api_token": token},
    }


def wait_warm_sessions(platform: Platform, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready(str(platform.layout.warm_sessions_socket)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sessions' warm process did not listen within {timeout:.0f} s")
        time.sleep(0.1)


HTTP_LOGINS = 3


def cold_platform_measures(clusters: int) -> tuple[list[float], list[float]]:
    """The HTTP login and Gateway measures on a platform whose JupyterLab servers, schedulers and workers each start
    a new interpreter."""
    with tempfile.TemporaryDirectory(prefix="gaia-lab-bench-cold-") as data_dir:
        settings = {"data_dir": data_dir, "lake_dir": str(lake_dir()), "user_accounts": "shared", **PORTS}
        # Only the hub and the gateway: the services the measure does not touch would only lengthen the run.
        services = dict.fromkeys(("opendap", "processes", "openeo", "stac", "portal", "metadata_catalogues"), False)
        platform = Platform(load_config(None, warm_processes=False, **services, **settings), out=lambda s: None)
        platform.start()
        try:
            assert platform.secrets is not None
            base, password = platform.info.hub_url, platform.secrets.user_password
            names = [f"benchcold{i}" for i in range(HTTP_LOGINS)]
            logins = [login_to_lab(base, name, password) for name in names]
            stop_servers(base, names, password)
            gateway = gateway_settings(platform, "benchcold", password)
            return logins, [first_result(gateway) for _ in range(clusters)]
        finally:
            platform.stop(quiet=True)


def main(argv: list[str] | None = None, then: Callable[[Platform], None] | None = None) -> dict[str, object]:
    """``then``: run on the platform once its measures are taken, before it stops (the processes benchmark, sharing
    its start-up)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10, help="new users logging in, one after the other")
    parser.add_argument("--clusters", type=int, default=3, help="cluster requests measured per kind")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gaia-lab-bench-") as data_dir:
        # One account for every session, as measured before per-user accounts existed: the timings compare with
        # earlier runs (tests/platform/bench_users.py measures a class of 30 with an account each).
        settings = {"data_dir": data_dir, "lake_dir": str(lake_dir()), "user_accounts": "shared", **PORTS}
        if then is not None:
            settings |= processes.platform_settings()
        platform = Platform(load_config(None, **settings), out=lambda s: None)
        started = time.perf_counter()
        platform.start()
        startup = time.perf_counter() - started
        try:
            assert platform.secrets is not None
            base, password = platform.info.hub_url, platform.secrets.user_password
            wait_warm_sessions(platform)
            http_users = [f"bench{i}" for i in range(HTTP_LOGINS)]
            logins = [login_to_lab(base, name, password) for name in http_users]
            in_browser = browser_logins(base, password, args.users)
            stop_servers(base, http_users + [f"browser{i}" for i in range(args.users)], password)
            gateway = gateway_settings(platform, "benchgw", password)
            gateway_times = [first_result(gateway) for _ in range(args.clusters)]
            local_times = [first_result({"gateway.address": None}) for _ in range(args.clusters)]
            requests.get(f"{base}hub/health", timeout=10).raise_for_status()
            if then is not None:
                then(platform)
        finally:
            platform.stop(quiet=True)
    cold_logins, cold_times = cold_platform_measures(args.clusters)

    login, gateway, local = median(logins), median(gateway_times), median(local_times)
    cold, cold_login = median(cold_times), median(cold_logins)
    lab_page = [visit.lab_page for visit in in_browser]
    lab_ready = [visit.lab_ready for visit in in_browser]
    usable = [visit.kernel_idle for visit in in_browser]
    # Where a login's time goes (medians of the steps): the server's side, the browser's JupyterLab, the kernel.
    steps = {
        "sign in -> /lab page answered (hub login, redirects, spawn)": median(lab_page),
        "/lab page -> launcher drawn (assets, application restored)": median(
            [visit.lab_ready - visit.lab_page for visit in in_browser]
        ),
        "launcher -> notebook kernel idle (kernel start)": median(
            [visit.kernel_idle - visit.lab_ready for visit in in_browser]
        ),
    }
    usable_p50, usable_p95 = percentile(usable, 0.5), percentile(usable, 0.95)
    print_table(
        f"Platform on this machine ({os.cpu_count()} cores), medians of {args.users} logins / {args.clusters} clusters",
        [
            ("platform start-up (4 components)", f"{startup:.1f} s", ""),
            (
                f"Chromium: sign in -> launcher drawn, p50 | p95 of {len(lab_ready)}",
                f"{percentile(lab_ready, 0.5):.1f} | {percentile(lab_ready, 0.95):.1f} s",
                "",
            ),
            (
                f"Chromium: sign in -> notebook kernel idle, p50 | p95 of {len(usable)}",
                f"{usable_p50:.1f} | {usable_p95:.1f} s",
                "goal p50 < 3 s, p95 < 5 s",
            ),
            *[(f"Chromium, median step: {step}", f"{took:.2f} s", "") for step, took in steps.items()],
            (f"HTTP: login POST -> /lab answers 200 (median of {len(logins)})", f"{login:.2f} s", ""),
            ("HTTP, warm_processes off: login POST -> /lab answers 200", f"{cold_login:.2f} s", "second platform"),
            ("HTTP login: cold / warm", f"{cold_login / login:.2f}x", ""),
            ("Gateway: request -> first result (warm processes)", f"{gateway:.1f} s", "goal < 2 s"),
            ("Gateway, warm_processes off: request -> first result", f"{cold:.1f} s", "second platform, same run"),
            ("Gateway: cold / warm", f"{cold / gateway:.2f}x", ""),
            ("LocalCluster: start -> first result", f"{local:.1f} s", "same run, for comparison"),
            ("Gateway / LocalCluster", f"{gateway / local:.2f}x", ""),
            ("login / Gateway cluster", f"{login / gateway:.2f}x", ""),
        ],
    )
    result: dict[str, object] = {
        "startup_s": round(startup, 2),
        "login_to_lab_s": [round(t, 2) for t in logins],
        "gateway_first_result_s": [round(t, 2) for t in gateway_times],
        "local_first_result_s": [round(t, 2) for t in local_times],
        "login_to_lab_median_s": round(login, 2),
        "login_to_lab_cold_s": [round(t, 2) for t in cold_logins],
        "login_to_lab_cold_median_s": round(cold_login, 2),
        "login_cold_over_warm": round(cold_login / login, 2),
        "browser_lab_page_s": [round(t, 2) for t in lab_page],
        "browser_lab_ready_s": [round(t, 2) for t in lab_ready],
        "browser_login_steps_median_s": {step: round(took, 2) for step, took in steps.items()},
        "browser_kernel_idle_s": [round(t, 2) for t in usable],
        "browser_usable_p50_s": round(usable_p50, 2),
        "browser_usable_p95_s": round(usable_p95, 2),
        "gateway_median_s": round(gateway, 2),
        "gateway_cold_first_result_s": [round(t, 2) for t in cold_times],
        "gateway_cold_median_s": round(cold, 2),
        "gateway_cold_over_warm": round(cold / gateway, 2),
        "local_median_s": round(local, 2),
        "gateway_over_local": round(gateway / local, 2),
        "goals_met": {
            "usable_lab_p50_lt_3s": usable_p50 < 3,
            "usable_lab_p95_lt_5s": usable_p95 < 5,
            "gateway_lt_2s": gateway < 2,
        },
    }
    record("platform", result)
    return result


if __name__ == "__main__":
    main()
