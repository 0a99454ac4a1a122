"""What a process run gets (:class:`ProcessContext`) and gives back (:class:`ProcessResult`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import distributed

    from gaia_lab.catalog import Catalog


def _no_progress(fraction: float, message: str) -> None:
    return None


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Limits:
    """Per-run limits; ``None`` means unlimited. Exceeding one raises :class:`gaia_lab.errors.ProcessLimitError`."""

    #: Bytes of the (uncompressed) result, estimated from the lazy cube before anything is computed or written.
    max_output_bytes: int | None = None
    #: Seconds from the start of the run; checked while the Dask work advances (then it is cancelled).
    max_duration: float | None = None


@dataclass
class ProcessContext:
    """Where a run reads from, runs on and writes to, and how it reports.

    On the user's Dask worker (a job submitted by the OGC service), leave ``client`` ``None``: the run then uses
    ``distributed.worker_client()`` to put its graph on the same cluster; elsewhere ``None`` means Dask's local
    threaded scheduler. The callbacks are called from the thread running :func:`gaia_lab.processing.run`; when the
    run itself is shipped to a worker they must pickle (e.g. write to a ``distributed.Variable``).
    """

    output_dir: Path
    #: Resolves entry ids: a Catalog, a federation YAML path (opened where the run happens: a Catalog does not
    #: pickle), or ``None`` for ``gl.open_catalog()`` (the user's federation, with the user's rights).
    catalog: Catalog | str | os.PathLike[str] | None = None
    client: distributed.Client | None = None
    progress: Callable[[float, str], None] = _no_progress
    cancelled: Callable[[], bool] = _never
    limits: Limits = field(default_factory=Limits)
    #: Id of the result's STAC item (a job id); default: ``<process>-<UTC timestamp>``.
    item_id: str | None = None
    #: When the run started (``time.monotonic()``); ``max_duration`` counts from here.
    started: float = field(default_factory=time.monotonic)

    def open_catalog(self) -> Catalog:
        from gaia_lab.catalog import Catalog, open_catalog

        if not isinstance(self.catalog, Catalog):
            self.catalog = open_catalog(None if self.catalog is None else os.fspath(self.catalog))
        return self.catalog


@dataclass(frozen=True)
class OutputFile:
    """A file (or a Zarr store, a directory) a run wrote; ``key`` is its asset key in the STAC item."""

    path: Path
    media_type: str
    key: str = "data"


@dataclass(frozen=True)
class ProcessResult:
    process: str
    files: list[OutputFile]
    #: A STAC item (JSON dict): bbox, datetime, assets with absolute hrefs to ``files``, datacube fields for cubes.
    item: dict[str, Any]
    #: Where the item was also written as JSON, next to the files (``gl.open_datacube(str(item_path))`` opens it).
    item_path: Path

    def outputs(self) -> dict[str, Any]:
        """The process outputs by output id, as the process description lists them."""
        return {"result": self.item}
