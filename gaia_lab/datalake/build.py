"""Building the demo data lake: datasets -> lake files -> one static STAC catalog per hub -> federation.yaml."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import pystac
import yaml

from gaia_lab.datalake.datasets import Dataset, catalogue
from gaia_lab.datalake.iso import ISO_HUBS, write_iso_records
from gaia_lab.datalake.sources import Source
from gaia_lab.datalake.writers import WRITERS_VERSION, build_once
from gaia_lab.errors import DataBuildError, GaiaLabError
from gaia_lab.paths import default_lake_dir

HUB_TITLES = {
    "odatis": ("ocean", "ODATIS — ocean data hub"),
    "aeris": ("atmosphere", "AERIS — atmosphere data hub"),
    "theia": ("land", "THEIA — land surface data hub"),
    "formater": ("solid-earth", "FORM@TER — solid Earth data hub"),
    "dinamis": ("imagery", "DINAMIS — very-high-resolution imagery"),
    "climeri": ("climate", "CLIMERI — climate model data"),
    "pndb": ("biodiversity", "PNDB — Pôle National de Données de Biodiversité"),
}


@dataclass
class DatasetReport:
    provider: str
    collection: str
    sources: list[str]
    formats: list[str]
    size: int
    items: int
    rebuilt: bool


@dataclass
class LakeReport:
    directory: Path
    datasets: list[DatasetReport] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"demo data lake at {self.directory} ({self.seconds:.1f} s)"]
        for d in self.datasets:
            state = "built" if d.rebuilt else "up to date"
            lines.append(
                f"  {d.provider + '/' + d.collection:<28} {'+'.join(d.formats):<10} {d.items:>3} item(s) "
                f"{d.size / 2**20:8.1f} MiB  {state:<10}  from {', '.join(d.sources)}"
            )
        for name, reason in self.skipped.items():
            lines.append(f"  {name:<27} skipped: {reason}")
        lines.append(f"  federation: {self.directory / 'federation.yaml'}")
        return "\n".join(lines)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build_lake(directory: str | Path | None = None, *, force: bool = False) -> LakeReport:
    """Build (or bring up to date) the demo data lake; unchanged datasets are reused, so a rebuild is fast."""
    started = time.monotonic()
    lake = Path(directory).expanduser().resolve() if directory else default_lake_dir()
    lake.mkdir(parents=True, exist_ok=True)
    report = LakeReport(lake)
    hubs: dict[str, pystac.Catalog] = {}
    for dataset in catalogue():
        found = dataset.find_sources()
        if found is None:
            report.skipped[f"{dataset.provider}/{dataset.collection_id}"] = "optional source or extra not present"
            continue
        out = lake / dataset.provider / dataset.collection_id
        if force:
            shutil.rmtree(out, ignore_errors=True)
        fingerprint = {
            "sources": {str(s.path): s.fingerprint for s in found},
            "recipe": dataset.recipe,
            "writers": WRITERS_VERSION,
        }
        try:
            rebuilt = build_once(out, fingerprint, partial(_produce, dataset, found))
            collection = dataset.describe(found, out)
        except GaiaLabError:
            raise
        except Exception as error:  # a source that does not look as expected: name it
            raise DataBuildError(
                f"cannot convert for {dataset.provider}/{dataset.collection_id}: {type(error).__name__}: {error}",
                source=str(found[0].path),
            ) from error
        hub, title = HUB_TITLES[dataset.provider]
        catalog = hubs.setdefault(
            dataset.provider,
            pystac.Catalog(
                dataset.provider,
                f"{title}: demo collections built from real data shipped in packages.",
                title=title,
                extra_fields={"gaia:hub": hub},
            ),
        )
        catalog.add_child(collection)
        report.datasets.append(
            DatasetReport(
                dataset.provider,
                dataset.collection_id,
                [f"{s.package}:{s.path.name}" for s in found],
                dataset.formats,
                _size(out),
                len(list(collection.get_items())),
                rebuilt,
            )
        )
    for provider, catalog in hubs.items():
        catalog.normalize_hrefs(str(lake / provider))
        catalog.make_all_asset_hrefs_relative()
        catalog.save(pystac.CatalogType.SELF_CONTAINED)
    # The hubs whose real catalogues speak CSW publish ISO 19139 records too (gaia_lab/datalake/iso.py).
    write_iso_records(lake, [provider for provider in ISO_HUBS if provider in hubs])
    _write_intake_esm(lake, report)
    _write_federation(lake, hubs)
    report.seconds = time.monotonic() - started
    return report


def _produce(dataset: Dataset, found: list[Source], staging: Path) -> None:
    dataset.produce(found, staging)


def _write_intake_esm(lake: Path, report: LakeReport) -> None:
    """The climate hub also publishes its Zarr stores as an intake-esm datastore (the CMIP modellers' format)."""
    rows = []
    for dataset in catalogue():
        if dataset.provider != "climeri" or not (lake / "climeri" / dataset.collection_id).is_dir():
            continue
        store = lake / "climeri" / dataset.collection_id / f"{dataset.collection_id}.zarr"
        attrs = json.loads((store / ".zattrs").read_text()) if (store / ".zattrs").exists() else {}
        rows.append(
            {
                "activity_id": "SRES",
                "institution_id": "MOHC",
                "source_id": "UM-6.05",
                "experiment_id": attrs.get("experiment_id", dataset.collection_id),
                "table_id": "mon",
                "variable_id": "tas",
                "standard_name": "air_temperature",
                "time_range": "186001-209912",
                "bbox": "-135,15,-45,60",
                "path": f"climeri/{dataset.collection_id}/{store.name}",
                "format": "zarr",
            }
        )
    if not rows:
        return
    frame = pd.DataFrame(rows)
    # URIs, not paths: intake-esm hands zarr storage_options, which zarr 3 accepts only with an fsspec URI
    frame["path"] = [(lake / p).as_uri() for p in frame["path"]]
    frame.to_csv(lake / "climeri" / "esm-datastore.csv", index=False)
    datastore = {
        "esmcat_version": "0.1.0",
        "id": "climeri-sres",
        "description": "CLIMERI demo: SRES scenario runs",
        "catalog_file": "esm-datastore.csv",
        "attributes": [
            {"column_name": c, "vocabulary": ""}
            for c in ("activity_id", "institution_id", "source_id", "experiment_id", "table_id", "variable_id")
        ],
        "assets": {"column_name": "path", "format_column_name": "format"},
        "aggregation_control": {
            "variable_column_name": "variable_id",
            "groupby_attrs": ["activity_id", "institution_id", "source_id", "experiment_id", "table_id"],
            "aggregations": [{"type": "union", "attribute_name": "variable_id"}],
        },
    }
    (lake / "climeri" / "esm-datastore.json").write_text(json.dumps(datastore, indent=2))


def _write_federation(lake: Path, hubs: dict[str, pystac.Catalog]) -> None:
    providers = [
        {
            "name": name,
            "title": HUB_TITLES[name][1],
            "hub": HUB_TITLES[name][0],
            "type": "stac",
            "url": f"./{name}/catalog.json",
        }
        for name in hubs
    ]
    if (lake / "climeri" / "esm-datastore.json").exists():
        providers.append(
            {
                "name": "climeri-esm",
                "title": "CLIMERI — intake-esm datastore of scenario runs",
                "hub": "climate",
                "type": "intake-esm",
                "url": "./climeri/esm-datastore.json",
            }
        )
    document = {"title": "GAIA Lab demo data lake", "providers": providers}
    partial = lake / "federation.yaml.partial"
    partial.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    partial.replace(lake / "federation.yaml")


__all__ = ["Dataset", "LakeReport", "build_lake"]
