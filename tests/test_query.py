from datetime import UTC, date, datetime, timedelta, timezone
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaia_lab import query
from gaia_lab.errors import InvalidQuery
from gaia_lab.query import (
    BBox,
    Query,
    format_interval,
    interval_intersects,
    parse_bbox,
    parse_datetime,
    parse_limit,
)

lon = st.floats(min_value=-180, max_value=180, allow_nan=False)
lat = st.floats(min_value=-90, max_value=90, allow_nan=False)


@given(lon, lat, lon, lat)
def test_bbox_round_trips_through_its_string_form(west, a, east, b):
    south, north = sorted((a, b))
    parsed = parse_bbox(f"{west!r},{south!r},{east!r},{north!r}")
    assert parsed == (west, south, east, north)
    assert parse_bbox(parsed) == parsed


@given(st.one_of(st.text(max_size=30), st.lists(st.floats(), max_size=6), st.integers()))
def test_bbox_rejects_garbage_with_invalid_query_only(value):
    try:
        result = parse_bbox(value)
    except InvalidQuery as error:
        assert error.parameter == "bbox"
    else:
        assert result is not None
        west, south, east, north = result
        assert -90 <= south <= north <= 90 and -180 <= west <= 180 and -180 <= east <= 180


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1,2,3", "4 numbers"),
        ((0, 50, 10, 40), "south is greater than north"),
        ((0, -100, 10, 40), "latitudes"),
        ((-200, 0, 10, 40), "longitudes"),
        (("a", 0, 1, 2), "number"),
        ((0, 0, float("nan"), 1), "finite"),
    ],
)
def test_bbox_errors_say_what_is_wrong(value, reason):
    with pytest.raises(InvalidQuery, match=reason) as info:
        parse_bbox(value)
    assert info.value.parameter == "bbox"


def test_datetime_periods_expand_to_whole_periods():
    start, end = parse_datetime("2020")
    assert start == datetime(2020, 1, 1, tzinfo=UTC)
    assert end.year == 2020 and end.month == 12 and end.day == 31 and end.hour == 23
    start, end = parse_datetime("2020-02/2020-03")
    assert (start.month, end.month, end.day) == (2, 3, 31)
    assert parse_datetime("../2021-01-01")[0] is None
    assert parse_datetime("2021-01-01/..")[1] is None


@given(st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2200, 1, 1)), st.integers(0, 10**9))
def test_datetime_intervals_round_trip_through_stac_form(moment, seconds):
    start = moment.replace(microsecond=0, tzinfo=UTC)
    end = start + timedelta(seconds=seconds)
    interval = parse_datetime((start, end))
    assert interval == (start, end)
    assert parse_datetime(format_interval(interval)) == (start, end)


def _read_instant(value, *, end):
    try:
        return query._parse_instant(value, "datetime", value, end=end)
    except InvalidQuery as error:
        return str(error)


_years = st.integers(1600, 2300)
_offsets = st.sampled_from(["", "Z", "+00:00", "+05:30", "-11:00", "+14:00"])
_instants = st.one_of(
    _years.map(lambda y: f"{y:04d}"),
    st.tuples(_years, st.integers(0, 13)).map(lambda t: f"{t[0]:04d}-{t[1]:02d}"),
    st.tuples(_years, st.integers(0, 13), st.integers(0, 32)).map(lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"),
    st.tuples(
        st.datetimes(min_value=datetime(1600, 1, 1), max_value=datetime(2300, 1, 1)),
        st.sampled_from(["T", " "]),
        st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"]),
        _offsets,
    ).map(lambda t: t[0].isoformat(sep=t[1], timespec=t[2]) + t[3]),
    st.dates(min_value=date(1600, 1, 1), max_value=date(2300, 1, 1)),
    st.datetimes(
        min_value=datetime(1600, 1, 2),
        max_value=datetime(2300, 1, 1),
        timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-3)), timezone(timedelta(hours=9))]),
    ),
)


@given(_instants, st.booleans())
def test_simple_instants_are_read_without_pandas_as_pandas_reads_them(value, end):
    # Searches read catalogue dates in these forms without importing pandas; every other form goes through pandas.
    fast = _read_instant(value, end=end)
    with mock.patch.object(query, "_simple_instant", return_value=None):
        slow = _read_instant(value, end=end)
    assert fast == slow
    assert type(fast) is type(slow)


@pytest.mark.parametrize("value", ["2262", "1500-01-01/1600", "1677-01", date(1500, 1, 1)])
def test_dates_outside_the_supported_range_are_invalid_queries(value):
    with pytest.raises(InvalidQuery, match="datetime"):
        parse_datetime(value)


@given(st.text(max_size=40))
def test_datetime_garbage_gives_invalid_query(text):
    try:
        parse_datetime(text)
    except InvalidQuery as error:
        assert error.parameter == "datetime"


@pytest.mark.parametrize("value", ["2021/2020", "../..", "yesterday", "2020/2021/2022", "", 42])
def test_datetime_errors(value):
    with pytest.raises(InvalidQuery):
        parse_datetime(value)


def test_limit_must_be_positive_integer():
    assert parse_limit("5") == 5
    for bad in (0, -1, "x", 1.5, True):
        with pytest.raises(InvalidQuery, match="limit"):
            parse_limit(bad)


def test_antimeridian_boxes_intersect_both_sides():
    pacific = BBox(170.0, -10.0, -170.0, 10.0)
    assert pacific.intersects(BBox(175, 0, 176, 1))
    assert pacific.intersects(BBox(-175, 0, -174, 1))
    assert not pacific.intersects(BBox(0, 0, 1, 1))
    assert not BBox(0, 0, 1, 1).intersects(BBox(0, 2, 1, 3))
    assert pacific.width == 20.0
    assert pacific.parts() == [BBox(170.0, -10.0, 180.0, 10.0), BBox(-180.0, -10.0, -170.0, 10.0)]


def test_open_intervals_intersect():
    a = parse_datetime("2020/2021")
    assert interval_intersects(a, (None, None))
    assert not interval_intersects(a, parse_datetime("2022/.."))


def test_query_parse_validates_every_field():
    query = Query.parse(q="  sst ", bbox="-10,40,10,55", datetime="2020", hubs="ocean,land", limit="3")
    assert query.q == "sst" and query.hubs == ["ocean", "land"] and query.limit == 3
    with pytest.raises(InvalidQuery, match="hubs"):
        Query.parse(hubs=[""])
