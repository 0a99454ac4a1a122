"""Entry metadata shared by the intake-style providers (free-form mappings rather than STAC)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gaia_lab.errors import InvalidQuery
from gaia_lab.query import BBox, Interval, parse_datetime


def bbox_from(metadata: Mapping[str, Any]) -> BBox | None:
    return BBox.from_stac(metadata.get("bbox"))


def interval_from(metadata: Mapping[str, Any]) -> Interval | None:
    value = metadata.get("datetime")
    if value is None and ("start_datetime" in metadata or "end_datetime" in metadata):
        value = (metadata.get("start_datetime") or "..", metadata.get("end_datetime") or "..")
    try:
        return parse_datetime(value)
    except InvalidQuery:
        return None


def string_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []
