"""EODAG as a federation member: one of EODAG's providers (or a STAC API EODAG does not know, through its generic
STAC search plugin) searched for one product type. Its products (EOProducts) become item entries; being STAC-like
(properties and assets), they open as cubes through :func:`gaia_lab.cube.open_stac`.

Federation YAML::

    - name: theia-s2
      hub: land
      type: eodag
      eodag_provider: theia            # a provider EODAG knows (credentials in EODAG's own config or environment)
      product_type: S2_MSI_L2A_MAJA
    - name: lake-api
      hub: ocean
      type: eodag
      eodag_provider: lake             # unknown to EODAG: added as a STAC API at url
      product_type: ostia-sst-monthly
      url: http://127.0.0.1:8081/
      headers: {Authorization: "Bearer ${LAKE_TOKEN}"}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from threading import Lock
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.stac_convert import EncodedItem, as_source, item_entry
from gaia_lab.errors import (
    ConfigError,
    EntryNotFound,
    GaiaLabError,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
)
from gaia_lab.query import BBox, CubeRequest, Query
from gaia_lab.stac_item import StacItem

if TYPE_CHECKING:
    import xarray as xr
    from eodag import EODataAccessGateway
    from eodag.api.product import EOProduct

# Items per request where the provider's EODAG configuration sets no maximum; STAC APIs commonly allow this many.
PAGE_SIZE = 500
# EODAG retries 401 and 500 by default, with a backoff that outlasts a federation timeout: retry only what is transient.
RETRY = {"retry_total": 2, "retry_backoff_factor": 0.1, "retry_status_forcelist": [429, 502, 503, 504]}

T = TypeVar("T")


class EodagProvider(Provider):
    """One EODAG provider and product type; one EODAG instance, created at the first search."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        where = f"provider {config.name!r}"
        if not config.eodag_provider:
            raise ConfigError("type eodag needs eodag_provider (the name of an EODAG provider)", source=where)
        if not config.product_type:
            raise ConfigError("type eodag needs product_type (the EODAG product type / collection)", source=where)
        self.eodag_provider = str(config.eodag_provider)
        self.product_type = str(config.product_type)
        self._dag: EODataAccessGateway | None = None
        self._page_size = PAGE_SIZE
        self._create_lock = Lock()
        # EODAG's search plugins keep each search's paging state on themselves: one search at a time per instance.
        self._search_lock = Lock()

    @property
    def kind(self) -> str:
        return "eodag"

    @property
    def url(self) -> str:
        return str(self.config.url) or f"eodag:{self.eodag_provider}"

    # -- the EODAG instance -------------------------------------------------------------------------------------

    @property
    def gateway(self) -> EODataAccessGateway:
        with self._create_lock:
            if self._dag is None:
                self._dag = self._call(self._create_gateway)
            return self._dag

    def _create_gateway(self) -> EODataAccessGateway:
        from eodag import EODataAccessGateway
        from eodag.config import EODAGSettings

        # EODAG's own configuration directory ($EODAG_CFG_DIR, else ~/.config/eodag) keeps the user's credentials
        # for the providers EODAG knows. Only this provider is loaded, and the external list of product types is
        # not fetched: the product type is named in the federation.
        settings = EODAGSettings(providers_whitelist=[self.eodag_provider], strict_collections=True)
        dag = EODataAccessGateway(settings=settings)
        overrides = self._provider_overrides()
        if self.eodag_provider in _bundled_providers():
            # Also restores a provider EODAG set aside for lack of credentials when eodag_config brings them.
            dag.update_providers_config(dict_conf={self.eodag_provider: overrides})
        elif self.config.url or self.config.eodag_config:
            search = {"type": "StacSearch", **overrides.pop("search", {})}
            dag.add_provider(self.eodag_provider, url=self._search_endpoint(), search=search, **overrides)
        else:
            raise ConfigError(
                f"eodag_provider {self.eodag_provider!r} is not one of EODAG's providers "
                f"({self._known_providers()}); give its STAC API as url, or its EODAG configuration as eodag_config",
                source=f"provider {self.name!r}",
            )
        self._check_product_type(dag)
        # Read once: EODataAccessGateway.providers deep-copies every provider's configuration at each access.
        pagination = getattr(dag.providers[self.eodag_provider].search_config, "pagination", None) or {}
        self._page_size = int(pagination.get("max_limit") or PAGE_SIZE)
        return dag

    def _search_endpoint(self) -> str | None:
        url = str(self.config.url).rstrip("/")
        if not url:
            return None
        return url if url.endswith("/search") else f"{url}/search"

    def _provider_overrides(self) -> dict[str, Any]:
        """The EODAG provider configuration from the federation: ``eodag_config``, the timeout, transient-only
        retries, and ``headers`` as EODAG's header authentication."""
        conf: dict[str, Any] = {key: value for key, value in dict(self.config.eodag_config).items()}
        search = dict(conf.get("search") or {})
        search.setdefault("timeout", self.timeout)
        for key, value in RETRY.items():
            search.setdefault(key, value)
        if self.eodag_provider not in _bundled_providers():
            if self.config.url:
                search.setdefault("api_endpoint", self._search_endpoint())
            # A STAC API EODAG does not know: keep its asset keys (EODAG renames them after the file names) and
            # its item titles (EODAG's generic STAC mapping titles each item with its id).
            search.setdefault("asset_key_from_href", False)
            search.setdefault("metadata_mapping", {"title": "$.properties.title"})
            if self.config.headers:
                conf.setdefault("auth", {"type": "HTTPHeaderAuth", "credentials": dict(self.config.headers)})
            if "auth" in conf:
                search.setdefault("need_auth", True)  # EODAG authenticates a search only when told to
        elif self.config.headers:
            search.setdefault("need_auth", True)
            conf.setdefault("auth", {"type": "HTTPHeaderAuth", "credentials": dict(self.config.headers)})
        conf["search"] = search
        return conf

    def _known_providers(self) -> str:
        names = sorted(_bundled_providers())
        return ", ".join(names)

    def _check_product_type(self, dag: EODataAccessGateway) -> None:
        """Fail at the first search, naming the parameter, when the provider does not have the product type."""
        known = {c.id for c in dag.list_collections(provider=self.eodag_provider, fetch_providers=False)}
        if self.product_type in known:
            return
        # None where the server refused or failed: the search that follows reports why.
        discovered = dag.discover_collections(provider=self.eodag_provider) or {}
        found = (discovered.get(self.eodag_provider) or {}).get("providers_config") or {}
        known |= set(found)
        if found and self.product_type not in known:
            listed = ", ".join(sorted(known)[:20])
            raise ProviderError(
                self.name,
                f"product_type {self.product_type!r} is not a product type of EODAG provider "
                f"{self.eodag_provider!r}; it has: {listed}",
                url=self.url,
            )

    # -- errors --------------------------------------------------------------------------------------------------

    def _call(self, action: Callable[[], T]) -> T:
        """Run an EODAG call, turning its errors (and those of requests under it) into errors naming this
        provider."""
        from eodag.utils.exceptions import (
            AuthenticationError,
            EodagError,
            MisconfiguredError,
            RequestError,
            TimeOutError,
            UnsupportedCollection,
            UnsupportedProvider,
        )

        try:
            return action()
        except GaiaLabError:
            raise
        except AuthenticationError as error:
            raise ProviderAuthError(self.name, f"EODAG authentication failed: {_text(error)}", url=self.url) from None
        except TimeOutError:
            raise ProviderTimeout(self.name, f"no answer within {self.timeout:g} s", url=self.url) from None
        except RequestError as error:
            status = getattr(error, "status_code", None)
            if status in (401, 403):
                raise ProviderAuthError(
                    self.name,
                    f"HTTP {status}: credentials refused; set the provider's credentials (EODAG's configuration, "
                    "or headers with ${VAR} references in the federation)",
                    url=self.url,
                    status=status,
                ) from None
            if _timed_out(error):
                raise ProviderTimeout(self.name, f"no answer within {self.timeout:g} s", url=self.url) from None
            what = f"HTTP {status}" if status else "unreachable or failed"
            raise ProviderError(self.name, f"{what}: {_text(error)}", url=self.url, status=status) from None
        except UnsupportedProvider as error:
            raise ProviderError(self.name, f"eodag_provider {self.eodag_provider!r}: {_text(error)}") from None
        except UnsupportedCollection as error:
            raise ProviderError(self.name, f"product_type {self.product_type!r}: {_text(error)}") from None
        except MisconfiguredError as error:
            raise ProviderError(
                self.name, f"EODAG configuration of {self.eodag_provider!r}: {_text(error)}", url=self.url
            ) from None
        except EodagError as error:
            raise ProviderError(self.name, f"EODAG: {type(error).__name__}: {_text(error)}", url=self.url) from None
        except requests.Timeout:
            raise ProviderTimeout(self.name, f"no answer within {self.timeout:g} s", url=self.url) from None
        except requests.RequestException as error:
            # requests' JSONDecodeError is one: the server answered something that is not JSON.
            raise ProviderError(self.name, f"unreachable or malformed answer: {_text(error)}", url=self.url) from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ProviderError(self.name, f"malformed answer: {type(error).__name__}: {error}", url=self.url) from None

    # -- search -------------------------------------------------------------------------------------------------

    def search(self, query: Query) -> list[Entry]:
        if query.collections and self.product_type not in query.collections:
            return []
        if query.limit == 0:
            return []
        products = self._call(lambda: self._search_products(query))
        return [self._entry(product, encode=True) for product in products]

    def _entry(self, product: EOProduct, *, encode: bool = False) -> Entry:
        if not product.properties.get("id"):
            # EODAG's metadata mapping of this provider and product type found no id in what the server sent.
            raise ProviderError(
                self.name,
                f"a product of {self.product_type!r} has no id through EODAG's metadata mapping of "
                f"{self.eodag_provider!r} (properties: {sorted(product.properties)[:10]}); the server's items do not "
                "fit that mapping",
                url=self.url,
            )
        document = self._call(product.as_dict)
        item = StacItem.from_dict(document)
        source = EncodedItem.encode(document) if encode else None
        return item_entry(self, item, source, collection_id=self.product_type)

    def _search_products(self, query: Query) -> list[EOProduct]:
        dag = self.gateway
        arguments: dict[str, Any] = {"collection": self.product_type, "provider": self.eodag_provider}
        if query.bbox is not None:
            arguments["geom"] = _geometry(query.bbox)
        if query.datetime is not None:
            start, end = query.datetime
            if start is not None:
                arguments["start"] = start.isoformat()
            if end is not None:
                arguments["end"] = end.isoformat()
        wanted = query.limit
        page_size = min(wanted, self._page_size) if wanted else self._page_size
        with self._search_lock:
            # validate=False: validating asks the server for its queryables first, one more request per search.
            first = dag.search(limit=page_size, raise_errors=True, validate=False, count=False, **arguments)
            products = list(first)
            if wanted is None or len(products) < wanted:
                for page in first.next_page(update=False):
                    products.extend(page)
                    if wanted is not None and len(products) >= wanted:
                        break
        return products[:wanted] if wanted is not None else products

    def get(self, local_id: str) -> Entry:
        collection_id, _, item_id = local_id.partition("/")
        if collection_id != self.product_type or not item_id:
            raise EntryNotFound(
                f"{self.name}/{local_id}",
                f"ids of provider {self.name!r} look like '{self.name}/{self.product_type}/<product id>'",
            )

        def find() -> list[EOProduct]:
            dag = self.gateway
            with self._search_lock:
                return list(
                    dag.search(
                        id=item_id, collection=self.product_type, provider=self.eodag_provider, raise_errors=True
                    )
                )

        found = [p for p in self._call(find) if p.properties.get("id") == item_id]
        if not found:
            raise EntryNotFound(
                f"{self.name}/{local_id}", f"EODAG provider {self.eodag_provider!r} has no product {item_id!r}"
            )
        return self._entry(found[0])

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        # A search needs none of the cube stack (dask, rasterio, odc-stac): it is imported on the first open.
        from gaia_lab.cube import open_stac

        return open_stac(
            as_source(entry.source),
            request,
            entry_id=entry.id,
            storage_options=dict(self.config.storage_options),
            provider=self.name,
        )


def _bundled_providers() -> set[str]:
    """The providers EODAG ships a configuration for."""
    from eodag.config import DEFAULT_PROVIDERS_DIR

    return {path.stem for path in DEFAULT_PROVIDERS_DIR.glob("*.yml")}


def _geometry(bbox: BBox) -> Any:
    if not bbox.crosses_antimeridian:
        return [bbox.west, bbox.south, bbox.east, bbox.north]
    from shapely.geometry import MultiPolygon, box

    return MultiPolygon([box(p.west, p.south, p.east, p.north) for p in bbox.parts()])


def _text(error: BaseException) -> str:
    """EODAG errors carry their message as several args (a format string and values): one line of it."""
    # "Skipping error while searching for <provider> StacSearch instance" says nothing the error does not.
    parts = [str(a).strip() for a in error.args if str(a).strip() and not str(a).startswith("Skipping error")]
    text = " ".join(parts) if parts else type(error).__name__
    return text.replace("\n", " ")[:300]


def _timed_out(error: BaseException) -> bool:
    return "timeout" in _text(error).lower() or "timed out" in _text(error).lower()


# EODAG logs each failed request (with its traceback) at WARNING/ERROR, which Python's last-resort handler prints to
# stderr; the federation reports the failure in res.errors instead. A user who sets up EODAG's logging
# (eodag.utils.logging.setup_logging) adds handlers and sees them again.
_eodag_logger = logging.getLogger("eodag")
if not _eodag_logger.handlers:
    _eodag_logger.addHandler(logging.NullHandler())
