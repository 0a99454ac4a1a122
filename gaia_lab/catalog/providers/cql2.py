"""CQL2-JSON for servers without the Filter extension: simple comparisons become the ``query`` extension."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
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


def matches(cql2: Mapping[str, Any], *, provider: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate on item properties for catalogues that cannot filter server-side (static STAC).

    Supports and/or/not and the comparison operators; anything else is an InvalidQuery naming the provider.
    """

    def evaluate(node: Any, properties: Mapping[str, Any]) -> Any:
        if isinstance(node, Mapping) and "property" in node:
            return properties.get(str(node["property"]))
        if not isinstance(node, Mapping) or "op" not in node:
            return node
        op, args = node["op"], node.get("args") or []
        if op == "and":
            return all(evaluate(a, properties) for a in args)
        if op == "or":
            return any(evaluate(a, properties) for a in args)
        if op == "not":
            return not evaluate(args[0], properties)
        if op in _COMPARE and len(args) == 2:
            left, right = (evaluate(a, properties) for a in args)
            if left is None or right is None:
                return False
            try:
                return _COMPARE[op](left, right)
            except TypeError:
                return False
        raise InvalidQuery("filter", dict(cql2), f"operator {op!r} is not supported for provider {provider!r}")

    def check(node: Any) -> None:  # reject unsupported operators now, not on the first item
        if isinstance(node, Mapping) and "op" in node:
            if node["op"] not in ("and", "or", "not", *_COMPARE):
                raise InvalidQuery("filter", dict(cql2), f"operator {node['op']!r} is not supported for {provider!r}")
            for arg in node.get("args") or []:
                check(arg)

    check(cql2)
    return lambda properties: bool(evaluate(cql2, properties))


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
