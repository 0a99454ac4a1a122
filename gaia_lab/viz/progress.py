"""Progress bars for dask computations: the distributed dashboard's bar on a cluster, dask's text bar locally,
and nothing when no person is watching (CI, batch jobs, notebooks executed headless)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any


def interactive() -> bool:
    """Whether output is seen live: a terminal, or a notebook kernel with a front-end attached.

    ``GAIA_LAB_PROGRESS=0|1`` overrides the guess.
    """
    forced = os.environ.get("GAIA_LAB_PROGRESS")
    if forced is not None:
        return forced not in ("0", "false", "no", "")
    if os.environ.get("CI") or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        # nbclient/papermill run kernels with no front-end; they set this to tell kernels apart
        return "PAPERMILL_EXECUTION" not in os.environ and "NBCLIENT_HEADLESS" not in os.environ
    return sys.stdout.isatty()


@contextmanager
def progress(enabled: bool | None = None, minimum: float = 1.0) -> Iterator[Any]:
    """A context in which dask computations show a progress bar (if ``enabled``, else when interactive)."""
    show = interactive() if enabled is None else enabled
    if not show:
        with nullcontext() as nothing:
            yield nothing
        return
    try:
        from distributed import get_client

        get_client()
    except (ImportError, ValueError):
        from dask.diagnostics.progress import ProgressBar

        with ProgressBar(minimum=minimum) as bar:
            yield bar
        return
    # On a cluster the scheduler reports progress; distributed's widget shows it in notebooks.
    yield None
