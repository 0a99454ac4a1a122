"""Virtual Zarr stores (an Icechunk repository, or kerchunk references in JSON or Parquet) over NetCDF/HDF5
files, opened as lazy Datasets: one metadata read, whatever the number of files; chunks are read from the source
files when computed.

A source file changed since the store was built is never served silently:

* Icechunk checks each virtual chunk against the ETag (HTTP, S3) or last-modified time (local files) recorded
  when the store was written, and refuses to serve it; the refusal becomes an :class:`AssetError` naming the file.
* kerchunk references have no such check, so each chunk read first compares its source file with the recorded
  fingerprint (a stat for local files, a HEAD request for remote ones) and refuses when it changed.

``check_virtual`` lists every missing or changed source (``gaia-lab virtualize --check``).
"""

from __future__ import annotations

import json
import posixpath
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import xarray as xr
from fsspec.implementations.reference import ReferenceFileSystem
from xarray.backends import BackendArray
from xarray.backends.zarr import ZarrStore
from xarray.core import indexing

from gaia_lab.cube.virtual_codecs import one_hop_pipeline
from gaia_lab.cube.virtual_sources import (
    Fingerprint,
    S3Options,
    SourceChange,
    changes,
    compare,
    fingerprint,
    local_path,
    recorded_scheme,
    resolve,
    to_url,
)
from gaia_lab.errors import AssetError

SOURCES_KEY = "gaia:sources"  # the fingerprints of the sources, in the commit metadata or the references file
CONCAT_KEY = "gaia:concat_dim"
FORMATS = ("icechunk", "kerchunk-json", "kerchunk-parquet")
_CHANGED = re.compile(r"checksum of the object owning the virtual chunk has changed \(([^)\s]+)\)")
_URL = re.compile(r"((?:file|https?|s3)://[^\s)]+)")


def detect_format(href: str) -> str:
    """``kerchunk-json`` for ``.json`` references, ``kerchunk-parquet`` for ``.parq``/``.parquet`` directories,
    else an Icechunk repository."""
    path = (urlparse(href).path or href).rstrip("/")
    if path.endswith(".json"):
        return "kerchunk-json"
    if path.endswith((".parq", ".parquet")):
        return "kerchunk-parquet"
    return "icechunk"


class UntrustedReference(AssetError):
    """A virtual store references data outside the source files it records (and outside the ``allow`` list
    given when opening it): it is refused, so that a store cannot make a session read arbitrary local files or
    URLs. ``href`` names the first such reference."""


def _normal(url: str) -> str:
    """``url`` with ``.``/``..`` segments resolved and percent-escapes decoded, so that a reference cannot step
    out of an allowed prefix (``file:///data/../etc/passwd``)."""
    parsed = urlparse(url)
    path = unquote(parsed.path)
    normal = posixpath.normpath(path) if path else path
    if path.endswith("/") and not normal.endswith("/"):
        normal += "/"
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    return f"{parsed.scheme}://{parsed.netloc}{normal}" if parsed.scheme else normal


class Trust:
    """Where a virtual store may read chunks from: the source files it records, exactly, plus the URL prefixes
    (directories, hosts, buckets) of an explicit ``allow`` list."""

    def __init__(self, sources: Iterable[str], allow: Sequence[str] | None = None) -> None:
        # recorded URLs are written normalized (to_url of resolved paths); a reference equal to one is trusted
        # without parsing it (a thousand-file store is opened in a few ms)
        self.sources = set(sources)
        # Icechunk 1.1 gives HTTP chunk locations without their port (earth-mover/icechunk#2223) and fetches
        # them through the recorded server: a port-less location names the recorded source of the same path
        self.portless = {_portless(s) for s in self.sources if s.startswith("http")}
        self.allow = tuple(_normal(to_url(p)).rstrip("/") + "/" for p in (allow or ()))

    def permits(self, url: str) -> bool:
        if url in self.sources:
            return True
        normal = _normal(to_url(url))
        if normal in self.sources or normal in self.portless:
            return True
        return bool(self.allow) and normal.startswith(self.allow)

    def needs(self, container: str) -> bool:
        """Whether an Icechunk virtual chunk container serves a trusted source (containers of HTTP sources
        are written without the port: earth-mover/icechunk#2223)."""
        places = [*self.sources, *self.allow]
        if any(p.startswith(container) for p in places) or any(container.startswith(a) for a in self.allow):
            return True
        return any(_portless(p).startswith(container) for p in places if p.startswith("http"))

    def verify(self, href: str, locations: Iterable[str]) -> None:
        outside = [u for u in set(locations) if not self.permits(u)]
        if outside:
            outside.sort()
            more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
            raise UntrustedReference(
                outside[0],
                f"the virtual store {href} references data outside the source files it records{more}; refused "
                "(a store may only read its own sources: pass allow=[prefixes] to open_virtual to trust more)",
            )


def _portless(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.port is not None:
        return url.replace(f"{parsed.hostname}:{parsed.port}", str(parsed.hostname), 1)
    return url


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # Numcodecs codecs (HDF5's zlib, shuffle) are outside the Zarr v3 spec: zarr warns on every array it opens.
        warnings.filterwarnings("ignore", message=".*Numcodecs codecs are not in the Zarr version 3.*")
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        yield


# --- Icechunk ------------------------------------------------------------------------------------------------------


def icechunk_storage(href: str, storage_options: Mapping[str, Any] | None = None) -> Any:
    """The Icechunk storage of a repository at a local path / ``file://`` URL or ``s3://bucket/prefix``."""
    import icechunk

    parsed = urlparse(href)
    if parsed.scheme == "s3":
        s3 = S3Options.parse(storage_options)
        return icechunk.s3_storage(
            bucket=parsed.netloc,
            prefix=parsed.path.strip("/") or None,
            region=s3.region,
            endpoint_url=s3.endpoint_url,
            allow_http=s3.allow_http,
            access_key_id=s3.key,
            secret_access_key=s3.secret,
            session_token=s3.token,
            anonymous=s3.anon or None,
            from_env=None if (s3.key or s3.anon) else True,
            force_path_style=bool(s3.endpoint_url),
        )
    if parsed.scheme in ("http", "https"):
        raise AssetError(
            href,
            "an Icechunk repository cannot be read over plain HTTP (Icechunk reads local, S3, GCS and Azure "
            "storage): publish kerchunk references (gaia-lab virtualize --format kerchunk-json) for HTTP",
        )
    path = local_path(href) if parsed.scheme == "file" else Path(href).expanduser()
    assert path is not None
    return icechunk.local_filesystem_storage(str(path.resolve()))


def container_credentials(prefix: str, storage_options: Mapping[str, Any] | None) -> Any:
    """Credentials for the sources under ``prefix``: S3 ones from ``storage_options`` (or the environment),
    none for local files and HTTP."""
    if not prefix.startswith("s3://"):
        return None
    import icechunk

    s3 = S3Options.parse(storage_options)
    if s3.anon:
        return icechunk.s3_anonymous_credentials()
    if s3.key and s3.secret:
        return icechunk.s3_static_credentials(access_key_id=s3.key, secret_access_key=s3.secret, session_token=s3.token)
    return icechunk.s3_from_env_credentials()


def authorizations(prefixes: list[str], storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Icechunk's ``authorize_virtual_chunk_access`` for these containers, credentials included."""
    import icechunk

    return dict(icechunk.containers_credentials({p: container_credentials(p, storage_options) for p in prefixes}))


def open_repository(
    href: str, storage_options: Mapping[str, Any] | None = None, *, allow: Sequence[str] | None = None
) -> Any:
    """The Icechunk repository at ``href``, allowed to read those of its virtual chunk containers that serve the
    source files its last commit records (or the ``allow`` prefixes), and no other: the containers are the
    store's own configuration, which the store's author writes."""
    import icechunk

    storage = icechunk_storage(href, storage_options)
    try:
        config = icechunk.Repository.fetch_config(storage)
        if config is None and not icechunk.Repository.exists(storage):
            raise AssetError(href, "no Icechunk repository here (nor kerchunk references: .json, .parq)")
        prefixes = list((config.virtual_chunk_containers or {}) if config is not None else {})
        repo = icechunk.Repository.open(storage)
        if not prefixes:
            return repo
        sources, _ = recorded_sources(repo)
        trust = Trust([s.url for s in sources], allow)
        trusted = [p for p in prefixes if trust.needs(p)]
        return repo.reopen(authorize_virtual_chunk_access=authorizations(trusted, storage_options))
    except AssetError:
        raise
    except Exception as error:
        raise AssetError(href, f"cannot open the Icechunk repository: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip(" |x") for line in text.splitlines() if line.strip(" |x")]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def recorded_sources(repo: Any, snapshot_id: str | None = None) -> tuple[list[Fingerprint], str | None]:
    """The source fingerprints the commit recorded, and the concatenation dimension."""
    snapshot = repo.lookup_snapshot(snapshot_id) if snapshot_id else repo.lookup_branch("main")
    info = repo.lookup_snapshot(snapshot) if isinstance(snapshot, str) else snapshot
    metadata = dict(info.metadata or {})
    return [Fingerprint.from_dict(s) for s in metadata.get(SOURCES_KEY, [])], metadata.get(CONCAT_KEY)


# --- reading, with errors that name the source file ---------------------------------------------------------------


class SourceGuard:
    """Maps a failed chunk read to the source file behind it, and verifies a source file before a read from it
    for stores whose reader does not (kerchunk)."""

    def __init__(
        self,
        href: str,
        sources: list[Fingerprint],
        *,
        base: str = "",
        storage_options: Mapping[str, Any] | None = None,
        allow: Sequence[str] | None = None,
    ) -> None:
        self.href = href
        self.sources = sources
        self.base = base
        self.storage_options = dict(storage_options or {})
        self.by_url = {resolve(s.url, base): s for s in sources}
        self.trust = Trust(self.by_url, allow)

    def _error(self, change: SourceChange, count: int) -> AssetError:
        more = f" (and {count - 1} more changed or missing source file(s))" if count > 1 else ""
        return AssetError(
            change.url,
            f"source file {change.state} since the virtual store {self.href} was built: {change.detail}{more}; "
            f"its chunks are not served (no mixed data): rebuild the store (gaia-lab virtualize) or list every "
            f"change with gaia-lab virtualize --check {self.href}",
        )

    def verify_file(self, url: str) -> None:
        """Raise AssetError if the source at ``url`` differs from its recorded fingerprint (a stat for local
        files, a HEAD request for remote ones)."""
        recorded = self.by_url.get(to_url(url))
        if recorded is None:
            # a reference to a file the store does not record: refused unless the caller allowed its place
            self.trust.verify(self.href, [url])
            return
        now = fingerprint(to_url(url), self.storage_options)
        change = compare(
            Fingerprint(to_url(url), recorded.size, recorded.modified, recorded.etag),
            now,
            recorded_scheme=recorded_scheme(recorded),
        )
        if change is not None:
            raise self._error(change, 1)

    def translate(self, error: BaseException, variable: str, key: Any) -> AssetError:
        text = str(error)
        match = _CHANGED.search(text) or _URL.search(text)
        named = match.group(1) if match else None
        found = changes(self.sources, self.storage_options, relative_to=self.base) if self.sources else []
        if named is not None:
            # Icechunk 1.1 names HTTP sources without their port: find the recorded URL with the same path.
            path = urlparse(named).path
            for change in found:
                if urlparse(change.url).path == path:
                    return self._error(change, len(found))
        if found:
            return self._error(found[0], len(found))
        where = named or self.href
        return AssetError(
            where,
            f"variable {variable!r}, selection {key}: cannot read a chunk of the virtual store {self.href}: "
            f"{_first_line(error)}",
        )


class VirtualArray(BackendArray):
    """A lazily indexed array of a virtual store whose read errors name the source file."""

    def __init__(self, inner: Any, guard: SourceGuard, variable: str) -> None:
        self.inner = inner
        self.guard = guard
        self.variable = variable
        self.shape = inner.shape
        self.dtype = inner.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.typing.ArrayLike:
        try:
            return np.asarray(self.inner[key].get_duck_array())
        except AssetError:
            raise
        except Exception as error:
            raise self.guard.translate(error, self.variable, key) from None


class VirtualZarrStore(ZarrStore):
    """A ZarrStore whose variables read through :class:`VirtualArray`."""

    guard: SourceGuard | None = None

    def get_variables(self) -> Any:
        variables = super().get_variables()
        assert self.guard is not None
        wrapped = {}
        for name, variable in variables.items():
            data = indexing.LazilyIndexedArray(VirtualArray(variable._data, self.guard, name))
            wrapped[name] = xr.Variable(variable.dims, data, variable.attrs, variable.encoding)
        return type(variables)(wrapped) if isinstance(variables, dict) else wrapped


class IcechunkVirtualStore(VirtualZarrStore):
    """An Icechunk session's store, named for dask by its repository and snapshot.

    xarray names a chunked variable after everything ``open_dataset`` was given, this store included. Without a
    token of its own, dask pickles the store (the Icechunk session and the recorded source list) and loads it back,
    up to three times, to find one: a few ms in a fresh process, 0.5 s an open in a long benchmark run.
    A snapshot id is content-addressed: the same snapshot reads the same values, a new commit gets new names."""

    snapshot: str = ""

    def __dask_tokenize__(self) -> object:
        return (type(self).__name__, self.guard.href if self.guard else "", self.snapshot)


def _dataset(
    store: Any,
    guard: SourceGuard,
    href: str,
    *,
    zarr_format: int,
    chunks: Mapping[str, int] | None,
    snapshot: str | None = None,
) -> Any:
    try:
        with quiet(), one_hop_pipeline():
            kind = VirtualZarrStore if snapshot is None else IcechunkVirtualStore
            zstore = kind.open_group(store, mode="r", consolidated=False, zarr_format=zarr_format)
            zstore.guard = guard
            if isinstance(zstore, IcechunkVirtualStore):
                zstore.snapshot = str(snapshot)
            return xr.open_dataset(href, engine="zarr", store=zstore, chunks=dict(chunks) if chunks else {})
    except AssetError:
        raise
    except Exception as error:
        raise AssetError(href, f"cannot open the virtual store: {_first_line(error)}") from None


# --- kerchunk -------------------------------------------------------------------------------------------------------


def _base_of(href: str) -> str:
    """The directory URL of a references file, for the ``{{u}}`` template of sources stored next to it."""
    parsed = urlparse(href)
    if parsed.scheme in ("http", "https", "s3"):
        return href.rsplit("/", 1)[0]
    path = local_path(href) if parsed.scheme == "file" else Path(href).expanduser().resolve()
    assert path is not None
    return str(path.parent)


def _read_json(href: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    import fsspec

    try:
        with fsspec.open(href, "rt", **dict(storage_options or {})) as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise AssetError(href, "no such references file") from None
    except Exception as error:
        raise AssetError(href, f"cannot read kerchunk references: {_first_line(error)}") from None
    if not isinstance(document, dict) or "refs" not in document:
        raise AssetError(href, "not a kerchunk references file (no 'refs')")
    return document


class VerifyingReferenceFileSystem(ReferenceFileSystem):  # type: ignore[misc]
    """fsspec's reference file system, checking each source file against its recorded fingerprint before
    reading a chunk from it."""

    cachable = False  # one per opened store: its guard is its own

    def __init__(self, *args: Any, guard: SourceGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _cat_common(self, path: str, start: int | None = None, end: int | None = None) -> Any:
        part_or_url, start0, end0 = super()._cat_common(path, start=start, end=end)
        if isinstance(part_or_url, str):
            self.guard.verify_file(part_or_url)
        return part_or_url, start0, end0


def _remote_protocol(base: str) -> str:
    scheme = urlparse(base).scheme
    return scheme if scheme in ("http", "https", "s3") else "file"


def _reference_urls(document: Mapping[str, Any], base: str) -> Iterator[str]:
    """The source URLs of a kerchunk JSON document's chunk references (``{{u}}`` resolved to ``base``)."""
    raw = {v[0] for v in document.get("refs", {}).values() if isinstance(v, list) and v and isinstance(v[0], str)}
    for target in raw:
        target = target.replace("{{u}}", base)
        # an absolute path as a URL without resolving it on disk (a stat per file would make opening a thousand
        # files' references slow); ".." segments are still resolved by Trust
        yield Path(target).as_uri() if target.startswith("/") else to_url(target)


def _open_kerchunk(
    href: str,
    fmt: str,
    storage_options: Mapping[str, Any] | None,
    chunks: Mapping[str, int] | None,
    allow: Sequence[str] | None = None,
) -> xr.Dataset:
    import fsspec
    import zarr

    base = _base_of(href)
    options = dict(storage_options or {})
    if fmt == "kerchunk-json":
        document = _read_json(href, storage_options)
        sources = [Fingerprint.from_dict(s) for s in document.pop(SOURCES_KEY, [])]
        document.pop(CONCAT_KEY, None)
        # Sources under the references' directory are stored relative to it: the store opens wherever the
        # directory is served from (a local lake, the lake server, a bucket).
        document["templates"] = {**document.get("templates", {}), "u": base}
        fo: Any = document
    else:
        fo = href
        sidecar = base + "/" + Path(urlparse(href).path).name + "/" + "gaia-sources.json"
        try:
            with fsspec.open(sidecar, "rt", **options) as handle:
                sources = [Fingerprint.from_dict(s) for s in json.load(handle).get(SOURCES_KEY, [])]
        except FileNotFoundError:
            sources = []
    # where the chunks are: the sources' place (relative ones lie under the references' own)
    first = resolve(sources[0].url, base) if sources else base
    protocol = _remote_protocol(first)
    remote_options = {**options, "asynchronous": True} if protocol != "file" else {}
    guard = SourceGuard(href, sources, base=base, storage_options=options, allow=allow)
    if fmt == "kerchunk-json":
        # refused before anything is read (Parquet references are checked as each chunk is read)
        guard.trust.verify(href, _reference_urls(fo, base))
    try:
        fs = VerifyingReferenceFileSystem(
            fo=fo,
            remote_protocol=protocol,
            remote_options=remote_options,
            target_options=options if fmt == "kerchunk-parquet" else None,
            asynchronous=True,
            guard=guard,
        )
        store = zarr.storage.FsspecStore(fs, read_only=True, path="")
    except Exception as error:
        raise AssetError(href, f"cannot read kerchunk references: {_first_line(error)}") from None
    return _dataset(store, guard, href, zarr_format=2, chunks=chunks)  # type: ignore[no-any-return]


# --- public ----------------------------------------------------------------------------------------------------------


def open_virtual(
    href: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    chunks: Mapping[str, int] | None = None,
    format: str | None = None,
    entry_id: str | None = None,
    allow: Sequence[str] | None = None,
) -> xr.Dataset:
    """Open a virtual Zarr store lazily: an Icechunk repository (local path or ``s3://``) or kerchunk references
    (``.json`` or ``.parq``, local, http(s) or s3). ``storage_options`` (fsspec/s3fs style) carry S3 endpoints
    and credentials for the store and for the source files.

    Chunks are read from the source files the store records and nowhere else: a store referencing any other
    file or URL raises :class:`UntrustedReference`, unless it lies under one of the ``allow`` prefixes
    (directories, ``http://host/``, ``s3://bucket/``)."""
    fmt = format or detect_format(href)
    if fmt not in FORMATS:
        raise AssetError(href, f"unknown virtual store format {fmt!r}; expected one of {FORMATS}", entry_id=entry_id)
    try:
        if fmt != "icechunk":
            return _open_kerchunk(href, fmt, storage_options, chunks, allow)
        repo = open_repository(href, storage_options, allow=allow)
        session = repo.readonly_session("main")
        try:
            sources, _ = recorded_sources(repo, session.snapshot_id)
        except Exception:
            sources = []
        guard = SourceGuard(href, sources, storage_options=storage_options, allow=allow)
        guard.trust.verify(href, session.all_virtual_chunk_locations())
        return _dataset(  # type: ignore[no-any-return]
            session.store, guard, href, zarr_format=3, chunks=chunks, snapshot=session.snapshot_id
        )
    except AssetError as error:
        if entry_id is None or error.entry_id is not None:
            raise
        raise AssetError(error.href, str(error).split(": ", 1)[-1], entry_id=entry_id) from None


def check_virtual(
    href: str, *, storage_options: Mapping[str, Any] | None = None, format: str | None = None
) -> tuple[list[Fingerprint], list[SourceChange]]:
    """The sources a virtual store records, and those missing or changed since (empty: the store is fresh)."""
    fmt = format or detect_format(href)
    if fmt == "icechunk":
        repo = open_repository(href, storage_options)
        sources, _ = recorded_sources(repo)
        base = ""
    elif fmt == "kerchunk-json":
        sources = [Fingerprint.from_dict(s) for s in _read_json(href, storage_options).get(SOURCES_KEY, [])]
        base = _base_of(href)
    else:
        sidecar = Path(_base_of(href)) / Path(urlparse(href).path).name / "gaia-sources.json"
        sources = [Fingerprint.from_dict(s) for s in json.loads(sidecar.read_text()).get(SOURCES_KEY, [])]
        base = _base_of(href)
    if not sources:
        raise AssetError(href, "the store records no source fingerprints (not built by gaia-lab virtualize)")
    return [Fingerprint(resolve(s.url, base), s.size, s.modified, s.etag) for s in sources], changes(
        sources, storage_options, relative_to=base
    )


__all__ = ["UntrustedReference", "check_virtual", "detect_format", "open_virtual"]
