"""The process registry: each process's OGC API - Processes description, its input schema and its computation.

A process is a :class:`Process` registered in :data:`PROCESSES` under its id; adding one (e.g. an openEO graph
runner) is ``register(Process(...))`` from its own module, imported by ``gaia_lab.processing``.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gaia_lab.errors import ProcessInputError, ProcessNotFound
from gaia_lab.processing.context import ProcessContext, ProcessResult
from gaia_lab.processing.schemas import STAC_ITEM_OUTPUT, Schema

if TYPE_CHECKING:
    import jsonschema

    from gaia_lab.catalog import Catalog

Inputs = dict[str, Any]


@dataclass(frozen=True)
class Process:
    """A named computation with its description (OGC API - Processes / pygeoapi ``PROCESS_METADATA``)."""

    id: str
    title: str
    description: str
    keywords: tuple[str, ...]
    #: OGC input descriptions by input id (title, description, schema, minOccurs, maxOccurs).
    inputs: Mapping[str, Schema]
    #: ``{"inputs": {...}}``: a request that runs on the demo lake.
    example: Mapping[str, Any]
    #: The computation, on inputs that passed :meth:`check`.
    execute: Callable[[Inputs, ProcessContext], ProcessResult]
    #: Checks beyond JSON Schema (a valid CRS, a parseable datetime, ...); returns normalised inputs and raises
    #: ProcessInputError naming the field.
    normalise: Callable[[Inputs], Inputs] | None = None
    #: JSON pointers of the inputs that name entries (checked against a catalogue by validate_inputs).
    entry_inputs: tuple[str, ...] = ("/entry",)
    outputs: Mapping[str, Schema] = field(default_factory=lambda: {"result": STAC_ITEM_OUTPUT})
    version: str = "1.0.0"

    def input_schema(self) -> Schema:
        """One JSON Schema for the whole inputs object."""
        return {
            "type": "object",
            "properties": {name: spec["schema"] for name, spec in self.inputs.items()},
            "required": [name for name, spec in self.inputs.items() if spec.get("minOccurs", 0) > 0],
            "additionalProperties": False,
        }

    def metadata(self) -> dict[str, Any]:
        """The process description: OGC API - Processes Part 1, pygeoapi's ``PROCESS_METADATA`` shape."""
        return {
            "version": self.version,
            "id": self.id,
            "title": {"en": self.title},
            "description": {"en": self.description},
            "jobControlOptions": ["sync-execute", "async-execute"],
            "keywords": list(self.keywords),
            "links": [],
            "inputs": copy.deepcopy(dict(self.inputs)),
            "outputs": copy.deepcopy(dict(self.outputs)),
            "example": copy.deepcopy(dict(self.example)),
        }


PROCESSES: dict[str, Process] = {}


def register(process: Process) -> Process:
    if process.id in PROCESSES:
        raise ValueError(f"a process {process.id!r} is already registered")
    PROCESSES[process.id] = process
    return process


def get_process(process_id: str) -> Process:
    try:
        return PROCESSES[process_id]
    except KeyError:
        known = ", ".join(sorted(PROCESSES))
        raise ProcessNotFound(process_id, f"no such process; the processes are: {known}") from None


def _pointer(path: Iterator[Any] | Any) -> str:
    return "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in path)


def _schema_error(process_id: str, error: jsonschema.ValidationError) -> ProcessInputError:
    pointer = _pointer(error.absolute_path)
    # for these two the field concerned is in the instance, not in the path: point at it
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            return ProcessInputError(process_id, f"{pointer}/{missing[0]}", "a required input is missing")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {})
        extra = sorted(str(name) for name in error.instance if name not in allowed)
        if extra:
            return ProcessInputError(
                process_id, f"{pointer}/{extra[0]}", f"unknown input; expected one of {sorted(allowed)}"
            )
    return ProcessInputError(process_id, pointer, error.message)


def _with_defaults(process: Process, inputs: Mapping[str, Any]) -> Inputs:
    out = dict(inputs)
    for name, spec in process.inputs.items():
        if name not in out and "default" in spec["schema"]:
            out[name] = copy.deepcopy(spec["schema"]["default"])
    return out


def _resolve(document: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        if not isinstance(document, Mapping) or part not in document:
            return None
        document = document[part]
    return document


def validate_inputs(process_id: str, inputs: Mapping[str, Any], *, catalog: Catalog | None = None) -> Inputs:
    """The inputs, checked against the process's schema and normalised (defaults filled in).

    Raises ProcessNotFound for an unknown process, ProcessInputError naming the field (a JSON pointer) for invalid
    inputs, and, when ``catalog`` is given, EntryNotFound naming the id of an entry it does not have.
    """
    import jsonschema  # imported on first use: its format checkers take seconds to import

    process = get_process(process_id)
    if not isinstance(inputs, Mapping):
        raise ProcessInputError(process_id, "", f"inputs must be a JSON object, not {type(inputs).__name__}")
    validator = jsonschema.Draft202012Validator(process.input_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(inputs)))
    if error is not None:
        raise _schema_error(process_id, error)
    checked = _with_defaults(process, inputs)
    if process.normalise is not None:
        checked = process.normalise(checked)
    if catalog is not None:
        for pointer in process.entry_inputs:
            entry_id = _resolve(checked, pointer)
            if isinstance(entry_id, str):
                catalog[entry_id]  # raises EntryNotFound naming the id
    return checked


def run(process_id: str, inputs: Mapping[str, Any], context: ProcessContext) -> ProcessResult:
    """Validate the inputs and run the process; on failure (or cancellation) remove what it wrote."""
    process = get_process(process_id)
    checked = validate_inputs(process_id, inputs)
    context.output_dir.mkdir(parents=True, exist_ok=True)
    before = set(context.output_dir.iterdir())
    context.progress(0.0, f"{process_id}: started")
    try:
        result = process.execute(checked, context)
    except BaseException:
        for path in set(context.output_dir.iterdir()) - before:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
    context.progress(1.0, f"{process_id}: done")
    return result
