"""An optional tile reader that decodes GeoTIFF tiles with async-tiff (Rust) instead of GDAL, for the sources it
can read exactly as GDAL would; every other source is read by GDAL, the reason logged.

Chosen with ``to_xarray(reader="async-tiff")`` / ``gl.open_datacube(..., reader="async-tiff")``, or for every cube
with the environment variable ``GAIA_LAB_COG_READER=async-tiff``; the default is ``"gdal"`` (extra ``rust``:
``pip install gaia-lab[rust]``). The cube, its chunks and its dask graph are the same whichever reader is chosen:
the reader is odc-loader's driver, called once per source per chunk as GDAL's is.

A source is decoded by async-tiff only when the result is, by construction, the one GDAL's paste path gives
(odc-loader reads without resampling when the source's grid and the chunk's line up: same CRS and resolution, a
whole-pixel offset): the same window of the same full-resolution image, the same sample type or an exact widening
of it (``uint8``/``int16``/... to ``float32``), nodata replaced with odc-loader's own functions. Everything else
goes to GDAL (``FALLBACKS`` counts the reasons): hrefs that are not local files (``s3://``, ``http(s)://``: they
keep GDAL's network and credential handling); striped (non-tiled) files; lossy or rare compressions (JPEG, WebP,
LERC, JPEG 2000; async-tiff decodes deflate, LZW, Zstandard and uncompressed tiles); sample sizes below 8 bits;
sparse tiles; georeferencing that is not an EPSG code with a tie point and a pixel scale (a rotation, a
user-defined CRS, ``PixelIsPoint``, an ``.aux.xml`` sidecar GDAL would read); reads that need reprojection,
resampling or an overview; conversions that could round. A source async-tiff fails on is re-read by GDAL, so a
damaged file fails as on the GDAL path, with an ``AssetError`` naming its href.

The tiles a chunk needs from one file are fetched in one ``fetch_tiles`` call (byte ranges read with ``os.pread``),
then decoded: deflate tiles by libdeflate (imagecodecs, plugged into async-tiff's decoder registry; async-tiff undoes
the predictor and lays out the samples) in the dask thread, the GIL released while inflating, so dask's threads
decode in parallel; other compressions concurrently on async-tiff's Rust thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import numpy as np
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.overlap import ReprojectInfo, compute_reproject_roi
from odc.loader._reader import nodata_mask, resolve_dst_dtype, resolve_dst_nodata, resolve_src_nodata, same_nodata
from odc.loader._rio import RioReader
from odc.loader.types import RasterLoadParams, RasterSource, ReaderSubsetSelection

from gaia_lab.cube.reads import HrefNamingDriver, HrefNamingReader
from gaia_lab.errors import InvalidQuery
from gaia_lab.query import READERS

log = logging.getLogger(__name__)

DEFAULT_READER = "gdal"
READER_VARIABLE = "GAIA_LAB_COG_READER"

# Lossless compressions async-tiff decodes: none, LZW, deflate (both tags), Zstandard.
_LOSSLESS = {1, 5, 8, 32946, 50000}
_SAMPLE_TYPES = {(1, 8): "uint8", (1, 16): "uint16", (1, 32): "uint32", (1, 64): "uint64",
                 (2, 8): "int8", (2, 16): "int16", (2, 32): "int32", (2, 64): "int64",
                 (3, 32): "float32", (3, 64): "float64"}  # fmt: skip
_GEOGRAPHIC, _PROJECTED, _USER_DEFINED, _PIXEL_IS_POINT = 2, 1, 32767, 2

FALLBACKS: Counter[str] = Counter()
"""Reasons sources of this process were read by GDAL instead of async-tiff, with how many times."""
DECODED: Counter[str] = Counter()
"""Reads (a source into a chunk) of this process decoded by async-tiff: ``DECODED["reads"]``."""

_counts_lock = threading.Lock()
T = TypeVar("T")


def configured_reader(reader: str | None) -> str:
    """The reader a cube uses: ``reader`` if given, else ``$GAIA_LAB_COG_READER``, else ``"gdal"``; checked, and
    async-tiff's presence too."""
    parameter = "reader" if reader is not None else READER_VARIABLE
    chosen = reader if reader is not None else os.environ.get(READER_VARIABLE, DEFAULT_READER)
    if chosen not in READERS:
        raise InvalidQuery(parameter, chosen, f"expected one of {list(READERS)}")
    if chosen == "async-tiff":
        try:
            import async_tiff  # noqa: F401
        except ImportError:
            raise InvalidQuery(
                parameter, chosen, "async-tiff is not installed here: pip install 'gaia-lab[rust]', or use 'gdal'"
            ) from None
    return chosen


class _Unsupported(Exception):
    """This source is read by GDAL; the message says why."""


class _Loops(threading.local):
    loop: asyncio.AbstractEventLoop | None = None


_loops = _Loops()
_shared: dict[Any, Any] = {}
_shared_lock = threading.Lock()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code: on this thread's own event loop (dask's threads
    have none running), or, called from a thread whose loop is running (a notebook computing with the
    synchronous scheduler), on a loop of its own thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = _loops.loop
        if loop is None or loop.is_closed():
            loop = _loops.loop = asyncio.new_event_loop()
        return loop.run_until_complete(coroutine)
    return asyncio.run_coroutine_threadsafe(coroutine, _background_loop()).result()


def _background_loop() -> asyncio.AbstractEventLoop:
    with _shared_lock:
        loop = _shared.get("loop")
        if loop is None:
            loop = _shared["loop"] = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="gaia-lab-async-tiff", daemon=True).start()
        return loop


def _pool() -> Any:
    """One Rust decoding pool per process (created in the process that reads: dask workers build their own)."""
    with _shared_lock:
        if "pool" not in _shared:
            from async_tiff import ThreadPool

            _shared["pool"] = ThreadPool(max(1, os.cpu_count() or 1))
        return _shared["pool"]


class _LocalFile:
    """async-tiff's byte-range input (obspec's ``get_range_async`` / ``get_ranges_async``) over one open local file,
    read with ``os.pread`` in the calling thread: a few microseconds a range, where obstore's ``LocalStore`` hands
    every range to a tokio blocking thread and back (3-4x the time of opening and fetching a small COG here)."""

    def __init__(self, path: str) -> None:
        self.descriptor = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        os.close(self.descriptor)

    async def get_range_async(
        self, path: str, *, start: int, end: int | None = None, length: int | None = None
    ) -> bytes:
        size = length if length is not None else (end or start) - start
        return os.pread(self.descriptor, size, start)

    async def get_ranges_async(
        self,
        path: str,
        *,
        starts: Sequence[int],
        ends: Sequence[int] | None = None,
        lengths: Sequence[int] | None = None,
    ) -> list[bytes]:
        if lengths is None:
            lengths = [stop - start for start, stop in zip(starts, ends or (), strict=True)]
        return [os.pread(self.descriptor, size, start) for start, size in zip(starts, lengths, strict=True)]


def _registry(compression: int, tile_bytes: int) -> Any:
    """async-tiff's decoders, with deflate inflated by libdeflate (through imagecodecs, GIL released) into a buffer
    of the tile's known size when imagecodecs is installed: 2-3x faster than async-tiff's own inflate on these
    tiles; async-tiff still undoes the predictor and lays the samples out. None: async-tiff's defaults."""
    if compression not in (8, 32946):
        return None
    key = ("registry", tile_bytes)
    with _shared_lock:
        registry = _shared.get(key)
        if registry is None:
            try:
                import imagecodecs
            except ImportError:
                return None
            from async_tiff import DecoderRegistry

            def inflate(buffer: Any) -> Any:
                return imagecodecs.deflate_decode(buffer, out=tile_bytes)

            registry = _shared[key] = DecoderRegistry({8: inflate, 32946: inflate})
        return registry


def local_path(uri: str) -> str | None:
    """The absolute local path of ``uri`` (a path or a ``file://`` URL), or None for anything remote."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return os.path.abspath(unquote(parsed.path))
    if "://" in uri:
        return None
    return os.path.abspath(uri)


def _geobox(ifd: Any, path: str) -> GeoBox:
    """The image's grid as GDAL reads it from the GeoTIFF tags, when GDAL would read nothing else."""
    if ifd.model_transformation is not None:
        raise _Unsupported("georeferenced by a transformation matrix (ModelTransformationTag)")
    scale, tiepoint = ifd.model_pixel_scale, ifd.model_tiepoint
    if not scale or not tiepoint or len(tiepoint) != 6:
        raise _Unsupported("no single tie point and pixel scale")
    keys = ifd.geo_key_directory
    if keys is None:
        raise _Unsupported("no GeoTIFF keys")
    if keys.raster_type == _PIXEL_IS_POINT:
        raise _Unsupported("PixelIsPoint raster (GDAL shifts it by half a pixel)")
    code = {_PROJECTED: keys.projected_type, _GEOGRAPHIC: keys.geographic_type}.get(keys.model_type)
    if code is None or code == _USER_DEFINED:
        raise _Unsupported("CRS not given as an EPSG code")
    if os.path.exists(path + ".aux.xml"):
        raise _Unsupported("an .aux.xml sidecar, which GDAL reads")
    column, row, _, x, y, _ = tiepoint
    sx, sy = scale[0], scale[1]
    transform = Affine(sx, 0.0, x - column * sx, 0.0, -sy, y + row * sy)
    return GeoBox((ifd.image_height, ifd.image_width), transform, f"EPSG:{code}")


_REPROJECT_INFO_CACHE_SIZE = 4096
_reproject_infos: dict[tuple[Any, ...], ReprojectInfo] = {}


def _reproject_info(src: GeoBox, dst: GeoBox, ttol: float) -> ReprojectInfo:
    # Memoized as gaia_lab.cube.reads memoizes GDAL's: a cube's sources share a few grids and its tiles repeat.
    key = (tuple(src.shape), src.affine, str(src.crs), tuple(dst.shape), dst.affine, str(dst.crs), ttol)
    info = _reproject_infos.get(key)
    if info is None:
        info = compute_reproject_roi(src, dst, ttol=ttol)
        if len(_reproject_infos) >= _REPROJECT_INFO_CACHE_SIZE:
            _reproject_infos.clear()
        _reproject_infos[key] = info
    return info


def _sample_dtype(ifd: Any) -> np.dtype[Any]:
    formats = {int(f) for f in ifd.sample_format}
    bits = set(ifd.bits_per_sample)
    if len(formats) != 1 or len(bits) != 1:
        raise _Unsupported("bands of different sample types")
    name = _SAMPLE_TYPES.get((formats.pop(), bits.pop()))
    if name is None:
        raise _Unsupported(f"sample format {ifd.sample_format} x {ifd.bits_per_sample} bits")
    return np.dtype(name)


def _exact(src: np.dtype[Any], dst: np.dtype[Any]) -> bool:
    """Whether every value of ``src`` is a value of ``dst`` (GDAL's conversion then equals NumPy's cast)."""
    if src == dst:
        return True
    if dst.kind == "f":
        mantissa = np.finfo(dst).nmant + 1
        if src.kind == "f":
            return np.finfo(src).nmant + 1 <= mantissa
        return src.kind in "iu" and src.itemsize * 8 - (src.kind == "i") <= mantissa
    return src.kind in "iu" and dst.kind in "iu" and np.can_cast(src, dst, casting="safe")


async def _read_window(
    path: str, band: int, cfg: RasterLoadParams, dst_geobox: GeoBox, ttol: float, out: np.ndarray | None
) -> tuple[tuple[slice, slice], np.ndarray, float | None]:
    """The part of the destination tile the source covers, its pixels (in ``out`` if given) and the source's
    nodata value, as odc-loader's GDAL read gives them when it pastes."""
    source = _LocalFile(path)
    try:
        return await _read_open_window(source, path, band, cfg, dst_geobox, ttol, out)
    finally:
        source.close()


async def _read_open_window(
    source: _LocalFile,
    path: str,
    band: int,
    cfg: RasterLoadParams,
    dst_geobox: GeoBox,
    ttol: float,
    out: np.ndarray | None,
) -> tuple[tuple[slice, slice], np.ndarray, float | None]:
    from async_tiff import TIFF

    tiff = await TIFF.open(path, store=source)
    ifd = tiff.ifds[0]
    if ifd.new_subfile_type not in (None, 0):
        raise _Unsupported("the first image is not the full-resolution one")
    if ifd.tile_width is None or ifd.tile_height is None:
        raise _Unsupported("not tiled (strips)")
    if int(ifd.compression) not in _LOSSLESS:
        raise _Unsupported(f"compression {getattr(ifd.compression, 'name', ifd.compression)} (lossy or not built in)")
    if int(ifd.photometric_interpretation) not in (1, 2, 3):
        raise _Unsupported(f"photometric interpretation {getattr(ifd.photometric_interpretation, 'name', '?')}")
    if not 1 <= band <= ifd.samples_per_pixel:
        raise _Unsupported(f"band {band} of {ifd.samples_per_pixel}")
    src_dtype = _sample_dtype(ifd)
    nodata_text = ifd.gdal_nodata
    src_nodata0 = float(nodata_text.strip()) if nodata_text is not None else None
    rr = _reproject_info(_geobox(ifd, path), dst_geobox, ttol)
    y_dst, x_dst = rr.roi_dst
    roi_dst = (slice(y_dst.start, y_dst.stop), slice(x_dst.start, x_dst.stop))
    shape = (y_dst.stop - y_dst.start, x_dst.stop - x_dst.start)
    out = np.empty(shape, dtype=resolve_dst_dtype(src_dtype.name, cfg)) if out is None else out[roi_dst]
    if 0 in shape:
        return roi_dst, out, src_nodata0
    if not rr.paste_ok or rr.read_shrink != 1:
        raise _Unsupported("needs reprojection, resampling or an overview")
    if not _exact(src_dtype, out.dtype):
        raise _Unsupported(f"{src_dtype} to {out.dtype} may round")
    rows, cols = rr.roi_src
    if rows.stop <= rows.start or cols.stop <= cols.start:
        raise _Unsupported("no overlap")  # GDAL's path fills it with nodata
    th, tw = ifd.tile_height, ifd.tile_width
    across = -(-ifd.image_width // tw)
    wanted = [
        (tx, ty)
        for ty in range(rows.start // th, (rows.stop - 1) // th + 1)
        for tx in range(cols.start // tw, (cols.stop - 1) // tw + 1)
    ]
    counts = ifd.tile_byte_counts
    if counts is None or any(counts[ty * across + tx] == 0 for tx, ty in wanted):
        raise _Unsupported("sparse tiles (GDAL fills them)")
    tiles = await tiff.fetch_tiles(wanted, 0)
    planes = 1 if int(ifd.planar_configuration) == 2 else ifd.samples_per_pixel
    registry = _registry(int(ifd.compression), th * tw * planes * src_dtype.itemsize)
    if registry is not None:
        # libdeflate releases the GIL while it inflates: decoded in this thread, the tiles of the chunk each dask
        # thread reads decode in parallel, without a hand-over to the pool and back (measured 15-20% faster)
        decoded = [tile.decode_sync(decoder_registry=registry) for tile in tiles]
    else:
        pool = _pool()
        decoded = await asyncio.gather(*(tile.decode(decoder_registry=registry, pool=pool) for tile in tiles))
    planar = int(ifd.planar_configuration) == 2
    for (tx, ty), array in zip(wanted, decoded, strict=True):
        pixels = np.asarray(array)
        plane = pixels[band - 1] if planar else pixels[:, :, band - 1]
        y0, x0 = ty * th, tx * tw
        top, bottom = max(rows.start, y0), min(rows.stop, y0 + th)
        left, right = max(cols.start, x0), min(cols.stop, x0 + tw)
        out[top - rows.start : bottom - rows.start, left - cols.start : right - cols.start] = plane[
            top - y0 : bottom - y0, left - x0 : right - x0
        ]
    return roi_dst, out, src_nodata0


class AsyncTiffReader(HrefNamingReader):
    """odc-loader's reader for one source: async-tiff where it reads exactly as GDAL, GDAL elsewhere."""

    def read(
        self,
        cfg: RasterLoadParams,
        dst_geobox: Any,
        *,
        dst: np.ndarray | None = None,
        selection: ReaderSubsetSelection | None = None,
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        try:
            read = self._read_tiles(cfg, dst_geobox, dst, selection)
            with _counts_lock:  # dask's threads read at once: += alone could lose counts
                DECODED["reads"] += 1
            return read
        except _Unsupported as reason:
            why = str(reason)
        except Exception as error:  # decoding failed: GDAL reads it, and fails on a damaged file with an AssetError
            why = f"async-tiff failed ({type(error).__name__}: {error})"
        with _counts_lock:
            FALLBACKS[why] += 1
        log.debug("%s band %s: read with GDAL: %s", self._src.uri, self._src.band, why)
        return super().read(cfg, dst_geobox, dst=dst, selection=selection)

    def _read_tiles(
        self,
        cfg: RasterLoadParams,
        dst_geobox: GeoBox,
        dst: np.ndarray | None,
        selection: ReaderSubsetSelection | None,
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        src: RasterSource = self._src
        path = local_path(src.uri)
        if path is None:
            raise _Unsupported("not a local file")
        if selection is not None or src.ydim != 0 or (dst is not None and dst.ndim != 2):
            raise _Unsupported("a band selection or a multi-band destination")
        ttol = 0.9 if cfg.nearest else 0.05  # as odc-loader decides whether a source can be pasted
        roi, out, src_nodata0 = _run(_read_window(path, src.band, cfg, dst_geobox, ttol, dst))
        src_nodata = resolve_src_nodata(src_nodata0, cfg)
        dst_nodata = resolve_dst_nodata(out.dtype, cfg, src_nodata)
        if dst_nodata is not None and not same_nodata(src_nodata, dst_nodata):
            np.copyto(out, dst_nodata, where=nodata_mask(out, src_nodata))
        return roi, out


class AsyncTiffDriver(HrefNamingDriver):
    """odc-loader's driver whose readers decode with async-tiff where they can (see the module's docstring)."""

    def open(self, src: RasterSource, ctx: Any) -> RioReader:
        return AsyncTiffReader(src, ctx)
