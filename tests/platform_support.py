"""Settings for platforms started by the tests: random loopback ports, small limits, a temporary data dir."""

from __future__ import annotations

from pathlib import Path

from gaia_lab.platform import PlatformConfig, load_config

ZERO_PORTS = dict.fromkeys(
    ("port", "hub_port", "proxy_api_port", "gateway_port", "gateway_tcp_port", "gateway_api_port", "lake_port"), 0
)


def platform_config(data_dir: Path, lake: Path, **overrides: object) -> PlatformConfig:
    settings: dict[str, object] = {
        "data_dir": str(data_dir),
        **ZERO_PORTS,
        "lake_dir": str(lake),
        "spawn_timeout": 240,
        "max_workers": 4,
        "worker_memory": "1 GiB",
        "worker_memory_max": "4 GiB",
        "max_clusters_per_user": 2,
    }
    settings.update(overrides)
    return load_config(None, **settings)
