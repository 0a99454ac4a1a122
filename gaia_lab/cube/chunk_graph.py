"""odc-loader's dask graph for a cube, its chunk tasks made when dask asks for them.

odc-loader builds one task per chunk when the cube is opened: a ``LoadChunkTask``, the lists of references to
the chunk's sources and a ``Task`` each, whether the chunk is ever read or not. A cube of 10,000 items on a
hundred grids has thousands of chunks a band, and making their tasks was a tenth of the open. Here the chunks of
a band are a mapping that knows its keys from the chunk grid and makes a chunk's task, the one odc-loader makes,
when dask reads it (a computation culls the graph to the chunks it needs, so a subset builds only its own tasks).

Only the case GAIA Lab opens is handled this way (odc-loader's "mem" mode, bands of dims (time, y, x), no
auxiliary bands); anything else goes through odc-loader unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from dask import _task_spec as task_spec
from dask.base import tokenize
from dask.core import quote
from dask.highlevelgraph import HighLevelGraph
from odc.geo.geobox import GeoBox, GeoboxTiles
from odc.loader import chunked_load as odc_chunked_load
from odc.loader import resolve_chunk_shape
from odc.loader._builder import DaskGraphBuilder, LoadChunkTask, _dask_loader_tyx, _split_cfg
from odc.loader.types import RasterGroupMetadata, RasterLoadParams, ReaderDriver


class _ChunkTasks(Mapping[Any, Any]):
    """The tasks of one band's chunks, keyed ``(layer, t, y, x)``, each made on access as odc-loader makes it."""

    def __init__(
        self,
        builder: DaskGraphBuilder,
        band: str,
        layer: str,
        chunks: tuple[tuple[int, ...], ...],
        open_layer: str,
        open_tasks: Mapping[Any, Any],
        grid_key: str,
        cfg_key: str,
        load_state: Any,
    ) -> None:
        self._builder = builder
        self._band = band
        self._layer = layer
        self._chunks = chunks
        self._time_offsets = (0, *np.cumsum(chunks[0], dtype="int64").tolist())
        self._shape = tuple(len(c) for c in chunks)
        self._open_layer = open_layer
        self._open_tasks = open_tasks
        self._grid_key = grid_key
        self._cfg_key = cfg_key
        self._load_state = load_state

    def __len__(self) -> int:
        return int(np.prod(self._shape))

    def __iter__(self) -> Iterator[Any]:
        layer = self._layer
        return ((layer, *idx) for idx in np.ndindex(self._shape))

    def __contains__(self, key: object) -> bool:
        return (
            isinstance(key, tuple)
            and len(key) == 4
            and key[0] == self._layer
            and all(isinstance(i, int) and 0 <= i < n for i, n in zip(key[1:], self._shape, strict=True))
        )

    def __getitem__(self, key: Any) -> Any:
        if key not in self:
            raise KeyError(key)
        _, t, y, x = key
        builder = self._builder
        start, steps = self._time_offsets[t], self._chunks[0][t]
        bins = builder.tyx_bins
        sources = [bins.get((ti, y, x), []) for ti in range(start, start + steps)]
        cfg = builder.cfg[self._band]
        shape = (steps, self._chunks[1][y], self._chunks[2][x])
        task = LoadChunkTask(self._band, sources, cfg, builder.gbt, (t, y, x), shape)
        return task_spec.Task(
            key,
            _dask_loader_tyx,
            task.resolve_sources_dask(self._open_layer, self._open_tasks),
            task_spec.TaskRef(self._grid_key),
            quote(task.idx_tyx[1:]),
            quote(task.prefix_dims),
            quote(task.postfix_dims),
            task_spec.TaskRef(self._cfg_key),
            builder.rdr,
            builder.env,
            self._load_state,
            task.selection,
            _data_producer=True,
        )


class _LazyChunksBuilder(DaskGraphBuilder):
    """odc-loader's graph builder whose band layers are ``_ChunkTasks``; the configuration and source-opening
    layers are odc-loader's own."""

    def __call__(self, shape: tuple[int, ...], dtype: Any, /, name: Any, ydim: int) -> Any:
        cfg = self.cfg[name]
        if self._mode != "mem" or len(shape) != 3 or ydim != 1 or self.rdr.dask_reader is not None:
            return super().__call__(shape, dtype, name=name, ydim=ydim)
        assert dtype == cfg.dtype
        chunks = self._band_chunks(name, shape, ydim)
        tk = self._tk
        cfg_key = f"cfg-{tokenize(cfg)}"
        grid_key = f"grid-{tokenize(self.gbt)}"
        cfg_layer, open_layer, band_layer = f"cfg-{name}-{tk}", f"open-{name}-{tk}", f"{name}-{tk}"
        layers: dict[str, Mapping[Any, Any]] = {}
        cfg_tasks: dict[Any, Any] = {cfg_key: cfg, grid_key: self.gbt}
        _, load_state = self._norm_load_state(cfg_tasks)
        open_tasks = self._prep_sources(name, {}, load_state)
        layers[cfg_layer] = cfg_tasks
        layers[open_layer] = open_tasks
        layers[band_layer] = _ChunkTasks(
            self, name, band_layer, chunks, open_layer, open_tasks, grid_key, cfg_key, load_state
        )
        dependencies = {cfg_layer: set(), open_layer: {cfg_layer}, band_layer: {cfg_layer, open_layer}}
        graph = HighLevelGraph(layers, dependencies)
        return da.Array(graph, band_layer, chunks, dtype=dtype, shape=shape)


def chunked_load(
    load_cfg: Mapping[str, Any],
    template: RasterGroupMetadata,
    srcs: Sequence[Any],
    tyx_bins: Mapping[tuple[int, int, int], list[int]],
    gbt: GeoboxTiles,
    tss: Sequence[datetime],
    env: dict[str, Any],
    rdr: ReaderDriver,
    *,
    chunks: Mapping[str, int],
    dtype: Any = None,
) -> xr.Dataset:
    """``odc.loader.chunked_load`` with dask chunks, as a lazy Dataset whose chunk tasks are made on demand."""
    raster_cfg, aux_cfg = _split_cfg(load_cfg)
    if aux_cfg or template.extra_dims_full() or not all(isinstance(c, RasterLoadParams) for c in raster_cfg.values()):
        return odc_chunked_load(load_cfg, template, srcs, tyx_bins, gbt, tss, env, rdr, chunks=chunks, dtype=dtype)
    gbox = gbt.base
    assert isinstance(gbox, GeoBox)
    chunk_shape = resolve_chunk_shape(len(tss), gbox, dict(chunks), dtype=dtype, cfg=raster_cfg)
    builder = _LazyChunksBuilder(
        raster_cfg,
        template,
        srcs,
        tyx_bins,
        gbt,
        env,
        rdr,
        chunks=dict(zip(("time", "y", "x"), chunk_shape, strict=True)),
    )
    return builder.build(gbox, tss, raster_cfg)
