"""The federation config: which catalogues to search, validated with traitlets.

The YAML format is documented in CONVENTIONS.md::

    providers:
      - name: odatis
        hub: ocean
        type: stac
        url: ./odatis/catalog.json
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import yaml
from traitlets import Dict, Enum, Float, HasTraits, TraitError, Unicode, validate

from gaia_lab.credentials import SECRET_OPTION_KEYS
from gaia_lab.errors import ConfigError
from gaia_lab.paths import default_lake_dir, user_catalog_path

HUBS = ("atmosphere", "ocean", "land", "solid-earth", "imagery", "climate", "biodiversity", "user")
# "user": the user's own results (gaia_lab.catalog.user_results), not a data hub of the federation.
PROVIDER_TYPES = ("stac", "intake", "intake-esm", "auto", "csw", "ogcapi-records", "eodag")

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ProviderConfig(HasTraits):
    """One catalogue of the federation."""

    name = Unicode(help="Unique name, [a-z0-9-]+; entry ids start with it ('<name>/<id>').")
    title = Unicode("", help="Human-readable title; defaults to the name.")
    description = Unicode("", help="Free text shown in listings.")
    hub = Enum(HUBS, help="The data hub (thematic pole) the catalogue belongs to.")
    type = Enum(
        PROVIDER_TYPES,
        default_value="stac",
        help="stac (static or API, detected), intake, intake-esm, csw, ogcapi-records, eodag, or auto (detected "
        "from what the URL serves).",
    )
    url = Unicode(
        help="http(s), s3, file URL or path; relative paths are resolved against the federation file. "
        "Optional for type eodag, where it is the STAC API of a provider EODAG does not know."
    )
    timeout = Float(10.0, help="Seconds a search of this provider may take before it is reported as timed out.")
    headers = Dict(value_trait=Unicode(), help="HTTP headers sent to the provider (e.g. Authorization).")
    storage_options = Dict(help="fsspec storage options used to read this provider's catalogue and assets.")
    # type: csw only
    version = Enum(
        ("", "2.0.2", "3.0", "3.0.0"),
        default_value="",
        help="csw: the CSW version to speak (2.0.2 or 3.0); empty: the highest the server's capabilities offer.",
    )
    collection = Unicode(
        "",
        help="ogcapi-records: the id of the records collection to search; empty: every collection of records.",
    )
    # type: eodag only
    eodag_provider = Unicode("", help="type eodag: the EODAG provider searched (e.g. 'earth_search', 'geodes').")
    product_type = Unicode("", help="type eodag: the EODAG product type (collection) searched, e.g. 'S2_MSI_L1C'.")
    eodag_config = Dict(
        help="type eodag: EODAG provider configuration (as in EODAG's providers files: search, products, auth, ...) "
        "for a provider EODAG does not know, or overrides for one it knows; credentials as ${VAR} references only."
    )

    @validate("name")
    def _valid_name(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if not re.fullmatch(r"[a-z0-9-]+", value):
            raise TraitError(f"name {value!r} must match [a-z0-9-]+")
        return value

    @validate("timeout")
    def _positive_timeout(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not value > 0:
            raise TraitError(f"timeout must be positive, got {value}")
        return value

    @validate("url")
    def _non_empty_url(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if not value:
            raise TraitError("url is empty")
        return value

    @validate("eodag_provider", "product_type")
    def _eodag_name(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if value and not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
            raise TraitError(f"{proposal['trait'].name} {value!r} must match [A-Za-z0-9_.:-]+")
        return value

    @property
    def display_title(self) -> str:
        return self.title or self.name

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.trait_names()}

    def __repr__(self) -> str:
        return f"ProviderConfig(name={self.name!r}, hub={self.hub!r}, type={self.type!r}, url={self.url!r})"


def _expand(value: Any, where: str, environ: Mapping[str, str]) -> Any:
    """``${VAR}`` / ``${VAR:-default}`` in every string, recursively; an unset variable without default is an error."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable ${{{name}}} is not set (use ${{{name}:-default}})", source=where)

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}", environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", environ) for i, v in enumerate(value)]
    return value


def _check_credentials_are_references(value: Any, where: str) -> None:
    """Secrets under a ``credentials`` key come from the environment (``${VAR}``), never written in the file."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "credentials" and isinstance(item, Mapping):
                literal = [k for k, v in item.items() if not (isinstance(v, str) and _VARIABLE.search(v))]
                if literal:
                    raise ConfigError(
                        f"credentials {sorted(map(str, literal))} are written in the file: "
                        "give them as ${VAR} references to environment variables",
                        source=where,
                    )
            else:
                _check_credentials_are_references(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_credentials_are_references(item, f"{where}[{index}]")


def _check_storage_options_hold_no_secret(value: Any, where: str) -> None:
    """``storage_options`` name a profile, ask for ``anon: true`` or refer to the environment (``${VAR}``) for each
    key, secret or token; a literal secret in the file is refused (its value is never repeated in the error)."""
    if isinstance(value, Mapping):
        literal = [
            str(k)
            for k, v in value.items()
            if str(k).lower() in SECRET_OPTION_KEYS
            and v not in (None, "")
            and not (isinstance(v, str) and _VARIABLE.fullmatch(v.strip()))
        ]
        if literal:
            raise ConfigError(
                f"storage_options {sorted(literal)} are written in the file: refer to environment variables "
                "(key: ${AWS_ACCESS_KEY_ID}, secret: ${AWS_SECRET_ACCESS_KEY}) or name an AWS profile (profile: name); "
                "anon: true reads public buckets",
                source=where,
            )
        for key, item in value.items():
            _check_storage_options_hold_no_secret(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storage_options_hold_no_secret(item, f"{where}[{index}]")


def _is_url(text: str) -> bool:
    scheme = urlparse(text).scheme
    return len(scheme) > 1  # a Windows drive letter is not a scheme


def resolve_url(url: str, base: str | None) -> str:
    """An absolute URL or path for ``url`` written in a file at ``base`` (a path or URL of that file)."""
    if _is_url(url):
        return url
    expanded = os.path.expanduser(url)
    if os.path.isabs(expanded):
        return expanded
    if base is None:
        return os.path.abspath(expanded)
    if _is_url(base):
        return urljoin(base, url)
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(base)), expanded))


def _environment() -> dict[str, str]:
    environ = dict(os.environ)
    environ.setdefault("GAIA_LAB_LAKE", str(default_lake_dir()))
    return environ


def parse_federation(document: object, *, source: str | None = None) -> list[ProviderConfig]:
    """Providers from a parsed federation document; ``source`` (its path or URL) anchors relative urls."""
    where = source or "<federation>"
    if not isinstance(document, Mapping) or "providers" not in document:
        raise ConfigError("expected a mapping with a 'providers' list", source=where)
    unknown_top = set(document) - {"providers", "title", "description"}
    if unknown_top:
        raise ConfigError(f"unknown top-level keys {sorted(unknown_top)}", source=where)
    raw_providers = document["providers"]
    if not isinstance(raw_providers, list) or not raw_providers:
        raise ConfigError("'providers' must be a non-empty list", source=where)
    environ = _environment()
    allowed = set(ProviderConfig.class_trait_names())
    providers: list[ProviderConfig] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_providers):
        label = f"{where}: providers[{index}]"
        if not isinstance(raw, Mapping):
            raise ConfigError("each provider must be a mapping", source=label)
        label = f"{where}: provider {raw.get('name', index)!r}"
        unknown = set(raw) - allowed
        if unknown:
            raise ConfigError(f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}", source=label)
        required = {"name", "hub"} if raw.get("type") == "eodag" else {"name", "hub", "url"}
        missing = required - set(raw)
        if missing:
            raise ConfigError(f"missing required keys {sorted(missing)}", source=label)
        _check_credentials_are_references(raw.get("eodag_config"), f"{label}: eodag_config")
        _check_storage_options_hold_no_secret(raw.get("storage_options"), f"{label}: storage_options")
        values = _expand(dict(raw), label, environ)
        try:
            provider = ProviderConfig(**values)
        except TraitError as error:
            raise ConfigError(str(error), source=label) from None
        if provider.name in seen:
            raise ConfigError(f"duplicate provider name {provider.name!r}", source=label)
        seen.add(provider.name)
        if provider.url:
            provider.url = resolve_url(provider.url, source)
        providers.append(provider)
    return providers


def load_federation(source: str | os.PathLike[str]) -> list[ProviderConfig]:
    """Providers from a federation YAML file (a path or an fsspec URL)."""
    location = os.fspath(source)
    if not _is_url(location):
        location = os.path.abspath(os.path.expanduser(location))
    try:
        if _is_url(location):
            import fsspec  # for remote federations only: a local one is read without it

            with fsspec.open(location, "rt", encoding="utf-8") as stream:
                document = yaml.safe_load(stream)
        else:
            with open(location, encoding="utf-8") as file:
                document = yaml.safe_load(file)
    except FileNotFoundError:
        raise ConfigError("federation file not found", source=location) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML: {error}", source=location) from None
    except OSError as error:
        raise ConfigError(f"cannot read federation file: {error}", source=location) from None
    return parse_federation(document, source=location)


def default_federation_source() -> str:
    """``$GAIA_LAB_CATALOG``, else the user's catalog.yaml, else the demo lake's federation.yaml."""
    if env := os.environ.get("GAIA_LAB_CATALOG"):
        return env
    user = user_catalog_path()
    if user.exists():
        return str(user)
    lake_federation = default_lake_dir() / "federation.yaml"
    if not lake_federation.exists():
        raise ConfigError(
            "no federation configured: set $GAIA_LAB_CATALOG, write ~/.config/gaia-lab/catalog.yaml, "
            "or build the demo data lake with `gaia-lab data build`",
            source=str(lake_federation),
        )
    return str(lake_federation)


def as_path(url: str) -> Path | None:
    """The local path behind ``url`` when it is one (plain path or file:// URL)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if not _is_url(url):
        return Path(url)
    return None
