"""pygeoapi 0.21 (the OSGeo OGC API server) publishing ISO 19139 records as OGC API - Records, one collection per hub.

Two environments take part, so this file imports only the standard library at module level:

- ``publish`` runs in the main environment (it reads ISO 19139 with OWSLib): each collection's records become
  OGC API - Records GeoJSON in a TinyDB file, and the server's config is written;
- ``serve`` runs in pygeoapi's own virtualenv (``scripts/install-catalogue-servers.sh`` makes ``.venv-pygeoapi``)::

    .venv-pygeoapi/bin/python -P gaia_lab/datalake/pygeoapi.py serve --workdir WORK --host 127.0.0.1 --port PORT

``serve`` generates the OpenAPI document pygeoapi needs, then serves until killed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

CONFIG_NAME = "pygeoapi.yml"
OPENAPI_NAME = "openapi.yml"
SCRIPT = Path(__file__).resolve()
RECORD_CONFORMANCE = "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"

_MEDIA_TYPES = {
    ".zarr": "application/vnd+zarr",
    ".tif": "image/tiff; application=geotiff",
    ".tiff": "image/tiff; application=geotiff",
    ".nc": "application/netcdf",
    ".json": "application/json",
}


def command(python: str | os.PathLike[str], action: str, **options: object) -> list[str]:
    """The command line running ``action`` with the pygeoapi virtualenv's ``python``."""
    line = [os.fspath(python), "-P", str(SCRIPT), action]
    for key, value in options.items():
        line += [f"--{key.replace('_', '-')}", str(value)]
    return line


def _media_type(url: str, protocol: str) -> str | None:
    if "zarr" in protocol.lower():
        return _MEDIA_TYPES[".zarr"]
    if "stac" in protocol.lower():
        return _MEDIA_TYPES[".json"]
    suffix = Path(url.split("?", 1)[0].rstrip("/")).suffix.lower()
    return _MEDIA_TYPES.get(suffix)


def iso_to_record(xml: bytes) -> dict[str, Any]:
    """An OGC API - Records record (GeoJSON) from an ISO 19139 document read by OWSLib: what a catalogue that
    publishes both (pycsw 3, GeoNetwork 4) serves for the same metadata. Keywords with a thesaurus become
    ``themes`` with that thesaurus as their scheme."""
    import warnings

    from lxml import etree
    from owslib.iso import MD_Metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OWSLib warns about optional elements real records leave out
        metadata = MD_Metadata(etree.fromstring(xml))
    ident = metadata.identification[0]
    themes: list[dict[str, Any]] = []
    keywords: list[str] = []
    for group in ident.keywords or []:
        words = [k.name for k in group.keywords if k.name]
        title = (group.thesaurus or {}).get("title") if group.thesaurus else None
        if title:
            themes.append({"concepts": [{"id": w} for w in words], "scheme": title})
        else:
            keywords.extend(words)
    geometry = None
    if ident.bbox is not None:
        w, s, e, n = (float(v) for v in (ident.bbox.minx, ident.bbox.miny, ident.bbox.maxx, ident.bbox.maxy))
        geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    time_member = None
    if ident.temporalextent_start or ident.temporalextent_end:
        time_member = {"interval": [ident.temporalextent_start or "..", ident.temporalextent_end or ".."]}
    online = list(metadata.distribution.online or []) if metadata.distribution else []
    for distributor in (metadata.distribution.distributor or []) if metadata.distribution else []:
        online.extend(distributor.online or [])
    links = []
    for resource in online:
        if not resource.url:
            continue
        link = {"href": resource.url, "rel": "enclosure" if "download" in str(resource.protocol).lower() else "related"}
        media_type = _media_type(resource.url, str(resource.protocol or ""))
        if media_type:
            link["type"] = media_type
        if resource.name:
            link["title"] = resource.name
        links.append(link)
    title = ident.title or metadata.identifier
    description = ident.abstract or ""
    properties: dict[str, Any] = {
        "type": "dataset",
        "title": title,
        "description": description,
        "keywords": keywords,
        "themes": themes,
        # pygeoapi's TinyDB catalogue searches ``q`` in this text and compares ``datetime`` with one property.
        "_metadata-anytext": " ".join(
            [title, description, *keywords, *(c["id"] for t in themes for c in t["concepts"])]
        ),
    }
    if ident.temporalextent_start:
        properties["start_datetime"] = ident.temporalextent_start
    return {
        "id": metadata.identifier,
        "type": "Feature",
        "conformsTo": [RECORD_CONFORMANCE],
        "geometry": geometry,
        "time": time_member,
        "properties": properties,
        "links": links,
    }


def server_config(url: str, host: str, port: int, databases: Mapping[str, Path]) -> dict[str, Any]:
    """pygeoapi's configuration: one record collection per entry of ``databases`` (collection id -> TinyDB)."""
    resources = {
        name: {
            "type": "collection",
            "title": f"{name} metadata records",
            "description": f"ISO 19139 records of {name}, published as OGC API - Records",
            "keywords": ["metadata", name],
            "links": [],
            "extents": {
                "spatial": {"bbox": [-180, -90, 180, 90], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
            },
            "providers": [
                {
                    "type": "record",
                    "name": "TinyDBCatalogue",
                    "data": str(database),
                    "id_field": "id",
                    "time_field": "start_datetime",
                    "title_field": "title",
                }
            ],
        }
        for name, database in databases.items()
    }
    return {
        "server": {
            "bind": {"host": host, "port": port},
            "url": url.rstrip("/"),
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": 100},
            # pygeoapi requires a base map for its HTML pages; clients of the JSON API never load it.
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OpenStreetMap"},
            "admin": False,
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": "GAIA Lab records"},
                "description": {"en": "The data hubs' ISO records as OGC API - Records"},
                "keywords": {"en": ["records", "metadata"]},
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": url,
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "GAIA Lab", "url": url},
            "contact": {"name": "GAIA Lab", "email": "gaia-lab@localhost"},
        },
        "resources": resources,
    }


def publish_records(
    collections: Mapping[str, Sequence[Mapping[str, Any]]], workdir: Path, *, url: str, host: str, port: int
) -> int:
    """TinyDB files and the config serving ``collections`` (collection id -> Records GeoJSON); the records written."""
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    databases: dict[str, Path] = {}
    for name, records in collections.items():
        # pygeoapi 0.21's TinyDB bbox test calls shapely's shape() on every record's geometry and answers 500 for a
        # null one (a record without extent): such records are stored without the member, which TinyDB skips.
        stored = [{k: v for k, v in r.items() if not (k == "geometry" and v is None)} for r in records]
        database = workdir / f"{name}.tinydb"
        database.unlink(missing_ok=True)
        database.write_text(json.dumps({"_default": {str(i + 1): r for i, r in enumerate(stored)}}))
        database.chmod(0o444)  # pygeoapi opens TinyDB read-only; the file stays as published
        databases[name] = database
    (workdir / CONFIG_NAME).write_text(yaml.safe_dump(server_config(url, host, port, databases), sort_keys=False))
    return sum(len(records) for records in collections.values())


def publish(collections: Mapping[str, Iterable[Path]], workdir: Path, *, url: str, host: str, port: int) -> int:
    """:func:`publish_records` of ISO 19139 files (collection id -> files)."""
    records = {name: [iso_to_record(p.read_bytes()) for p in sorted(paths)] for name, paths in collections.items()}
    return publish_records(records, workdir, url=url, host=host, port=port)


def serve(workdir: Path, host: str, port: int) -> None:
    """Generate the OpenAPI document, then serve pygeoapi's Flask application (threaded) until killed."""
    config, openapi = workdir / CONFIG_NAME, workdir / OPENAPI_NAME
    os.environ["PYGEOAPI_CONFIG"] = str(config)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi)
    pygeoapi = Path(sys.executable).parent / "pygeoapi"
    subprocess.run([str(pygeoapi), "openapi", "generate", str(config), "--output-file", str(openapi)], check=True)
    from pygeoapi.flask_app import APP
    from werkzeug.serving import run_simple

    run_simple(host, port, APP, threaded=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    serve_parser = actions.add_parser("serve", help="serve a published workdir")
    serve_parser.add_argument("--workdir", type=Path, required=True)
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args(argv)
    serve(arguments.workdir, arguments.host, arguments.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
