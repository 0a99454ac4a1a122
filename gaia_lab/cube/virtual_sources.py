"""The source files behind a virtual Zarr store: where they live (file, http(s), s3), how to reach them
(obstore stores, icechunk containers and credentials from fsspec-style ``storage_options``), and their
fingerprints (ETag, last-modified, size) recorded at virtualization and compared by ``--check``.

Secrets are never written into a store: icechunk keeps the containers' endpoints, the credentials come from
``storage_options`` (or the environment) each time the store is opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from gaia_lab.errors import AssetError

REMOTE_SCHEMES = ("http", "https", "s3")
_HEAD_THREADS = 16


def to_url(source: str | os.PathLike[str]) -> str:
    """``file://`` URL of a local path (absolute), or the URL itself."""
    text = os.fspath(source)
    scheme = urlparse(text).scheme
    if scheme in REMOTE_SCHEMES or scheme == "file":
        return text
    return Path(text).expanduser().resolve().as_uri()


def local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def origin(url: str) -> str:
    """The part of a URL one object store serves: ``file://``, ``http://host:port``, ``s3://bucket``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return "file://"
    return f"{parsed.scheme}://{parsed.netloc}"


@dataclass(frozen=True)
class S3Options:
    """The S3 settings of fsspec/s3fs-style ``storage_options`` (``key``, ``secret``, ``token``, ``anon``,
    ``endpoint_url`` or ``client_kwargs.endpoint_url``, ``client_kwargs.region_name``)."""

    endpoint_url: str | None = None
    region: str | None = None
    key: str | None = None
    secret: str | None = None
    token: str | None = None
    anon: bool = False

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> S3Options:
        options = dict(options or {})
        client = dict(options.get("client_kwargs") or {})
        return cls(
            endpoint_url=options.get("endpoint_url") or client.get("endpoint_url"),
            region=options.get("region") or client.get("region_name"),
            key=options.get("key") or options.get("aws_access_key_id"),
            secret=options.get("secret") or options.get("aws_secret_access_key"),
            token=options.get("token") or options.get("aws_session_token"),
            anon=bool(options.get("anon", False)),
        )

    @property
    def allow_http(self) -> bool:
        return bool(self.endpoint_url and self.endpoint_url.startswith("http://"))


def object_store(url: str, storage_options: Mapping[str, Any] | None = None) -> Any:
    """The obstore store that serves ``origin(url)``."""
    from obstore.store import HTTPStore, LocalStore, S3Store

    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStore()
    if parsed.scheme in ("http", "https"):
        return HTTPStore.from_url(origin(url), client_options={"allow_http": parsed.scheme == "http"})
    if parsed.scheme == "s3":
        s3 = S3Options.parse(storage_options)
        config: dict[str, Any] = {}
        if s3.endpoint_url:
            config["endpoint"] = s3.endpoint_url
        if s3.region:
            config["region"] = s3.region
        if s3.anon:
            config["skip_signature"] = True
        elif s3.key and s3.secret:
            config.update({"access_key_id": s3.key, "secret_access_key": s3.secret})
            if s3.token:
                config["token"] = s3.token
        return S3Store(
            parsed.netloc,
            config=config,  # type: ignore[arg-type]
            client_options={"allow_http": s3.allow_http},
        )
    raise AssetError(url, "unsupported scheme: sources are local files, http(s):// or s3:// URLs")


def object_path(url: str) -> str:
    """The key of ``url`` inside the store ``object_store(url)`` returns."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return unquote(parsed.path).lstrip("/")


@dataclass(frozen=True)
class Fingerprint:
    """What identifies one version of a source file: size, last modification and ETag (an inode/mtime/size tag
    for local files, the server's for HTTP and S3)."""

    url: str
    size: int
    modified: str  # ISO 8601, UTC, as precise as the store gives it
    etag: str | None

    @property
    def modified_at(self) -> datetime:
        return datetime.fromisoformat(self.modified)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        return cls(str(data["url"]), int(data["size"]), str(data["modified"]), data.get("etag"))


def fingerprint(url: str, storage_options: Mapping[str, Any] | None = None) -> Fingerprint | None:
    """The current fingerprint of ``url``, or ``None`` when it does not exist (any other failure raises
    AssetError naming the URL)."""
    path = local_path(url)
    if path is not None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise AssetError(url, f"cannot stat the source file: {error}") from None
        modified = datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC)
        # no inode: a copied lake (copy2 keeps mtimes) must still match; a file replaced by another of the same
        # size and nanosecond mtime is beyond what any stat can tell
        etag = f"{stat.st_mtime_ns:x}-{stat.st_size:x}"
        return Fingerprint(url, stat.st_size, modified.isoformat(), etag)
    import obstore

    try:
        meta = obstore.head(object_store(url, storage_options), object_path(url))
    except FileNotFoundError:
        return None
    except Exception as error:
        # obstore's errors carry the request; keep the first line, which names the failure, not the credentials
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AssetError(url, f"cannot read the source's metadata: {type(error).__name__}: {first}") from None
    return Fingerprint(url, int(meta["size"]), meta["last_modified"].astimezone(UTC).isoformat(), meta.get("e_tag"))


def fingerprints(urls: Iterable[str], storage_options: Mapping[str, Any] | None = None) -> list[Fingerprint | None]:
    """Fingerprints of many sources (HEAD requests in parallel for remote ones)."""
    urls = list(urls)
    if all(local_path(u) is not None for u in urls):
        return [fingerprint(u) for u in urls]
    with ThreadPoolExecutor(_HEAD_THREADS) as pool:
        return list(pool.map(lambda u: fingerprint(u, storage_options), urls))


@dataclass(frozen=True)
class SourceChange:
    """A source that differs from what was virtualized: ``missing`` or ``changed`` (with what changed)."""

    url: str
    state: str
    detail: str

    def __str__(self) -> str:
        return f"{self.state}: {self.url} ({self.detail})"


def compare(
    recorded: Fingerprint, now: Fingerprint | None, *, recorded_scheme: str | None = None
) -> SourceChange | None:
    """What differs between a recorded fingerprint and the file now. A file recorded in one kind of store and
    found in another (a lake built locally, served over HTTP or copied to S3) keeps its size, not its dates or
    ETag: only the size is compared then."""
    if now is None:
        return SourceChange(recorded.url, "missing", "no longer exists")
    differences = []
    if now.size != recorded.size:
        differences.append(f"size {recorded.size} -> {now.size}")
    if (recorded_scheme or urlparse(recorded.url).scheme) != urlparse(now.url).scheme:
        return SourceChange(recorded.url, "changed", ", ".join(differences)) if differences else None
    if now.modified_at != recorded.modified_at:
        differences.append(f"modified {recorded.modified} -> {now.modified}")
    if recorded.etag and now.etag and now.etag != recorded.etag:
        differences.append(f"ETag {recorded.etag} -> {now.etag}")
    if differences:
        return SourceChange(recorded.url, "changed", ", ".join(differences))
    return None


def changes(
    recorded: Iterable[Fingerprint], storage_options: Mapping[str, Any] | None = None, *, relative_to: str = ""
) -> list[SourceChange]:
    """The sources that are missing or changed since they were recorded (URLs relative to ``relative_to``
    are resolved against it)."""
    records = list(recorded)
    urls = [resolve(r.url, relative_to) for r in records]
    found = fingerprints(urls, storage_options)
    out = []
    for record, url, now in zip(records, urls, found, strict=True):
        change = compare(
            Fingerprint(url, record.size, record.modified, record.etag), now, recorded_scheme=recorded_scheme(record)
        )
        if change is not None:
            out.append(change)
    return out


def recorded_scheme(record: Fingerprint) -> str:
    """Where a source was when it was recorded: relative URLs are written for local files only."""
    return urlparse(record.url).scheme or "file"


def resolve(url: str, base: str) -> str:
    """``url`` if absolute, else joined to the directory URL ``base``."""
    if "://" in url or not base:
        return url
    if "://" not in base:
        return (Path(base) / url).resolve().as_uri()
    return base.rstrip("/") + "/" + url
