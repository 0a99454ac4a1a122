"""Virtual Zarr stores over a real NetCDF archive (OSTIA, one NetCDF-4 file per month), with the files local
and served over HTTP by the lake server: values equal xarray's own multi-file opening, opening reads no source
file, and a source changed, replaced or removed after virtualization is refused by name, never served.

S3: ``sources`` is parametrised by where the files live; the ``s3`` case uploads the files to a bucket of the
suite's S3 server (tests/s3_server.py: moto with IAM authentication on, once per session) and reaches them with
``storage_options`` (endpoint, keys).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from catalogue_servers import StaticServer, serve_directory
from netcdf_archives import S3Sources, Sources, reference, write_ostia_archive
from s3_server import S3Lake

from gaia_lab.cube.virtual import check_virtual, open_virtual
from gaia_lab.errors import AssetError
from gaia_lab.virtualize import virtualize

MONTHS = 12
FORMATS = ["icechunk", "kerchunk-json", "kerchunk-parquet"]
SUFFIX = {"icechunk": ".icechunk", "kerchunk-json": ".json", "kerchunk-parquet": ".parq"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """Two years of monthly files, and one more month kept aside (to replace a file with other data)."""
    directory = tmp_path_factory.mktemp("ostia-archive")
    files = write_ostia_archive(directory / "all", months=MONTHS + 1)
    spare = directory / "spare.nc"
    shutil.move(files[-1], spare)
    return files[:-1], spare


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticServer]:
    server = serve_directory(tmp_path_factory.mktemp("served"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_server(s3_lake: S3Lake) -> dict[str, Any]:
    """The suite's S3 server (moto, IAM authentication on), reached with its administrator's key: the archive
    tests create buckets, upload and overwrite sources."""
    admin = s3_lake.server.admin
    return {
        "endpoint_url": s3_lake.endpoint_url,
        "key": admin.key_id,
        "secret": admin.secret,
        "client_kwargs": {"region_name": "us-east-1"},
    }


@pytest.fixture(params=["local", "http", "s3"])
def sources(
    request: pytest.FixtureRequest, archive: tuple[list[Path], Path], http_root: StaticServer, tmp_path: Path
) -> Sources:
    """A fresh copy of the archive (tests change it): local, under the lake server's root, or in a bucket."""
    files, spare = archive
    directory = http_root.root / tmp_path.name
    directory.mkdir()
    copies = [Path(shutil.copy2(f, directory / f.name)) for f in files]
    if request.param == "local":
        return Sources("local", copies, [str(p) for p in copies], spare=[spare])
    if request.param == "http":
        urls = [f"{http_root.url}/{tmp_path.name}/{p.name}" for p in copies]
        return Sources("http", copies, urls, spare=[spare])
    import boto3

    options = request.getfixturevalue("s3_server")
    client = boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        aws_access_key_id=options["key"],
        aws_secret_access_key=options["secret"],
        region_name="us-east-1",
    )
    bucket = tmp_path.name.lower().replace("_", "-")[:50].strip("-") or "archive"
    client.create_bucket(Bucket=bucket)
    for path in copies:
        client.upload_file(str(path), bucket, f"archive/{path.name}")
    urls = [f"s3://{bucket}/archive/{p.name}" for p in copies]
    return S3Sources("s3", copies, urls, options, [spare], client=client, bucket=bucket, prefix="archive")


def _store(tmp_path: Path, fmt: str) -> str:
    return str(tmp_path / f"store{SUFFIX[fmt]}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_values_equal_open_mfdataset(sources: Sources, fmt: str, tmp_path: Path) -> None:
    out = _store(tmp_path, fmt)
    report = virtualize(sources.urls, out, format=fmt, storage_options=sources.storage_options)
    assert report.files == MONTHS and report.sizes["time"] == MONTHS
    ds = open_virtual(out, storage_options=sources.storage_options)
    expected = reference(sources.files)
    assert ds["sst"].chunks is not None  # lazy, dask-backed
    assert ds["sst"].shape == expected["sst"].shape == (MONTHS, 18, 432)
    np.testing.assert_array_equal(ds["time"].values, expected["time"].values)
    np.testing.assert_array_equal(ds["latitude"].values, expected["latitude"].values)
    xr.testing.assert_equal(ds["sst"].load(), expected["sst"].load())
    assert ds["sst"].attrs["units"] == "K"
    assert check_virtual(out, storage_options=sources.storage_options)[1] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_opening_reads_no_source_file(archive: tuple[list[Path], Path], fmt: str, tmp_path: Path) -> None:
    """The sources moved away after virtualization: the store still opens (its metadata is all it reads), and
    the first chunk read names the missing file."""
    directory = tmp_path / "archive"
    directory.mkdir()
    copies = [Path(shutil.copy2(f, directory / f.name)) for f in archive[0]]
    out = _store(tmp_path, fmt)
    virtualize([str(directory)], out, format=fmt)
    directory.rename(tmp_path / "moved")
    ds = open_virtual(out)
    assert ds.sizes["time"] == MONTHS
    with pytest.raises(AssetError) as caught:
        _ = ds["sst"].isel(time=0).values
    assert copies[0].name in str(caught.value) and "missing" in str(caught.value)
    assert caught.value.href.endswith(copies[0].name)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("change", ["touch", "replace", "remove"])
def test_a_changed_source_is_refused_by_name(sources: Sources, fmt: str, change: str, tmp_path: Path) -> None:
    out = _store(tmp_path, fmt)
    virtualize(sources.urls, out, format=fmt, storage_options=sources.storage_options)
    ds = open_virtual(out, storage_options=sources.storage_options)
    before = ds["sst"].isel(time=0).values
    getattr(sources, change)(3)
    with pytest.raises(AssetError) as caught:
        _ = ds["sst"].isel(time=3).values
    message = str(caught.value)
    assert sources.urls[3].rsplit("/", 1)[-1] in message
    assert ("missing" if change == "remove" else "changed") in message
    assert caught.value.href.endswith(sources.files[3].name)
    # the other files still read, with their own data
    np.testing.assert_array_equal(ds["sst"].isel(time=0).values, before)
    # and the whole cube is refused rather than mixed
    with pytest.raises(AssetError):
        ds["sst"].mean().compute()
    recorded, changed = check_virtual(out, storage_options=sources.storage_options)
    assert len(recorded) == MONTHS
    assert [c.url.rsplit("/", 1)[-1] for c in changed] == [sources.files[3].name]
    assert changed[0].state == ("missing" if change == "remove" else "changed")


def test_a_store_reopened_later_refuses_too(sources: Sources, tmp_path: Path) -> None:
    """Icechunk's own check (ETag over HTTP, last-modified for local files), in a store opened after the
    change: no fingerprint kept in memory is involved."""
    out = _store(tmp_path, "icechunk")
    virtualize(sources.urls, out, storage_options=sources.storage_options)
    sources.touch(5)
    ds = open_virtual(out, storage_options=sources.storage_options)
    with pytest.raises(AssetError, match=sources.files[5].name):
        _ = ds["sst"].isel(time=5).values
    assert ds["sst"].isel(time=4).values.shape == (18, 432)


def test_unknown_store_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="no Icechunk repository"):
        open_virtual(str(tmp_path / "nothing.icechunk"))
    (tmp_path / "refs.json").write_text('{"not": "references"}')
    with pytest.raises(AssetError, match="not a kerchunk references file"):
        open_virtual(str(tmp_path / "refs.json"))
    with pytest.raises(AssetError, match="cannot be read over plain HTTP"):
        open_virtual("http://127.0.0.1:9/store.icechunk")


def _tampered_icechunk(out: str, target: Path) -> None:
    """The store rewritten by someone else: a container for a wider directory (holding the archive and
    ``target``) in its configuration, the first month's chunk pointing at ``target``, the recorded sources left
    as they were."""
    import icechunk

    from gaia_lab.cube.virtual import SOURCES_KEY, recorded_sources

    storage = icechunk.local_filesystem_storage(out)
    config = icechunk.Repository.fetch_config(storage)
    assert config is not None
    wide = target.parent.parent
    prefix = wide.as_uri() + "/"
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(wide)))
    )
    repo = icechunk.Repository.open(storage, config, authorize_virtual_chunk_access={prefix: None})
    repo.save_config()
    recorded, concat = recorded_sources(repo)
    session = repo.writable_session("main")
    size = target.stat().st_size
    session.store.set_virtual_ref("sst/c/0/0/0", target.as_uri(), offset=0, length=min(size, 4096))
    session.commit("tampered", metadata={SOURCES_KEY: [r.to_dict() for r in recorded], "gaia:concat_dim": concat})


@pytest.mark.parametrize("fmt", ["icechunk", "kerchunk-json"])
def test_references_outside_the_recorded_sources_are_refused(
    archive: tuple[list[Path], Path], fmt: str, tmp_path: Path
) -> None:
    """A store may only read the files it records: one whose references point at another file (here the
    spare month, outside the archive's directory) is refused with a typed error naming that file, before any
    read; the caller can trust a place explicitly with ``allow``."""
    from gaia_lab.cube.virtual import UntrustedReference

    directory = tmp_path / "archive"
    directory.mkdir()
    for f in archive[0]:
        shutil.copy2(f, directory / f.name)
    outside = tmp_path / "elsewhere" / "secret.nc"
    outside.parent.mkdir()
    shutil.copy2(archive[1], outside)
    out = _store(tmp_path, fmt)
    virtualize([str(directory)], out, format=fmt)
    assert open_virtual(out)["sst"].isel(time=0).values.shape == (18, 432)
    if fmt == "icechunk":
        _tampered_icechunk(out, outside)
    else:
        document = json.loads(Path(out).read_text())
        document["refs"]["sst/0.0.0"] = [str(directory / ".." / "elsewhere" / "secret.nc"), 0, 4096]
        Path(out).write_text(json.dumps(document))
    with pytest.raises(UntrustedReference, match="outside the source files it records") as caught:
        open_virtual(out)
    assert caught.value.href.endswith("elsewhere/secret.nc")
    assert isinstance(caught.value, AssetError)
    # trusted explicitly: opens; the bytes it points at are no chunk of sst, and reading them is a typed error
    ds = open_virtual(out, allow=[str(outside.parent)])
    assert ds["sst"].isel(time=1).values.shape == (18, 432)
    with pytest.raises(AssetError):
        _ = ds["sst"].isel(time=0).values


def test_refresh_brings_changed_sources_back(sources: Sources, tmp_path: Path) -> None:
    """Local, HTTP and S3 sources changed for real (one touched, one replaced by another month's file, one
    removed): refused until refreshed, then read as they are now."""
    from gaia_lab.virtual_refresh import refresh

    out = _store(tmp_path, "icechunk")
    virtualize(sources.urls, out, storage_options=sources.storage_options)
    sources.touch(2)
    sources.replace(3)
    sources.remove(4)
    with pytest.raises(AssetError, match=sources.files[2].name):
        _ = open_virtual(out, storage_options=sources.storage_options)["sst"].isel(time=2).values
    report = refresh(out, storage_options=sources.storage_options)
    assert [u.rsplit("/", 1)[-1] for u in report.changed] == [sources.files[2].name, sources.files[3].name]
    assert [u.rsplit("/", 1)[-1] for u in report.removed] == [sources.files[4].name]
    assert report.parsed == 2 and report.files == MONTHS - 1
    # the replaced file now holds the spare month, which comes last in time
    expected = reference([*sources.files[:3], *sources.files[5:], *sources.spare])
    ds = open_virtual(out, storage_options=sources.storage_options)
    np.testing.assert_array_equal(ds["time"].values, expected["time"].values)
    xr.testing.assert_equal(ds["sst"].load(), expected["sst"].load())
    assert check_virtual(out, storage_options=sources.storage_options)[1] == []


def test_an_icechunk_store_is_named_by_its_snapshot_not_pickled(
    archive: tuple[list[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dask names the cube after the store's repository and snapshot: the same snapshot opens under the same
    names, a new commit under new ones, and the store (the Icechunk session) is never pickled to find them."""
    import os

    import dask.tokenize

    from gaia_lab.virtual_refresh import refresh

    files = [Path(shutil.copy2(f, tmp_path / f.name)) for f in archive[0]]
    out = _store(tmp_path, "icechunk")
    virtualize([str(p) for p in files], out)
    pickled: list[str] = []
    pickle = dask.tokenize._normalize_pickle
    monkeypatch.setattr(dask.tokenize, "_normalize_pickle", lambda o: pickled.append(type(o).__name__) or pickle(o))
    names = {open_virtual(out, chunks={"time": 1})["sst"].data.name for _ in range(2)}
    assert len(names) == 1
    assert not [name for name in pickled if "Store" in name or "Session" in name], pickled
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert refresh(out).changed
    reopened = open_virtual(out, chunks={"time": 1})["sst"]
    assert reopened.data.name not in names
    xr.testing.assert_equal(reopened.load(), reference(files)["sst"].load())
