"""pygeoapi process plugins, one class per registered process, generated from ``gaia_lab.processing.PROCESSES``.

pygeoapi loads a plugin by its dotted class name (``gaia_lab.ogc_processes.plugins.Aggregate``); the class carries
the process description. Execution never reaches ``execute``: the job manager (:mod:`.manager`) runs every job on
the user's cluster through the job runner; ``execute`` is there for pygeoapi's own dummy manager and says so.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError


def class_name(process_id: str) -> str:
    return "".join(part.capitalize() for part in process_id.replace("_", "-").split("-"))


class GaiaLabProcessor(BaseProcessor):  # type: ignore[misc]
    process_id = ""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        from gaia_lab.processing import PROCESSES

        super().__init__(processor_def, PROCESSES[self.process_id].metadata())

    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None) -> tuple[str, Any]:
        raise ProcessorExecuteError(
            user_msg=f"{self.process_id} runs only through the GAIA Lab job manager (on the user's Dask cluster)"
        )


def _generate() -> dict[str, type[GaiaLabProcessor]]:
    from gaia_lab.processing import PROCESSES

    classes: dict[str, type[GaiaLabProcessor]] = {}
    for process_id in PROCESSES:
        name = class_name(process_id)
        classes[process_id] = type(name, (GaiaLabProcessor,), {"process_id": process_id, "__module__": __name__})
    return classes


CLASSES = _generate()
globals().update({cls.__name__: cls for cls in CLASSES.values()})


def plugin_name(process_id: str) -> str:
    """pygeoapi's ``processor.name`` for a process."""
    return f"{__name__}.{CLASSES[process_id].__name__}"
