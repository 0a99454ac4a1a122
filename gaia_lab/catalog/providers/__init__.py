"""Catalogue providers behind one interface; :func:`make_provider` picks the class for a config."""

from __future__ import annotations

from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider


def make_provider(config: ProviderConfig) -> Provider:
    if config.type == "stac":
        from gaia_lab.catalog.providers.stac import detect_stac_provider

        return detect_stac_provider(config)
    if config.type == "intake":
        from gaia_lab.catalog.providers.intake import IntakeProvider

        return IntakeProvider(config)
    from gaia_lab.catalog.providers.intake_esm import IntakeEsmProvider

    return IntakeEsmProvider(config)


__all__ = ["Provider", "make_provider"]
