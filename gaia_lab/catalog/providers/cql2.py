"""CQL2-JSON for servers without the Filter extension: simple comparisons become the ``query`` extension."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gaia_lab.errors import InvalidQuery

_OPERATORS = {"=": "eq", "<>": "neq", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def to_query_extension(cql2: Mapping[str, Any], *, provider: str) -> dict[str, dict[str, Any]]:
    """``{"op": "and", "args": [{"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]}]}`` ->
    ``{"eo:cloud_cover": {"lt": 20}}``; anything richer needs a server that speaks CQL2."""
    comparisons = cql2["args"] if cql2.get("op") == "and" else [cql2]
    query: dict[str, dict[str, Any]] = {}
    for comparison in comparisons:
        op = comparison.get("op") if isinstance(comparison, Mapping) else None
        args = comparison.get("args") if isinstance(comparison, Mapping) else None
        if op not in _OPERATORS or not isinstance(args, list) or len(args) != 2:
            raise InvalidQuery(
                "filter",
                dict(cql2),
                f"provider {provider!r} does not support CQL2 filters; only 'and' of comparisons "
                f"({', '.join(_OPERATORS)}) between a property and a value can be translated",
            )
        prop, value = args
        if not isinstance(prop, Mapping) or "property" not in prop or isinstance(value, Mapping | list):
            raise InvalidQuery("filter", dict(cql2), "comparisons must be {'property': name} against a literal")
        query.setdefault(str(prop["property"]), {})[_OPERATORS[op]] = value
    return query
