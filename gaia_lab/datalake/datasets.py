"""The datasets of the demo data lake: which real source feeds which hub, and how it is converted.

Each dataset turns one or more source files into lake files (``produce``) and describes them in STAC
(``describe``) from the files' headers only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import xarray as xr
from pyproj import CRS
from rasterio.transform import from_origin

from gaia_lab.datalake import sources
from gaia_lab.datalake.sources import Source
from gaia_lab.datalake.stac import add_netcdf_asset, cog_item, collection_for_items, zarr_collection
from gaia_lab.datalake.writers import write_cog, write_netcdf, write_zarr

MET_OFFICE = pystac.Provider(
    "Met Office", roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR], url="https://www.metoffice.gov.uk"
)
IRIS = pystac.Provider(
    "SciTools iris-sample-data (PyPI)",
    roles=[pystac.ProviderRole.HOST],
    url="https://pypi.org/project/iris-sample-data/",
)


@dataclass
class Dataset:
    provider: str
    hub: str
    collection_id: str
    title: str
    find_sources: Callable[[], list[Source] | None]
    produce: Callable[[list[Source], Path], None]
    describe: Callable[[list[Source], Path], pystac.Collection]
    formats: list[str] = field(default_factory=list)
    recipe: int = 1  # bumped when the conversion changes, so lakes built before are rebuilt


def _lon180(ds: xr.Dataset, name: str = "longitude") -> xr.Dataset:
    """0..360 longitudes -> -180..180, sorted, so bboxes and maps work as users expect."""
    wrapped = ((ds[name] + 180) % 360) - 180
    return ds.assign_coords({name: wrapped.astype(ds[name].dtype)}).sortby(name)


def _geographic(data: xr.DataArray | xr.Dataset, x: str = "longitude", y: str = "latitude") -> xr.Dataset:
    out = data.to_dataset() if isinstance(data, xr.DataArray) else data
    out = out.rio.set_spatial_dims(x_dim=x, y_dim=y)
    return out.rio.write_crs("EPSG:4326")  # type: ignore[no-any-return]


# --- ODATIS (ocean): OSTIA monthly SST -----------------------------------------------------------------------------

OSTIA_KEYWORDS = [
    "sea_surface_temperature",
    "SST",
    "sea surface temperature",
    "température de surface de la mer",
    "EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE",
    "OSTIA",
    "ocean",
]


def _ostia(src: Source) -> xr.Dataset:
    raw = xr.open_dataset(src.path)
    sst = raw["surface_temperature"].rename("sst").astype("float32")
    sst.attrs = {
        "standard_name": "sea_surface_temperature",
        "long_name": "Monthly mean sea surface temperature",
        "units": "K",
        "source_standard_name": raw["surface_temperature"].attrs.get("standard_name"),
        "cell_methods": raw["surface_temperature"].attrs.get("cell_methods", ""),
    }
    ds = _lon180(sst.to_dataset().assign_coords(time_bnds=raw["time_bnds"]))
    ds.attrs = {
        "title": "OSTIA monthly sea surface temperature",
        "source": "Met Office OSTIA via iris-sample-data",
        "Conventions": "CF-1.8",
    }
    return _geographic(ds.drop_vars("time_bnds").assign_coords(time_bnds=(("time", "bnds"), raw["time_bnds"].values)))


def _produce_ostia_zarr(srcs: list[Source], out: Path) -> None:
    ds = _ostia(srcs[0])
    write_zarr(ds, out / "ostia-sst.zarr", zarr_format=3, chunks={"time": 12})
    write_netcdf(ds, out / "ostia-sst.nc", chunks={"time": 12})


def _describe_ostia_zarr(srcs: list[Source], out: Path) -> pystac.Collection:
    collection = zarr_collection(
        "ostia-sst",
        out / "ostia-sst.zarr",
        zarr_format=3,
        hub="ocean",
        licence="OGL-UK-3.0",
        title="OSTIA sea surface temperature, monthly means (Zarr v3)",
        description="Operational Sea Surface Temperature and Ice Analysis (OSTIA) monthly means over the tropical "
        "band, 2006-2010, on a 0.83° x 0.56° grid, as one Zarr v3 datacube. Source: Met Office, "
        "distributed in iris-sample-data (ostia_monthly.nc).",
        keywords=OSTIA_KEYWORDS,
        producers=[MET_OFFICE, IRIS],
    )
    return add_netcdf_asset(collection, out / "ostia-sst.nc", title="OSTIA sea surface temperature (NetCDF-4)")


def _produce_ostia_cogs(srcs: list[Source], out: Path) -> None:
    ds = _ostia(srcs[0])
    for index in range(ds.sizes["time"]):
        month = pd.Timestamp(ds["time"].values[index])
        item_id = f"ostia-sst-{month:%Y-%m}"
        layer = (
            ds["sst"]
            .isel(time=index)
            .drop_vars(["time", "time_bnds"], errors="ignore")
            .sortby("latitude", ascending=False)
        )
        write_cog(layer, out / item_id / "sst.tif", nodata=float("nan"))


def _describe_ostia_cogs(srcs: list[Source], out: Path) -> pystac.Collection:
    bounds = xr.open_dataset(srcs[0].path)["time_bnds"].values
    items = []
    for start, end in bounds:
        month = pd.Timestamp(start)
        item_id = f"ostia-sst-{month:%Y-%m}"
        items.append(
            cog_item(
                item_id,
                {"sst": out / item_id / "sst.tif"},
                start=month.to_pydatetime().replace(tzinfo=UTC),
                end=(pd.Timestamp(end) - pd.Timedelta(seconds=1)).to_pydatetime().replace(tzinfo=UTC),
                units={"sst": "K"},
                properties={"title": f"OSTIA SST {month:%B %Y}"},
            )
        )
    return collection_for_items(
        "ostia-sst-monthly",
        items,
        hub="ocean",
        licence="OGL-UK-3.0",
        title="OSTIA sea surface temperature, one COG per month",
        description="The OSTIA monthly means as Cloud-Optimized GeoTIFFs, one item per month (54 items), as a "
        "hub serves scene-like products.",
        keywords=OSTIA_KEYWORDS,
        producers=[MET_OFFICE, IRIS],
    )


def _ostia_virtual_sources() -> list[Source] | None:
    """The OSTIA file, when the ``virtual`` extra (VirtualiZarr, kerchunk) that publishes the archive is there."""
    import importlib.util

    if importlib.util.find_spec("virtualizarr") is None or importlib.util.find_spec("kerchunk") is None:
        return None
    return [sources.iris("ostia_monthly.nc")]


def _produce_ostia_virtual(srcs: list[Source], out: Path) -> None:
    from gaia_lab.datalake import netcdf_archive

    netcdf_archive.publish(_ostia(srcs[0]).drop_vars("time_bnds"), out, "ostia-sst")


def _describe_ostia_virtual(srcs: list[Source], out: Path) -> pystac.Collection:
    from gaia_lab.datalake import netcdf_archive

    return netcdf_archive.collection(
        out,
        "ostia-sst-virtual",
        hub="ocean",
        licence="OGL-UK-3.0",
        title="OSTIA sea surface temperature, NetCDF archive as a virtual Zarr store",
        description="The OSTIA monthly means as a data centre archives them, one NetCDF-4 file per month (54 "
        "files), published as one virtual Zarr store (kerchunk references built by gaia-lab virtualize): "
        "opening it reads one metadata file, chunks are read from the NetCDF files.",
        keywords=[*OSTIA_KEYWORDS, "NetCDF", "virtual Zarr", "kerchunk"],
        producers=[MET_OFFICE, IRIS],
    )


# --- AERIS (atmosphere): Meteosat brightness temperature, NSRDB stations ----------------------------------------------


def _produce_meteosat(srcs: list[Source], out: Path) -> None:
    raw = xr.open_dataset(srcs[0].path)
    crs = CRS.from_cf(raw["stereographic"].attrs)
    bt = raw["data"].drop_vars(["lat", "lon", "time"], errors="ignore").astype("float32")
    bt.attrs = {
        "standard_name": "toa_brightness_temperature",
        "units": "K",
        "long_name": "Top-of-atmosphere brightness temperature, 10.8 µm",
    }
    bt = bt.rio.set_spatial_dims(x_dim="x", y_dim="y").rio.write_crs(crs.to_wkt())
    write_cog(bt, out / "meteosat-bt108" / "bt108.tif", nodata=float("nan"))


def _describe_meteosat(srcs: list[Source], out: Path) -> pystac.Collection:
    when = pd.Timestamp(xr.open_dataset(srcs[0].path)["time"].values).to_pydatetime().replace(tzinfo=UTC)
    item = cog_item(
        "meteosat-bt108",
        {"bt108": out / "meteosat-bt108" / "bt108.tif"},
        start=when,
        units={"bt108": "K"},
        properties={"title": "MSG SEVIRI 10.8 µm brightness temperature", "platform": "MSG", "instruments": ["SEVIRI"]},
    )
    return collection_for_items(
        "meteosat-bt108",
        [item],
        hub="atmosphere",
        licence="OGL-UK-3.0",
        title="Meteosat (MSG) top-of-atmosphere brightness temperature, 10.8 µm",
        description="Infra-red channel top-of-atmosphere brightness temperature from MSG SEVIRI on its native "
        "polar stereographic grid (EUMETSAT, Met Office Satellite Applications; iris-sample-data).",
        keywords=[
            "toa_brightness_temperature",
            "brightness temperature",
            "infrared",
            "infrarouge",
            "Meteosat",
            "MSG",
            "SEVIRI",
            "satellite imagery",
            "EARTH SCIENCE > SPECTRAL/ENGINEERING > INFRARED WAVELENGTHS > BRIGHTNESS TEMPERATURE",
        ],
        producers=[pystac.Provider("EUMETSAT", roles=[pystac.ProviderRole.PRODUCER]), MET_OFFICE, IRIS],
    )


TMY3_VARIABLES = {
    "ghi": ("surface_downwelling_shortwave_flux_in_air", "W m-2", "Global horizontal irradiance"),
    "dni": ("surface_direct_downwelling_shortwave_flux_in_air", "W m-2", "Direct normal irradiance"),
    "dhi": ("surface_diffuse_downwelling_shortwave_flux_in_air", "W m-2", "Diffuse horizontal irradiance"),
    "temp_air": ("air_temperature", "degC", "Dry-bulb air temperature"),
    "temp_dew": ("dew_point_temperature", "degC", "Dew-point temperature"),
    "relative_humidity": ("relative_humidity", "%", "Relative humidity"),
    "pressure": ("surface_air_pressure", "mbar", "Station pressure"),
    "wind_speed": ("wind_speed", "m s-1", "Wind speed"),
    "wind_direction": ("wind_from_direction", "degree", "Wind direction"),
}


def _tmy3(srcs: list[Source]) -> xr.Dataset:
    from pvlib.iotools import read_tmy3

    stations = []
    for src in srcs:
        # A typical meteorological year mixes months of different years; 1990 gives them one calendar.
        data, meta = read_tmy3(str(src.path), coerce_year=1990, map_variables=True)
        frame = data[list(TMY3_VARIABLES)].astype("float32")
        frame.index = frame.index.tz_convert("UTC").tz_localize(None).rename("time")
        station = xr.Dataset.from_dataframe(frame).expand_dims(station=[str(meta["USAF"])])
        station = station.assign_coords(
            station_name=("station", [meta["Name"].strip('"')]),
            latitude=("station", [float(meta["latitude"])]),
            longitude=("station", [float(meta["longitude"])]),
            altitude=("station", [float(meta["altitude"])]),
        )
        stations.append(station)
    ds = xr.concat(stations, dim="station", join="outer").transpose("time", "station")
    for name, (standard, units, long_name) in TMY3_VARIABLES.items():
        ds[name].attrs = {"standard_name": standard, "units": units, "long_name": long_name}
    ds.attrs = {
        "title": "NSRDB typical meteorological year, hourly station data",
        "featureType": "timeSeries",
        "source": "NREL NSRDB TMY3 via pvlib",
        "Conventions": "CF-1.8",
    }
    return ds


def _produce_tmy3(srcs: list[Source], out: Path) -> None:
    write_zarr(_tmy3(srcs), out / "tmy3-stations.zarr", zarr_format=2, chunks={"time": 8760 // 4})


def _describe_tmy3(srcs: list[Source], out: Path) -> pystac.Collection:
    ds = xr.open_zarr(out / "tmy3-stations.zarr")
    lon, lat = ds["longitude"].values, ds["latitude"].values
    bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
    return zarr_collection(
        "tmy3-stations",
        out / "tmy3-stations.zarr",
        zarr_format=2,
        hub="atmosphere",
        licence="BSD-3-Clause",
        bbox=bbox,
        title="NSRDB TMY3 hourly weather at two stations (Zarr v2)",
        description="Typical meteorological year (TMY3) hourly irradiance, temperature, humidity, pressure and "
        "wind at two US stations (NREL National Solar Radiation Database), shipped with pvlib.",
        keywords=[
            "in situ",
            "station",
            "weather station",
            "solar irradiance",
            "GHI",
            "air_temperature",
            "relative_humidity",
            "wind_speed",
            "surface_air_pressure",
            "rayonnement solaire",
            "EARTH SCIENCE > ATMOSPHERE > ATMOSPHERIC RADIATION > SOLAR IRRADIANCE",
        ],
        producers=[
            pystac.Provider("NREL NSRDB", roles=[pystac.ProviderRole.PRODUCER]),
            pystac.Provider("pvlib (PyPI)", roles=[pystac.ProviderRole.HOST]),
        ],
    )


# --- CLIMERI (climate): Met Office climate projections ------------------------------------------------------------


def _scenario(src: Source, scenario: str) -> xr.Dataset:
    # 360-day calendar: cftime dates, not numpy datetimes
    raw = xr.open_dataset(src.path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
    tas = raw["air_temperature"].rename("tas").astype("float32")
    tas.attrs = {
        "standard_name": "air_temperature",
        "units": "K",
        "long_name": "Near-surface air temperature",
        "cell_methods": raw["air_temperature"].attrs.get("cell_methods", ""),
    }
    ds = _lon180(tas.to_dataset())
    ds.attrs = {
        "title": f"SRES {scenario} near-surface air temperature over North America",
        "experiment_id": scenario,
        "source": raw["air_temperature"].attrs.get("source", "Met Office UM"),
        "Conventions": "CF-1.8",
    }
    return _geographic(ds)


def _produce_scenario(scenario: str, name: str, netcdf: bool = False) -> Callable[[list[Source], Path], None]:
    def produce(srcs: list[Source], out: Path) -> None:
        ds = _scenario(srcs[0], scenario)
        write_zarr(ds, out / f"{name}.zarr", zarr_format=2, chunks={"time": 60})
        if netcdf:
            write_netcdf(ds, out / f"{name}.nc", chunks={"time": 60})

    return produce


def _describe_scenario(
    scenario: str, name: str, netcdf: bool = False
) -> Callable[[list[Source], Path], pystac.Collection]:
    def describe(srcs: list[Source], out: Path) -> pystac.Collection:
        collection = zarr_collection(
            name,
            out / f"{name}.zarr",
            zarr_format=2,
            hub="climate",
            licence="OGL-UK-3.0",
            title=f"Climate projection, SRES {scenario}: air temperature over North America (Zarr v2)",
            description=f"Met Office Unified Model climate simulation under the SRES {scenario} scenario: "
            "near-surface air temperature, 1860-2099, 360-day calendar (iris-sample-data).",
            keywords=[
                "air_temperature",
                "tas",
                "climate projection",
                "climate model",
                "projection climatique",
                f"SRES {scenario}",
                scenario,
                "EARTH SCIENCE > CLIMATE INDICATORS > CLIMATE MODELS",
            ],
            producers=[MET_OFFICE, IRIS],
        )
        if netcdf:
            add_netcdf_asset(collection, out / f"{name}.nc", title=f"SRES {scenario} air temperature (NetCDF-4)")
        return collection

    return describe


# --- FORM@TER (solid Earth): global 5' elevation -------------------------------------------------------------------


def _produce_dem(srcs: list[Source], out: Path) -> None:
    import h5py

    with h5py.File(srcs[0].path) as handle:
        raw = handle["Altitude"][...]
    # pvlib's encoding: metres = value * 28 - 450, 255 = no data; rows 90N->90S, columns 180W->180E, 5' cells.
    metres = np.where(raw == 255, -32768, raw.astype("int32") * 28 - 450).astype("int16")
    step = 1 / 12
    lat = 90 - step / 2 - step * np.arange(raw.shape[0])
    lon = -180 + step / 2 + step * np.arange(raw.shape[1])
    dem = xr.DataArray(
        metres,
        dims=("latitude", "longitude"),
        coords={"latitude": lat, "longitude": lon},
        name="elevation",
        attrs={"standard_name": "surface_altitude", "units": "m"},
    )
    dem = dem.rio.set_spatial_dims(x_dim="longitude", y_dim="latitude").rio.write_crs("EPSG:4326")
    dem = dem.rio.write_transform(from_origin(-180, 90, step, step))
    write_cog(dem, out / "elevation-5min" / "elevation.tif", nodata=-32768)


def _describe_dem(srcs: list[Source], out: Path) -> pystac.Collection:
    item = cog_item(
        "elevation-5min",
        {"elevation": out / "elevation-5min" / "elevation.tif"},
        start=datetime(1990, 1, 1, tzinfo=UTC),
        end=datetime(2000, 12, 31, 23, 59, 59, tzinfo=UTC),
        units={"elevation": "m"},
        properties={"title": "Global elevation at 5 arc-minutes"},
    )
    return collection_for_items(
        "elevation-5min",
        [item],
        hub="solid-earth",
        licence="BSD-3-Clause",
        title="Global surface elevation at 5 arc-minutes",
        description="Global land elevation on a 5' grid (2160 x 4320), decoded from pvlib's Altitude.h5 "
        "(metres = value x 28 - 450, 28 m steps; no-data preserved). Nominal epoch 1990-2000.",
        keywords=[
            "surface_altitude",
            "elevation",
            "topography",
            "relief",
            "topographie",
            "DEM",
            "MNT",
            "EARTH SCIENCE > LAND SURFACE > TOPOGRAPHY > TERRAIN ELEVATION",
        ],
        producers=[pystac.Provider("pvlib (PyPI)", roles=[pystac.ProviderRole.HOST])],
    )


# --- THEIA (land): GLOBE 1 km land mask over Europe, in tiles -------------------------------------------------------

LAND_TILES = [(-10, 60), (10, 60), (-10, 47.5), (10, 47.5)]  # north-west corners of 20° x 12.5° tiles
LAND_TILE_SIZE = (20.0, 12.5)


def _tile_id(west: float, north: float) -> str:
    return f"land-mask-{'W' if west < 0 else 'E'}{abs(west):03.0f}-N{north:04.1f}".replace(".", "p")


def _produce_land(srcs: list[Source], out: Path) -> None:
    archive = np.load(srcs[0].path)
    mask, lat, lon = archive["mask"], archive["lat"], archive["lon"]
    step = 1 / 120  # GLOBE's 30" grid; the archive's coordinates are the cells' north-west corners
    for west, north in LAND_TILES:
        rows = slice(round((90 - north) / step), round((90 - north + LAND_TILE_SIZE[1]) / step))
        cols = slice(round((west + 180) / step), round((west + LAND_TILE_SIZE[0] + 180) / step))
        assert np.isclose(lat[rows.start], north)
        assert np.isclose(lon[cols.start], west)
        tile = (~mask[rows, cols]).astype("uint8")  # the package's mask is True over water (its is_ocean)
        array = xr.DataArray(
            tile,
            dims=("y", "x"),
            name="land",
            attrs={
                "standard_name": "land_binary_mask",
                "units": "1",
                "flag_values": "0 1",
                "flag_meanings": "water land",
            },
        )
        array = array.rio.write_crs("EPSG:4326").rio.write_transform(from_origin(west, north, step, step))
        array = array.assign_coords(
            x=west + step / 2 + step * np.arange(tile.shape[1]), y=north - step / 2 - step * np.arange(tile.shape[0])
        )
        write_cog(array, out / _tile_id(west, north) / "land.tif", nodata=255)


def _describe_land(srcs: list[Source], out: Path) -> pystac.Collection:
    items = [
        cog_item(
            _tile_id(w, n),
            {"land": out / _tile_id(w, n) / "land.tif"},
            start=datetime(1999, 1, 1, tzinfo=UTC),
            end=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
            units={"land": "1"},
            properties={"title": f"Land mask tile {w}E {n}N"},
        )
        for w, n in LAND_TILES
    ]
    return collection_for_items(
        "land-mask-europe",
        items,
        hub="land",
        licence="MIT",
        title="Land-sea mask over Europe at 30 arc-seconds (GLOBE), in tiles",
        description="GLOBE-derived 1 km land/water mask (global-land-mask package) over Europe, as four "
        "Cloud-Optimized GeoTIFF tiles that open as one mosaic (1 = land, 0 = water).",
        keywords=[
            "land_binary_mask",
            "land mask",
            "land-sea mask",
            "masque terre-mer",
            "coastline",
            "trait de côte",
            "EARTH SCIENCE > LAND SURFACE > LAND USE/LAND COVER",
        ],
        producers=[
            pystac.Provider("NOAA NGDC GLOBE", roles=[pystac.ProviderRole.PRODUCER]),
            pystac.Provider("global-land-mask (PyPI)", roles=[pystac.ProviderRole.HOST]),
        ],
    )


# --- DINAMIS (imagery, Debian extra): Landsat 7 ETM+ over Olinda --------------------------------------------------

LANDSAT_BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]  # ETM+ bands 1, 2, 3, 4, 5, 7


def _landsat_source() -> list[Source] | None:
    found = sources.debian_file("r-cran-stars", "/usr/lib/R/site-library/stars/tif/L7_ETMs.tif", "Apache-2.0")
    return [found] if found else None


def _produce_landsat(srcs: list[Source], out: Path) -> None:
    import rioxarray

    scene = rioxarray.open_rasterio(srcs[0].path)
    assert isinstance(scene, xr.DataArray)
    for index, band in enumerate(LANDSAT_BANDS):
        layer = scene.isel(band=index, drop=True)
        layer.attrs = {"long_name": f"Landsat 7 ETM+ {band} digital number", "units": "1"}
        # uint8 digital numbers use 0 as fill outside the scene
        write_cog(layer, out / "landsat7-olinda" / f"{band}.tif", nodata=0)


def _describe_landsat(srcs: list[Source], out: Path) -> pystac.Collection:
    item = cog_item(
        "landsat7-olinda",
        {b: out / "landsat7-olinda" / f"{b}.tif" for b in LANDSAT_BANDS},
        start=datetime(2000, 1, 1, tzinfo=UTC),
        end=datetime(2000, 12, 31, 23, 59, 59, tzinfo=UTC),
        properties={"title": "Landsat 7 ETM+ over Olinda, Brazil", "platform": "landsat-7", "instruments": ["etm+"]},
    )
    return collection_for_items(
        "landsat7-etm",
        [item],
        hub="imagery",
        licence="Apache-2.0",
        title="Landsat 7 ETM+ scene over Olinda (Brazil), 6 bands",
        description="A Landsat 7 ETM+ subscene (bands 1-5 and 7, 28.5 m, UTM 25S) shipped with R's stars "
        "package (Debian r-cran-stars), converted from a striped GeoTIFF to COGs.",
        keywords=[
            "reflectance",
            "landsat",
            "multispectral",
            "optical imagery",
            "imagerie optique",
            "satellite image",
            "EARTH SCIENCE > SPECTRAL/ENGINEERING > VISIBLE WAVELENGTHS > REFLECTANCE",
        ],
        producers=[
            pystac.Provider("USGS", roles=[pystac.ProviderRole.PRODUCER]),
            pystac.Provider("r-cran-stars (Debian)", roles=[pystac.ProviderRole.HOST]),
        ],
    )


def catalogue() -> list[Dataset]:
    """Every dataset of the lake, in build order."""
    return [
        Dataset(
            "odatis",
            "ocean",
            "ostia-sst",
            "OSTIA SST (Zarr v3)",
            lambda: [sources.iris("ostia_monthly.nc")],
            _produce_ostia_zarr,
            _describe_ostia_zarr,
            ["zarr", "netcdf"],
            recipe=2,
        ),
        Dataset(
            "odatis",
            "ocean",
            "ostia-sst-monthly",
            "OSTIA SST (COG per month)",
            lambda: [sources.iris("ostia_monthly.nc")],
            _produce_ostia_cogs,
            _describe_ostia_cogs,
            ["cog"],
        ),
        Dataset(
            "odatis",
            "ocean",
            "ostia-sst-virtual",
            "OSTIA SST (NetCDF archive, virtual Zarr)",
            _ostia_virtual_sources,
            _produce_ostia_virtual,
            _describe_ostia_virtual,
            ["netcdf", "zarr"],
        ),
        Dataset(
            "aeris",
            "atmosphere",
            "meteosat-bt108",
            "Meteosat 10.8 µm",
            lambda: [sources.iris("toa_brightness_stereographic.nc")],
            _produce_meteosat,
            _describe_meteosat,
            ["cog"],
        ),
        Dataset(
            "aeris",
            "atmosphere",
            "tmy3-stations",
            "NSRDB TMY3 stations",
            lambda: [sources.pvlib("723170TYA.CSV"), sources.pvlib("703165TY.csv")],
            _produce_tmy3,
            _describe_tmy3,
            ["zarr"],
        ),
        Dataset(
            "climeri",
            "climate",
            "sres-a1b-tas",
            "SRES A1B air temperature",
            lambda: [sources.iris("A1B_north_america.nc")],
            _produce_scenario("A1B", "sres-a1b-tas", netcdf=True),
            _describe_scenario("A1B", "sres-a1b-tas", netcdf=True),
            ["zarr", "netcdf"],
            recipe=2,
        ),
        Dataset(
            "climeri",
            "climate",
            "sres-e1-tas",
            "SRES E1 air temperature",
            lambda: [sources.iris("E1_north_america.nc")],
            _produce_scenario("E1", "sres-e1-tas"),
            _describe_scenario("E1", "sres-e1-tas"),
            ["zarr"],
        ),
        Dataset(
            "formater",
            "solid-earth",
            "elevation-5min",
            "Global elevation 5'",
            lambda: [sources.pvlib("Altitude.h5")],
            _produce_dem,
            _describe_dem,
            ["cog"],
        ),
        Dataset(
            "theia",
            "land",
            "land-mask-europe",
            "Land mask over Europe",
            lambda: [sources.land_mask()],
            _produce_land,
            _describe_land,
            ["cog"],
            recipe=2,
        ),
        Dataset(
            "dinamis",
            "imagery",
            "landsat7-etm",
            "Landsat 7 ETM+ Olinda",
            _landsat_source,
            _produce_landsat,
            _describe_landsat,
            ["cog"],
        ),
        *_biodiversity(),
    ]


def _biodiversity() -> list[Dataset]:
    """PNDB (biodiversity, Debian extras): community tables of R packages as GeoParquet."""
    from gaia_lab.datalake import biodiversity as bio

    return [
        Dataset(
            "pndb",
            "biodiversity",
            "doubs-fish",
            "Doubs fish",
            bio.doubs_sources,
            bio.produce_doubs,
            bio.describe_doubs,
            ["geoparquet"],
        ),
        Dataset(
            "pndb",
            "biodiversity",
            "oribatid-mites",
            "Oribatid mites",
            bio.mite_sources,
            bio.produce_mite,
            bio.describe_mite,
            ["geoparquet"],
        ),
        Dataset(
            "pndb",
            "biodiversity",
            "bci-trees",
            "Barro Colorado trees",
            bio.bci_sources,
            bio.produce_bci,
            bio.describe_bci,
            ["geoparquet"],
        ),
    ]
