"""`gaia-lab up --s3` end to end: the platform runs the S3 server with the lake published, the hub gives each session
a key of its own at spawn, the session's federation reads both buckets, and a user's Dask Gateway cluster reads the
private bucket with that user's key when the platform config grants it, and is refused (AssetError naming bucket
and provider, no secret) when not. The workers get the key from gl.cluster()'s worker plugin, never from their
environment; the keys appear in no platform log and in no file the sessions read.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hubclient import HubUser
from platform_support import IS_ROOT, platform_config, shared_dir_for

pytestmark = [pytest.mark.platform, pytest.mark.slow]

GRANTED, REFUSED = "s3erin", "s3frank"

SESSION = r"""
import json, os
import gaia_lab as gl
from gaia_lab.errors import AssetError
result = {
    "key_id": os.environ.get("GAIA_LAB_S3_ACCESS_KEY_ID"),
    "secret": os.environ.get("GAIA_LAB_S3_SECRET_ACCESS_KEY"),
}
catalog = gl.open_catalog()  # the session's federation ($GAIA_LAB_CATALOG)
result["providers"] = [p.name for p in catalog.providers]
cube = catalog["lake-private/meteosat-bt108"].to_xarray()
with gl.cluster(n_workers=1, adaptive=None) as client:
    result["gateway"] = type(client.cluster).__module__
    try:
        result["mean"] = float(cube["bt108"].mean().compute())
    except AssetError as error:
        result["error"] = str(error)
    public = catalog["lake-public/meteosat-bt108"].to_xarray()
    result["public_mean"] = float(public["bt108"].mean().compute())
    # the workers hold the session's credentials through gl.cluster()'s plugin, none in their environment
    environments = client.run(lambda: dict(os.environ)).values()
    result["worker_env"] = sorted({k for env in environments for k in env if "AWS" in k or "S3" in k})
    result["worker_users"] = sorted(set(client.run(lambda: os.getuid()).values()))
    held = client.run(lambda: sorted(__import__("gaia_lab.credentials").credentials.registered()))
    result["worker_refs"] = sorted({ref for refs in held.values() for ref in refs})
print("RESULT" + json.dumps(result))
"""


@pytest.fixture(scope="module")
def s3_platform(tmp_path_factory: pytest.TempPathFactory, lake_dir: Path) -> Iterator[object]:
    from gaia_lab.platform import Platform

    data_dir = tmp_path_factory.mktemp("platform-s3")
    lake = lake_dir
    if IS_ROOT:
        shared = shared_dir_for(data_dir)
        shared.mkdir(parents=True)
        lake = shared / "lake"
        shutil.copytree(lake_dir, lake, ignore=shutil.ignore_patterns("*.partial"))
    config = platform_config(data_dir, lake, s3=True, s3_private_users=[GRANTED], metadata_catalogues=False)
    running = Platform(config, out=lambda line: None)
    running.start()
    try:
        yield running
    finally:
        running.stop(quiet=True)


def test_sessions_get_keys_of_their_own_and_read_what_the_config_grants(s3_platform, lake_catalog) -> None:  # type: ignore[no-untyped-def]
    platform = s3_platform
    secrets = json.loads((platform.layout.data_dir / "secrets.json").read_text())
    expected = float(lake_catalog["aeris/meteosat-bt108"].to_xarray()["bt108"].mean())

    def session(name: str) -> dict:  # type: ignore[type-arg]
        user = HubUser(platform.info.hub_url, name, secrets["user_password"])
        user.login()
        user.create_token()
        user.start_server()
        try:
            out = user.run(SESSION, kernel_id=user.start_kernel(), timeout=400)
        finally:
            user.stop_server()
        line = next(line for line in out.splitlines() if line.startswith("RESULT"))
        return dict(json.loads(line[len("RESULT") :]))

    with ThreadPoolExecutor(2) as pool:
        granted, refused = pool.map(session, (GRANTED, REFUSED))
    for result in (granted, refused):
        assert result["key_id"] and result["secret"], "the hub gave the session no key"
        assert {"lake-public", "lake-private"} <= set(result["providers"])
        assert result["gateway"].startswith("dask_gateway")
        assert result["public_mean"] == pytest.approx(expected)
    assert granted["key_id"] != refused["key_id"]
    for result in (granted, refused):
        assert result["worker_env"] == [], result
        assert {ref.split("#")[0] for ref in result["worker_refs"]} == {"lake-public", "lake-private"}
    assert set(granted["worker_refs"]).isdisjoint(refused["worker_refs"])  # each cluster its user's credentials
    if IS_ROOT:  # each cluster runs as its user's own system account
        assert granted["worker_users"] != refused["worker_users"]
    assert granted["mean"] == pytest.approx(expected)
    message = refused["error"]
    assert "S3 bucket 'gaia-private'" in message and "provider 'lake-private'" in message and "AccessDenied" in message
    # no key in the platform's logs, nor in the federation file every session reads
    readable = [platform.layout.catalog_file, *platform.layout.logs_dir.glob("*.log")]
    for path in readable:
        text = path.read_text(errors="replace")
        for result in (granted, refused):
            assert result["secret"] not in text, path
    assert result["secret"] not in message
