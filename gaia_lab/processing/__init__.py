"""Named processes on the lake's cubes: ``subset``, ``aggregate``, ``zonal-statistics``, ``time-series``, ``regrid``.

The library side of on-demand processing (the OGC API - Processes service and openEO wrap it):

>>> from gaia_lab.processing import PROCESSES, ProcessContext, run, validate_inputs
>>> PROCESSES["subset"].metadata()          # the OGC process description (pygeoapi PROCESS_METADATA)
>>> result = run("subset", {"entry": "odatis/ostia-sst", "bbox": [-60, -5, 0, 5]},
...              ProcessContext(output_dir=Path("out")))
>>> result.item                              # a STAC item; gl.open_datacube(str(result.item_path)) reopens it

A new process registers itself with :func:`register` from a module imported below.
"""

from __future__ import annotations

from gaia_lab.processing.context import Limits, OutputFile, ProcessContext, ProcessResult
from gaia_lab.processing.registry import PROCESSES, Process, get_process, register, run, validate_inputs
from gaia_lab.processing.remote import EventCancel, VariableProgress

# Each module registers its process on import (order = listing order).
from gaia_lab.processing import subset, aggregate, zonal, timeseries, regrid  # noqa: F401  # isort: skip
from gaia_lab.processing import openeo_graph  # noqa: F401  # isort: skip

__all__ = [
    "PROCESSES",
    "EventCancel",
    "Limits",
    "OutputFile",
    "Process",
    "ProcessContext",
    "ProcessResult",
    "VariableProgress",
    "get_process",
    "register",
    "run",
    "validate_inputs",
]
