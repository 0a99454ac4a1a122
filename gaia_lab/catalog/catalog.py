"""The federated catalogue: many providers searched as one."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gaia_lab import metrics
from gaia_lab.bulk import paused_gc
from gaia_lab.catalog import user_results
from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.fanout import per_provider
from gaia_lab.catalog.federation import (
    HUBS,
    ProviderConfig,
    default_federation_source,
    load_federation,
    parse_federation,
)
from gaia_lab.catalog.providers import Provider, make_provider
from gaia_lab.catalog.ranking import deduplicate, matches_variables, rank, score
from gaia_lab.catalog.results import SearchResults
from gaia_lab.catalog.starred import StarredDataset, read_starred
from gaia_lab.catalog.thesaurus import Expansion, Thesaurus, load_thesaurus
from gaia_lab.errors import EntryNotFound, GaiaLabError, InvalidQuery
from gaia_lab.query import Query

DEFAULT_LIMIT = 100


class Catalog:
    """A federation of catalogue providers."""

    def __init__(
        self, providers: Sequence[Provider], *, source: str | None = None, thesaurus: Thesaurus | None = None
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self.source = source
        # Reads of a provider's assets count for it in the platform's metrics (when the session reports any).
        metrics.configure_from_environment()
        for provider in providers:
            metrics.attribute_provider(provider.url, provider.name)
        self.thesaurus = thesaurus or load_thesaurus()

    @classmethod
    def from_configs(cls, configs: Sequence[ProviderConfig], *, source: str | None = None) -> Catalog:
        return cls([make_provider(c) for c in configs], source=source)

    @property
    def providers(self) -> list[Provider]:
        return list(self._providers.values())

    def provider(self, name: str) -> Provider:
        try:
            return self._providers[name]
        except KeyError:
            raise EntryNotFound(name, f"no provider {name!r}; providers: {sorted(self._providers)}") from None

    def __getitem__(self, entry_id: str) -> Entry:
        """The entry ``"<provider>/<collection or item id>"``."""
        if not isinstance(entry_id, str) or "/" not in entry_id:
            raise EntryNotFound(str(entry_id), "ids look like '<provider>/<collection id>'")
        provider_name, local_id = entry_id.split("/", 1)
        if provider_name not in self._providers:
            raise EntryNotFound(entry_id, f"no provider {provider_name!r}; providers: {sorted(self._providers)}")
        return self._providers[provider_name].get(local_id)

    def __contains__(self, entry_id: object) -> bool:
        try:
            self[str(entry_id)]
        except EntryNotFound:
            return False
        return True

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)

    @property
    def starred(self) -> list[StarredDataset]:
        """The datasets the session's user starred in the portal (kept per user by the platform's STAC service);
        :class:`~gaia_lab.errors.StarredUnavailable` outside a hub session."""
        return read_starred()

    def __repr__(self) -> str:
        names = ", ".join(f"{p.name}({p.hub})" for p in self._providers.values())
        return f"<Catalog {len(self._providers)} providers: {names}>"

    def search(
        self,
        q: str | None = None,
        *,
        bbox: object = None,
        datetime: object = None,
        hubs: object = None,
        collections: object = None,
        variables: object = None,
        providers: object = None,
        limit: object = DEFAULT_LIMIT,
        items: bool = False,
        filter: Mapping[str, Any] | None = None,
    ) -> SearchResults:
        """Query every matching provider at once; failures land in ``.errors``, never raise out of here.

        The slowest provider (bounded by its ``timeout``) sets the time a search takes, not the sum of them.
        ``items=True`` returns STAC items rather than datasets; ``filter`` is a CQL2-JSON expression on item
        properties (sent as CQL2 where the server conforms, as the query extension otherwise).
        """
        query = Query.parse(
            q=q, bbox=bbox, datetime=datetime, hubs=hubs, collections=collections, variables=variables, limit=limit
        )
        expansion = self.thesaurus.expand(query.q) if query.q else None
        query = query.with_terms(expansion.terms if expansion else [])
        selected = self._select(query.hubs, providers)
        if filter is not None and not isinstance(filter, Mapping):
            raise InvalidQuery("filter", filter, "expected a CQL2-JSON mapping")
        # Thousands of items parsed at once by several threads, then filtered, de-duplicated and ranked: without
        # the pause, the cyclic collector runs over everything parsed so far every few thousand allocations (none
        # of it cyclic), and decoding JSON takes most of the search.
        with paused_gc():
            found, errors, timings = self._run(selected, query, items=items or filter is not None, filter=filter)
            ranked = self._kept(found, query, expansion)
        return SearchResults(ranked, query=query, errors=errors, expansion=expansion, timings=timings)

    def _kept(self, found: list[Entry], query: Query, expansion: Expansion | None) -> list[Entry]:
        """The entries that match the query's hubs, variables and text, de-duplicated and ranked."""
        wanted_variables = [self._variable_alternatives(v) for v in query.variables or []]
        kept: list[Entry] = []
        for entry in found:
            if query.hubs and entry.hub not in query.hubs:  # an API serving several hubs tags each collection
                continue
            if wanted_variables and not matches_variables(entry, wanted_variables):
                continue
            if expansion is not None:
                entry.score = score(entry, expansion)
                if entry.score <= 0:
                    continue
            kept.append(entry)
        ranked = rank(deduplicate(kept))
        return ranked[: query.limit] if query.limit is not None else ranked

    def _variable_alternatives(self, name: str) -> list[str]:
        return [name, *self.thesaurus.cf_names(name)]

    def _select(self, hubs: list[str] | None, names: object) -> list[Provider]:
        selected = self.providers
        if hubs:
            unknown = [h for h in hubs if h not in HUBS]
            if unknown:
                raise InvalidQuery("hubs", hubs, f"unknown hub(s) {unknown}; hubs are {list(HUBS)}")
            selected = [p for p in selected if p.hub in hubs]
        if names is not None:
            if isinstance(names, str):
                names = [n.strip() for n in names.split(",") if n.strip()]
            if not isinstance(names, list | tuple) or not names:
                raise InvalidQuery("providers", names, "expected a list of provider names")
            unknown = [n for n in names if n not in self._providers]
            if unknown:
                raise InvalidQuery("providers", names, f"unknown provider(s) {unknown}; have {sorted(self._providers)}")
            selected = [p for p in selected if p.name in names]
        return selected

    @staticmethod
    def _run(
        providers: list[Provider], query: Query, *, items: bool = False, filter: Mapping[str, Any] | None = None
    ) -> tuple[list[Entry], dict[str, GaiaLabError], dict[str, float]]:
        def searched(provider: Provider) -> list[Entry]:
            started = time.monotonic()
            failed = True
            try:
                found = provider.search_items(query, filter) if items else provider.search(query)
                failed = False
                return found
            finally:
                metrics.record_search(provider.name, time.monotonic() - started, error=failed)

        answers, errors, finished = per_provider(providers, searched, thread_name_prefix="gaia-search")
        entries = [entry for provider in providers for entry in answers.get(provider.name, ())]
        return entries, errors, finished


def open_catalog(source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> Catalog:
    """The federated catalogue.

    ``source`` is a federation YAML (path or URL) or a dict of the same shape.
    Without it: ``$GAIA_LAB_CATALOG``, else ``~/.config/gaia-lab/catalog.yaml``, else the demo data lake's; plus,
    once it exists, the user's results catalogue (provider ``user-results``, see :mod:`gaia_lab.catalog.user_results`).
    """
    if source is None:
        location = default_federation_source()
        configs = load_federation(location)
        # The user's own results (processing outputs) join the default federation once they exist.
        results = user_results.provider_config()
        if results is not None and all(c.name != user_results.PROVIDER for c in configs):
            configs += parse_federation({"providers": [results]})
        return Catalog.from_configs(configs, source=location)
    if isinstance(source, Mapping):
        return Catalog.from_configs(parse_federation(source), source=None)
    location = os.fspath(source)
    return Catalog.from_configs(load_federation(location), source=location)
