"""The errors gaia_lab raises.

Every error derives from :class:`GaiaLabError`. Each subclass names *what* failed (a provider, an entry, an asset
href, a query parameter, a cluster option) in its attributes and in its message, and the message says what to do.
Errors travel through dask workers, so each one pickles: the constructor arguments are kept in ``args``.
"""

from __future__ import annotations

from typing import Any


class GaiaLabError(Exception):
    """Base class of every error raised by gaia_lab."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only context; rebuilding from __dict__ keeps it across processes (dask workers).
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[GaiaLabError], args: tuple[Any, ...], state: dict[str, Any]) -> GaiaLabError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(GaiaLabError):
    """A federation or platform configuration is invalid; ``source`` names the file or key."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source


class InvalidQuery(GaiaLabError, ValueError):
    """A query parameter (bbox, datetime, limit, hubs, ...) is malformed; ``parameter`` names it."""

    def __init__(self, parameter: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {parameter}={value!r}: {reason}")
        self.parameter = parameter
        self.value = value
        self.reason = reason


class ProviderError(GaiaLabError):
    """A catalogue provider failed (unreachable, timed out, malformed answer, HTTP error)."""

    def __init__(self, provider: str, message: str, *, url: str | None = None, status: int | None = None) -> None:
        where = f" ({url})" if url else ""
        super().__init__(f"provider {provider!r}{where}: {message}")
        self.provider = provider
        self.url = url
        self.status = status


class ProviderTimeout(ProviderError):
    """A provider did not answer within its timeout."""


class ProviderAuthError(ProviderError):
    """A provider refused the credentials (HTTP 401/403)."""


class EntryNotFound(GaiaLabError, KeyError):
    """No entry has the requested id."""

    def __init__(self, entry_id: str, message: str) -> None:
        super().__init__(f"entry {entry_id!r}: {message}")
        self.entry_id = entry_id

    def __str__(self) -> str:  # KeyError would quote the message again
        return str(self.args[0])


class EntryNotOpenable(GaiaLabError):
    """The entry is metadata only: none of its links is data GAIA Lab can open; the message lists them."""

    def __init__(self, entry_id: str, message: str) -> None:
        super().__init__(f"{entry_id}: {message}")
        self.entry_id = entry_id


class EmptyResult(GaiaLabError):
    """A query matched nothing in an entry (bbox outside the data, datetime outside its extent, ...)."""

    def __init__(self, entry_id: str, parameter: str, message: str) -> None:
        super().__init__(f"entry {entry_id!r}: {parameter} {message}")
        self.entry_id = entry_id
        self.parameter = parameter


class AssetError(GaiaLabError):
    """An asset cannot be opened or read (unsupported media type, missing metadata, corrupt or truncated file)."""

    def __init__(self, href: str, message: str, *, entry_id: str | None = None) -> None:
        prefix = f"entry {entry_id!r}, " if entry_id else ""
        super().__init__(f"{prefix}asset {href}: {message}")
        self.href = href
        self.entry_id = entry_id
        self.reason = message


class ClusterError(GaiaLabError):
    """A Dask cluster cannot be created, configured or reached; ``option`` names a rejected option."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class DataBuildError(GaiaLabError):
    """The demo data lake cannot be built; ``source`` names the missing or unreadable source file."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source


class PlatformError(GaiaLabError):
    """The local platform cannot start or a component failed; ``component`` names it."""

    def __init__(self, message: str, *, component: str | None = None) -> None:
        super().__init__(f"{component}: {message}" if component else message)
        self.component = component


class ProcessError(GaiaLabError):
    """A process (``gaia_lab.processing``) failed; ``process`` names it."""

    def __init__(self, process: str, message: str) -> None:
        super().__init__(f"process {process!r}: {message}")
        self.process = process


class ProcessNotFound(ProcessError, KeyError):
    """No process has the requested id."""

    def __str__(self) -> str:  # KeyError would quote the message again
        return str(self.args[0])


class ProcessInputError(ProcessError, ValueError):
    """A process input is invalid; ``pointer`` is the JSON pointer of the field in the inputs (``/bbox/0``)."""

    def __init__(self, process: str, pointer: str, message: str) -> None:
        super().__init__(process, f"input {pointer or '/'}: {message}")
        self.pointer = pointer
        self.reason = message


class ProcessLimitError(ProcessError):
    """A run exceeded a limit (``limit`` names it: ``max_output_bytes``, ``max_duration``); nothing was written."""

    def __init__(self, process: str, limit: str, value: float, message: str) -> None:
        super().__init__(process, f"{limit}={value:g} exceeded: {message}")
        self.limit = limit
        self.value = value


class ProcessCancelled(ProcessError):
    """A run was cancelled (job dismissed); its Dask work was cancelled and its partial outputs removed."""


__all__ = [
    "AssetError",
    "ClusterError",
    "ConfigError",
    "DataBuildError",
    "EmptyResult",
    "EntryNotFound",
    "EntryNotOpenable",
    "GaiaLabError",
    "InvalidQuery",
    "PlatformError",
    "ProcessCancelled",
    "ProcessError",
    "ProcessInputError",
    "ProcessLimitError",
    "ProcessNotFound",
    "ProviderAuthError",
    "ProviderError",
    "ProviderTimeout",
]


class StarredUnavailable(GaiaLabError):
    """A user's starred datasets cannot be read: outside a hub session of the platform (no STAC service URL or no
    token), or the service refused or did not answer; ``url`` names where they were asked for."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(f"starred datasets ({url}): {message}" if url else f"starred datasets: {message}")
        self.url = url
        self.status = status
