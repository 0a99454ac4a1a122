"""``gaia-lab virtualize``: a collection of NetCDF/HDF5 files -> one virtual Zarr store, no data copied.

VirtualiZarr parses each file's chunk layout (HDF5 or NetCDF-3), the files are checked to agree (same variables,
dtypes, chunking, codecs and encoding) and concatenated along time (or a named dimension) by VirtualiZarr's
manifest arrays through xarray's combine; the result is an Icechunk repository (default) or kerchunk references.
Each source's fingerprint (size, last-modified, ETag) is recorded with the store, and Icechunk's virtual chunk
references carry the ETag (HTTP, S3) or last-modified time (local files) that it verifies on every read.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import xarray as xr

from gaia_lab.cube.virtual import CONCAT_KEY, SOURCES_KEY, detect_format, quiet
from gaia_lab.cube.virtual_sources import (
    Fingerprint,
    S3Options,
    fingerprints,
    local_path,
    object_store,
    origin,
    to_url,
)
from gaia_lab.errors import AssetError, InvalidQuery

SUFFIXES = (".nc", ".nc4", ".netcdf", ".h5", ".hdf5", ".hdf", ".he5")
LAYOUT_KEY = "gaia:layout"  # the sources in concatenation order, with their number of steps
INPUTS_KEY = "gaia:inputs"  # the source arguments as given (globs, directories), re-expanded by a refresh
REFS_GROUP = "gaia_refs"  # Icechunk: each virtual variable's chunk references, as arrays (for a refresh)
_OPEN_THREADS = 16


class SourceMismatch(AssetError):
    """A source file does not agree with the others (variables, dtype, chunking, codecs or encoding):
    ``href`` names the odd file, the message says what differs from the first file."""


@dataclass
class VirtualizeReport:
    store: str
    format: str
    files: int
    concat_dim: str
    variables: list[str]
    sizes: dict[str, int]
    seconds: float = 0.0
    stac: str | None = None
    sources: list[Fingerprint] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        lines = [
            f"virtual Zarr store {self.store} ({self.format}) from {self.files} file(s), "
            f"concatenated along {self.concat_dim!r} in {self.seconds:.1f} s",
            f"  dimensions: {dims}",
            f"  variables: {', '.join(self.variables)}",
        ]
        if self.stac:
            lines.append(f"  STAC collection: {self.stac}")
        return "\n".join(lines)


# --- which files -----------------------------------------------------------------------------------------------------


def expand_sources(sources: Sequence[str], storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """URLs of the files named by ``sources``: paths, globs, directories (their NetCDF/HDF5 files), http(s)
    URLs, s3:// URLs or globs. Sorted within each argument, in the order the arguments are given."""
    urls: list[str] = []
    for source in sources:
        scheme = urlparse(source).scheme
        if scheme == "s3":
            if glob.has_magic(source):
                import fsspec

                fs = fsspec.filesystem("s3", **dict(storage_options or {}))
                urls.extend(f"s3://{p}" for p in sorted(fs.glob(source)))
            else:
                urls.append(source)
        elif scheme in ("http", "https"):
            urls.append(source)
        else:
            path = Path(local_path(source) if scheme == "file" else os.path.expanduser(source))  # type: ignore[arg-type]
            if glob.has_magic(str(path)):
                matched = sorted(glob.glob(str(path)))
                urls.extend(to_url(p) for p in matched if Path(p).is_file())
            elif path.is_dir():
                urls.extend(to_url(p) for p in sorted(path.iterdir()) if p.suffix.lower() in SUFFIXES)
            elif path.is_file():
                urls.append(to_url(path))
            else:
                raise AssetError(str(source), "no such file or directory")
    if not urls:
        raise InvalidQuery("sources", list(sources), "no NetCDF/HDF5 file found (paths, globs, directories or URLs)")
    return list(dict.fromkeys(urls))


# --- opening each file -----------------------------------------------------------------------------------------------


def _registry(urls: Sequence[str], storage_options: Mapping[str, Any] | None) -> Any:
    from obspec_utils.registry import ObjectStoreRegistry

    stores = {origin(u): object_store(u, storage_options) for u in urls}
    return ObjectStoreRegistry(stores)


def _parser_for(url: str, registry: Any) -> Any:
    from virtualizarr.parsers import HDFParser, NetCDF3Parser

    store, path = registry.resolve(url)
    import obstore

    head = bytes(obstore.get_range(store, path, start=0, length=4))
    return NetCDF3Parser() if head[:3] == b"CDF" else HDFParser()


_LOAD_BYTES = 1 << 20


def _open_one(url: str, registry: Any) -> xr.Dataset:
    """The file as a virtual dataset whose coordinates, and small variables with time units, are loaded: they
    are written into the store itself, so opening it decodes them without reading any source file."""
    try:
        manifest_store = _parser_for(url, registry)(url=url, registry=registry)
        vds = manifest_store.to_virtual_dataset()
        loadable = [
            str(name)
            for name, var in vds.variables.items()
            if (
                name in vds.coords
                or var.ndim == 0
                or "since" in str(var.attrs.get("units", var.encoding.get("units", "")))
            )
            and var.nbytes <= _LOAD_BYTES
        ]
        if any(hasattr(vds.variables[name].data, "manifest") for name in loadable):
            vds = manifest_store.to_virtual_dataset(loadable_variables=loadable)
        return vds  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise AssetError(url, "no such source file") from None
    except Exception as error:
        first = (str(error).splitlines() or [""])[0]
        raise AssetError(url, f"cannot parse as NetCDF/HDF5: {type(error).__name__}: {first}") from None


# --- do the files agree? ---------------------------------------------------------------------------------------------

_ENCODING_KEYS = ("scale_factor", "add_offset", "_FillValue", "missing_value", "units", "calendar", "dtype")


def _layout(var: xr.Variable, concat_dim: str) -> dict[str, Any]:
    """What must be equal across files for a variable to concatenate: dims, dtype, shape off the concatenation
    dimension, and for virtual (manifest) arrays their chunks and codecs."""
    data = var.data
    metadata = getattr(data, "metadata", None)
    layout: dict[str, Any] = {
        "dims": tuple(var.dims),
        "dtype": str(var.dtype),
        "shape": tuple(n for d, n in zip(var.dims, var.shape, strict=True) if d != concat_dim),
    }
    if metadata is not None or concat_dim not in var.dims:
        # how stored values decode; a loaded coordinate along the concatenation dimension (time) is decoded
        # already, and may have its own units in each file
        for key in _ENCODING_KEYS:
            layout[key] = str(var.encoding.get(key, var.attrs.get(key)))
    if metadata is not None:
        layout["dtype"] = str(metadata.data_type.to_native_dtype())  # as stored in the file
        layout["chunks"] = tuple(metadata.chunks)
        layout["codecs"] = repr(getattr(metadata, "codecs", None))
    if var.dims and concat_dim in var.dims:
        return layout
    if metadata is None and var.ndim and var.size <= 10_000:
        # variables without the concatenation dimension (lat, lon, bounds) are taken from the first file:
        # they must be the same in every file
        layout["values"] = np.asarray(var.values).tobytes()
    return layout


def _differences(first: dict[str, Any], other: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(first) | set(other)):
        a, b = first.get(key), other.get(key)
        if a != b:
            out.append("values differ" if key == "values" else f"{key} {a} vs {b}")
    return out


def check_agreement(datasets: Sequence[xr.Dataset], urls: Sequence[str], concat_dim: str) -> None:
    """Raise :class:`SourceMismatch` naming the first file that differs from the first one."""
    first, first_url = datasets[0], urls[0]
    reference = {str(n): _layout(v, concat_dim) for n, v in first.variables.items()}
    for ds, url in zip(datasets, urls, strict=True):
        if concat_dim not in ds.dims:
            raise SourceMismatch(
                url,
                f"has no dimension {concat_dim!r} to concatenate along (dims: {dict(ds.sizes)}); "
                "name one with --concat-dim",
            )
        if ds is first:
            continue
        names = set(map(str, ds.variables))
        if names != set(reference):
            missing, extra = sorted(set(reference) - names), sorted(names - set(reference))
            raise SourceMismatch(
                url,
                f"its variables differ from {first_url}'s: missing {missing}, unexpected {extra}",
            )
        for name, var in ds.variables.items():
            diff = _differences(reference[str(name)], _layout(var, concat_dim))
            if diff:
                raise SourceMismatch(url, f"variable {name!r} differs from {first_url}'s: {'; '.join(diff)}")


def _order(datasets: list[xr.Dataset], urls: list[str], concat_dim: str) -> tuple[list[xr.Dataset], list[str]]:
    """Files in the order of their first coordinate value along the concatenation dimension (the order of the
    arguments when there is no coordinate); overlapping or repeated steps are refused."""
    if concat_dim not in datasets[0].coords:
        return datasets, urls
    keys = [ds[concat_dim].values[0] for ds in datasets]
    order = sorted(range(len(datasets)), key=lambda i: keys[i])
    datasets, urls = [datasets[i] for i in order], [urls[i] for i in order]
    for previous, (ds, url) in zip(datasets, zip(datasets[1:], urls[1:], strict=True), strict=False):
        if not previous[concat_dim].values[-1] < ds[concat_dim].values[0]:
            raise SourceMismatch(
                url,
                f"its {concat_dim} values start at {ds[concat_dim].values[0]}, which does not follow the previous "
                f"file's last {previous[concat_dim].values[-1]} (overlapping or repeated steps)",
            )
    return datasets, urls


def combine(datasets: Sequence[xr.Dataset], concat_dim: str) -> xr.Dataset:
    """Concatenate virtual datasets as ``virtualizarr.open_virtual_mfdataset(combine='nested')`` does."""
    with quiet():
        return xr.combine_nested(
            list(datasets),
            concat_dim=concat_dim,
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="override",
            combine_attrs="override",
        )


# --- writing -----------------------------------------------------------------------------------------------------


def _ceil_second(moment: datetime) -> datetime:
    return datetime.fromtimestamp(math.ceil(moment.timestamp()), tz=UTC)


def _containers(urls: Sequence[str], storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """One Icechunk virtual chunk container per place the sources live: their common local directory, each
    HTTP host, each S3 bucket."""
    import icechunk

    containers: dict[str, Any] = {}
    local = [p for u in urls if (p := local_path(u)) is not None]
    if local:
        common = Path(os.path.commonpath([str(p.parent) for p in local]))
        prefix = common.as_uri().rstrip("/") + "/"
        containers[prefix] = icechunk.local_filesystem_store(str(common))
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https"):
            # Icechunk 1.1 drops the port of HTTP chunk URLs (earth-mover/icechunk#2223, fixed after 1.1.21): the
            # container is the host without port, reached through the server itself as a forward proxy.
            prefix = f"{parsed.scheme}://{parsed.hostname}/"
            opts = {"allow_http": "true"} if parsed.scheme == "http" else {}
            if parsed.port is not None:
                opts["proxy_url"] = f"{parsed.scheme}://{parsed.netloc}"
            containers[prefix] = icechunk.http_store(opts)
        elif parsed.scheme == "s3":
            s3 = S3Options.parse(storage_options)
            containers[f"s3://{parsed.netloc}/"] = icechunk.s3_store(
                region=s3.region,
                endpoint_url=s3.endpoint_url,
                allow_http=s3.allow_http,
                anonymous=s3.anon,
                s3_compatible=bool(s3.endpoint_url),
                force_path_style=bool(s3.endpoint_url),
            )
    return containers


def _checksum(record: Fingerprint) -> dict[str, Any]:
    """Icechunk's verification for chunks of this file: the ETag a server gave, else the last-modified time.
    Icechunk's local-file ETag is not object_store's, so local files are checked by modification time
    (rounded up to the second Icechunk stores)."""
    if record.etag and local_path(record.url) is None:
        return {"etag_checksum": record.etag}
    return {"last_updated_at_checksum": _ceil_second(record.modified_at)}


def _write_icechunk(
    vds: xr.Dataset,
    out: str,
    urls: Sequence[str],
    records: Sequence[Fingerprint],
    concat_dim: str,
    storage_options: Mapping[str, Any] | None,
    overwrite: bool,
    extra: Mapping[str, Any],
    repo: Any = None,
) -> None:
    import icechunk

    from gaia_lab.cube.virtual import authorizations, icechunk_storage

    if repo is not None:
        # a refresh: a new snapshot of the same repository, with containers for any new place of the sources
        config = repo.config
        known = dict(config.virtual_chunk_containers or {})
        containers = _containers(urls, storage_options)
        new = {p: c for p, c in containers.items() if p not in known}
        if new:
            for prefix, store in new.items():
                config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, store))
            repo = repo.reopen(
                config=config, authorize_virtual_chunk_access=authorizations([*known, *new], storage_options)
            )
            repo.save_config()
        else:
            repo = repo.reopen(authorize_virtual_chunk_access=authorizations(list(containers), storage_options))
        from zarr.core.sync import sync

        session = repo.writable_session("main")
        sync(session.store.delete_dir(""))  # the previous arrays go: all are rewritten
        write_session(session, vds, out, urls, records)
        session.commit(
            f"refresh: {len(urls)} file(s) along {concat_dim}",
            metadata={SOURCES_KEY: [r.to_dict() for r in records], CONCAT_KEY: concat_dim, **extra},
        )
        return
    path = None if urlparse(out).scheme == "s3" else Path(out).expanduser()
    if path is not None and path.exists():
        if not overwrite:
            raise InvalidQuery("out", out, "exists; pass --overwrite to replace it")
        shutil.rmtree(path)
    if "ICECHUNK_LOG" not in os.environ:
        # one writer here: the warning that local repositories do not lock concurrent commits is noise
        icechunk.set_logs_filter("error")
    storage = icechunk_storage(out, storage_options)
    config = icechunk.RepositoryConfig.default()
    containers = _containers(urls, storage_options)
    for prefix, store in containers.items():
        config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, store))
    authorize = authorizations(list(containers), storage_options)
    try:
        repo = icechunk.Repository.create(storage, config, authorize_virtual_chunk_access=authorize)
    except Exception as error:
        raise AssetError(out, f"cannot create the Icechunk repository: {type(error).__name__}: {error}") from None
    session = repo.writable_session("main")
    write_session(session, vds, out, urls, records)
    session.commit(
        f"virtualize {len(urls)} file(s) along {concat_dim}",
        metadata={SOURCES_KEY: [r.to_dict() for r in records], CONCAT_KEY: concat_dim, **extra},
    )


def write_session(session: Any, vds: xr.Dataset, out: str, urls: Sequence[str], records: Sequence[Fingerprint]) -> None:
    """Write the virtual dataset into an Icechunk session: VirtualiZarr's arrays, each chunk reference with its
    own file's checksum, and the references again as plain arrays under ``gaia_refs/`` (Icechunk gives no way
    to read a virtual reference back: a refresh rebuilds unchanged files' references from these)."""
    import zarr
    from icechunk import VirtualChunkSpec

    by_url = {r.url: r for r in records}
    index = {u: i for i, u in enumerate(urls)}
    with quiet():
        # (icechunk matches the port-less HTTP containers below; VirtualiZarr compares strings: checked there)
        vds.vz.to_icechunk(session.store, validate_containers=False)
        # VirtualiZarr gives every chunk one timestamp; each file's own fingerprint is stricter.
        refs = zarr.open_group(session.store, path=REFS_GROUP, mode="w", zarr_format=3)
        for name, var in vds.variables.items():
            manifest = getattr(var.data, "manifest", None)
            if manifest is None:
                continue
            grid = manifest.shape_chunk_grid
            paths = np.full(grid, -1, dtype="int32")
            offsets = np.zeros(grid, dtype="uint64")
            lengths = np.zeros(grid, dtype="uint64")
            specs = []
            for where, entry in manifest.iter_refs():
                url = entry["path"] if entry["path"] in index else to_url(entry["path"])
                record = by_url.get(url)
                extra = _checksum(record) if record is not None else {}
                specs.append(VirtualChunkSpec(list(where), entry["path"], entry["offset"], entry["length"], **extra))
                paths[where] = index.get(url, -1)
                offsets[where], lengths[where] = entry["offset"], entry["length"]
            failed = session.store.set_virtual_refs(str(name), specs, validate_containers=True)
            if failed:
                raise AssetError(out, f"variable {name!r}: {len(failed)} chunk reference(s) match no container")
            for label, values in (("paths", paths), ("offsets", offsets), ("lengths", lengths)):
                array = refs.create_array(f"{name}/{label}", shape=grid, dtype=values.dtype, chunks=grid)
                array[...] = values


def _fix_fill_values(metadata: dict[str, Any]) -> None:
    """Zarr v2 readers (xarray) take ``.zarray``'s fill_value as the missing-value marker; VirtualiZarr 2.5 writes
    the HDF5 default fill (0) there even when the variable has no ``_FillValue``, which would mask real zeros.
    NetCDF semantics: no ``_FillValue`` attribute, no masking."""
    for key in [k for k in metadata if k.endswith("/.zarray")]:
        raw_attrs = metadata.get(key[: -len(".zarray")] + ".zattrs", "{}")
        attrs = json.loads(raw_attrs) if isinstance(raw_attrs, str) else raw_attrs
        if "_FillValue" in attrs:
            continue
        array = json.loads(metadata[key]) if isinstance(metadata[key], str) else dict(metadata[key])
        if array.get("fill_value") is not None:
            array["fill_value"] = None
            metadata[key] = json.dumps(array) if isinstance(metadata[key], str) else array


def _relative(url: str, base: Path) -> str | None:
    path = local_path(url) if "://" in url else Path(url)
    if path is None:
        return None
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return None


def _write_kerchunk(
    vds: xr.Dataset,
    out: str,
    fmt: str,
    records: Sequence[Fingerprint],
    concat_dim: str,
    overwrite: bool,
    extra: Mapping[str, Any],
) -> None:
    target = Path(out).expanduser().resolve()
    if urlparse(out).scheme in ("s3", "http", "https"):
        raise InvalidQuery("out", out, "kerchunk references are written to a local path (upload them after)")
    if target.exists():
        if not overwrite:
            raise InvalidQuery("out", out, "exists; pass --overwrite to replace it")
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    base = target.parent
    with quiet():
        document = vds.vz.to_kerchunk(format="dict")
    refs = document["refs"]
    _fix_fill_values(refs)
    for key in [k for k in refs if k.endswith("/") and k.count("/") == 1]:
        # VirtualiZarr 2.5 writes a scalar's chunk as "<name>/"; Zarr v2 reads it from "<name>/0"
        refs[key + "0"] = refs.pop(key)
    sources = []
    for record in records:
        relative = _relative(record.url, base)
        sources.append({**record.to_dict(), "url": relative or record.url})
    if fmt == "kerchunk-parquet":
        from kerchunk.df import refs_to_dataframe

        refs_to_dataframe(document, str(target))
        (target / "gaia-sources.json").write_text(
            json.dumps({SOURCES_KEY: sources, CONCAT_KEY: concat_dim, **_relative_extra(extra, base)})
        )
        return
    # Sources under the references' directory are written as {{u}}/<relative path>: gaia_lab resolves {{u}} to
    # wherever the references are read from (a local directory, the lake server, a bucket).
    for key, value in refs.items():
        if isinstance(value, list) and value and isinstance(value[0], str):
            relative = _relative(value[0], base)
            if relative is not None:
                refs[key] = ["{{u}}/" + relative, *value[1:]]
    document["templates"] = {"u": str(base)}
    document[SOURCES_KEY] = sources
    document[CONCAT_KEY] = concat_dim
    document.update(_relative_extra(extra, base))
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(document, separators=(",", ":")))
    partial.replace(target)


def _relative_extra(extra: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The layout's sources written as the fingerprints are: relative to the references' directory."""
    out = dict(extra)
    if LAYOUT_KEY in out:
        out[LAYOUT_KEY] = [{**item, "url": _relative(item["url"], base) or item["url"]} for item in out[LAYOUT_KEY]]
    return out


def _inputs(sources: Sequence[str]) -> list[str]:
    """The source arguments, local ones made absolute (a refresh may run from another directory)."""
    return [s if "://" in s else os.path.abspath(os.path.expanduser(s)) for s in sources]


def write_store(
    datasets: list[xr.Dataset],
    urls: list[str],
    records: Sequence[Fingerprint],
    out: str,
    fmt: str,
    concat_dim: str,
    storage_options: Mapping[str, Any] | None,
    overwrite: bool,
    inputs: Sequence[str],
    repo: Any = None,
) -> xr.Dataset:
    """Check, order, concatenate and write parsed sources (``records`` in any order); the combined dataset."""
    check_agreement(datasets, urls, concat_dim)
    datasets, urls = _order(datasets, urls, concat_dim)
    vds = combine(datasets, concat_dim)
    extra = {
        LAYOUT_KEY: [{"url": u, "steps": int(ds.sizes[concat_dim])} for u, ds in zip(urls, datasets, strict=True)],
        INPUTS_KEY: list(inputs),
    }
    if fmt == "icechunk":
        _write_icechunk(vds, out, urls, records, concat_dim, storage_options, overwrite, extra, repo)
    else:
        _write_kerchunk(vds, out, fmt, records, concat_dim, overwrite, extra)
    return vds


def parse(urls: Sequence[str], storage_options: Mapping[str, Any] | None) -> list[xr.Dataset]:
    """Each file as a virtual dataset (threads for remote files only)."""
    registry = _registry(urls, storage_options)
    # (warning filters are process-wide: set here, around the threads, not in them)
    # Parsing is CPU-bound under the GIL (h5py): threads only pay where requests wait on the network.
    threads = 1 if all(local_path(u) is not None for u in urls) else _OPEN_THREADS
    with quiet(), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda u: _open_one(u, registry), urls))


def virtualize(
    sources: Sequence[str],
    out: str,
    *,
    format: str | None = None,
    concat_dim: str = "time",
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> VirtualizeReport:
    """Build a virtual Zarr store at ``out`` from NetCDF/HDF5 ``sources`` (see :func:`expand_sources`)."""
    started = datetime.now(UTC)
    fmt = format or detect_format(out)
    if fmt not in ("icechunk", "kerchunk-json", "kerchunk-parquet"):
        raise InvalidQuery("format", fmt, "expected icechunk, kerchunk-json or kerchunk-parquet")
    urls = expand_sources(sources, storage_options)
    opened = parse(urls, storage_options)
    records = []
    for url, record in zip(urls, fingerprints(urls, storage_options), strict=True):
        if record is None:
            raise AssetError(url, "no such source file")
        records.append(record)
    vds = write_store(opened, urls, records, out, fmt, concat_dim, storage_options, overwrite, _inputs(sources))
    seconds = (datetime.now(UTC) - started) / timedelta(seconds=1)
    return VirtualizeReport(
        out,
        fmt,
        len(urls),
        concat_dim,
        [str(n) for n in vds.data_vars],
        {str(k): int(v) for k, v in vds.sizes.items()},
        seconds,
        sources=records,
    )


# --- publishing in STAC -----------------------------------------------------------------------------------------------

VIRTUAL_KEY = "gaia:virtual"  # on a Zarr asset: {"format": icechunk | kerchunk-json | kerchunk-parquet}
_PUBLIC_OPTIONS = ("endpoint_url", "region", "anon", "client_kwargs")  # never keys, secrets or tokens


def virtual_asset(href: str, fmt: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The STAC asset of a virtual store: a Zarr asset (``application/vnd+zarr``, role ``virtual``) whose
    ``gaia:virtual`` names the format; S3 endpoints (no credentials) go in ``xarray:storage_options``."""
    asset: dict[str, Any] = {
        "href": href,
        "type": "application/vnd+zarr",
        "roles": ["data", "zarr", "virtual"],
        "title": f"Virtual Zarr store ({fmt}) over the NetCDF files",
        VIRTUAL_KEY: {"format": fmt},
        "xarray:open_kwargs": {"consolidated": False, "zarr_format": 3 if fmt == "icechunk" else 2},
    }
    public = {k: v for k, v in (storage_options or {}).items() if k in _PUBLIC_OPTIONS}
    if isinstance(public.get("client_kwargs"), dict):
        public["client_kwargs"] = {
            k: v for k, v in public["client_kwargs"].items() if k in ("endpoint_url", "region_name")
        }
    if public:
        asset["xarray:storage_options"] = public
    return asset


def write_stac(
    report: VirtualizeReport,
    collection_path: str | Path,
    *,
    collection_id: str | None = None,
    title: str | None = None,
    description: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Path:
    """Write (or update) a STAC collection publishing the store as its ``zarr`` asset, described with the
    datacube extension from the store's metadata (nothing read from the source files)."""
    import pystac

    from gaia_lab.cube.virtual import open_virtual
    from gaia_lab.datalake.stac import DATACUBE, XARRAY, cube_metadata

    path = Path(collection_path).expanduser().resolve()
    ds = open_virtual(report.store, storage_options=storage_options, format=report.format)
    meta = cube_metadata(ds)
    store_href = report.store
    if urlparse(store_href).scheme not in ("s3", "http", "https"):
        store_href = os.path.relpath(Path(store_href).expanduser().resolve(), path.parent)
    extent = pystac.Extent(pystac.SpatialExtent([meta["bbox"]]), pystac.TemporalExtent([meta["interval"]]))
    if path.exists():
        collection = pystac.Collection.from_file(str(path))
        collection.extent = extent
    else:
        name = collection_id or Path(urlparse(report.store).path.rstrip("/")).stem
        collection = pystac.Collection(
            name,
            description
            or f"Virtual Zarr store over {report.files} NetCDF/HDF5 files, concatenated along {report.concat_dim}.",
            extent,
            title=title or ds.attrs.get("title") or name,
            license="other",
        )
    for extension in (DATACUBE, XARRAY):
        if extension not in collection.stac_extensions:
            collection.stac_extensions.append(extension)
    collection.extra_fields["cube:dimensions"] = meta["cube:dimensions"]
    collection.extra_fields["cube:variables"] = meta["cube:variables"]
    asset = virtual_asset(store_href, report.format, storage_options)
    href = asset.pop("href")
    collection.add_asset(
        "zarr",
        pystac.Asset(
            href, title=asset.pop("title"), media_type=asset.pop("type"), roles=asset.pop("roles"), extra_fields=asset
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    collection.set_self_href(str(path))
    collection.make_all_asset_hrefs_relative()
    collection.save_object(include_self_link=False, dest_href=str(path))
    return path


__all__ = [
    "SourceMismatch",
    "VirtualizeReport",
    "check_agreement",
    "expand_sources",
    "virtual_asset",
    "virtualize",
    "write_stac",
]
