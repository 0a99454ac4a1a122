"""Progress and cancellation that cross to a Dask worker: a run submitted as a task on the user's cluster reports
through a ``distributed.Variable`` (latest value wins) and is cancelled by setting a ``distributed.Event``.

Both pickle (they hold names only) and resolve the cluster where they are called: the client of the process that
reads them, the worker's client inside the task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VariableProgress:
    """``progress`` callback: sets the Variable ``name`` to ``{"fraction": f, "message": m}``."""

    name: str

    def __call__(self, fraction: float, message: str) -> None:
        from distributed import Variable

        Variable(self.name).set({"fraction": float(fraction), "message": message})

    def start(self, client: Any = None) -> None:
        """Set a first report (``submitted``) before the run is submitted: reads then never wait (a read of an
        unset Variable waits for ``timeout`` and the scheduler logs the timeout as an error)."""
        from distributed import Variable

        Variable(self.name, client=client).set({"fraction": 0.0, "message": "submitted"})

    def read(self, client: Any = None, timeout: float = 0.5) -> dict[str, Any] | None:
        """The latest report, or None before the first (from the client's side)."""
        from distributed import Variable

        try:
            value: dict[str, Any] = Variable(self.name, client=client).get(timeout=timeout)
        except TimeoutError:
            return None
        return value


@dataclass(frozen=True)
class EventCancel:
    """``cancelled`` check: whether the Event ``name`` is set; :meth:`cancel` sets it (a dismissed job)."""

    name: str

    def __call__(self) -> bool:
        from distributed import Event

        return bool(Event(self.name).is_set())

    def cancel(self, client: Any = None) -> None:
        from distributed import Event

        Event(self.name, client=client).set()
