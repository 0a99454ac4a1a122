"""Cubes from s3:// (Zarr through s3fs, COGs through GDAL's /vsis3/) on the session's S3 server, with the
credentials of the federation's providers: values equal the local lake's, graphs carry no secret, refusals are
AssetErrors naming bucket and provider, with no secret in the message or the logs, at open and at compute time."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cloudpickle
import dask.array
import numpy as np
import pytest
import xarray as xr
from s3_server import S3Lake

import gaia_lab as gl
from gaia_lab import credentials
from gaia_lab.cube.netcdf import open_netcdf
from gaia_lab.cube.zarr import open_zarr
from gaia_lab.datalake import s3
from gaia_lab.errors import AssetError, ConfigError

ZARR = "lake-private/ostia-sst"
COG = "lake-private/meteosat-bt108"


def _catalog(s3_lake: S3Lake, directory: Path, prefix: str, key: object) -> gl.Catalog:
    with pytest.MonkeyPatch.context() as patch:
        if key is not None:
            for name, value in key.as_environment(prefix).items():  # type: ignore[attr-defined]
                patch.setenv(name, value)
        return gl.open_catalog(s3_lake.federation(directory, env_prefix=prefix))


@pytest.fixture(scope="module")
def alice(s3_lake: S3Lake, tmp_path_factory: pytest.TempPathFactory) -> gl.Catalog:
    return _catalog(s3_lake, tmp_path_factory.mktemp("alice"), "ALICE", s3_lake.credentials("alice", private=True))


@pytest.fixture(scope="module")
def bob(s3_lake: S3Lake, tmp_path_factory: pytest.TempPathFactory) -> gl.Catalog:
    return _catalog(s3_lake, tmp_path_factory.mktemp("bob"), "BOB", s3_lake.credentials("bob", private=False))


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def _secrets(s3_lake: S3Lake) -> list[str]:
    return [key.secret for key in s3_lake._keys.values()] + [s3_lake.server.admin.secret]


def _no_secret(text: str, s3_lake: S3Lake) -> None:
    for secret in _secrets(s3_lake):
        assert secret not in text


def _first(ds: xr.Dataset) -> str:
    return str(next(iter(ds.data_vars)))


@pytest.mark.parametrize("entry", ["ostia-sst", "meteosat-bt108"])
def test_public_and_private_buckets_give_the_local_values(
    entry: str, s3_lake: S3Lake, alice: gl.Catalog, lake_catalog: gl.Catalog
) -> None:
    provider = "odatis" if entry == "ostia-sst" else "aeris"
    local = lake_catalog[f"{provider}/{entry}"].to_xarray()
    for source in (f"lake-public/{entry}", f"lake-private/{entry}"):
        ds = alice[source].to_xarray()
        assert all(href.startswith("s3://") for href in ds.attrs["gaia:assets"])
        name = _first(local)
        xr.testing.assert_identical(ds[name].load().variable, local[name].load().variable)


def test_graphs_carry_a_reference_not_the_secret(s3_lake: S3Lake, alice: gl.Catalog) -> None:
    for entry in (ZARR, COG):
        ds = alice[entry].to_xarray()
        graph = cloudpickle.dumps(dict(ds[_first(ds)].data.__dask_graph__()))
        blob = pickle.dumps(ds)
        _no_secret(graph.decode("latin-1"), s3_lake)
        _no_secret(blob.decode("latin-1"), s3_lake)
        assert b"lake-private#" in graph


def test_a_user_not_granted_the_bucket_is_refused_naming_bucket_and_provider(
    s3_lake: S3Lake, alice: gl.Catalog, bob: gl.Catalog, debug_logs: pytest.LogCaptureFixture
) -> None:
    # alice reads first: GDAL's and s3fs's caches in this process must not serve bob what alice read
    assert np.isfinite(float(alice[COG].to_xarray()["bt108"].mean()))
    with pytest.raises(AssetError) as at_open:
        bob[ZARR].to_xarray()  # decoding the coordinates reads chunks: refused at open
    ds = bob[COG].to_xarray()  # the metadata of the private bucket are readable; the pixels are not
    with pytest.raises(AssetError) as at_compute:
        ds["bt108"].mean().compute()
    for caught in (at_open, at_compute):
        message = str(caught.value)
        assert "S3 bucket 'gaia-private'" in message and "provider 'lake-private'" in message
        assert "AccessDenied" in message and "not granted" in message
        _no_secret(message, s3_lake)
    _no_secret(debug_logs.text, s3_lake)


def test_wrong_and_revoked_keys_are_asset_errors_at_open_and_at_compute(
    s3_lake: S3Lake, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    key = s3_lake.fresh_credentials("dave", private=True)
    wrong = type(key)(key.key_id, "w" * 40)
    url = s3_lake.url("private", "odatis/ostia-sst/ostia-sst.zarr")
    with pytest.raises(AssetError) as at_open:
        open_zarr(url, storage_options=s3_lake.storage_options(wrong), provider="lake-private")
    assert "SignatureDoesNotMatch" in str(at_open.value)

    catalog = _catalog(s3_lake, tmp_path, "DAVE", key)
    zarr_entry, cog_entry = catalog[ZARR], catalog[COG]  # the catalogue is read while the key is valid
    zarr_cube = zarr_entry.to_xarray()
    cog_cube = cog_entry.to_xarray()
    s3_lake.server.revoke("dave", key)  # the key expires mid-session
    errors = [at_open.value]
    with pytest.raises(AssetError) as caught:
        catalog["lake-private/sres-a1b-tas"].to_xarray()  # a Zarr collection: its metadata read at open
    errors.append(caught.value)
    for cube in (zarr_cube, cog_cube):
        with pytest.raises(AssetError) as caught:
            cube[_first(cube)].mean().compute()
        errors.append(caught.value)
    for error in errors:
        message = str(error)
        assert "S3 bucket 'gaia-private'" in message and "provider 'lake-private'" in message, message
        assert "unknown, expired or revoked" in message
        _no_secret(message, s3_lake)
    _no_secret(debug_logs.text, s3_lake)


def test_credentials_reach_local_cluster_workers_through_gl_cluster(
    s3_lake: S3Lake, alice: gl.Catalog, lake_catalog: gl.Catalog
) -> None:
    expected = float(lake_catalog["aeris/meteosat-bt108"].to_xarray()["bt108"].mean())
    with gl.cluster(n_workers=1, adaptive=None, worker_memory=None) as client:
        ds = alice[COG].to_xarray()  # opened after the cluster started: the plugin is pushed again
        assert float(ds["bt108"].mean().compute()) == pytest.approx(expected)
        zarr = alice[ZARR].to_xarray()
        assert np.isfinite(float(zarr["sst"].mean().compute()))
        refs = client.run(lambda: sorted(__import__("gaia_lab.credentials").credentials.registered()))
        assert all(any(r.startswith("lake-private#") for r in held) for held in refs.values())
        # the plugin's repr names providers, not secrets
        from gaia_lab.worker_credentials import plugin

        _no_secret(repr(plugin()), s3_lake)


def test_workers_without_the_plugin_say_the_credentials_did_not_reach_them(s3_lake: S3Lake, alice: gl.Catalog) -> None:
    from distributed import Client, LocalCluster

    cog, zarr = alice[COG].to_xarray()["bt108"], alice[ZARR].to_xarray()["sst"]
    key = s3_lake.credentials("alice", private=True)
    tiff, netcdf = _lone_tiff(s3_lake, "private", key)["band_1"], _netcdf(s3_lake, "private", key)["sst"]
    with (
        LocalCluster(n_workers=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        for cube, provider in ((cog, "lake-private"), (zarr, "lake-private"), (tiff, "href"), (netcdf, "lake-private")):
            with pytest.raises(AssetError, match=f"no credentials of provider '{provider}' reached this process"):
                client.compute(cube.mean()).result()


def test_secrets_written_in_storage_options_are_refused(tmp_path: Path) -> None:
    for options in (
        {"key": "AKIAIOSFODNN7EXAMPLE", "secret": "${SECRET}"},
        {"secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
        {"client_kwargs": {"aws_secret_access_key": "abc"}},
        {"token": "literal-token"},
    ):
        document = {
            "providers": [{"name": "p", "hub": "ocean", "url": "s3://b/catalog.json", "storage_options": options}]
        }
        with pytest.raises(ConfigError, match="written in the file") as caught:
            gl.open_catalog(document)
        for value in ("wJalrXUtnFEMI", "abc", "literal-token"):
            assert value not in str(caught.value)
    # references, a profile and anonymous access are accepted
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("K", "k")
        patch.setenv("S", "s")
        for options in (
            {"key": "${K}", "secret": "${S}"},
            {"profile": "lab"},
            {"anon": True, "endpoint_url": "http://h"},
        ):
            document = {
                "providers": [{"name": "p", "hub": "ocean", "url": "s3://b/c.json", "storage_options": options}]
            }
            assert gl.open_catalog(document).providers[0].name == "p"


def test_custom_endpoint_settings_for_gdal() -> None:
    access = credentials.S3Access(label="p", endpoint_url="http://127.0.0.1:9000", key="k", secret="S3CR3T")
    options = access.gdal_options()
    assert options["AWS_S3_ENDPOINT"] == "127.0.0.1:9000"
    assert options["AWS_HTTPS"] == "NO" and options["AWS_VIRTUAL_HOSTING"] == "FALSE"
    assert "S3CR3T" not in options.values() and "k" not in options.values()  # keys go through rasterio's session
    assert "S3CR3T" not in repr(access) and "S3CR3T" not in access.ref


# ----------------------------------------------------------------------------------------------------------------
# A lone GeoTIFF (no STAC: rioxarray) and a NetCDF file (h5netcdf on an s3fs file) read with the same credentials,
# by reference, as Zarr stores and COGs of STAC items

LONE_TIFF = "theia/land-mask-europe/land-mask-W010-N60p0/land.tif"
NETCDF = "odatis/ostia-sst-virtual/netcdf/ostia-sst-2010-08.nc"


def _lone_tiff(s3_lake: S3Lake, which: str, key: object) -> xr.Dataset:
    options = s3_lake.storage_options(key)  # type: ignore[arg-type]
    return gl.open_datacube(s3_lake.url(which, LONE_TIFF), storage_options=options)


def _netcdf(s3_lake: S3Lake, which: str, key: object) -> xr.Dataset:
    provider = f"lake-{which}"
    options = s3_lake.storage_options(key)  # type: ignore[arg-type]
    return open_netcdf(s3_lake.url(which, NETCDF), entry_id=f"{provider}/x", storage_options=options, provider=provider)


def _local(s3_lake: S3Lake) -> tuple[xr.DataArray, xr.DataArray]:
    tiff = gl.open_datacube(str(s3_lake.lake / LONE_TIFF))["band_1"].load()
    with xr.open_dataset(s3_lake.lake / NETCDF) as nc:
        return tiff, nc["sst"].load()


def _assert_refused(error: AssetError, *, bucket: str, provider: str, why: str, s3_lake: S3Lake) -> None:
    message = str(error)
    assert f"S3 bucket {bucket!r}" in message and f"provider {provider!r}" in message, message
    assert why in message, message
    _no_secret(message, s3_lake)


def test_lone_geotiff_and_netcdf_read_public_anonymously_and_private_with_a_granted_key(s3_lake: S3Lake) -> None:
    tiff, sst = _local(s3_lake)
    alice = s3_lake.credentials("alice", private=True)
    for which, key in (("public", None), ("private", alice)):
        cube = _lone_tiff(s3_lake, which, key)
        assert isinstance(cube["band_1"].data, dask.array.Array)
        xr.testing.assert_identical(cube["band_1"].compute().variable, tiff.variable)
        nc = _netcdf(s3_lake, which, key)
        xr.testing.assert_identical(nc["sst"].compute().variable, sst.variable)
        for ds in (cube, nc):  # graphs carry the reference, not the secret
            graph = cloudpickle.dumps(dict(ds[_first(ds)].data.__dask_graph__()))
            _no_secret(graph.decode("latin-1"), s3_lake)
            if key is not None:
                assert b"#" in graph and alice.secret.encode() not in graph


def test_lone_geotiff_and_netcdf_refuse_a_key_not_granted_the_bucket_at_open(
    s3_lake: S3Lake, debug_logs: pytest.LogCaptureFixture
) -> None:
    bob = s3_lake.credentials("bob", private=False)
    alice = s3_lake.credentials("alice", private=True)
    debug_logs.clear()  # the admin's responses creating keys hold their secrets: the test's own setup
    assert np.isfinite(float(_lone_tiff(s3_lake, "private", alice)["band_1"].mean()))
    for opener, provider in ((_lone_tiff, "href"), (_netcdf, "lake-private")):
        with pytest.raises(AssetError) as caught:
            opener(s3_lake, "private", bob)
        _assert_refused(caught.value, bucket="gaia-private", provider=provider, why="not granted", s3_lake=s3_lake)
    _no_secret(debug_logs.text, s3_lake)


def test_lone_geotiff_and_netcdf_on_worker_processes_read_and_are_refused_with_the_session_s_credentials(
    s3_lake: S3Lake, debug_logs: pytest.LogCaptureFixture
) -> None:
    tiff, sst = _local(s3_lake)
    alice = s3_lake.credentials("alice", private=True)
    # erin's key is revoked (expired), frank's user loses its grant, after their cubes were opened
    erin, frank = s3_lake.fresh_credentials("erin", private=True), s3_lake.fresh_credentials("frank", private=True)
    debug_logs.clear()
    cubes = {
        name: (_lone_tiff(s3_lake, "private", key), _netcdf(s3_lake, "private", key))
        for name, key in (("alice", alice), ("erin", erin), ("frank", frank))
    }
    logged = debug_logs.text
    s3_lake.server.revoke("erin", erin)
    s3_lake.server.create_user("frank", private=False)  # frank's policy now grants the public bucket only
    debug_logs.clear()  # the admin's own requests (their responses hold new keys' secrets)
    with gl.cluster(n_workers=1, adaptive=None, worker_memory=None) as client:
        assert client.run(lambda: __import__("os").getpid()).keys()  # worker processes of their own
        tiff_cube, nc = cubes["alice"]
        assert float(tiff_cube["band_1"].sum().compute()) == pytest.approx(float(tiff.sum()))
        assert float(nc["sst"].mean().compute()) == pytest.approx(float(sst.mean()))
        for name, why in (("erin", "unknown, expired or revoked"), ("frank", "not granted")):
            for cube, provider in zip(cubes[name], ("href", "lake-private"), strict=True):
                with pytest.raises(AssetError) as caught:
                    cube[_first(cube)].mean().compute()
                _assert_refused(caught.value, bucket="gaia-private", provider=provider, why=why, s3_lake=s3_lake)
    for secret in (erin.secret, frank.secret, alice.secret):
        assert secret not in logged + debug_logs.text


# ----------------------------------------------------------------------------------------------------------------
# Temporary credentials (STS): moto's STS issues role credentials with a session token and an expiry, which its S3
# honours while the role holds its policy. moto never expires them (it checks no clock), so an expired session is
# stood for by a session token the server does not know (AWS answers ExpiredToken or InvalidToken alike: the key is
# no longer valid), and a revoked grant by the role's policy deleted mid-session.


def test_sts_session_credentials_read_and_their_expiry_or_lost_grant_name_bucket_and_provider(
    s3_lake: S3Lake, tmp_path: Path, lake_catalog: gl.Catalog, debug_logs: pytest.LogCaptureFixture
) -> None:
    session = s3_lake.assume_role("carol-reader", private=True)
    debug_logs.clear()  # the STS answer (secret, token) logged by the admin's own client
    assert session.key_id.startswith("ASIA") and session.expiration > datetime.now(UTC)
    secrets = (session.secret, session.token)
    document = s3.s3_federation(s3_lake.endpoint_url, s3_lake.public_bucket, s3_lake.private_bucket, env_prefix="CAROL")
    private = next(p for p in document["providers"] if p["name"] == "lake-private")
    private["storage_options"]["token"] = "${CAROL_SESSION_TOKEN}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAROL_ACCESS_KEY_ID", session.key_id)
        patch.setenv("CAROL_SECRET_ACCESS_KEY", session.secret)
        patch.setenv("CAROL_SESSION_TOKEN", session.token)
        catalog = gl.open_catalog(document)
    options = {"endpoint_url": s3_lake.endpoint_url, "key": session.key_id, "secret": session.secret}
    tiff, sst = _local(s3_lake)
    url = s3_lake.url("private", NETCDF)

    # the token-carrying key reads every kind of asset of the private bucket
    cog = catalog[COG].to_xarray()
    expected = float(lake_catalog["aeris/meteosat-bt108"].to_xarray()["bt108"].mean())
    assert float(cog["bt108"].mean()) == pytest.approx(expected)
    zarr = catalog[ZARR].to_xarray()
    assert np.isfinite(float(zarr["sst"].mean()))
    lone = gl.open_datacube(s3_lake.url("private", LONE_TIFF), storage_options={**options, "token": session.token})
    xr.testing.assert_identical(lone["band_1"].compute().variable, tiff.variable)
    nc = open_netcdf(url, entry_id="lake-private/x", storage_options={**options, "token": session.token})
    xr.testing.assert_identical(nc["sst"].compute().variable, sst.variable)
    graph = cloudpickle.dumps(dict(cog["bt108"].data.__dask_graph__()))
    assert all(secret.encode() not in graph for secret in secrets)

    # an expired session (a token the server does not know) and the key without its token
    errors = []
    for token in (session.token[:-8] + "AAAAAAAA", None):
        stale = {**options, **({"token": token} if token else {})}
        with pytest.raises(AssetError) as caught:
            open_zarr(
                s3_lake.url("private", "odatis/ostia-sst/ostia-sst.zarr"),
                storage_options=stale,
                provider="lake-private",
            )
        errors.append(caught.value)
        with pytest.raises(AssetError) as caught:
            open_netcdf(url, entry_id="lake-private/x", storage_options=stale)
        errors.append(caught.value)
    assert "InvalidToken" in str(errors[0]) and "InvalidAccessKeyId" in str(errors[2])
    for error in errors:
        _assert_refused(
            error, bucket="gaia-private", provider="lake-private", why="unknown, expired or revoked", s3_lake=s3_lake
        )

    # the role loses its grant mid-session: cubes opened before are refused at compute
    s3_lake.server.client("iam").delete_role_policy(RoleName=session.role, PolicyName=f"{session.role}-read")
    for cube in (cog, zarr):
        with pytest.raises(AssetError) as caught:
            cube[_first(cube)].mean().compute()
        errors.append(caught.value)
        _assert_refused(
            caught.value, bucket="gaia-private", provider="lake-private", why="not granted", s3_lake=s3_lake
        )
    for text in [str(error) for error in errors]:
        assert all(secret not in text for secret in secrets), text
    leaks = sorted({r.name for r in debug_logs.records if any(x in r.getMessage() for x in secrets)})
    assert not leaks, leaks
