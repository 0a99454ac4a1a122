"""Quick-looks and progress, only where hvplot and dask do not already give it.

- ``ds.gaia.quicklook()``: the plot that suits the cube's dims (map per time step, time series, station lines).
- ``explore(results)`` / ``SearchResults.explore()``: footprints of search results on a map.
- ``progress()``: a progress bar for long computations, only when a person is watching.
"""

from gaia_lab.viz.explore import explore
from gaia_lab.viz.progress import interactive, progress

__all__ = ["explore", "interactive", "progress"]
