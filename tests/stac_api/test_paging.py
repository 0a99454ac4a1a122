"""Paging tokens: each member's place survives the round trip, a token of anything else is an InvalidQuery."""

from __future__ import annotations

import pytest

from gaia_lab.errors import InvalidQuery
from gaia_lab.query import BBox
from gaia_lab.stac_api.paging import MemberState, decode_token, encode_token, geometry_bbox


def test_each_member_keeps_its_own_place():
    states = {
        "api": MemberState(start=False, link={"href": "http://x/search?token=next:7", "method": "GET", "body": None}),
        "static": MemberState(start=False, offset=40),
        "done": MemberState(start=False, done=True),
        "slow": MemberState(misses=1),  # not answered yet: still at its start
    }
    token = encode_token(states)
    assert token.isascii() and "=" not in token
    back = decode_token(token, ["api", "static", "done", "slow", "added-since"])
    assert back["api"] == states["api"]
    assert back["static"] == states["static"]
    assert back["done"].done and not back["done"].start
    assert back["slow"].start and back["slow"].misses == 1
    # a member the token does not know was added to the federation meanwhile: it starts from its beginning
    assert back["added-since"] == MemberState()


@pytest.mark.parametrize("token", ["not-a-token", "eyJhIjogMX0", "", "!!!"])
def test_foreign_tokens_are_refused(token):
    with pytest.raises(InvalidQuery, match="token"):
        decode_token(token, ["a"])


def test_geometry_bbox():
    polygon = {"type": "Polygon", "coordinates": [[[100.0, 0.0], [101.0, 0.0], [101.0, 1.0], [100.0, 0.0]]]}
    assert geometry_bbox(polygon) == BBox(100.0, 0.0, 101.0, 1.0)
    assert geometry_bbox({"type": "Point", "coordinates": [2.5, 48.0]}) == BBox(2.5, 48.0, 2.5, 48.0)
    assert geometry_bbox({"type": "Point"}) is None
