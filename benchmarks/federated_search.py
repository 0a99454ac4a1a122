"""Federated search: 5 STAC APIs x 2,000 items, each request delayed ~100 ms, searched at once by GAIA Lab
versus a sequential pystac-client loop over the same APIs (the peer), and versus the slowest provider alone.

Goals: federated / slowest single provider <= 1.3; sequential pystac-client / federated >= 3.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pystac
from pystac_client import Client

import gaia_lab as gl
from benchmarks.common import best_of, demo_lake, print_table, record, stac_api_servers

PROVIDERS = 5
ITEMS = 2000
LATENCY = 0.1
PAGE = 500


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


def main() -> dict[str, float]:
    collection, item = template_item(demo_lake())
    with tempfile.TemporaryDirectory() as tmp:
        documents = [write_items(Path(tmp), i, collection, item) for i in range(PROVIDERS)]
        with stac_api_servers(documents, LATENCY) as urls:
            catalog = gl.open_catalog(
                {
                    "providers": [
                        {"name": f"api-{i}", "hub": "ocean", "type": "stac", "url": url, "timeout": 60}
                        for i, url in enumerate(urls)
                    ]
                }
            )

            def federated() -> int:
                results = catalog.search(items=True, limit=PROVIDERS * ITEMS)
                assert not results.errors, results.errors
                return len(results)

            def single(name: str) -> int:
                return len(catalog.search(items=True, providers=[name], limit=ITEMS))

            def sequential_pystac_client() -> int:
                total = 0
                for url in urls:
                    search = Client.open(url).search(max_items=ITEMS, limit=PAGE)
                    total += len(list(search.items()))
                return total

            federated()  # warm: collections cache, connection set-up
            t_fed, n_fed = best_of(3, federated)
            singles = [best_of(3, lambda n=p.name: single(n))[0] for p in catalog.providers]
            t_seq, n_seq = best_of(3, sequential_pystac_client)
    assert n_fed == n_seq == PROVIDERS * ITEMS, (n_fed, n_seq)
    slowest = max(singles)
    result = {
        "providers": PROVIDERS,
        "items_per_provider": ITEMS,
        "latency_s": LATENCY,
        "federated_s": round(t_fed, 3),
        "slowest_single_s": round(slowest, 3),
        "sequential_pystac_client_s": round(t_seq, 3),
        "federated_over_slowest": round(t_fed / slowest, 2),
        "sequential_over_federated": round(t_seq / t_fed, 2),
    }
    print_table(
        f"federated search: {PROVIDERS} STAC APIs x {ITEMS} items, +{LATENCY * 1000:.0f} ms per request",
        [
            ("federated / slowest provider", f"{result['federated_over_slowest']:.2f}", "goal <= 1.3"),
            ("sequential pystac-client / federated", f"{result['sequential_over_federated']:.2f}", "goal >= 3"),
            ("federated (s)", f"{t_fed:.2f}", ""),
            ("slowest single provider (s)", f"{slowest:.2f}", ""),
            ("sequential pystac-client (s)", f"{t_seq:.2f}", ""),
        ],
    )
    record("federated_search", result)
    return result


if __name__ == "__main__":
    main()
