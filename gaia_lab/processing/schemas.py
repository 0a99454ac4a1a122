"""JSON Schema fragments shared by the process descriptions (OGC API - Processes puts one schema per input)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

ENTRY: Schema = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9-]*/.+$",
    "description": "An entry id of the federation, '<provider>/<collection or item id>'.",
}
BBOX: Schema = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 4,
    "maxItems": 4,
    "description": "west, south, east, north in degrees (WGS 84); west > east crosses the antimeridian.",
}
DATETIME: Schema = {
    "type": "string",
    "minLength": 1,
    "description": "An instant or an interval 'start/end' (RFC 3339, '..' for open ends; '2020', '2020-06' allowed).",
}
VARIABLES: Schema = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "minItems": 1,
    "uniqueItems": True,
    "description": "Data variables to keep (default: all).",
}
CRS: Schema = {"type": "string", "minLength": 1, "description": "A CRS: 'EPSG:3035', a WKT2 string or a PROJ string."}
RESOLUTION: Schema = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": "Pixel size in units of the CRS (degrees for EPSG:4326, metres for projected CRSs).",
}
RESAMPLING: Schema = {
    "type": "string",
    "enum": ["nearest", "bilinear", "cubic", "average", "min", "max", "mode"],
    "default": "nearest",
    "description": "Resampling method (GDAL's, through odc-geo).",
}
GEOJSON_POSITION: Schema = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3}


def feature_collection(geometry_types: list[str], description: str) -> Schema:
    """A GeoJSON FeatureCollection (RFC 7946, coordinates in WGS 84) whose geometries have one of these types.

    Written in the subset of JSON Schema that OGC API - Processes 1.0 allows (OpenAPI 3.0 schema objects: no
    ``const``, one ``type`` per schema), so the process description validates against the standard's schema."""
    return {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "geometry"],
                    "properties": {
                        "type": {"type": "string", "enum": ["Feature"]},
                        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "properties": {"oneOf": [{"type": "object"}, {"enum": [None]}]},
                        "geometry": {
                            "type": "object",
                            "required": ["type", "coordinates"],
                            "properties": {
                                "type": {"type": "string", "enum": geometry_types},
                                "coordinates": {"type": "array"},
                            },
                        },
                    },
                },
            },
        },
        "contentMediaType": "application/geo+json",
        "description": description,
    }


#: The one output of every process: a STAC item whose assets are the files written (OGC API - Processes returns
#: it as JSON; the service registers it in the user's catalogue).
STAC_ITEM_OUTPUT: Schema = {
    "title": "Result (STAC item)",
    "description": "A STAC item describing the result: bbox, datetime, one asset per file written (hrefs to the "
    "files), and the datacube extension's fields for cubes. Open it with gl.open_datacube(<item href>).",
    "schema": {"type": "object", "contentMediaType": "application/geo+json"},
}


def input_field(title: str, schema: Schema, *, required: bool = False, description: str | None = None) -> Schema:
    """One input of an OGC process description."""
    return {
        "title": title,
        "description": description or str(schema.get("description", title)),
        "schema": schema,
        "minOccurs": 1 if required else 0,
        "maxOccurs": 1,
    }
