"""Which protocol a catalogue URL speaks, read from what it serves: the one place providers are told apart.

``type: stac`` picks between a static catalog and a STAC API; ``type: auto`` also recognises an OGC CSW (from its
capabilities) and an OGC API - Records server (from its landing page or conformance), so a user can give just a
URL. Detection runs on first use, so building a Catalog never touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from threading import Lock
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlparse

import pystac

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.stac_io import ProviderStacIO
from gaia_lab.errors import ProviderError
from gaia_lab.query import CubeRequest, Query

if TYPE_CHECKING:
    import xarray as xr

STAC_API = "stac-api"
STAC_STATIC = "stac-static"
CSW = "csw"
OGCAPI_RECORDS = "ogcapi-records"

# Delegates for protocols other than STAC, built from their own modules (imported only when detected).
_CLASSES = {
    CSW: "gaia_lab.catalog.providers.csw:CswProvider",
    OGCAPI_RECORDS: "gaia_lab.catalog.providers.ogcapi_records:OgcApiRecordsProvider",
}
_CSW_NAMESPACES = ("http://www.opengis.net/cat/csw/2.0.2", "http://www.opengis.net/cat/csw/3.0")
_RECORDS_CONFORMANCE = "ogcapi-records-1"


def looks_like_stac_api(document: Mapping[str, Any]) -> bool:
    conforms = document.get("conformsTo") or []
    if any("item-search" in str(c) for c in conforms):
        return True
    return any(link.get("rel") == "search" for link in _links(document))


def looks_like_records(document: Mapping[str, Any]) -> bool:
    """An OGC API - Records landing page names the Records conformance classes, here or at its conformance link."""
    return any(_RECORDS_CONFORMANCE in str(c) for c in document.get("conformsTo") or [])


def _links(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    links = document.get("links")
    return [link for link in links if isinstance(link, Mapping)] if isinstance(links, list) else []


def _is_xml(text: str) -> bool:
    return text.lstrip().startswith("<")


def _is_csw_capabilities(text: str) -> bool:
    head = text[:4000]
    return "Capabilities" in head and any(namespace in head for namespace in _CSW_NAMESPACES)


def _capabilities_url(url: str) -> str:
    base = url.split("?", 1)[0]
    return f"{base}?{urlencode({'service': 'CSW', 'request': 'GetCapabilities'})}"


class Detector:
    """Reads a URL with the provider's headers, timeout and storage options and names the protocol behind it."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.io = ProviderStacIO(
            config.name,
            headers=dict(config.headers),
            timeout=float(config.timeout),
            storage_options=dict(config.storage_options),
        )

    def detect(self, *, allowed: tuple[str, ...]) -> tuple[str, Mapping[str, Any] | None]:
        """The protocol and, for JSON ones, the root document already read (so it is not read twice)."""
        url = str(self.config.url)
        text = self.io.read_text_from_href(url)
        if _is_xml(text):
            if CSW in allowed and (_is_csw_capabilities(text) or self._csw_capabilities_answer(url)):
                return CSW, None
            raise self._unknown(allowed, "an XML document that is not OGC CSW capabilities")
        document = self.io.json_loads(text)
        if STAC_API in allowed and looks_like_stac_api(document):
            return STAC_API, document
        if OGCAPI_RECORDS in allowed and (looks_like_records(document) or self._conformance_names_records(document)):
            return OGCAPI_RECORDS, document
        is_stac = bool(document.get("stac_version")) or document.get("type") in ("Catalog", "Collection")
        # When only STAC was asked for, pystac reads the document and says what is wrong with it.
        if STAC_STATIC in allowed and (is_stac or OGCAPI_RECORDS not in allowed):
            return STAC_STATIC, document
        raise self._unknown(allowed, "a JSON document that is neither STAC nor an OGC API - Records landing page")

    def _csw_capabilities_answer(self, url: str) -> bool:
        if urlparse(url).scheme not in ("http", "https"):
            return False
        try:
            return _is_csw_capabilities(self.io.read_text_from_href(_capabilities_url(url)))
        except ProviderError:
            return False

    def _conformance_names_records(self, document: Mapping[str, Any]) -> bool:
        link = next((link for link in _links(document) if link.get("rel") in ("conformance", _CONFORMANCE_REL)), None)
        if link is None or "href" not in link:
            return False
        try:
            conformance = self.io.json_loads(self.io.read_text_from_href(urljoin(str(self.config.url), link["href"])))
        except ProviderError:
            return False
        return looks_like_records(conformance)

    def _unknown(self, allowed: tuple[str, ...], found: str) -> ProviderError:
        return ProviderError(
            str(self.config.name),
            f"the URL serves {found}; expected one of {', '.join(allowed)} (set the provider's type to say which)",
            url=str(self.config.url),
        )


_CONFORMANCE_REL = "http://www.opengis.net/def/rel/ogc/1.0/conformance"


def build_delegate(
    config: ProviderConfig, kind: str, document: Mapping[str, Any] | None, io: ProviderStacIO
) -> Provider:
    """The provider class for a detected protocol; ``io`` is the reader detection used (static STAC goes on with it)."""
    if kind == STAC_API:
        from gaia_lab.catalog.providers.stac_api import StacApiProvider

        return StacApiProvider(config, document)
    if kind == STAC_STATIC:
        from gaia_lab.catalog.providers.stac_static import StaticStacProvider

        try:
            root = pystac.read_dict(dict(document or {}), href=str(config.url), stac_io=io)
        except (pystac.STACError, pystac.STACTypeError, KeyError, ValueError, TypeError) as error:
            raise ProviderError(config.name, f"not a valid STAC document: {error}", url=str(config.url)) from None
        return StaticStacProvider(config, root)
    module_name, _, attribute = _CLASSES[kind].partition(":")
    provider = getattr(import_module(module_name), attribute)(config)
    assert isinstance(provider, Provider)
    return provider


class DetectedProvider(Provider):
    """Reads the URL once, on first use, then delegates to the provider of the protocol it found."""

    def __init__(self, config: ProviderConfig, allowed: tuple[str, ...]) -> None:
        super().__init__(config)
        self.allowed = allowed
        self._delegate: Provider | None = None
        self._lock = Lock()

    @property
    def delegate(self) -> Provider:
        with self._lock:
            if self._delegate is None:
                detector = Detector(self.config)
                kind, document = detector.detect(allowed=self.allowed)
                self._delegate = build_delegate(self.config, kind, document, detector.io)
            return self._delegate

    @property
    def kind(self) -> str:
        return self._delegate.kind if self._delegate is not None else self.type

    def search(self, query: Query) -> list[Entry]:
        return self.delegate.search(query)

    def search_items(self, query: Query, filter: Mapping[str, Any] | None = None) -> list[Entry]:
        return self.delegate.search_items(query, filter)

    def get(self, local_id: str) -> Entry:
        return self.delegate.get(local_id)

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        return self.delegate.open(entry, request)


def detect_stac_provider(config: ProviderConfig) -> Provider:
    """``type: stac``: a STAC API when the root says it searches, else a static catalog."""
    return DetectedProvider(config, (STAC_STATIC, STAC_API))


def detect_any_provider(config: ProviderConfig) -> Provider:
    """``type: auto``: STAC API, OGC API - Records, OGC CSW or static STAC, from what the URL serves."""
    return DetectedProvider(config, (STAC_API, OGCAPI_RECORDS, CSW, STAC_STATIC))
