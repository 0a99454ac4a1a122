"""An intake-esm datastore read for searching: its ESM collection JSON and its CSV of assets, without intake-esm.

Loading a datastore with intake-esm imports pydantic, polars, pandas, xarray, dask and zarr (about a second in a
fresh process), while a search needs only the CSV's rows grouped by the datastore's ``groupby_attrs``. The rows are
read the way intake-esm 2025 reads them (every column as text, an empty cell as missing) and the CSV is found the
way it finds it, so entries are the same either way. Whatever this reader cannot be sure to read the same way
(Parquet or compressed tables, an inline ``catalog_dict``, quoted empty cells, ragged rows, a collection intake-esm
would reject) is left to intake-esm: :func:`read_for_search` then answers ``None``. Opening a dataset always goes
through intake-esm.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

# A datastore row: column -> value; None where the cell is missing.
Row = dict[str, Any]

_FORMATS = ("netcdf", "zarr", "zarr2", "zarr3", "reference", "opendap")
_AGGREGATIONS = ("join_new", "join_existing", "union")


@dataclass(frozen=True)
class DatastoreTable:
    """What a search reads of a datastore."""

    description: str
    groupby_attrs: list[str]
    asset_column: str
    columns: list[str]
    rows: list[Row]


def read_for_search(url: str, storage_options: Mapping[str, Any] | None = None) -> DatastoreTable | None:
    """The datastore at ``url`` (its ESM collection JSON), or ``None`` to leave the reading to intake-esm.

    Raises ``FileNotFoundError`` when the JSON does not exist, as intake-esm does.
    """
    options = dict(storage_options or {})
    local = _local_path(url)
    if local is not None:
        with open(local, "rb") as file:
            data = file.read()
    else:
        import fsspec

        with fsspec.open(url, **options) as file:
            data = file.read()
    try:
        collection = json.loads(data)
    except ValueError:
        return None
    if not _is_simple_collection(collection):
        return None
    catalog_file: str = collection["catalog_file"]
    if not catalog_file.endswith(".csv"):  # compressed CSV and Parquet: intake-esm's own readers
        return None
    try:
        text = _read_catalog_file(url, local, catalog_file, options)
    except (OSError, UnicodeDecodeError):
        return None
    table = _parse_csv(text)
    if table is None:
        return None
    columns, rows = table
    control = collection.get("aggregation_control") or {}
    groupby_attrs = list(control.get("groupby_attrs") or [])
    asset_column = collection["assets"]["column_name"]
    if not {*groupby_attrs, asset_column} <= set(columns):
        return None
    return DatastoreTable(
        description=collection.get("description") or "",
        groupby_attrs=groupby_attrs,
        asset_column=asset_column,
        columns=columns,
        rows=rows,
    )


def _local_path(url: str) -> str | None:
    if url.startswith("file://"):
        return url.removeprefix("file://")
    return None if "://" in url else url


def _read_catalog_file(url: str, local: str | None, catalog_file: str, options: dict[str, Any]) -> str:
    # As intake-esm resolves it: the path as written if it exists on the JSON's file system, else next to the JSON.
    if local is not None:
        written = catalog_file.removeprefix("file://")
        if "://" in written:
            raise FileNotFoundError(catalog_file)
        path = written if os.path.exists(written) else f"{os.path.dirname(os.path.abspath(local))}/{catalog_file}"
        with open(path, "rb") as file:
            return file.read().decode("utf-8")
    import fsspec

    mapper = fsspec.get_mapper(url, **options)
    path = catalog_file if mapper.fs.exists(catalog_file) else f"{os.path.dirname(mapper.root)}/{catalog_file}"
    with fsspec.open(path, **options) as file:
        data: bytes = file.read()
    return data.decode("utf-8")


def _parse_csv(text: str) -> tuple[list[str], list[Row]] | None:
    """Header and rows, every value text and an empty cell ``None`` (polars' ``scan_csv(infer_schema=False)``);
    ``None`` for what the csv module and polars might read differently."""
    if text.startswith("\ufeff") or '""' in text:  # a byte-order mark; quoted empty cells (polars: "", not null)
        return None
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records or not records[0]:
        return None
    header = records[0]
    if len(set(header)) != len(header) or any(len(r) != len(header) for r in records[1:]):
        return None  # duplicated column names, blank lines, ragged rows
    rows = [{name: value if value != "" else None for name, value in zip(header, r, strict=True)} for r in records[1:]]
    return header, rows


def _is_simple_collection(collection: Any) -> bool:
    """Whether intake-esm's pydantic model would take this ESM collection as it is (else it is left to
    intake-esm, which reports what is wrong)."""
    if not isinstance(collection, dict):
        return False
    if not isinstance(collection.get("esmcat_version"), str) or not isinstance(collection.get("id", ""), str):
        return False
    if not isinstance(collection.get("catalog_file"), str) or collection.get("catalog_dict") is not None:
        return False
    if any(not isinstance(collection.get(k), str | None) for k in ("description", "title")):
        return False
    if not _is_date(collection.get("last_updated")):
        return False
    attributes = collection.get("attributes")
    if not isinstance(attributes, list) or not all(
        isinstance(a, dict) and isinstance(a.get("column_name"), str) and isinstance(a.get("vocabulary", ""), str)
        for a in attributes
    ):
        return False
    assets = collection.get("assets")
    if not isinstance(assets, dict) or not isinstance(assets.get("column_name"), str):
        return False
    data_format, format_column = assets.get("format"), assets.get("format_column_name")
    if (data_format is None) == (format_column is None):
        return False
    if data_format is not None and data_format not in _FORMATS:
        return False
    if format_column is not None and not isinstance(format_column, str):
        return False
    return _is_simple_control(collection.get("aggregation_control"))


def _is_simple_control(control: Any) -> bool:
    if control is None:
        return True
    if not isinstance(control, dict) or not isinstance(control.get("variable_column_name"), str):
        return False
    attrs = control.get("groupby_attrs")
    if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
        return False
    aggregations = control.get("aggregations", [])
    return isinstance(aggregations, list) and all(
        isinstance(a, dict)
        and a.get("type") in _AGGREGATIONS
        and isinstance(a.get("attribute_name"), str)
        and isinstance(a.get("options", {}), dict)
        for a in aggregations
    )


def _is_date(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    for parse in (datetime.fromisoformat, date.fromisoformat):
        try:
            parse(value)
        except ValueError:
            continue
        return True
    return False
