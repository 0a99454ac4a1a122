"""Object-store credentials of providers, resolved in the user's session and handed to reads by reference.

A federation file never holds a secret: a provider's ``storage_options`` name a profile (``profile: name``), ask
for anonymous access (``anon: true``) or refer to environment variables (``key: ${AWS_ACCESS_KEY_ID}``), expanded
when the user's session loads the file. Opening a cube registers the resolved :class:`S3Access` in this process and
puts only its *reference* (provider name and a digest of the non-secret fields) in the dask graph; each read looks
the reference up where it runs. Workers learn the credentials of the session that created their cluster from a
worker plugin (``gaia_lab.worker_credentials``, registered by ``gl.cluster()``), so a cluster reads with its user's
credentials and nobody else's, and secrets never travel in task graphs, reprs, logs or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets as _secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

# storage_options keys whose values are secrets (s3fs, botocore and obstore spellings); ``key``, the access key id,
# is refused as a literal too: it identifies the account and travels with its secret.
SECRET_OPTION_KEYS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
_REDACTED = "***"
_REF_KEY = _secrets.token_bytes(32)


@dataclass(frozen=True)
class S3Access:
    """How one provider reaches its object store: endpoint, and anonymous access, a profile or a key."""

    label: str = "s3"  # the provider name, shown in errors
    endpoint_url: str | None = None
    region: str | None = None
    anon: bool = False
    profile: str | None = None
    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_storage_options(cls, options: Mapping[str, Any] | None, label: str = "s3") -> S3Access:
        """From a provider's (expanded) fsspec/s3fs ``storage_options``."""
        options = dict(options or {})
        client_kwargs = dict(options.get("client_kwargs") or {})
        return cls(
            label=label,
            endpoint_url=options.get("endpoint_url") or client_kwargs.get("endpoint_url"),
            region=client_kwargs.get("region_name") or options.get("region_name"),
            anon=bool(options.get("anon", False)),
            profile=options.get("profile"),
            key=options.get("key") or options.get("aws_access_key_id"),
            secret=options.get("secret") or options.get("aws_secret_access_key"),
            token=options.get("token") or options.get("aws_session_token"),
        )

    @property
    def ref(self) -> str:
        """The reference that reads carry: the label and a keyed digest of every field, secret included, under a
        key drawn at random in this process (other credentials give another reference, and so other cached
        filesystems; the digest tells nothing about the secret)."""
        identity = "|".join(
            str(v) for v in (self.endpoint_url, self.region, self.anon, self.profile, self.key, self.secret, self.token)
        )
        digest = hmac.new(_REF_KEY, identity.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{self.label}#{digest}"

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.secret, self.token) if s]

    def s3fs_options(self) -> dict[str, Any]:
        """Keyword arguments of ``s3fs.S3FileSystem`` (secrets included: for this process only)."""
        options: dict[str, Any] = {}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        client_kwargs = {"region_name": self.region} if self.region else {}
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
        if self.anon:
            options["anon"] = True
        elif self.profile:
            options["profile"] = self.profile
        elif self.key:
            options.update(key=self.key, secret=self.secret)
            if self.token:
                options["token"] = self.token
        return options

    def gdal_options(self) -> dict[str, Any]:
        """GDAL configuration options reading ``/vsis3/`` from this endpoint (no credentials: see
        :meth:`rasterio_session`)."""
        options: dict[str, Any] = {"AWS_REGION": self.region or "us-east-1"}
        if self.endpoint_url:
            endpoint = urlparse(self.endpoint_url)
            options["AWS_S3_ENDPOINT"] = endpoint.netloc
            options["AWS_HTTPS"] = "YES" if endpoint.scheme == "https" else "NO"
            options["AWS_VIRTUAL_HOSTING"] = "FALSE"  # path-style: custom endpoints rarely have bucket DNS names
        if not self.anon:
            # GDAL caches what /vsis3/ read per URL and process, whoever's credentials read it: a read with other
            # credentials in the same process would be served from the cache without asking the server.
            options["CPL_VSIL_CURL_NON_CACHED"] = "/vsis3/"
        return options

    def rasterio_session(self) -> Any:
        """A ``rasterio.session.AWSSession`` with these credentials (rasterio hands them to GDAL per ``Env``)."""
        from rasterio.session import AWSSession

        return AWSSession(
            aws_unsigned=self.anon,
            aws_access_key_id=None if self.anon else self.key,
            aws_secret_access_key=None if self.anon else self.secret,
            aws_session_token=None if self.anon else self.token,
            profile_name=None if self.anon else self.profile,
            region_name=self.region or "us-east-1",
            endpoint_url=urlparse(self.endpoint_url).netloc if self.endpoint_url else None,
        )


_lock = threading.Lock()
_registry: dict[str, S3Access] = {}
_listeners: list[Callable[[dict[str, S3Access]], None]] = []


def register(access: S3Access) -> str:
    """Make ``access`` known to reads in this process (and to the clusters ``gl.cluster()`` opened); its reference."""
    ref = access.ref
    with _lock:
        changed = _registry.get(ref) != access
        _registry[ref] = access
        listeners = list(_listeners) if changed else []
    for listener in listeners:
        listener(registered())
    return ref


def register_all(accesses: Mapping[str, S3Access]) -> None:
    """Register accesses under the references another process gave them (a worker plugin's)."""
    with _lock:
        _registry.update(accesses)


def lookup(ref: str) -> S3Access | None:
    with _lock:
        return _registry.get(ref)


def registered() -> dict[str, S3Access]:
    with _lock:
        return dict(_registry)


def add_listener(listener: Callable[[dict[str, S3Access]], None]) -> None:
    """Called with every registered access when one is added or changes (``gl.cluster()`` pushes them on)."""
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Callable[[dict[str, S3Access]], None]) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


_redacted: set[str] = set()
# option keys whose values are scrubbed from messages and logs (key ids identify an account but are no secret)
_SCRUBBED_KEYS = SECRET_OPTION_KEYS - {"key", "access_key_id", "aws_access_key_id"}


def redact(options: Mapping[str, Any] | None) -> None:
    """Scrub the secrets of ``options`` (storage_options, expanded) from messages and logs of this process, though
    they are not registered for reads (a catalogue read with them, say)."""
    # Short values are left alone: replacing a one-letter "secret" would garble every message (real ones are long)
    found = [str(v) for k, v in (options or {}).items() if str(k).lower() in _SCRUBBED_KEYS and len(str(v)) >= 8]
    for value in (options or {}).values():
        if isinstance(value, Mapping):
            redact(value)
    if found:
        with _lock:
            _redacted.update(found)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ***."""
    with _lock:
        secrets = set(_redacted)
    for access in registered().values():
        secrets.update(access.secrets)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text


class _ScrubSecrets(logging.Filter):
    """Replaces registered secrets in a record's message: botocore's DEBUG logs show every signed request, and a
    session token travels in a request header (``X-Amz-Security-Token``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _registry or _redacted:
            message = record.getMessage()
            scrubbed = scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


# The loggers that write requests with their headers (filters of a logger do not apply to its children)
_REQUEST_LOGGERS = ("botocore.auth", "botocore.endpoint", "aiobotocore.endpoint", "botocore.hooks", "s3fs")
for _name in _REQUEST_LOGGERS:
    logging.getLogger(_name).addFilter(_ScrubSecrets())


def label_of(ref: str) -> str:
    return ref.split("#", 1)[0]


# ----------------------------------------------------------------------------------------------------------------
# Errors: what a refusal means, without the secret

_DENIED = ("AccessDenied", "Access Denied", "Forbidden", "403", "AllAccessDisabled")
# markers of a bad key in botocore's and GDAL's messages -> the S3 error code they stand for
_BAD_KEY = {
    "InvalidAccessKeyId": "InvalidAccessKeyId",
    "does not exist in our records": "InvalidAccessKeyId",
    "SignatureDoesNotMatch": "SignatureDoesNotMatch",
    "signature we calculated does not match": "SignatureDoesNotMatch",
    "ExpiredToken": "ExpiredToken",
    "InvalidToken": "InvalidToken",
    "TokenRefreshRequired": "TokenRefreshRequired",
}
# A refused HEAD has no body: S3 answers 400 to a session token it cannot read (malformed, or of an expired session)
_BAD_REQUEST = ("Bad Request",)
_NO_CREDENTIALS = (
    "NoCredentialsError",
    "Unable to locate credentials",
    "could not find AWS credentials",
    "PartialCredentialsError",
)


def missing_credentials(provider: str) -> str:
    return (
        f"no credentials of provider {provider!r} reached this process: open clusters with gl.cluster(), which "
        "hands the session's credentials to its workers, or register gaia_lab.worker_credentials.plugin() on "
        "your own client"
    )


def _chain(error: BaseException) -> str:
    parts = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def bucket_of(href: str) -> str:
    parsed = urlparse(href)
    if parsed.scheme in ("s3", "s3a"):
        return parsed.netloc
    if href.startswith("/vsis3/"):
        return href.split("/")[2]
    return parsed.netloc


def _probe(access: S3Access, href: str) -> str | None:
    """The S3 error code a listing of ``href``'s bucket answers with these credentials (``None``: allowed).

    A refused HEAD request (s3fs checks objects with HEAD) carries no body, hence no error code: 403 says neither
    whether the key is wrong nor whether it lacks a grant. One signed listing tells."""
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(href)
    kwargs: dict[str, Any] = {"region_name": access.region or "us-east-1", "endpoint_url": access.endpoint_url}
    if access.anon:
        kwargs["config"] = Config(signature_version=UNSIGNED, retries={"max_attempts": 1})
    else:
        kwargs["config"] = Config(retries={"max_attempts": 1})
        if access.key:
            kwargs |= {"aws_access_key_id": access.key, "aws_secret_access_key": access.secret}
            kwargs["aws_session_token"] = access.token
    session = botocore.session.Session(profile=access.profile) if access.profile else botocore.session.Session()
    try:
        client = session.create_client("s3", **kwargs)
        client.list_objects_v2(Bucket=parsed.netloc, Prefix=parsed.path.lstrip("/"), MaxKeys=1)
    except ClientError as error:
        return str(error.response.get("Error", {}).get("Code") or "AccessDenied")
    except BotoCoreError as error:
        return type(error).__name__
    return None


def refusal(href: str, error: BaseException, ref: str | None) -> str | None:
    """The message for an S3 refusal of ``href`` (wrong, expired or missing credentials, access denied), naming the
    bucket and the provider and holding no secret; ``None`` when ``error`` is something else."""
    text = _chain(error)
    access = lookup(ref) if ref else None
    ambiguous = isinstance(error, PermissionError) or any(marker in text for marker in _DENIED)
    unclear = ambiguous or (access is not None and access.token is not None and any(m in text for m in _BAD_REQUEST))
    if unclear and access is not None and not any(marker in text for marker in _BAD_KEY):
        code = _probe(access, href)
        if code is not None:
            text += f" <- probe: {code}"
    provider = label_of(ref) if ref else "?"
    bucket = bucket_of(href)
    if any(marker in text for marker in _NO_CREDENTIALS):
        code, reason = "no credentials", missing_credentials(provider)
    elif any(marker in text for marker in _BAD_KEY):
        code = next(code for marker, code in _BAD_KEY.items() if marker in text)
        reason = (
            f"the access key of provider {provider!r} is unknown, expired or revoked, or its secret is wrong: "
            "renew it and set the environment variables (or profile) its storage_options refer to"
        )
    elif ambiguous:
        code = "AccessDenied"
        reason = (
            f"the credentials of provider {provider!r} are valid but not granted this bucket: ask its owner for "
            "read access, or use a provider whose credentials have it"
        )
    else:
        return None
    return scrub(f"S3 bucket {bucket!r} refused the read ({code}): {reason}")
