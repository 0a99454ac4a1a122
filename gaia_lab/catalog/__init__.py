"""Finding data: federation config, providers, entries, federated search and the thesaurus."""

from gaia_lab.catalog.catalog import Catalog, open_catalog
from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig, load_federation, parse_federation
from gaia_lab.catalog.results import SearchResults
from gaia_lab.catalog.thesaurus import Thesaurus, load_thesaurus
from gaia_lab.query import Query

__all__ = [
    "Catalog",
    "Entry",
    "ProviderConfig",
    "Query",
    "SearchResults",
    "Thesaurus",
    "load_federation",
    "load_thesaurus",
    "open_catalog",
    "parse_federation",
]
