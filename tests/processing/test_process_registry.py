"""Process descriptions, input schemas and the typed errors of bad inputs (each names the field as a JSON pointer)."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import jsonschema
import pytest
import yaml
from pygeoapi.process.base import BaseProcessor

import gaia_lab.processing as processing
from gaia_lab.errors import EntryNotFound, GaiaLabError, ProcessInputError, ProcessNotFound
from gaia_lab.processing import PROCESSES, validate_inputs

IDS = ["subset", "aggregate", "zonal-statistics", "time-series", "regrid"]


def test_the_five_processes_are_registered_in_order():
    assert list(PROCESSES)[:5] == IDS


@pytest.mark.parametrize("process_id", IDS)
def test_descriptions_carry_what_ogc_api_processes_lists(process_id):
    description = PROCESSES[process_id].metadata()
    assert description["id"] == process_id
    assert description["version"] and description["title"]["en"] and description["description"]["en"]
    assert description["jobControlOptions"] == ["sync-execute", "async-execute"]
    assert description["keywords"]
    assert description["inputs"] and description["outputs"]
    for name, spec in {**description["inputs"], **description["outputs"]}.items():
        assert spec["title"] and spec["description"], name
        jsonschema.Draft202012Validator.check_schema(spec["schema"])
    for name, spec in description["inputs"].items():
        assert spec["minOccurs"] in (0, 1) and spec["maxOccurs"] == 1, name
    assert description["inputs"]["entry"]["minOccurs"] == 1
    # pygeoapi's process plugins take the description as their PROCESS_METADATA
    processor = BaseProcessor({"name": process_id}, description)
    assert processor.metadata["id"] == process_id


@pytest.mark.parametrize("process_id", IDS)
def test_each_example_validates_and_its_entries_exist(process_id, lake_catalog):
    inputs = PROCESSES[process_id].example["inputs"]
    checked = validate_inputs(process_id, inputs, catalog=lake_catalog)
    assert {k: checked[k] for k in inputs} == inputs  # nothing given is changed
    defaults = {name for name, spec in PROCESSES[process_id].inputs.items() if "default" in spec["schema"]}
    assert defaults <= set(checked)


def test_metadata_is_a_copy():
    description = PROCESSES["subset"].metadata()
    description["inputs"]["bbox"]["schema"]["minItems"] = 0
    assert PROCESSES["subset"].metadata()["inputs"]["bbox"]["schema"]["minItems"] == 4


ZONE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "a"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        }
    ],
}
POINTS = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"name": "p"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
    ],
}


def _with(base, path, value):
    doc = copy.deepcopy(base)
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


BAD = [
    ("subset", {}, "/entry", "required input is missing"),
    ("subset", {"entry": "odatis/ostia-sst", "bbox": [0, 0, 1]}, "/bbox", "too short"),
    ("subset", {"entry": "odatis/ostia-sst", "bbox": [0, "a", 1, 2]}, "/bbox/1", "not of type 'number'"),
    ("subset", {"entry": "odatis/ostia-sst", "bbox": [0, 10, 1, 5]}, "/bbox", "south"),
    ("subset", {"entry": "odatis/ostia-sst", "format": "tiff"}, "/format", "is not one of"),
    ("subset", {"entry": "odatis/ostia-sst", "colour": "red"}, "/colour", "unknown input"),
    ("subset", {"entry": "no-provider-separator"}, "/entry", "does not match"),
    ("subset", {"entry": "odatis/ostia-sst", "datetime": "yesterday"}, "/datetime", "yesterday"),
    ("subset", {"entry": "odatis/ostia-sst", "crs": "EPSG:999999"}, "/crs", "EPSG:999999"),
    ("subset", {"entry": "odatis/ostia-sst", "resolution": -1}, "/resolution", "minimum of 0"),
    ("subset", {"entry": "odatis/ostia-sst", "variables": []}, "/variables", "should be non-empty"),
    ("aggregate", {"entry": "odatis/ostia-sst", "operation": "climatology", "period": "year"}, "/period", "month"),
    ("aggregate", {"entry": "odatis/ostia-sst", "statistic": "mode"}, "/statistic", "is not one of"),
    ("zonal-statistics", {"entry": "odatis/ostia-sst"}, "/zones", "missing"),
    (
        "zonal-statistics",
        {"entry": "odatis/ostia-sst", "zones": _with(ZONE, ["features", 0, "geometry", "type"], "Point")},
        "/zones/features/0/geometry/type",
        "is not one of",
    ),
    (
        "zonal-statistics",
        {
            "entry": "odatis/ostia-sst",
            "zones": _with(
                ZONE, ["features", 0, "geometry", "coordinates"], [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]
            ),
        },
        "/zones/features/0/geometry",
        "Self-intersection",
    ),
    (
        "zonal-statistics",
        {"entry": "odatis/ostia-sst", "zones": ZONE, "zone_id": "code"},
        "/zones/features/0/properties",
        "'code'",
    ),
    (
        "zonal-statistics",
        {"entry": "odatis/ostia-sst", "zones": ZONE, "statistics": ["mode"]},
        "/statistics/0",
        "one of",
    ),
    ("time-series", {"entry": "odatis/ostia-sst", "points": ZONE}, "/points/features/0/geometry/type", "one of"),
    (
        "time-series",
        {"entry": "odatis/ostia-sst", "points": _with(POINTS, ["features", 0, "geometry", "coordinates"], [0, 95])},
        "/points/features/0/geometry/coordinates",
        "WGS 84",
    ),
    (
        "time-series",
        {"entry": "odatis/ostia-sst", "points": _with(POINTS, ["features"], POINTS["features"] * 2)},
        "/points",
        "unique",
    ),
    ("time-series", {"entry": "odatis/ostia-sst", "points": POINTS, "format": "json"}, "/format", "one of"),
    ("regrid", {"entry": "odatis/ostia-sst"}, "/target", "missing"),
    ("regrid", {"entry": "odatis/ostia-sst", "target": {}}, "/target", "should be non-empty"),
    ("regrid", {"entry": "odatis/ostia-sst", "target": {"crs": "not a crs"}}, "/target/crs", "not a crs"),
    ("regrid", {"entry": "odatis/ostia-sst", "target": {"grid": 1}}, "/target/grid", "unknown input"),
    (
        "regrid",
        {"entry": "odatis/ostia-sst", "target": {"entry": "theia/land-mask-europe", "crs": "EPSG:4326"}},
        "/target",
        "either an entry",
    ),
    ("regrid", {"entry": "odatis/ostia-sst", "target": {"crs": "EPSG:3035"}, "resampling": "fast"}, "/resampling", ""),
]


@pytest.mark.parametrize(("process_id", "inputs", "pointer", "words"), BAD, ids=[f"{b[0]}{b[2]}" for b in BAD])
def test_bad_inputs_name_the_field(process_id, inputs, pointer, words):
    with pytest.raises(ProcessInputError) as caught:
        validate_inputs(process_id, inputs)
    error = caught.value
    assert error.pointer == pointer, str(error)
    assert error.process == process_id
    assert pointer in str(error) and process_id in str(error)
    assert words in str(error)
    assert isinstance(error, GaiaLabError)
    again = pickle.loads(pickle.dumps(error))  # errors travel back from Dask workers
    assert again.pointer == pointer and str(again) == str(error)


def test_inputs_must_be_an_object():
    with pytest.raises(ProcessInputError, match="JSON object"):
        validate_inputs("subset", ["odatis/ostia-sst"])  # type: ignore[arg-type]


def test_unknown_process_names_itself_and_the_known_ones():
    with pytest.raises(ProcessNotFound, match=r"'ndvi'.*subset") as caught:
        validate_inputs("ndvi", {})
    assert caught.value.process == "ndvi"
    assert isinstance(caught.value, KeyError)


@pytest.mark.parametrize(
    ("process_id", "inputs"),
    [
        ("subset", {"entry": "odatis/no-such-sst"}),
        ("regrid", {"entry": "odatis/ostia-sst", "target": {"entry": "odatis/no-such-sst"}}),
    ],
)
def test_unknown_entries_raise_entry_not_found_with_the_id(process_id, inputs, lake_catalog):
    validate_inputs(process_id, inputs)  # the schema alone cannot know
    with pytest.raises(EntryNotFound) as caught:
        validate_inputs(process_id, inputs, catalog=lake_catalog)
    assert caught.value.entry_id == "odatis/no-such-sst"


def test_unknown_entry_at_run_time(context):
    with pytest.raises(EntryNotFound) as caught:
        processing.run("subset", {"entry": "odatis/no-such-sst"}, context)
    assert caught.value.entry_id == "odatis/no-such-sst"
    assert not list(context.output_dir.iterdir())


def test_registry_takes_new_processes():
    from gaia_lab.processing import Process, register

    with pytest.raises(ValueError, match="already registered"):
        register(PROCESSES["subset"])
    extra = Process(
        id="test-echo",
        title="Echo",
        description="d",
        keywords=("k",),
        inputs={"entry": PROCESSES["subset"].inputs["entry"]},
        example={"inputs": {"entry": "odatis/ostia-sst"}},
        execute=PROCESSES["subset"].execute,
    )
    try:
        register(extra)
        assert validate_inputs("test-echo", {"entry": "odatis/ostia-sst"}) == {"entry": "odatis/ostia-sst"}
    finally:
        PROCESSES.pop("test-echo", None)


OGC_SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "ogcapi-processes-1.0"


@pytest.fixture(scope="module")
def ogc_process_validator():
    """The standard's process description schema (OpenAPI 3.0 YAML files referring to each other by file name)."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def resource(path):
        return Resource(yaml.safe_load(path.read_text()), specification=DRAFT4)

    registry = Registry().with_resources(
        (f"{OGC_SCHEMAS.as_uri()}/{path.name}", resource(path)) for path in OGC_SCHEMAS.glob("*.yaml")
    )
    schema = {"$ref": f"{OGC_SCHEMAS.as_uri()}/process.yaml"}
    return jsonschema.Draft4Validator(schema, registry=registry)


@pytest.mark.parametrize("process_id", IDS)
def test_descriptions_validate_against_the_ogc_api_processes_schema(process_id, ogc_process_validator):
    """As pygeoapi serves them: its l10n step turns the language maps into strings."""
    from pygeoapi.l10n import str2locale, translate_struct

    served = translate_struct(copy.deepcopy(PROCESSES[process_id].metadata()), str2locale("en"))
    assert isinstance(served["title"], str)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in ogc_process_validator.iter_errors(served)]
    assert errors == []


def test_the_ogc_schema_refuses_what_it_should(ogc_process_validator):
    """The validator is live: a description with a JSON Schema keyword OpenAPI 3.0 lacks fails."""
    from pygeoapi.l10n import str2locale, translate_struct

    served = translate_struct(copy.deepcopy(PROCESSES["subset"].metadata()), str2locale("en"))
    served["inputs"]["format"]["schema"]["const"] = "zarr"
    assert not ogc_process_validator.is_valid(served)
    del served["inputs"]["format"]["schema"]["const"]
    served["jobControlOptions"] = ["run-later"]
    assert not ogc_process_validator.is_valid(served)
