"""gaia_lab.cube.chunk_graph makes, chunk by chunk on demand, the graph odc-loader makes at once."""

from __future__ import annotations

import dask
import numpy as np
import odc.loader
import pystac

from gaia_lab.cube import stac_load
from gaia_lab.cube.reads import HrefNamingDriver
from gaia_lab.stac_item import as_items


def tiles(lake_dir) -> list[pystac.Item]:
    catalog = pystac.Catalog.from_file(str(lake_dir / "theia" / "catalog.json"))
    collection = catalog.get_child("land-mask-europe")
    assert isinstance(collection, pystac.Collection)
    return list(collection.get_items(recursive=True))


def test_same_tasks_as_odc_loader(lake_dir, monkeypatch):
    records = as_items(tiles(lake_dir))
    # One reader and one load state for both, so that their tasks compare equal
    driver = HrefNamingDriver()
    states: list[object] = []
    new_load = driver.new_load

    def same_load(*args, **kwargs):
        if not states:
            states.append(new_load(*args, **kwargs))
        return states[0]

    monkeypatch.setattr(driver, "new_load", same_load)
    query = {"chunks": {"time": 1, "x": 256, "y": 256}, "crs": "EPSG:3035", "resolution": 5000.0, "driver": driver}
    ours = stac_load.load(records, ["land"], **query)["land"].data
    monkeypatch.setattr(stac_load, "chunked_load", odc.loader.chunked_load)
    reference = stac_load.load(records, ["land"], **query)["land"].data
    assert ours.name == reference.name and ours.chunks == reference.chunks
    ours_layers, reference_layers = ours.dask.layers, reference.dask.layers
    assert ours_layers.keys() == reference_layers.keys()
    chunk_layer = ours_layers[ours.name]
    assert type(chunk_layer.mapping).__name__ == "_ChunkTasks"  # made on demand, not a dict
    assert len(chunk_layer) == len(reference_layers[ours.name]) == np.prod(ours.numblocks) > 1
    assert set(chunk_layer) == set(reference_layers[ours.name])
    for name, layer in reference_layers.items():
        for key, task in layer.items():
            assert key in ours_layers[name] and ours_layers[name][key] == task
    assert (ours.name, 0, 0) not in chunk_layer and (ours.name, *ours.numblocks) not in chunk_layer
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(ours.compute(), reference.compute())
        np.testing.assert_array_equal(ours[:, :300, -300:].compute(), reference[:, :300, -300:].compute())
