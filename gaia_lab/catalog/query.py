"""Parsing and validation of search/open parameters: bbox, datetime, limit, names.

Every parser accepts the forms users type (strings from the CLI, tuples from Python) and raises
:class:`~gaia_lab.errors.InvalidQuery` naming the parameter for anything else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd

from gaia_lab.errors import InvalidQuery

BBox = tuple[float, float, float, float]
Interval = tuple[datetime | None, datetime | None]

_OPEN_ENDS = {"", "..", None}


def parse_bbox(value: object, parameter: str = "bbox") -> BBox | None:
    """A WGS84 ``(west, south, east, north)`` box from a 4-sequence or a ``"w,s,e,n"`` string.

    ``west > east`` is allowed: the box crosses the antimeridian.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts: Sequence[object] = [p for p in re.split(r"[,\s]+", value.strip()) if p]
    elif isinstance(value, Iterable):
        parts = list(value)
    else:
        raise InvalidQuery(parameter, value, "expected (west, south, east, north) in degrees")
    if len(parts) != 4:
        raise InvalidQuery(parameter, value, f"expected 4 numbers (west, south, east, north), got {len(parts)}")
    try:
        west, south, east, north = (float(p) for p in parts)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidQuery(parameter, value, "every bound must be a number") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidQuery(parameter, value, "bounds must be finite")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise InvalidQuery(parameter, value, "longitudes must lie in [-180, 180]")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidQuery(parameter, value, "latitudes must lie in [-90, 90]")
    if south > north:
        raise InvalidQuery(parameter, value, "south is greater than north")
    return (west, south, east, north)


def _parse_instant(text: object, parameter: str, original: object, *, end: bool) -> datetime | None:
    if text in _OPEN_ENDS:
        return None
    if isinstance(text, datetime):
        stamp = pd.Timestamp(text)
    elif isinstance(text, date):
        stamp = pd.Timestamp(text)
        if end:
            stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    elif isinstance(text, str):
        raw = text.strip()
        try:
            stamp = pd.Timestamp(raw)
        except (ValueError, TypeError, OverflowError):
            raise InvalidQuery(parameter, original, f"{raw!r} is not an ISO 8601 date or datetime") from None
        if end:
            # A bare year, month or day as the end of a range means the whole period.
            period = {4: "Y", 7: "M", 10: "D"}.get(len(raw))
            if period and re.fullmatch(r"\d{4}(-\d{2}){0,2}", raw):
                stamp = pd.Period(raw, freq=period).end_time
    else:
        raise InvalidQuery(parameter, original, "expected an ISO 8601 string, a date or a datetime")
    if stamp is pd.NaT or pd.isna(stamp):
        raise InvalidQuery(parameter, original, "not a date")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    # Period ends carry nanoseconds (…59.999999999); Python datetimes stop at microseconds.
    moment: datetime = stamp.tz_convert(UTC).floor("us").to_pydatetime()
    return moment


def parse_datetime(value: object, parameter: str = "datetime") -> Interval | None:
    """A closed UTC interval from ``"2020"``, ``"2020-01/2020-06"``, ``"../2020-01-01"``, a datetime or a pair.

    A single year, month or day means that whole period; ``..`` or an empty side leaves the interval open.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if "/" in value:
            parts = value.split("/")
            if len(parts) != 2:
                raise InvalidQuery(parameter, value, "expected START/END")
            start_text, end_text = (p.strip() for p in parts)
        else:
            if not value.strip():
                raise InvalidQuery(parameter, value, "empty datetime")
            start_text = end_text = value.strip()
        start = _parse_instant(start_text, parameter, value, end=False)
        end = _parse_instant(end_text, parameter, value, end=True)
    elif isinstance(value, date):
        start = _parse_instant(value, parameter, value, end=False)
        end = _parse_instant(value, parameter, value, end=not isinstance(value, datetime))
    elif isinstance(value, Sequence) and len(value) == 2:
        start = _parse_instant(value[0], parameter, value, end=False)
        end = _parse_instant(value[1], parameter, value, end=True)
    else:
        raise InvalidQuery(parameter, value, "expected 'START/END', a date/datetime or a (start, end) pair")
    if start is None and end is None:
        raise InvalidQuery(parameter, value, "both ends are open; omit datetime instead")
    if start is not None and end is not None and start > end:
        raise InvalidQuery(parameter, value, "start is after end")
    return (start, end)


def format_interval(interval: Interval) -> str:
    """The STAC API form of an interval (``START/END`` with ``..`` for an open end)."""

    def fmt(moment: datetime | None) -> str:
        return ".." if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return f"{fmt(interval[0])}/{fmt(interval[1])}"


def parse_names(value: object, parameter: str) -> list[str] | None:
    """A list of names from a string (comma separated) or an iterable of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, Iterable):
        names = list(value)
        if not all(isinstance(n, str) and n for n in names):
            raise InvalidQuery(parameter, value, "expected non-empty strings")
    else:
        raise InvalidQuery(parameter, value, "expected a string or a list of strings")
    if not names:
        raise InvalidQuery(parameter, value, "empty list")
    return names


def parse_limit(value: object, parameter: str = "limit") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidQuery(parameter, value, "expected a positive integer")
    try:
        limit = int(value)
    except ValueError:
        raise InvalidQuery(parameter, value, "expected a positive integer") from None
    if limit < 1:
        raise InvalidQuery(parameter, value, "must be at least 1")
    return limit


def bbox_intersects(a: BBox, b: BBox) -> bool:
    """Whether two WGS84 boxes overlap, with antimeridian-crossing boxes (west > east) handled."""

    def spans(box: BBox) -> list[tuple[float, float]]:
        west, _, east, _ = box
        return [(west, 180.0), (-180.0, east)] if west > east else [(west, east)]

    if a[1] > b[3] or b[1] > a[3]:
        return False
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in spans(a) for lo2, hi2 in spans(b))


def interval_intersects(a: Interval, b: Interval) -> bool:
    """Whether two closed intervals (``None`` = open end) overlap."""
    a_start, a_end = a
    b_start, b_end = b
    if a_start is not None and b_end is not None and a_start > b_end:
        return False
    return not (b_start is not None and a_end is not None and b_start > a_end)


@dataclass(frozen=True)
class Query:
    """A validated search query."""

    q: str | None = None
    bbox: BBox | None = None
    datetime: Interval | None = None
    hubs: list[str] | None = None
    collections: list[str] | None = None
    variables: list[str] | None = None
    limit: int | None = None
    terms: list[str] = field(default_factory=list)

    @classmethod
    def parse(
        cls,
        q: object = None,
        bbox: object = None,
        datetime: object = None,
        hubs: object = None,
        collections: object = None,
        variables: object = None,
        limit: object = None,
    ) -> Query:
        if q is not None and not isinstance(q, str):
            raise InvalidQuery("q", q, "expected a string")
        return cls(
            q=q.strip() or None if isinstance(q, str) else None,
            bbox=parse_bbox(bbox),
            datetime=parse_datetime(datetime),
            hubs=parse_names(hubs, "hubs"),
            collections=parse_names(collections, "collections"),
            variables=parse_names(variables, "variables"),
            limit=parse_limit(limit),
        )
