"""Federated search across protocols: 5 STAC APIs (+100 ms per request) with a CSW (pycsw 2.6) and an OGC API -
Records server (pygeoapi 0.21) added, each holding RECORDS ISO 19139 records, searched at once by a French text query
(expanded through the thesaurus; CSW and Records filter it server-side), versus the slowest member alone.

The records are the real ones of tests/data/iso, each written RECORDS / 8 times under new identifiers, so the servers
page through real metadata. Goal: federated / slowest single member <= 1.3, as for STAC alone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

import gaia_lab as gl
from benchmarks.common import demo_lake, interleaved_best, print_table, record, stac_api_servers
from benchmarks.federated_search import template_item, write_items
from gaia_lab.datalake import pycsw, pygeoapi

ROOT = Path(__file__).resolve().parents[1]
ISO_RECORDS = ROOT / "tests" / "data" / "iso" / "records"
GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
STAC_APIS = 5
LATENCY = 0.1
QUERY = "température de la mer"
HOST = "127.0.0.1"
RECORDS = 400  # ISO records in each of the CSW and the Records server
ROUNDS = 5


def write_records(target: Path, count: int) -> int:
    """``count`` ISO records: the recorded ones, again and again, each copy with an identifier of its own."""
    sources = sorted(ISO_RECORDS.glob("*.xml"))
    target.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        source = sources[n % len(sources)]
        tree = etree.parse(str(source))
        identifier = tree.find(f"{{{GMD}}}fileIdentifier/{{{GCO}}}CharacterString")
        if identifier is None or identifier.text is None:
            raise RuntimeError(f"{source} has no fileIdentifier")
        identifier.text = f"{identifier.text}-copy-{n:05d}"
        tree.write(str(target / f"record-{n:05d}.xml"), xml_declaration=True, encoding="UTF-8")
    return count


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}) before answering {url}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


@contextlib.contextmanager
def catalogue_servers(records: Path, workdir: Path) -> Iterator[tuple[str, str]]:
    """pycsw and pygeoapi serving ``records``, from their virtualenvs (scripts/install-catalogue-servers.sh)."""
    venvs = Path(os.environ.get("GAIA_LAB_STAC_SERVERS_ROOT") or ROOT)
    pycsw_python, pygeoapi_python = venvs / ".venv-pycsw/bin/python", venvs / ".venv-pygeoapi/bin/python"
    for python in (pycsw_python, pygeoapi_python):
        if not python.exists():
            raise RuntimeError(f"{python} missing: run scripts/install-catalogue-servers.sh")
    csw_port, records_port = _free_port(), _free_port()
    csw_url, records_url = f"http://{HOST}:{csw_port}/csw", f"http://{HOST}:{records_port}/"
    subprocess.run(
        pycsw.command(pycsw_python, "build", records=records, workdir=workdir / "csw", url=csw_url),
        check=True,
        capture_output=True,
    )
    pygeoapi.publish(
        {"metadata": sorted(records.glob("*.xml"))}, workdir / "records", url=records_url, host=HOST, port=records_port
    )
    processes = []
    try:
        for line, health in (
            (pycsw.command(pycsw_python, "serve", workdir=workdir / "csw", host=HOST, port=csw_port),
             f"{csw_url}?service=CSW&request=GetCapabilities"),
            (pygeoapi.command(pygeoapi_python, "serve", workdir=workdir / "records", host=HOST, port=records_port),
             f"{records_url}collections?f=json"),
        ):  # fmt: skip
            process = subprocess.Popen(line, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes.append(process)
            _wait(health, process)
        yield csw_url, records_url
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def main() -> dict[str, float]:
    count, rounds = RECORDS, ROUNDS
    collection, item = template_item(demo_lake())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # The STAC APIs hold a collection each (of OSTIA SST, which the query is about) and its items.
        documents = [write_items(work, i, collection, item) for i in range(STAC_APIS)]
        write_records(work / "iso", count)
        with stac_api_servers(documents, LATENCY) as urls, catalogue_servers(work / "iso", work) as (csw, records):
            providers = [
                {"name": f"api-{i}", "hub": "ocean", "type": "stac", "url": url, "timeout": 60}
                for i, url in enumerate(urls)
            ]
            providers += [
                {"name": "csw", "hub": "ocean", "type": "csw", "url": csw, "timeout": 60},
                {"name": "records", "hub": "ocean", "type": "ogcapi-records", "url": records, "timeout": 60},
            ]
            catalog = gl.open_catalog({"providers": providers})

            def federated() -> int:
                results = catalog.search(QUERY, limit=None)
                assert not results.errors, results.errors
                return len(results) + sum(len(e.mirrors) for e in results)

            def single(name: str) -> int:
                results = catalog.search(QUERY, providers=[name], limit=None)
                assert not results.errors, results.errors
                return len(results) + sum(len(e.mirrors) for e in results)

            federated()  # warm: detection, capabilities, collections
            timed = interleaved_best(
                rounds, {"federated": federated, **{p["name"]: (lambda n=p["name"]: single(n)) for p in providers}}
            )
    t_fed, n_fed = timed["federated"]
    singles = {p["name"]: timed[p["name"]] for p in providers}
    assert n_fed == sum(n for _, n in singles.values()), (n_fed, singles)
    slowest_name = max(singles, key=lambda name: singles[name][0])
    slowest = singles[slowest_name][0]
    result = {
        "stac_apis": STAC_APIS,
        "latency_s": LATENCY,
        "iso_records_per_server": count,
        "query": QUERY,
        "found": n_fed,
        "found_csw": singles["csw"][1],
        "found_records": singles["records"][1],
        "federated_s": round(t_fed, 3),
        "slowest_single": slowest_name,
        "slowest_single_s": round(slowest, 3),
        "csw_s": round(singles["csw"][0], 3),
        "records_s": round(singles["records"][0], 3),
        "stac_api_s": round(max(singles[f"api-{i}"][0] for i in range(STAC_APIS)), 3),
        "federated_over_slowest": round(t_fed / slowest, 2),
    }
    print_table(
        f"federated search across protocols: {STAC_APIS} STAC APIs + CSW + OGC API - Records ({count} ISO records "
        f"each), q={QUERY!r}",
        [
            ("federated / slowest member", f"{result['federated_over_slowest']:.2f}", "goal <= 1.3"),
            ("federated (s)", f"{t_fed:.2f}", f"{n_fed} entries and mirrors"),
            (f"slowest member alone: {slowest_name} (s)", f"{slowest:.2f}", ""),
            ("CSW alone (s)", f"{result['csw_s']:.2f}", f"{result['found_csw']} records"),
            ("OGC API - Records alone (s)", f"{result['records_s']:.2f}", f"{result['found_records']} records"),
            ("slowest STAC API alone (s)", f"{result['stac_api_s']:.2f}", ""),
        ],
    )
    record("federated_catalogues", result)
    return result
