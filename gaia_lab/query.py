"""The query model: every search and open parameter parsed and validated once, at the door.

Users type parameters in many forms (strings on the command line, tuples and datetimes in Python, STAC JSON in
catalogues). Each parameter has exactly one parser here, which accepts those forms and raises
:class:`~gaia_lab.errors.InvalidQuery` naming the parameter for anything else. Past the door, code handles only the
validated types: :class:`BBox`, :data:`Interval`, :class:`Query` (a search) and :class:`CubeRequest` (an open).

Longitudes follow STAC and the OGC APIs: a box whose west edge is greater than its east edge crosses the
antimeridian, both in searches and in cubes.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from gaia_lab.errors import InvalidQuery

Interval = tuple[dt.datetime | None, dt.datetime | None]

_OPEN_ENDS = {"", "..", None}


class BBox(NamedTuple):
    """A WGS84 box; ``west > east`` means it crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.west > self.east

    def parts(self) -> list[BBox]:
        """The box as one or two boxes that do not cross the antimeridian."""
        if not self.crosses_antimeridian:
            return [self]
        return [BBox(self.west, self.south, 180.0, self.north), BBox(-180.0, self.south, self.east, self.north)]

    def intersects(self, other: BBox) -> bool:
        if self.south > other.north or other.south > self.north:
            return False
        return any(a.west <= b.east and b.west <= a.east for a in self.parts() for b in other.parts())

    @property
    def width(self) -> float:
        """Degrees of longitude covered (antimeridian-crossing boxes included)."""
        return sum(part.east - part.west for part in self.parts())

    @classmethod
    def from_stac(cls, value: object) -> BBox | None:
        """The footprint of a STAC ``bbox`` (2-D or 3-D); ``None`` when absent or malformed, so that a
        catalogue's bad metadata hides nothing: the object just cannot be filtered on."""
        if not value:
            return None
        if type(value) is list and len(value) == 4 and _NUMBERS.issuperset(map(type, value)):
            # The common case, read for every item of a search: four numbers inside the world (or, as global grids
            # have them, pixel edges past it), boxed as parse_bbox boxes them without its generic parsing.
            west, south, east, north = value
            if math.isfinite(west) and math.isfinite(east) and -90 <= south <= north <= 90:
                if east - west >= 360:
                    return cls(-180.0, float(south), 180.0, float(north))
                return cls(_wrap_longitude(float(west)), float(south), _wrap_longitude(float(east)), float(north))
        try:
            return parse_bbox(value, normalize=True)
        except InvalidQuery:
            return None


_NUMBERS = frozenset({int, float})


def _wrap_longitude(lon: float) -> float:
    return lon if -180 <= lon <= 180 else (lon + 180) % 360 - 180


def parse_bbox(value: object, parameter: str = "bbox", *, normalize: bool = False) -> BBox | None:
    """A WGS84 box from 4 numbers ``(west, south, east, north)`` or a STAC 3-D box of 6
    ``(west, south, zmin, east, north, zmax)``, as a sequence or a comma/space separated string.

    ``normalize`` reads catalogue metadata rather than a user's query: grids whose pixel edges pass the
    antimeridian or the poles (``-180.4``, ``90.01``) wrap and clamp instead of being refused."""
    if value is None:
        return None
    if isinstance(value, str):
        parts: Sequence[object] = [p for p in re.split(r"[,\s]+", value.strip()) if p]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):
        parts = list(value)
    else:
        raise InvalidQuery(parameter, value, "expected (west, south, east, north) in degrees")
    if len(parts) not in (4, 6):
        raise InvalidQuery(
            parameter,
            value,
            "expected 4 numbers (west, south, east, north) or 6 (west, south, zmin, east, north, zmax), "
            f"got {len(parts)}",
        )
    try:
        numbers = [float(p) for p in parts]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidQuery(parameter, value, "every bound must be a number") from None
    if not all(math.isfinite(v) for v in numbers):
        raise InvalidQuery(parameter, value, "bounds must be finite")
    west, south, east, north = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
    if normalize:
        west, east = (-180.0, 180.0) if east - west >= 360 else (_wrap_longitude(west), _wrap_longitude(east))
        south, north = max(-90.0, south), min(90.0, north)
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise InvalidQuery(parameter, value, "longitudes must lie in [-180, 180]")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidQuery(parameter, value, "latitudes must lie in [-90, 90]")
    if south > north:
        raise InvalidQuery(parameter, value, "south is greater than north")
    if len(numbers) == 6 and numbers[2] > numbers[5]:
        raise InvalidQuery(parameter, value, "zmin is greater than zmax")
    return BBox(west, south, east, north)


def parse_timestamp(value: object) -> dt.datetime | None:
    """A catalogue's timestamp (RFC 3339 in STAC, sometimes a bare date elsewhere) as an aware UTC datetime;
    ``None`` when absent or unreadable. Runs for every item of every search: ``fromisoformat`` reads RFC 3339 in
    a microsecond, the general parser is kept for the rest."""
    if isinstance(value, dt.datetime):
        return _utc(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return _utc(dt.datetime.fromisoformat(value))
    except ValueError:
        pass
    try:
        return _parse_instant(value, "datetime", value, end=False)
    except InvalidQuery:
        return None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


# The ISO 8601 forms read without pandas (a search then imports none of it), years pandas' nanosecond timestamps
# hold; anything else goes through pandas, which reads more forms and says which it cannot.
_SIMPLE_INSTANT = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?P<time>[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _simple_instant(text: object, *, end: bool) -> dt.datetime | None:
    """``text`` as ``_parse_instant`` reads it, when it is one of the simple forms; else ``None``."""
    if type(text) is dt.datetime or type(text) is dt.date:  # not pandas' Timestamp, a subclass
        if not 1678 <= text.year <= 2261:
            return None
        if type(text) is dt.datetime:
            return _utc(text)
        start = dt.datetime(text.year, text.month, text.day, tzinfo=dt.UTC)
        return start + dt.timedelta(days=1, microseconds=-1) if end else start
    if not isinstance(text, str):
        return None
    raw = text.strip()
    match = _SIMPLE_INSTANT.fullmatch(raw)
    if match is None or not 1678 <= int(match["year"]) <= 2261:
        return None
    try:
        if match["time"]:
            return _utc(dt.datetime.fromisoformat(raw))
        year, month, day = int(match["year"]), int(match["month"] or 1), int(match["day"] or 1)
        start = dt.datetime(year, month, day, tzinfo=dt.UTC)
    except ValueError:
        return None  # pandas names the error
    if not end:
        return start
    # A bare year, month or day as the end of a range means the whole period.
    if match["day"]:
        following = start + dt.timedelta(days=1)
    elif match["month"]:
        following = start.replace(year=year + month // 12, month=month % 12 + 1)
    else:
        following = start.replace(year=year + 1)
    return following - dt.timedelta(microseconds=1)


def _parse_instant(text: object, parameter: str, original: object, *, end: bool) -> dt.datetime | None:
    if text in _OPEN_ENDS:
        return None
    simple = _simple_instant(text, end=end)
    if simple is not None:
        return simple
    try:
        return _pandas_instant(text, parameter, original, end=end)
    except (ValueError, OverflowError):  # beyond pandas' nanosecond timestamps (years 1677-2262)
        raise InvalidQuery(parameter, original, "out of the supported range of dates (1678-2261)") from None


def _pandas_instant(text: object, parameter: str, original: object, *, end: bool) -> dt.datetime:
    import pandas as pd

    if isinstance(text, dt.datetime):
        stamp = pd.Timestamp(text)
    elif isinstance(text, dt.date):
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
        stamp = stamp.tz_localize(dt.UTC)
    # Period ends carry nanoseconds (…59.999999999); Python datetimes stop at microseconds.
    moment: dt.datetime = stamp.tz_convert(dt.UTC).floor("us").to_pydatetime()
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
    elif isinstance(value, dt.date):
        start = _parse_instant(value, parameter, value, end=False)
        end = _parse_instant(value, parameter, value, end=not isinstance(value, dt.datetime))
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


def interval_from_stac(start: object, end: object) -> Interval | None:
    """The time span of a STAC object from its (start, end) timestamps; ``None`` when it has neither."""
    first, last = parse_timestamp(start), parse_timestamp(end)
    if first is None and last is None:
        return None
    return (first, last)


def format_interval(interval: Interval) -> str:
    """The STAC API form of an interval (``START/END`` with ``..`` for an open end)."""

    def fmt(moment: dt.datetime | None) -> str:
        return ".." if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return f"{fmt(interval[0])}/{fmt(interval[1])}"


def interval_intersects(a: Interval, b: Interval) -> bool:
    """Whether two closed intervals (``None`` = open end) overlap."""
    a_start, a_end = a
    b_start, b_end = b
    if a_start is not None and b_end is not None and a_start > b_end:
        return False
    return not (b_start is not None and a_end is not None and b_start > a_end)


def parse_names(value: object, parameter: str) -> list[str] | None:
    """An ordered list of distinct names from a string (comma separated) or an iterable of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):
        names = list(value)
        if not all(isinstance(n, str) and n for n in names):
            raise InvalidQuery(parameter, value, "expected non-empty strings")
    else:
        raise InvalidQuery(parameter, value, "expected a string or a list of strings")
    if not names:
        raise InvalidQuery(parameter, value, "empty list")
    return list(dict.fromkeys(names))


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


READERS = ("gdal", "async-tiff")


def parse_reader(value: object) -> str | None:
    """The tile reader of a raster cube: ``"gdal"`` or ``"async-tiff"`` (None: the configured default, see
    ``gaia_lab.cube.async_tiff_reads``)."""
    if value is None or (isinstance(value, str) and value in READERS):
        return value
    raise InvalidQuery("reader", value, f"expected one of {list(READERS)} (or None for the configured default)")


def parse_crs(value: object, parameter: str = "crs") -> str | None:
    """A coordinate reference system any PROJ user input names (``"EPSG:32631"``, ``32631``, WKT, PROJJSON, a
    ``pyproj.CRS``), as an authority code where one exists (else WKT2)."""
    if value is None:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if isinstance(value, bool) or (not isinstance(value, str | int | Mapping) and not hasattr(value, "to_wkt")):
        raise InvalidQuery(parameter, value, "expected a CRS: 'EPSG:<code>', an EPSG code, WKT or PROJJSON")
    try:
        crs = CRS.from_user_input(value.to_wkt() if hasattr(value, "to_wkt") else value)  # rasterio/odc CRSs too
    except (CRSError, TypeError, ValueError) as error:
        raise InvalidQuery(parameter, value, f"not a CRS PROJ knows: {error}") from None
    authority = crs.to_authority(min_confidence=100)
    return f"{authority[0]}:{authority[1]}" if authority else str(crs.to_wkt())


def parse_resolution(value: object, parameter: str = "resolution") -> float | None:
    """A positive pixel size, in units of the target CRS."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidQuery(parameter, value, "expected a positive number (in units of the target CRS)")
    try:
        resolution = float(value)
    except ValueError:
        raise InvalidQuery(parameter, value, "expected a positive number") from None
    if not (math.isfinite(resolution) and resolution > 0):
        raise InvalidQuery(parameter, value, "must be a positive, finite number")
    return resolution


def parse_chunks(value: object, parameter: str = "chunks") -> dict[str, int] | None:
    """Dask chunk sizes per dimension: ``{"time": 1, "x": 1024, "y": 1024}``; ``-1`` means the whole dimension.

    ``None`` leaves the choice to the format: a Zarr store's own chunks, 2048-pixel tiles for rasters.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidQuery(parameter, value, 'expected a mapping of dimension to size, e.g. {"time": 1, "x": 1024}')
    chunks: dict[str, int] = {}
    for dim, size in value.items():
        if not isinstance(dim, str) or not dim:
            raise InvalidQuery(parameter, value, f"dimension names must be strings, got {dim!r}")
        if isinstance(size, bool) or not isinstance(size, int) or not (size >= 1 or size == -1):
            raise InvalidQuery(parameter, value, f"size of {dim!r} must be a positive integer or -1, got {size!r}")
        chunks[dim] = size
    return chunks


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

    def with_terms(self, terms: list[str]) -> Query:
        return replace(self, terms=list(terms))


@dataclass(frozen=True)
class CubeRequest:
    """A validated request to open an entry as a cube: what to select and on which grid.

    ``variables`` keeps the order asked for: the cube's data variables come in that order.
    """

    bbox: BBox | None = None
    datetime: Interval | None = None
    variables: tuple[str, ...] | None = None
    crs: str | None = None
    resolution: float | None = None
    chunks: Mapping[str, int] | None = None
    reader: str | None = None  # how raster tiles are decoded; None: $GAIA_LAB_COG_READER, else GDAL

    @classmethod
    def parse(
        cls,
        bbox: object = None,
        datetime: object = None,
        variables: object = None,
        crs: object = None,
        resolution: object = None,
        chunks: object = None,
        reader: object = None,
    ) -> CubeRequest:
        names = parse_names(variables, "variables")
        return cls(
            bbox=parse_bbox(bbox),
            datetime=parse_datetime(datetime),
            variables=tuple(names) if names else None,
            crs=parse_crs(crs),
            resolution=parse_resolution(resolution),
            chunks=parse_chunks(chunks),
            reader=parse_reader(reader),
        )

    @property
    def regrids(self) -> bool:
        """Whether the caller fixed the output grid (a CRS or a resolution)."""
        return self.crs is not None or self.resolution is not None

    def describe(self) -> dict[str, Any]:
        """The parameters that were given, for messages."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


__all__ = [
    "BBox",
    "CubeRequest",
    "Interval",
    "Query",
    "format_interval",
    "interval_from_stac",
    "interval_intersects",
    "parse_bbox",
    "parse_chunks",
    "parse_crs",
    "parse_datetime",
    "parse_limit",
    "parse_names",
    "parse_reader",
    "parse_resolution",
    "parse_timestamp",
]
