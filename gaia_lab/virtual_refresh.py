"""``gaia-lab virtualize --refresh STORE``: bring a virtual store back in line with its sources, re-parsing only
the files that changed, appeared or went away.

The store records its sources in concatenation order with their number of steps (``gaia:layout``), the source
arguments it was built from (``gaia:inputs``: globs and directories are expanded again, so new files are found)
and every source's fingerprint. A refresh compares the fingerprints, parses the changed and added files with
VirtualiZarr, and rebuilds each unchanged file's virtual dataset from the store itself: its chunk references
(the kerchunk references, or for Icechunk the ``gaia_refs/`` arrays written beside the data, since Icechunk
cannot give a virtual reference back), its slab of the loaded coordinates, and the array metadata of a parsed
file (all files agree on it: that is checked when they are concatenated). Then the same checks, ordering and
writing as a build: for Icechunk a new snapshot on ``main`` (older snapshots stay readable), for kerchunk JSON
the references rewritten in place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from gaia_lab.cube.virtual import (
    CONCAT_KEY,
    SOURCES_KEY,
    _base_of,
    _read_json,
    detect_format,
    open_repository,
    open_virtual,
    quiet,
)
from gaia_lab.cube.virtual_sources import Fingerprint, compare, fingerprints, recorded_scheme, resolve, to_url
from gaia_lab.errors import AssetError, InvalidQuery
from gaia_lab.virtualize import INPUTS_KEY, LAYOUT_KEY, REFS_GROUP, expand_sources, parse, write_store

_LABELS = ("paths", "offsets", "lengths")


@dataclass
class RefreshReport:
    store: str
    format: str
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    parsed: int = 0
    files: int = 0
    seconds: float = 0.0

    @property
    def committed(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def __str__(self) -> str:
        if not self.committed:
            return f"{self.store}: all {self.files} source file(s) unchanged, nothing to refresh"
        lines = [
            f"refreshed {self.store} ({self.format}): {self.files} file(s), {self.parsed} parsed, "
            f"in {self.seconds:.1f} s"
        ]
        for label, urls in (("changed", self.changed), ("added", self.added), ("removed", self.removed)):
            lines.extend(f"  {label}: {url}" for url in urls)
        return "\n".join(lines)


@dataclass
class _State:
    """What a store records: sources (absolute URLs), layout, inputs, and how to read its references."""

    records: dict[str, Fingerprint]
    concat_dim: str
    layout: list[tuple[str, int]]
    inputs: list[str]
    loaded: xr.Dataset  # the store opened (loaded variables only are read from it)
    refs: Any  # name, grid shape -> (paths index grid, offsets, lengths)
    repo: Any = None
    schemes: dict[str, str] = field(default_factory=dict)  # where relative (local) sources were recorded


def _icechunk_state(store: str, storage_options: Mapping[str, Any] | None, allow: Sequence[str] | None) -> _State:
    import zarr

    from gaia_lab.cube.virtual import recorded_sources

    repo = open_repository(store, storage_options, allow=allow)
    session = repo.readonly_session("main")
    metadata = dict(repo.lookup_snapshot(session.snapshot_id).metadata or {})
    records, _ = recorded_sources(repo, session.snapshot_id)
    if LAYOUT_KEY not in metadata:
        raise AssetError(store, "built before refreshes were recorded: rebuild it once with --overwrite")
    layout = [(str(item["url"]), int(item["steps"])) for item in metadata[LAYOUT_KEY]]
    with quiet():
        loaded = xr.open_dataset(session.store, engine="zarr", consolidated=False, zarr_format=3, chunks=None)
        group = zarr.open_group(session.store, path=REFS_GROUP, mode="r", zarr_format=3)

    def refs(name: str, grid: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        arrays = [zarr.open_array(group.store, path=f"{REFS_GROUP}/{name}/{label}", mode="r") for label in _LABELS]
        paths, offsets, lengths = (np.asarray(a[...]) for a in arrays)
        return paths, offsets, lengths

    return _State(
        {r.url: r for r in records},
        str(metadata[CONCAT_KEY]),
        layout,
        list(metadata.get(INPUTS_KEY) or []),
        loaded,
        refs,
        repo,
    )


def _kerchunk_state(store: str, storage_options: Mapping[str, Any] | None, allow: Sequence[str] | None) -> _State:
    document = _read_json(store, storage_options)
    base = _base_of(store)
    if LAYOUT_KEY not in document:
        raise AssetError(store, "built before refreshes were recorded: rebuild it once with --overwrite")
    records = [Fingerprint.from_dict(s) for s in document.get(SOURCES_KEY, [])]
    resolved = {resolve(r.url, base): Fingerprint(resolve(r.url, base), r.size, r.modified, r.etag) for r in records}
    # a source recorded relative to the references' directory is local: keep comparing it as a local file
    schemes = {resolve(r.url, base): recorded_scheme(r) for r in records}
    layout = [(resolve(str(item["url"]), base), int(item["steps"])) for item in document[LAYOUT_KEY]]
    index = {url: i for i, (url, _) in enumerate(layout)}
    refs_doc = document["refs"]
    loaded = open_virtual(store, storage_options=storage_options, allow=allow)

    def refs(name: str, grid: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        paths = np.full(grid, -1, dtype="int32")
        offsets = np.zeros(grid, dtype="uint64")
        lengths = np.zeros(grid, dtype="uint64")
        for where in np.ndindex(*grid):
            ref = refs_doc.get(f"{name}/{'.'.join(map(str, where))}")
            if isinstance(ref, list) and len(ref) == 3:
                paths[where] = index.get(to_url(ref[0].replace("{{u}}", base)), -1)
                offsets[where], lengths[where] = ref[1], ref[2]
        return paths, offsets, lengths

    inputs = list(document.get(INPUTS_KEY) or [])
    concat_dim = str(document.get(CONCAT_KEY, "time"))
    return _State(resolved, concat_dim, layout, inputs, loaded, refs, schemes=schemes)


def _unchanged_dataset(
    url: str, start: int, steps: int, template: xr.Dataset, state: _State, urls: np.ndarray
) -> xr.Dataset:
    """One unchanged file's virtual dataset, rebuilt from the store (no read of the file)."""
    from virtualizarr.manifests import ChunkManifest, ManifestArray

    concat_dim = state.concat_dim
    variables = {}
    for name, var in template.variables.items():
        data = var.data
        if hasattr(data, "manifest"):
            axis = var.dims.index(concat_dim)
            chunk = data.metadata.chunks[axis]
            whole = state.loaded[name]
            grid = tuple(-(-n // c) for n, c in zip(whole.shape, data.metadata.chunks, strict=True))
            paths, offsets, lengths = state.refs(str(name), grid)
            if start % chunk:
                raise AssetError(url, f"its first step is not at a chunk boundary of {name!r}: rebuild the store")
            rows = [slice(None)] * var.ndim
            rows[axis] = slice(start // chunk, -(-(start + steps) // chunk))
            part = tuple(rows)
            index = paths[part]
            manifest = ChunkManifest.from_arrays(
                paths=np.where(index >= 0, urls[np.clip(index, 0, None)], "").astype(np.dtypes.StringDType()),  # type: ignore[arg-type]
                offsets=offsets[part],
                lengths=lengths[part],
            )
            shape = list(var.shape)
            shape[axis] = steps
            array = ManifestArray(metadata=data.metadata.update_shape(tuple(shape)), chunkmanifest=manifest)
            variables[name] = xr.Variable(var.dims, array, var.attrs, var.encoding)
            continue
        stored = state.loaded[name].variable
        if concat_dim in stored.dims:
            stored = stored.isel({concat_dim: slice(start, start + steps)})
        variables[name] = xr.Variable(stored.dims, np.asarray(stored.values), var.attrs, var.encoding)
    coords = [n for n in template.coords if n in variables]
    return xr.Dataset(
        {n: v for n, v in variables.items() if n not in coords},
        coords={n: variables[n] for n in coords},
        attrs=dict(state.loaded.attrs),
    )


def refresh(
    store: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    format: str | None = None,
    sources: Sequence[str] | None = None,
    allow: Sequence[str] | None = None,
) -> RefreshReport:
    """Re-parse the changed and added sources of ``store`` (its recorded source arguments, or ``sources``),
    drop the removed ones, and write the store anew (Icechunk: a new snapshot; kerchunk JSON: rewritten)."""
    started = time.perf_counter()
    fmt = format or detect_format(store)
    if fmt not in ("icechunk", "kerchunk-json"):
        raise InvalidQuery(
            "format", fmt, "--refresh rewrites Icechunk and kerchunk JSON stores; rebuild Parquet references"
        )
    state = (_icechunk_state if fmt == "icechunk" else _kerchunk_state)(store, storage_options, allow)
    inputs = list(sources or state.inputs or [u for u, _ in state.layout])
    now_urls: list[str] = []
    for argument in inputs:
        try:
            now_urls.extend(expand_sources([argument], storage_options))
        except (AssetError, InvalidQuery):
            continue  # a file named on its own that is gone, a glob matching nothing: its sources are removed
    now_urls = list(dict.fromkeys(now_urls))
    schemes = state.schemes
    recorded = state.records
    found = dict(zip(now_urls, fingerprints(now_urls, storage_options), strict=True))
    changed = [
        u
        for u in now_urls
        if u in recorded
        and found[u] is not None
        and compare(recorded[u], found[u], recorded_scheme=schemes.get(u) or recorded_scheme(recorded[u])) is not None
    ]
    added = [u for u in now_urls if u not in recorded]
    removed = [u for u, _ in state.layout if u not in found or found[u] is None]
    now_urls = [u for u in now_urls if found[u] is not None]  # (a URL given explicitly may be gone)
    report = RefreshReport(store, fmt, changed, added, removed, files=len(now_urls))
    if not report.committed:
        report.seconds = time.perf_counter() - started
        return report
    if not now_urls:
        raise AssetError(store, "no source file is left: nothing to refresh the store with")
    kept = [(u, n) for u, n in state.layout if u in found and u not in changed and found[u] is not None]
    to_parse = [u for u in now_urls if u in changed or u in added]
    if not to_parse:
        to_parse, kept = [kept[0][0]], kept[1:]  # only removals: one file parsed for the array metadata
    parsed = parse(to_parse, storage_options)
    template = parsed[0]
    if any(hasattr(v.data, "manifest") and state.concat_dim not in v.dims for v in template.variables.values()):
        # a virtual variable without the concatenation dimension comes from one file: parse them all
        to_parse, kept = to_parse + [u for u, _ in kept], []
        parsed = parse(to_parse, storage_options)
    urls = np.array([u for u, _ in state.layout], dtype=object)
    starts = dict(
        zip([u for u, _ in state.layout], np.cumsum([0] + [n for _, n in state.layout]).tolist(), strict=False)
    )
    datasets = [_unchanged_dataset(u, int(starts[u]), n, template, state, urls) for u, n in kept]
    records = [recorded[u] for u, _ in kept]
    for url in to_parse:
        record = found.get(url)
        if record is None:
            raise AssetError(url, "no such source file")
        records.append(record)
    write_store(
        [*datasets, *parsed],
        [*(u for u, _ in kept), *to_parse],
        records,
        store,
        fmt,
        state.concat_dim,
        storage_options,
        True,
        inputs,
        repo=state.repo,
    )
    report.parsed = len(to_parse)
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["RefreshReport", "refresh"]
