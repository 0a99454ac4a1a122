"""Catalogue providers behind one interface; :func:`make_provider` picks the class for a config."""

from __future__ import annotations

from importlib import import_module

from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider

# One module per provider type, imported on first use so that a federation without CSW members never imports OWSLib.
PROVIDER_CLASSES = {
    "stac": "gaia_lab.catalog.providers.detect:detect_stac_provider",
    "auto": "gaia_lab.catalog.providers.detect:detect_any_provider",
    "intake": "gaia_lab.catalog.providers.intake:IntakeProvider",
    "intake-esm": "gaia_lab.catalog.providers.intake_esm:IntakeEsmProvider",
    "csw": "gaia_lab.catalog.providers.csw:CswProvider",
    "ogcapi-records": "gaia_lab.catalog.providers.ogcapi_records:OgcApiRecordsProvider",
    "eodag": "gaia_lab.catalog.providers.eodag:EodagProvider",
}


def make_provider(config: ProviderConfig) -> Provider:
    module_name, _, attribute = PROVIDER_CLASSES[config.type].partition(":")
    factory = getattr(import_module(module_name), attribute)
    provider = factory(config)
    assert isinstance(provider, Provider)
    return provider


__all__ = ["PROVIDER_CLASSES", "Provider", "make_provider"]
