"""Credentials reach the workers of the user's Dask Gateway cluster on the real platform, and nobody else's.

alice (granted the private bucket) and bob (his own key, not granted) each open the private bucket's catalogue in
a kernel of their own session, with their key in the session's environment as the platform hands it to sessions,
and compute on their own gateway cluster. alice's workers read the pixels; bob's are refused with an AssetError
naming the bucket and the provider and holding no secret. Neither cluster's workers have a credential in their
environment: the key reaches them through gl.cluster()'s worker plugin only.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from s3_server import S3Lake

pytestmark = [pytest.mark.platform, pytest.mark.slow]

# Run in the user's kernel; CREDENTIALS stands for the session environment the platform gives (see docs/platform.md)
COMPUTE = r"""
import json, os
os.environ.update(json.loads(CREDENTIALS))
import gaia_lab as gl
from gaia_lab.errors import AssetError
catalog = gl.open_catalog(json.loads(FEDERATION))
cube = catalog["lake-private/meteosat-bt108"].to_xarray()
result = {}
with gl.cluster(n_workers=1, adaptive=None) as client:
    result["gateway"] = type(client.cluster).__module__
    try:
        result["mean"] = float(cube["bt108"].mean().compute())
    except AssetError as error:
        result["error"] = str(error)
    result["worker_env"] = sorted(
        {k for env in client.run(lambda: dict(os.environ)).values() for k in env if "AWS" in k or "S3" in k}
    )
    result["worker_users"] = sorted(set(client.run(lambda: os.getuid()).values()))
    held = client.run(lambda: sorted(__import__("gaia_lab.credentials").credentials.registered()))
    result["worker_refs"] = sorted({ref for refs in held.values() for ref in refs})
print("RESULT" + json.dumps(result))
"""


def _run(user, s3_lake: S3Lake, key) -> dict:  # type: ignore[no-untyped-def]
    federation = json.loads(json.dumps(_federation(s3_lake)))
    code = COMPUTE.replace("CREDENTIALS", repr(json.dumps(key.as_environment("GAIA_LAB_S3")))).replace(
        "FEDERATION", repr(json.dumps(federation))
    )
    out = user.run(code, kernel_id=user.start_kernel(), timeout=400)
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    return dict(json.loads(line[len("RESULT") :]))


def _federation(s3_lake: S3Lake) -> dict:  # type: ignore[type-arg]
    from gaia_lab.datalake import s3

    return s3.s3_federation(s3_lake.endpoint_url, s3_lake.public_bucket, s3_lake.private_bucket)


def test_each_users_cluster_reads_with_that_users_credentials(platform, make_user, s3_lake: S3Lake, lake_catalog):  # type: ignore[no-untyped-def]
    expected = float(lake_catalog["aeris/meteosat-bt108"].to_xarray()["bt108"].mean())
    alice_key = s3_lake.credentials("alice", private=True)
    bob_key = s3_lake.credentials("bob", private=False)
    users = {"s3alice": (make_user("s3alice"), alice_key), "s3bob": (make_user("s3bob"), bob_key)}

    def session(name: str) -> dict:  # type: ignore[type-arg]
        user, key = users[name]
        user.start_server()
        return _run(user, s3_lake, key)

    try:
        with ThreadPoolExecutor(2) as pool:  # the two sessions side by side, as in a class
            results = dict(zip(users, pool.map(session, users), strict=True))
    finally:
        for user, _ in users.values():
            user.stop_server()
    alice, bob = results["s3alice"], results["s3bob"]
    for result in (alice, bob):
        assert result["gateway"].startswith("dask_gateway"), result  # the platform's gateway, not a LocalCluster
        assert result["worker_env"] == [], result  # no credential in the workers' environment
        assert [re.sub(r"#.*", "", r) for r in result["worker_refs"]] == ["lake-private"]
    assert alice["mean"] == pytest.approx(expected)
    assert "error" not in alice
    assert "mean" not in bob
    message = bob["error"]
    assert "S3 bucket 'gaia-private'" in message and "provider 'lake-private'" in message, message
    assert "AccessDenied" in message
    for secret in (alice_key.secret, bob_key.secret, alice_key.key_id, bob_key.key_id):
        assert secret not in message
    # alice's and bob's workers hold different credentials (one reference each, never the other's)
    assert alice["worker_refs"] != bob["worker_refs"]
    if os.geteuid() == 0:  # each cluster runs as its user's own system account
        assert alice["worker_users"] != bob["worker_users"]
