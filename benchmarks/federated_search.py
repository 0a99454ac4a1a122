"""Federated search: 5 STAC APIs x 2,000 items, each request delayed ~100 ms, searched at once by GAIA Lab
versus peers on the same APIs, and versus the slowest provider alone.

Peers:
- pystac-client as a competent user writes it: one ``Client`` per API opened once (outside the timing, as GAIA Lab's
  catalogue is), the 5 searches in a thread pool, items kept as dicts (``items_as_dicts()``); no ranking, no
  de-duplication. The goal is GAIA Lab >= 1.0x its speed while ranking and de-duplicating.
- a sequential pystac-client loop as a casual script writes it (``Client.open`` per API per run, ``pystac.Item``
  objects), labelled as such;
- EODAG, configured as a competent EODAG user would: one warm
``EODataAccessGateway`` with the 5 APIs registered once as generic STAC providers, each searched (``search_all``, every
page followed) in a thread pool, since EODAG has no federated search of its own, with GAIA Lab's page size (the same
requests): one warm-up search, then one timed (each takes ~10 s, 15-25x GAIA Lab's time). One page of 2,000 per API
measured the same as pages of 500 (docs/performance.md), so it is not timed again.

Contenders take turns within each round (``interleaved_best``). Goals: federated / slowest single provider <= 1.15;
thread-pool pystac-client time / GAIA Lab time >= 1.0; sequential pystac-client / federated >= 3.

The 5 servers run on this machine, on the client's cores: the CPU seconds a search costs the client and the servers
are measured, and the same fan-out is timed again against servers that encode each answer once and then send its
bytes (next to no CPU per request), which tells the servers' share of the time from the client's.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pystac
from pystac_client import Client

import gaia_lab as gl
from benchmarks.common import best_of, demo_lake, interleaved_best, print_table, record, stac_api_servers

PROVIDERS = 5
ITEMS = 2000
LATENCY = 0.1
PAGE = 500
ROUNDS = 4
REPEAT = 2  # best of, for the sequential loop (8-12x slower than GAIA Lab)
EODAG_REPEAT = 1  # after a warm-up search: 15-25x slower, each run ~10 s


def template_item(lake: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A real COG item and its collection from the demo lake (OSTIA monthly SST)."""
    catalog = pystac.Catalog.from_file(str(lake / "odatis" / "catalog.json"))
    for collection in catalog.get_all_collections():
        item = next(iter(collection.get_items()), None)
        if item is not None and "zarr" not in json.dumps(item.to_dict()):
            item.make_asset_hrefs_absolute()
            return collection.to_dict(include_self_link=False), item.to_dict(include_self_link=False)
    raise RuntimeError("no COG item in the demo lake's odatis catalogue")


def write_items(directory: Path, index: int, collection: dict[str, Any], item: dict[str, Any]) -> Path:
    collection = {**copy.deepcopy(collection), "id": f"bench-{index}", "links": []}
    items = []
    for n in range(ITEMS):
        clone = copy.deepcopy(item)
        clone["id"] = f"{item['id']}-{n:05d}"
        clone["collection"] = collection["id"]
        clone["links"] = []
        items.append(clone)
    path = directory / f"provider-{index}.json"
    path.write_text(json.dumps({"collection": collection, "items": items}))
    return path


@contextmanager
def eodag_gateway(urls: list[str]):
    """One EODAG instance with every API registered once, its configuration in a temporary directory."""
    from eodag import EODataAccessGateway
    from eodag.config import EODAGSettings

    names = [f"api_{i}" for i in range(len(urls))]
    with tempfile.TemporaryDirectory() as config_dir:
        # strict: no download of EODAG's external product-type list (this machine has no internet)
        settings = EODAGSettings(cfg_dir=config_dir, providers_whitelist=names, strict_collections=True)
        dag = EODataAccessGateway(settings=settings)
        # EODAG warns on every page that a limit above its default of 50 may exceed the provider's maximum
        logging.getLogger("eodag").setLevel(logging.ERROR)
        for name, url in zip(names, urls, strict=True):
            dag.add_provider(name, url=f"{url}/search", search={"timeout": 60}, priority=1)
        yield dag, names


def eodag_search(dag: Any, names: list[str], page: int, pool: ThreadPoolExecutor) -> int:
    def one(index: int) -> int:
        # validate=False: validating asks each API for its queryables first, one more request per search.
        found = dag.search_all(
            collection=f"bench-{index}", provider=names[index], limit=page, validate=False, raise_errors=True
        )
        return len(found)

    return sum(pool.map(one, range(len(names))))


def eodag_warm_up(dag: Any, names: list[str], pool: ThreadPoolExecutor) -> None:
    """One small page from each API: EODAG discovers the collections, builds its plugins and opens its connections,
    as in a first full search, without paying a whole search (15-40 s here) for it."""

    def one(index: int) -> None:
        found = dag.search(
            collection=f"bench-{index}", provider=names[index], limit=1, validate=False, raise_errors=True
        )
        assert len(found) == 1, f"EODAG warm-up: {len(found)} items from {names[index]}"

    list(pool.map(one, range(len(names))))


def one_api(client: Client) -> list[dict[str, Any]]:
    """The thread-pool peer's work for one API: every page, items kept as dicts."""
    return list(client.search(max_items=ITEMS, limit=PAGE).items_as_dicts())


def _servers() -> list[psutil.Process]:
    """The benchmark STAC API processes started by this one."""
    return [child for child in psutil.Process().children() if "benchmarks.stac_api_server" in " ".join(child.cmdline())]


def cpu_seconds(action: Any, rounds: int = 3) -> tuple[float, float]:
    """Median CPU seconds one call of ``action`` costs this process (every thread) and the benchmark servers."""
    servers = _servers()

    def server_cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in servers)

    client, server = [], []
    for _ in range(rounds):
        c0, s0 = time.process_time(), server_cpu()
        action()
        client.append(time.process_time() - c0)
        server.append(server_cpu() - s0)
    return statistics.median(client), statistics.median(server)


def federation(urls: list[str]) -> Any:
    return gl.open_catalog(
        {
            "providers": [
                {"name": f"api-{i}", "hub": "ocean", "type": "stac", "url": url, "timeout": 60}
                for i, url in enumerate(urls)
            ]
        }
    )


def with_cached_servers(documents: list[Path]) -> dict[str, Any]:
    """The same fan-out against servers that answer from encoded pages: what is left is the client's and the
    latency's, not the servers' CPU."""
    with stac_api_servers(documents, LATENCY, cache=True) as urls:
        catalog = federation(urls)
        clients = [Client.open(url) for url in urls]

        def federated() -> int:
            return len(catalog.search(items=True, limit=PROVIDERS * ITEMS))

        def pooled() -> int:
            with ThreadPoolExecutor(len(clients)) as pool:
                return sum(len(items) for items in pool.map(one_api, clients))

        def single(name: str) -> int:
            return len(catalog.search(items=True, providers=[name], limit=ITEMS))

        singles = {p.name: (lambda n=p.name: single(n)) for p in catalog}
        federated()  # warm, and every answer encoded once
        pooled()
        # a second look at the same ratios (servers out of the way), fewer rounds than the main measure
        timed = interleaved_best(max(1, ROUNDS - 2), {"federated": federated, "pooled": pooled, **singles})
        slowest_name = max(singles, key=lambda n: timed[n][0])
        slowest = timed[slowest_name][0]
        client, server = cpu_seconds(federated)
        assert timed["federated"][1] == timed["pooled"][1] == PROVIDERS * ITEMS
        return {
            "federated_s": round(timed["federated"][0], 3),
            "slowest_single_s": round(slowest, 3),
            "federated_over_slowest": round(timed["federated"][0] / slowest, 2),
            "pooled_over_slowest": round(timed["pooled"][0] / slowest, 2),
            "client_cpu_s": round(client, 3),
            "servers_cpu_s": round(server, 3),
        }


def main() -> dict[str, float]:
    collection, item = template_item(demo_lake())
    with tempfile.TemporaryDirectory() as tmp:
        documents = [write_items(Path(tmp), i, collection, item) for i in range(PROVIDERS)]
        with stac_api_servers(documents, LATENCY) as urls:
            catalog = federation(urls)

            def federated() -> int:
                results = catalog.search(items=True, limit=PROVIDERS * ITEMS)
                assert not results.errors, results.errors
                return len(results)

            def single(name: str) -> int:
                return len(catalog.search(items=True, providers=[name], limit=ITEMS))

            clients = [Client.open(url) for url in urls]  # once, as a long-lived application does

            def pooled_pystac_client() -> int:
                with ThreadPoolExecutor(len(clients)) as pool:
                    return sum(len(items) for items in pool.map(one_api, clients))

            def sequential_pystac_client() -> int:
                total = 0
                for url in urls:
                    search = Client.open(url).search(max_items=ITEMS, limit=PAGE)
                    total += len(list(search.items()))
                return total

            federated()  # warm: collections cache, connection set-up
            pooled_pystac_client()  # warm: connections
            timed = interleaved_best(
                ROUNDS,
                {
                    "federated": federated,
                    "pooled": pooled_pystac_client,
                    **{p.name: (lambda n=p.name: single(n)) for p in catalog.providers},
                },
            )
            t_fed, n_fed = timed["federated"]
            t_pool, n_pool = timed["pooled"]
            singles = [timed[p.name][0] for p in catalog.providers]
            slowest_name = max(catalog.providers, key=lambda p: timed[p.name][0]).name
            cpu_federated = cpu_seconds(federated)
            cpu_single = cpu_seconds(lambda: single(slowest_name))
            cpu_pooled = cpu_seconds(pooled_pystac_client)
            t_seq, n_seq = best_of(REPEAT, sequential_pystac_client)
            with eodag_gateway(urls) as (dag, names), ThreadPoolExecutor(len(names)) as pool:
                eodag_warm_up(dag, names, pool)
                t_eodag, n_eodag = best_of(EODAG_REPEAT, lambda: eodag_search(dag, names, PAGE, pool))
        cached = with_cached_servers(documents)
    counts = (n_fed, n_pool, n_seq, n_eodag)
    assert all(n == PROVIDERS * ITEMS for n in counts), counts
    slowest = max(singles)
    result = {
        "providers": PROVIDERS,
        "items_per_provider": ITEMS,
        "latency_s": LATENCY,
        "federated_s": round(t_fed, 3),
        "slowest_single_s": round(slowest, 3),
        "sequential_pystac_client_s": round(t_seq, 3),
        "pooled_pystac_client_s": round(t_pool, 3),
        "pooled_over_federated": round(t_pool / t_fed, 2),
        "pooled_over_slowest": round(t_pool / slowest, 2),
        "federated_over_slowest": round(t_fed / slowest, 2),
        "sequential_over_federated": round(t_seq / t_fed, 2),
        "eodag_version": _version("eodag"),
        "eodag_s": round(t_eodag, 3),
        "eodag_page": PAGE,
        "federated_over_eodag": round(t_fed / t_eodag, 2),
        # CPU seconds per search (median of 3): this process (every thread) and the servers together
        "cpu_s": {
            "federated": {"client": round(cpu_federated[0], 3), "servers": round(cpu_federated[1], 3)},
            "slowest_single": {"client": round(cpu_single[0], 3), "servers": round(cpu_single[1], 3)},
            "pooled_pystac_client": {"client": round(cpu_pooled[0], 3), "servers": round(cpu_pooled[1], 3)},
        },
        "cached_servers": cached,
    }
    print_table(
        f"federated search: {PROVIDERS} STAC APIs x {ITEMS} items, +{LATENCY * 1000:.0f} ms per request",
        [
            ("federated / slowest provider", f"{result['federated_over_slowest']:.2f}", "goal <= 1.15"),
            (
                "thread-pool pystac-client / federated",
                f"{result['pooled_over_federated']:.2f}",
                "goal >= 1.0 (GAIA Lab also ranks, de-duplicates)",
            ),
            ("sequential pystac-client / federated", f"{result['sequential_over_federated']:.2f}", "goal >= 3"),
            ("federated (s)", f"{t_fed:.2f}", ""),
            ("slowest single provider (s)", f"{slowest:.2f}", ""),
            ("thread-pool pystac-client, clients opened once (s)", f"{t_pool:.2f}", ""),
            ("thread-pool pystac-client / slowest provider", f"{result['pooled_over_slowest']:.2f}", "same cores"),
            ("sequential pystac-client, Client.open per run (s)", f"{t_seq:.2f}", ""),
            ("GAIA Lab / EODAG, same pages", f"{result['federated_over_eodag']:.2f}", "< 1 is faster"),
            (f"EODAG, {PAGE} items a page (s)", f"{t_eodag:.2f}", ""),
            (
                "CPU s per search, federated: client | 5 servers",
                f"{cpu_federated[0]:.2f} | {cpu_federated[1]:.2f}",
                f"{os.cpu_count()} cores",
            ),
            ("CPU s per search, slowest API alone: client | server", f"{cpu_single[0]:.2f} | {cpu_single[1]:.2f}", ""),
            (
                "CPU s per search, thread-pool pystac-client: client | servers",
                f"{cpu_pooled[0]:.2f} | {cpu_pooled[1]:.2f}",
                "",
            ),
            (
                "servers answering encoded pages: federated / slowest provider",
                f"{cached['federated_over_slowest']:.2f}",
                f"servers' CPU {cached['servers_cpu_s']:.2f} s per search",
            ),
            (
                "servers answering encoded pages: thread-pool pystac-client / slowest",
                f"{cached['pooled_over_slowest']:.2f}",
                "",
            ),
        ],
    )
    record("federated_search", result)
    return result


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
