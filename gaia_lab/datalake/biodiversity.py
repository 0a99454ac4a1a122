"""The biodiversity hub (PNDB): community tables shipped in R packages (Debian r-cran-ade4, r-cran-vegan), read
without R (``rdata`` parses the ``.rda`` serialisation), written as GeoParquet (one row per sampling site: its
point, its environment, the abundance of every species) and described in STAC with the table extension.

Where the sites lie, as the packages' own documentation (their help pages, shipped in the .deb) says:
- ``doubs`` (ade4): "30 sites along the Doubs"; ``doubs$xy`` is "2 spatial coordinates" with no unit, origin or
  projection. They are not kilometres: the source (site 1) and the confluence with the Saône (site 30), about
  90 km apart, are 149 units apart. So the sites keep a local engineering CRS, with no geographic reference.
- ``mite`` (vegan): 70 soil cores in a 2.5 m x 10 m plot; ``mite.xy`` in metres on that plot. Local too.
- ``BCI`` (vegan): 50 one-hectare plots; ``BCI.env`` gives "UTM coordinates (zone 17N)". The datum is not stated;
  WGS 84 (EPSG:32617) is assumed and said in the metadata (NAD27 would move the plots about 200 m).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pystac
from pyproj import CRS

from gaia_lab.datalake import sources
from gaia_lab.datalake.sources import Source
from gaia_lab.datalake.stac import DATACUBE, table_collection

#: Key of the Parquet schema metadata that tells the vector cube which columns are species and which environment.
CUBE_METADATA_KEY = "gaia:vector_cube"

R_LIBRARY = "/usr/lib/R/site-library"

DOUBS_CRS = CRS.from_wkt(
    'ENGCRS["Doubs river survey grid (ade4 doubs$xy), undocumented unit",'
    'EDATUM["Local origin of the Verneaux (1973) site map; no geographic reference"],'
    'CS[Cartesian,2],AXIS["x",east,ORDER[1],LENGTHUNIT["unknown",1]],'
    'AXIS["y",north,ORDER[2],LENGTHUNIT["unknown",1]]]'
)
MITE_CRS = CRS.from_wkt(
    'ENGCRS["Oribatid mite plot grid (vegan mite.xy)",'
    'EDATUM["Corner of the 2.5 m x 10 m sampling plot (Borcard et al. 1992); no geographic reference"],'
    'CS[Cartesian,2],AXIS["x",east,ORDER[1],LENGTHUNIT["metre",1]],'
    'AXIS["y",north,ORDER[2],LENGTHUNIT["metre",1]]]'
)
BCI_CRS = CRS.from_epsg(32617)

PNDB = pystac.Provider(
    "PNDB — Pôle National de Données de Biodiversité",
    roles=[pystac.ProviderRole.HOST],
    url="https://www.pndb.fr",
)

BIODIVERSITY_KEYWORDS = [
    "biodiversity",
    "biodiversité",
    "diversité biologique",
    "species abundance",
    "abondance",
    "abondance des espèces",
    "species richness",
    "richesse spécifique",
    "community ecology",
    "écologie des communautés",
    "in situ",
    "EARTH SCIENCE > BIOSPHERE > ECOLOGICAL DYNAMICS > COMMUNITY DYNAMICS > BIODIVERSITY FUNCTIONS",
]


def r_data(package: str, name: str, licence: str) -> Source | None:
    """An ``.rda`` file of an R package unpacked from Debian (``r-cran-<package>``), or ``None``."""
    return sources.debian_file(f"r-cran-{package}", f"{R_LIBRARY}/{package}/data/{name}.rda", licence)


def read_rda(source: Source) -> dict[str, Any]:
    import rdata

    # Strings saved by old R versions carry no encoding flag (rdata warns, then assumes ASCII); these tables are
    # ASCII, and UTF-8 decodes ASCII and fails loudly on anything else.
    converted: dict[str, Any] = rdata.read_rda(source.path, default_encoding="utf8")
    return converted


@dataclass
class Community:
    """Sites x species abundances with the sites' environment and points, and what the columns mean."""

    sites: list[str]
    x: np.ndarray
    y: np.ndarray
    crs: CRS
    abundance: pd.DataFrame  # sites x species
    environment: pd.DataFrame  # sites x variables
    abundance_unit: str
    abundance_description: str
    environment_columns: dict[str, tuple[str, str]]  # name -> (description, unit)
    species_names: dict[str, list[str]] = field(default_factory=dict)  # coordinate name -> one name per species
    crs_note: str = ""

    def frame(self) -> gpd.GeoDataFrame:
        columns: dict[str, Any] = {"site": self.sites}
        for name in self.environment.columns:
            series = self.environment[name]
            if isinstance(series.dtype, pd.CategoricalDtype):
                columns[name] = series.astype(str).to_numpy()
            elif pd.api.types.is_integer_dtype(series.dtype):
                columns[name] = series.to_numpy(dtype="int32")
            else:
                columns[name] = series.to_numpy(dtype="float64")
        for name in self.abundance.columns:
            columns[name] = self.abundance[name].to_numpy(dtype=self.abundance_dtype)
        return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(self.x, self.y), crs=self.crs)

    @property
    def abundance_dtype(self) -> str:
        values = self.abundance.to_numpy(dtype="float64")
        if not np.array_equal(values, np.round(values)):
            raise ValueError("abundances are not whole numbers")
        return "int16" if values.max() < 2**15 else "int32"

    def cube_metadata(self) -> dict[str, Any]:
        return {
            "site": "site",
            "dimension": "species",
            "variable": "abundance",
            "columns": [str(c) for c in self.abundance.columns],
            "species_coordinates": self.species_names,
            "attrs": {"units": self.abundance_unit, "long_name": self.abundance_description},
            "environment": {
                name: {"units": unit, "long_name": description}
                for name, (description, unit) in self.environment_columns.items()
            },
            "crs_note": self.crs_note,
        }


def write_community(community: Community, path: Path) -> None:
    """GeoParquet 1.1 with a bbox covering column (readers skip row groups outside a bbox) and the cube metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".partial.parquet")
    community.frame().to_parquet(staging, index=False, schema_version="1.1.0", write_covering_bbox=True)
    table = pq.read_table(staging)
    metadata = {**(table.schema.metadata or {}), CUBE_METADATA_KEY.encode(): json.dumps(community.cube_metadata())}
    pq.write_table(table.replace_schema_metadata(metadata), path, compression="zstd")
    staging.unlink()


def _table_columns(community: Community) -> list[dict[str, Any]]:
    frame = community.frame()
    columns: list[dict[str, Any]] = [
        {"name": "site", "type": "string", "description": "Site identifier (row name in the R package)"},
        {"name": "geometry", "type": "geometry", "description": f"Site location (point). {community.crs_note}"},
        {"name": "bbox", "type": "struct", "description": "GeoParquet 1.1 bounding-box covering of the geometry"},
    ]
    for name, (description, unit) in community.environment_columns.items():
        kind = "string" if frame[name].dtype == object else str(frame[name].dtype)
        columns.append({"name": name, "type": kind, "description": description, "unit": unit, "gaia:role": "site"})
    for name in community.abundance.columns:
        columns.append(
            {
                "name": str(name),
                "type": community.abundance_dtype,
                "description": f"{community.abundance_description}: {name}",
                "unit": community.abundance_unit,
                "gaia:role": "species",
            }
        )
    return columns


def describe_community(
    community: Community,
    path: Path,
    *,
    collection_id: str,
    title: str,
    description: str,
    keywords: list[str],
    licence: str,
    producers: list[pystac.Provider],
    bbox: list[float] | None,
    interval: tuple[datetime | None, datetime | None],
    georeferenced: bool,
) -> pystac.Collection:
    """The STAC collection of one community table: the WGS84 bbox of the sites when they are georeferenced,
    else the documented study area (``bbox``), said so in ``gaia:georeferenced``."""
    if georeferenced:
        frame = community.frame().to_crs("EPSG:4326")
        bbox = [float(v) for v in frame.total_bounds]
    assert bbox is not None
    collection = table_collection(
        collection_id,
        path,
        title=title,
        description=description,
        keywords=[*keywords, *BIODIVERSITY_KEYWORDS],
        licence=licence,
        producers=[*producers, PNDB],
        hub="biodiversity",
        bbox=bbox,
        interval=interval,
        columns=_table_columns(community),
        rows=len(community.sites),
        crs=community.crs,
        extra={
            "gaia:georeferenced": georeferenced,
            "gaia:crs_note": community.crs_note,
            "gaia:species_count": int(community.abundance.shape[1]),
            "gaia:site_count": len(community.sites),
            **_cube_fields(community),
        },
    )
    collection.stac_extensions.append(DATACUBE)
    return collection


def _cube_fields(community: Community) -> dict[str, Any]:
    """The vector cube the table opens as, in the datacube extension: a geometry dimension (its Vector Dimension
    Object, bbox in the sites' own CRS), the species, and one variable per site column plus the abundances."""
    crs = community.crs
    reference: Any = crs.to_epsg() or crs.to_json_dict()
    x, y = community.x, community.y
    variables: dict[str, Any] = {
        "abundance": {
            "dimensions": ["geometry", "species"],
            "type": "data",
            "unit": community.abundance_unit,
            "description": community.abundance_description,
        }
    }
    for name, (description, unit) in community.environment_columns.items():
        variables[name] = {"dimensions": ["geometry"], "type": "data", "description": description}
        if unit:
            variables[name]["unit"] = unit
    return {
        "cube:dimensions": {
            "geometry": {
                "type": "geometry",
                "axes": ["x", "y"],
                "bbox": [float(x.min()), float(y.min()), float(x.max()), float(y.max())],
                "geometry_types": ["Point"],
                "reference_system": reference,
            },
            "species": {"type": "other", "values": [str(c) for c in community.abundance.columns]},
        },
        "cube:variables": variables,
    }


# --- doubs (ade4): fish of the Doubs river ---------------------------------------------------------------------------

DOUBS_ENVIRONMENT = {
    # ade4's help page: the values are scaled as stated (e.g. km * 10), kept as published
    "dfs": ("Distance from the source (km x 10)", "100 m"),
    "alt": ("Altitude", "m"),
    "slo": ("Slope, ln(x + 1) where x is the slope in per mil x 100", "1"),
    "flo": ("Minimum average stream flow (m3/s x 100)", "0.01 m3 s-1"),
    "pH": ("pH (x 10)", "0.1"),
    "har": ("Total hardness of water (mg/l of calcium)", "mg L-1"),
    "pho": ("Phosphates (mg/l x 100)", "0.01 mg L-1"),
    "nit": ("Nitrates (mg/l x 100)", "0.01 mg L-1"),
    "amm": ("Ammonia nitrogen (mg/l x 100)", "0.01 mg L-1"),
    "oxy": ("Dissolved oxygen (mg/l x 10)", "0.1 mg L-1"),
    "bdo": ("Biological demand for oxygen (mg/l x 10)", "0.1 mg L-1"),
}
DOUBS_NOTE = (
    "Local coordinates (ade4 doubs$xy, unit and origin undocumented; not km: the source and the confluence, "
    "about 90 km apart, are 149 units apart). Not georeferenced: no geographic CRS, no reprojection."
)
# The course of the Doubs (source at Mouthe, confluence with the Saône at Verdun-sur-le-Doubs, loop through
# Switzerland): the study area the documentation names, not a georeference of the sites.
DOUBS_STUDY_AREA = [5.0, 46.5, 7.3, 47.6]


def doubs_sources() -> list[Source] | None:
    found = r_data("ade4", "doubs", "GPL-2.0-or-later")
    return [found] if found else None


def doubs_community(src: Source) -> Community:
    doubs = read_rda(src)["doubs"]
    species = doubs["species"]
    codes = [str(c) for c in species["code"]]
    fish = doubs["fish"]
    if [str(c) for c in fish.columns] != codes:
        raise ValueError("doubs$fish columns and doubs$species codes differ")
    return Community(
        sites=[str(s) for s in fish.index],
        x=doubs["xy"]["x"].to_numpy(dtype="float64"),
        y=doubs["xy"]["y"].to_numpy(dtype="float64"),
        crs=DOUBS_CRS,
        abundance=fish,
        environment=doubs["env"],
        abundance_unit="1",
        abundance_description="Abundance class (0-5) of the fish species",
        environment_columns=DOUBS_ENVIRONMENT,
        species_names={
            "scientific_name": [str(s) for s in species["Scientific"]],
            "french_name": [str(s) for s in species["French"]],
            "english_name": [str(s) for s in species["English"]],
        },
        crs_note=DOUBS_NOTE,
    )


def produce_doubs(srcs: list[Source], out: Path) -> None:
    write_community(doubs_community(srcs[0]), out / "doubs-fish.parquet")


def describe_doubs(srcs: list[Source], out: Path) -> pystac.Collection:
    return describe_community(
        doubs_community(srcs[0]),
        out / "doubs-fish.parquet",
        collection_id="doubs-fish",
        title="Fish of the Doubs river: abundance of 27 species at 30 sites, with their environment",
        description="Abundance classes of 27 freshwater fish species at 30 sites along the Doubs (France, "
        "Switzerland), with 11 environmental variables per site (distance from the source, altitude, slope, flow, "
        "pH, hardness, phosphates, nitrates, ammonia, dissolved oxygen, biological oxygen demand), from Verneaux "
        "(1973), as shipped in R's ade4 package (Debian r-cran-ade4, dataset doubs). Poissons du Doubs : "
        "abondance de 27 espèces en 30 stations. " + DOUBS_NOTE,
        keywords=[
            "fish",
            "freshwater fish",
            "poissons",
            "poisson",
            "poissons d'eau douce",
            "river",
            "rivière",
            "Doubs",
            "Franche-Comté",
            "water quality",
            "qualité de l'eau",
            "EARTH SCIENCE > BIOLOGICAL CLASSIFICATION > ANIMALS/VERTEBRATES > FISH",
        ],
        licence="GPL-2.0-or-later",
        producers=[
            pystac.Provider("J. Verneaux (1973), Université de Besançon", roles=[pystac.ProviderRole.PRODUCER]),
            pystac.Provider("ade4 (Debian r-cran-ade4)", roles=[pystac.ProviderRole.HOST]),
        ],
        bbox=DOUBS_STUDY_AREA,
        interval=(None, datetime(1973, 12, 31, 23, 59, 59, tzinfo=UTC)),
        georeferenced=False,
    )


# --- mite (vegan): oribatid mites in 70 soil cores -----------------------------------------------------------------

MITE_ENVIRONMENT = {
    "SubsDens": ("Substrate density", "g L-1"),
    "WatrCont": ("Water content of the substrate", "g L-1"),
    "Substrate": ("Substrate type (Sphagn1-4, Litter, Barepeat, Interface)", ""),
    "Shrub": ("Shrub density (None < Few < Many)", ""),
    "Topo": ("Microtopography (Blanket, Hummock)", ""),
}
MITE_NOTE = (
    "Local coordinates in metres on the 2.5 m x 10 m sampling plot (vegan mite.xy); the plot itself is not "
    "georeferenced in the source, so the collection's extent is the whole globe."
)


def mite_sources() -> list[Source] | None:
    found = [r_data("vegan", name, "GPL-2.0-only") for name in ("mite", "mite.env", "mite.xy")]
    return None if None in found else [s for s in found if s is not None]


def mite_community(srcs: list[Source]) -> Community:
    mite, env, xy = (read_rda(src)[name] for src, name in zip(srcs, ("mite", "mite.env", "mite.xy"), strict=True))
    return Community(
        sites=[str(s) for s in mite.index],
        x=xy["x"].to_numpy(dtype="float64"),
        y=xy["y"].to_numpy(dtype="float64"),
        crs=MITE_CRS,
        abundance=mite,
        environment=env,
        abundance_unit="count",
        abundance_description="Number of individuals of the oribatid mite species in the soil core",
        environment_columns=MITE_ENVIRONMENT,
        crs_note=MITE_NOTE,
    )


def produce_mite(srcs: list[Source], out: Path) -> None:
    write_community(mite_community(srcs), out / "oribatid-mites.parquet")


def describe_mite(srcs: list[Source], out: Path) -> pystac.Collection:
    return describe_community(
        mite_community(srcs),
        out / "oribatid-mites.parquet",
        collection_id="oribatid-mites",
        title="Oribatid mites: counts of 35 species in 70 soil cores, with substrate and microtopography",
        description="Counts of 35 oribatid mite species (Acari, Oribatei) in 70 soil cores collected by Daniel "
        "Borcard in 1989 in a peat-moss plot of 2.5 m x 10 m, with substrate density, water content, substrate "
        "type, shrub density and microtopography (Borcard et al. 1992, 1994), as shipped in R's vegan package "
        "(Debian r-cran-vegan: mite, mite.env, mite.xy). Acariens oribates : effectifs de 35 espèces dans 70 "
        "carottes de sol. " + MITE_NOTE,
        keywords=[
            "oribatid mites",
            "mites",
            "Acari",
            "acariens",
            "acariens oribates",
            "soil fauna",
            "faune du sol",
            "peat bog",
            "tourbière",
        ],
        licence="GPL-2.0-only",
        producers=[
            pystac.Provider("D. Borcard, P. Legendre (Université de Montréal)", roles=[pystac.ProviderRole.PRODUCER]),
            pystac.Provider("vegan (Debian r-cran-vegan)", roles=[pystac.ProviderRole.HOST]),
        ],
        bbox=[-180.0, -90.0, 180.0, 90.0],
        interval=(datetime(1989, 1, 1, tzinfo=UTC), datetime(1989, 12, 31, 23, 59, 59, tzinfo=UTC)),
        georeferenced=False,
    )


# --- BCI (vegan): trees of Barro Colorado Island ---------------------------------------------------------------------

BCI_ENVIRONMENT = {
    "Precipitation": ("Precipitation", "mm year-1"),
    "Elevation": ("Elevation above sea level", "m"),
    "Age.cat": ("Forest age category", ""),
    "Geology": ("Underlying geological formation", ""),
    "Habitat": ("Dominant habitat type (Young, OldSlope, OldLow, OldHigh, Swamp)", ""),
    "Stream": ("Streamside habitat in the plot (Yes/No)", ""),
    "EnvHet": ("Environmental heterogeneity (Simpson diversity of habitat types in 25 cells)", "1"),
}
BCI_NOTE = (
    "UTM zone 17N coordinates of the plots (vegan BCI.env UTM.EW, UTM.NS); the source does not state the datum: "
    "WGS 84 (EPSG:32617) is assumed (NAD27 would place the plots about 200 m further north)."
)


def bci_sources() -> list[Source] | None:
    found = [r_data("vegan", name, "GPL-2.0-only") for name in ("BCI", "BCI.env")]
    return None if None in found else [s for s in found if s is not None]


def bci_community(srcs: list[Source]) -> Community:
    trees = read_rda(srcs[0])["BCI"]
    env = read_rda(srcs[1])["BCI.env"]
    return Community(
        sites=[str(s) for s in trees.index],
        x=env["UTM.EW"].to_numpy(dtype="float64"),
        y=env["UTM.NS"].to_numpy(dtype="float64"),
        crs=BCI_CRS,
        abundance=trees,
        environment=env[list(BCI_ENVIRONMENT)],
        abundance_unit="count",
        abundance_description="Number of trees of at least 10 cm diameter at breast height in the 1-ha plot",
        environment_columns=BCI_ENVIRONMENT,
        crs_note=BCI_NOTE,
    )


def produce_bci(srcs: list[Source], out: Path) -> None:
    write_community(bci_community(srcs), out / "bci-trees.parquet")


def describe_bci(srcs: list[Source], out: Path) -> pystac.Collection:
    return describe_community(
        bci_community(srcs),
        out / "bci-trees.parquet",
        collection_id="bci-trees",
        title="Trees of Barro Colorado Island (Panama): counts of 225 species in 50 one-hectare plots",
        description="Counts of trees of at least 10 cm diameter at breast height, 225 species, in the 50 "
        "one-hectare plots of the Barro Colorado Island forest dynamics plot (Condit et al. 2002), with "
        "precipitation, elevation, forest age, geology, habitat, streams and environmental heterogeneity "
        "(Pyke et al. 2001, Harms et al. 2001), as shipped in R's vegan package (Debian r-cran-vegan: BCI, "
        "BCI.env). Arbres de l'île de Barro Colorado : effectifs de 225 espèces dans 50 parcelles d'un hectare "
        "de forêt tropicale. " + BCI_NOTE,
        keywords=[
            "trees",
            "arbres",
            "tropical forest",
            "forêt tropicale",
            "forest inventory",
            "inventaire forestier",
            "Barro Colorado Island",
            "Panama",
            "EARTH SCIENCE > BIOLOGICAL CLASSIFICATION > PLANTS",
        ],
        licence="GPL-2.0-only",
        producers=[
            pystac.Provider(
                "Smithsonian Tropical Research Institute (Condit et al. 2002)", roles=[pystac.ProviderRole.PRODUCER]
            ),
            pystac.Provider("vegan (Debian r-cran-vegan)", roles=[pystac.ProviderRole.HOST]),
        ],
        bbox=None,
        interval=(None, datetime(2002, 12, 31, 23, 59, 59, tzinfo=UTC)),
        georeferenced=True,
    )
