"""Reading STAC JSON with the provider's headers, timeout and storage options (http(s), s3, local)."""

from __future__ import annotations

import json
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import orjson
import pystac
from pystac.serialization import identify_stac_object, identify_stac_object_type, migrate_to_latest
from pystac.stac_io import DefaultStacIO
from pystac.utils import HREF

from gaia_lab import credentials
from gaia_lab.errors import ProviderAuthError, ProviderError, ProviderTimeout

# requests and fsspec are imported by the first read that needs them: a local catalogue (the demo lake) is read with
# neither.
if TYPE_CHECKING:
    import requests
    from urllib3.util.retry import Retry

TRANSIENT_STATUSES = (429, 502, 503, 504)
#: From this many links on, a catalogue or collection is built without copying its links (see
#: ``ProviderStacIO.stac_object_from_dict``).
MANY_LINKS = 100


def transient_retry(timeout: float) -> Retry:
    """Retries for transient failures: backoff doubles from 0.1 s, and three tries stay inside the timeout."""
    from urllib3.util.retry import Retry

    return Retry(
        total=3,
        connect=3,
        read=0,
        status=3,
        backoff_factor=0.1,
        backoff_max=min(2.0, timeout / 4),
        status_forcelist=TRANSIENT_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )


def retrying_session(timeout: float) -> requests.Session:
    """A requests session that retries transient failures (:func:`transient_retry`) within ``timeout``."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(max_retries=transient_retry(timeout))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_CONTAINERS = (pystac.STACObjectType.CATALOG, pystac.STACObjectType.COLLECTION)


class ProviderStacIO(DefaultStacIO):
    """pystac I/O that speaks for one provider: its errors are ProviderErrors naming it and the href."""

    def __init__(
        self,
        provider: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(headers=headers or {})
        self.provider = provider
        self.timeout = timeout
        self.storage_options = storage_options or {}
        credentials.redact(self.storage_options)  # its secrets are scrubbed from logs (botocore logs requests)

    @cached_property
    def session(self) -> requests.Session:
        return retrying_session(self.timeout)

    def read_text_from_href(self, href: str) -> str:
        scheme = urlparse(href).scheme
        if scheme in ("http", "https"):
            return self._read_http(href)
        try:
            if not scheme:
                with open(href, encoding="utf-8") as file:
                    return file.read()
            import fsspec

            with fsspec.open(href, "rt", encoding="utf-8", **self.storage_options) as stream:
                return str(stream.read())
        except FileNotFoundError:
            raise ProviderError(self.provider, "file not found", url=href) from None
        except OSError as error:
            raise ProviderError(self.provider, f"cannot read: {error}", url=href) from None

    def _read_http(self, href: str) -> str:
        import requests

        try:
            response = self.session.get(href, headers=self.headers, timeout=self.timeout)
        except requests.Timeout:
            raise ProviderTimeout(self.provider, f"no answer within {self.timeout:g} s", url=href) from None
        except requests.RequestException as error:
            raise ProviderError(self.provider, f"unreachable: {type(error).__name__}", url=href) from None
        if response.status_code in (401, 403):
            raise ProviderAuthError(
                self.provider,
                f"HTTP {response.status_code}: credentials refused; check the provider's headers/token",
                url=href,
                status=response.status_code,
            )
        if response.status_code >= 400:
            raise ProviderError(self.provider, f"HTTP {response.status_code}", url=href, status=response.status_code)
        return response.text

    def json_loads(self, txt: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            document = orjson.loads(txt)
        except orjson.JSONDecodeError:
            try:  # NaN, Infinity, integers beyond 64 bits: Python's json reads them
                document = json.loads(txt)
            except ValueError as error:
                raise ProviderError(self.provider, f"malformed JSON: {error}") from None
        if not isinstance(document, dict):
            raise ProviderError(self.provider, "malformed STAC: the document is not a JSON object")
        return document

    def stac_object_from_dict(
        self,
        d: dict[str, Any],
        href: HREF | None = None,
        root: pystac.Catalog | None = None,
        preserve_dict: bool = True,
    ) -> pystac.STACObject:
        """pystac's, without deep-copying a catalogue's or collection's links.

        pystac deep-copies a document twice on the way to an object (each migration copies it), links included. A
        static collection holds one link per item, 10,000 links cost a quarter of a second in copies, and no
        migration reads or changes the links of a catalogue or collection: the rest of the document is migrated
        and the links are handed over as they are (``Link.from_dict`` copies each one)."""
        links = d.get("links")
        object_type = identify_stac_object_type(d)
        if not isinstance(links, list) or len(links) < MANY_LINKS or object_type not in _CONTAINERS:
            return super().stac_object_from_dict(d, href=href, root=root, preserve_dict=preserve_dict)
        migrated = migrate_to_latest({k: v for k, v in d.items() if k != "links"}, identify_stac_object(d))
        migrated["links"] = links
        kind = pystac.Collection if object_type == pystac.STACObjectType.COLLECTION else pystac.Catalog
        built = kind.from_dict(
            migrated, href=None if href is None else os.fspath(href), root=root, migrate=False, preserve_dict=False
        )
        built._stac_io = self
        return built

    def read_stac(self, href: str) -> pystac.STACObject:
        try:
            return pystac.read_file(href, stac_io=self)
        except ProviderError:
            raise
        except (pystac.STACError, pystac.STACTypeError, KeyError, ValueError, TypeError) as error:
            raise ProviderError(self.provider, f"not a valid STAC document: {error}", url=href) from None
