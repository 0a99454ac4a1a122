"""``gaia-lab virtualize``: files that do not agree are refused by name (real archives: OSTIA months rewritten
with another dtype, chunking or variable; NEMO's own monthly files, whose time axis repeats), the command line
builds, publishes in STAC and checks a store, and the published collection opens through ``gl.open_datacube``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from netcdf_archives import reference, write_ostia_archive

import gaia_lab as gl
from gaia_lab.cli import main
from gaia_lab.cube.virtual import check_virtual, open_virtual
from gaia_lab.datalake import sources
from gaia_lab.errors import AssetError, InvalidQuery
from gaia_lab.virtualize import SourceMismatch, expand_sources, virtualize

MONTHS = 6


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_ostia_archive(tmp_path_factory.mktemp("ostia"), months=MONTHS)


@pytest.fixture
def archive(months: list[Path], tmp_path: Path) -> list[Path]:
    directory = tmp_path / "archive"
    directory.mkdir()
    return [Path(shutil.copy2(p, directory / p.name)) for p in months]


def _rewrite(path: Path, change: str) -> None:
    """The same month written differently, as a producer's new version might be."""
    ds = xr.load_dataset(path)
    encoding: dict[str, dict[str, object]] = {
        "sst": {"zlib": True, "complevel": 4, "shuffle": True, "chunksizes": (1, 18, 432)}
    }
    if change == "dtype":
        encoding["sst"]["dtype"] = "float64"
    elif change == "chunks":
        encoding["sst"]["chunksizes"] = (1, 9, 216)
    elif change == "variable":
        ds = ds.rename({"sst": "analysed_sst"})
        encoding = {"analysed_sst": encoding["sst"]}
    elif change == "scale":
        encoding["sst"].update({"dtype": "int16", "scale_factor": 0.01, "add_offset": 273.15, "_FillValue": -32768})
    path.unlink()
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("dtype", "dtype float32 vs float64"),
        ("chunks", "chunks"),
        ("variable", "missing ['sst'], unexpected ['analysed_sst']"),
        ("scale", "scale_factor"),
    ],
)
def test_a_file_that_disagrees_is_named(archive: list[Path], change: str, said: str, tmp_path: Path) -> None:
    _rewrite(archive[2], change)
    with pytest.raises(SourceMismatch) as caught:
        virtualize([str(p) for p in archive], str(tmp_path / "out.icechunk"))
    assert caught.value.href.endswith(archive[2].name)
    assert said in str(caught.value)
    assert archive[0].name in str(caught.value)  # the file it was compared with
    assert not (tmp_path / "out.icechunk").exists()


def test_nemo_monthly_files_with_a_repeated_time_axis_are_refused() -> None:
    """NEMO's ORCA files (iris-sample-data) carry time_counter = 0 in every file: concatenated, the axis would
    repeat one step three times."""
    directory = sources.iris("NEMO/nemo_1m_20150101-20150201_grid-T.nc").path.parent
    with pytest.raises(SourceMismatch) as caught:
        virtualize([str(directory / "*grid-T.nc")], "/nonexistent/out.icechunk", concat_dim="time_counter")
    assert caught.value.href.endswith("nemo_1m_20150201-20150301_grid-T.nc")
    assert "repeated" in str(caught.value)


def test_a_missing_dimension_is_named(archive: list[Path], tmp_path: Path) -> None:
    with pytest.raises(SourceMismatch, match="no dimension 'depth'") as caught:
        virtualize([str(archive[0].parent)], str(tmp_path / "out.json"), concat_dim="depth")
    assert caught.value.href.endswith(archive[0].name)


def test_files_that_are_not_netcdf_are_named(archive: list[Path], tmp_path: Path) -> None:
    (archive[0].parent / "notes.nc").write_text("not a NetCDF file")
    with pytest.raises(AssetError, match="cannot parse as NetCDF/HDF5") as caught:
        virtualize([str(archive[0].parent)], str(tmp_path / "out.json"))
    assert caught.value.href.endswith("notes.nc")
    with pytest.raises(AssetError, match="no such file or directory"):
        virtualize([str(tmp_path / "nowhere" / "*.nc"), str(tmp_path / "missing.nc")], str(tmp_path / "o.json"))
    with pytest.raises(InvalidQuery, match="no NetCDF/HDF5 file found"):
        expand_sources([str(tmp_path / "nowhere" / "*.nc")])


def test_sources_are_expanded_in_order(archive: list[Path]) -> None:
    directory = archive[0].parent
    as_dir = expand_sources([str(directory)])
    as_glob = expand_sources([str(directory / "*.nc")])
    as_list = expand_sources([str(p) for p in reversed(archive)])
    assert as_dir == as_glob == [p.as_uri() for p in archive]
    assert as_list == [p.as_uri() for p in reversed(archive)]


def test_an_existing_store_is_kept_unless_overwritten(archive: list[Path], tmp_path: Path) -> None:
    out = str(tmp_path / "out.icechunk")
    virtualize([str(p) for p in archive], out)
    with pytest.raises(InvalidQuery, match="--overwrite"):
        virtualize([str(p) for p in archive], out)
    assert virtualize([str(p) for p in archive[:3]], out, overwrite=True).files == 3


@pytest.mark.parametrize("suffix", [".icechunk", ".json"])
def test_command_line_builds_publishes_and_checks(
    archive: list[Path], suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / f"sst{suffix}"
    collection = tmp_path / "stac" / "collection.json"
    # files given out of order: the store follows time
    args = ["virtualize", *[str(p) for p in reversed(archive)], "--out", str(store), "--stac", str(collection)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"from {MONTHS} file(s)" in out and "STAC collection" in out
    document = json.loads(collection.read_text())
    asset = document["assets"]["zarr"]
    assert asset["type"] == "application/vnd+zarr" and "virtual" in asset["roles"]
    assert asset["gaia:virtual"]["format"] == ("icechunk" if suffix == ".icechunk" else "kerchunk-json")
    assert document["cube:dimensions"]["time"]["type"] == "temporal"
    assert document["cube:variables"]["sst"]["unit"] == "K"

    cube = gl.open_datacube(str(collection), bbox=(-40, -5, 0, 5))
    expected = reference(archive).sel(longitude=slice(-40, 0), latitude=slice(-5, 5))
    np.testing.assert_array_equal(cube["sst"].values, expected["sst"].values)
    assert cube.attrs["gaia:assets"] == [str(store)]

    assert main(["virtualize", "--check", str(store)]) == 0
    assert f"{MONTHS} of {MONTHS} source file(s) unchanged" in capsys.readouterr().out
    archive[1].write_bytes(archive[1].read_bytes()[:-100])  # truncated by a failed transfer
    assert main(["virtualize", "--check", str(store)]) == 1
    report = capsys.readouterr().out
    assert f"changed: {archive[1].as_uri()}" in report and "size" in report
    assert f"{MONTHS - 1} of {MONTHS}" in report


def test_command_line_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["virtualize", "--out", str(tmp_path / "x.icechunk")]) == 2
    assert "give SOURCES" in capsys.readouterr().err
    assert main(["virtualize", "--check", str(tmp_path / "none.icechunk")]) == 2
    assert "no Icechunk repository" in capsys.readouterr().err
    assert main(["virtualize", str(tmp_path), "--out", "x.json", "--storage-options", "{nope"]) == 2
    assert "not JSON" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".icechunk", ".json"])
def test_refresh_reparses_only_what_changed(archive: list[Path], suffix: str, tmp_path: Path) -> None:
    """Real changes to the archive after it was virtualized: one month touched, one replaced by another month's
    values, one removed, a new one added. Before the refresh the changed months are refused; after it the store
    reads the files as they are now (equal to xarray's own opening of them), and only the changed and added files
    were parsed."""
    from gaia_lab.virtual_refresh import refresh

    directory = archive[0].parent
    store = str(tmp_path / f"sst{suffix}")
    spare = write_ostia_archive(tmp_path / "more", months=MONTHS + 2)
    virtualize([str(directory)], store)
    assert not refresh(store).committed

    stat = archive[1].stat()
    os.utime(archive[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched
    replaced = xr.load_dataset(archive[3])
    replaced["sst"] = replaced["sst"] + 1.5  # same month, other values
    archive[3].unlink()
    encoding = {"sst": {"zlib": True, "complevel": 4, "shuffle": True, "chunksizes": (1, 18, 432)}}
    replaced.to_netcdf(archive[3], engine="h5netcdf", encoding=encoding)
    archive[4].unlink()  # removed
    added = Path(shutil.copy2(spare[MONTHS + 1], directory / spare[MONTHS + 1].name))  # a later month

    ds = open_virtual(store)
    with pytest.raises(AssetError, match=archive[3].name):
        _ = ds["sst"].isel(time=3).values  # not refreshed yet: refused as before
    report = refresh(store)
    assert report.changed == [archive[1].as_uri(), archive[3].as_uri()]
    assert report.added == [added.as_uri()]
    assert report.removed == [archive[4].as_uri()]
    assert report.parsed == 3 and report.files == MONTHS
    assert "refreshed" in str(report)

    now = sorted([*archive[:4], archive[5], added])
    expected = reference(now)
    ds = open_virtual(store)
    np.testing.assert_array_equal(ds["time"].values, expected["time"].values)
    xr.testing.assert_equal(ds["sst"].load(), expected["sst"].load())
    assert float(ds["sst"].isel(time=3).mean()) == pytest.approx(float(expected["sst"].isel(time=3).mean()))
    assert check_virtual(store)[1] == []
    assert main(["virtualize", "--refresh", store]) == 0  # the command line: nothing left to do
