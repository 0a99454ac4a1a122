"""Decoding the chunks of a virtual store in one hop.

HDF5 chunks come with HDF5's filters (shuffle, zlib), which zarr 3 runs as numcodecs codecs: each codec's decode
is its own ``asyncio.to_thread`` call from zarr's event loop, so a chunk of a NetCDF-4 file makes two round trips
between the event loop and its thread pool besides the read. With two dask threads on two cores that hand-over
cost as much as a third of the decode itself (profiled: 2.0 ms a chunk against 1.2 ms for netCDF-C on the same
chunk). :class:`OneHopCodecPipeline` runs the whole filter chain of a batch of chunks in a single worker-thread call
(zlib releases the GIL there, as it does under netCDF-C); any codec it does not know goes through zarr's own path.
It is used for the arrays of virtual stores only (see :func:`one_hop_pipeline`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import zarr
from zarr.codecs import BytesCodec
from zarr.core.array_spec import ArraySpec
from zarr.core.buffer import Buffer, NDBuffer
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.registry import register_pipeline

PATH = f"{__name__}.OneHopCodecPipeline"


def _numcodecs_codec(codec: Any) -> Any:
    """The numcodecs codec behind a zarr 3 ``numcodecs.*`` bytes-to-bytes codec (None for any other codec)."""
    inner = getattr(codec, "_codec", None)
    return inner if inner is not None and hasattr(inner, "decode") else None


@dataclass(frozen=True)
class OneHopCodecPipeline(BatchedCodecPipeline):
    """zarr's batched pipeline, decoding numcodecs filters + plain bytes in one thread call per batch."""

    def _one_hop(self) -> list[Any] | None:
        if self.array_array_codecs or not isinstance(self.array_bytes_codec, BytesCodec):
            return None
        inner = [_numcodecs_codec(codec) for codec in self.bytes_bytes_codecs]
        return None if any(c is None for c in inner) else inner

    async def decode_batch(
        self, chunk_bytes_and_specs: Iterable[tuple[Buffer | None, ArraySpec]]
    ) -> Iterable[NDBuffer | None]:
        filters = self._one_hop()
        if filters is None:
            return await super().decode_batch(chunk_bytes_and_specs)
        batch = list(chunk_bytes_and_specs)
        array_bytes = self.array_bytes_codec
        assert isinstance(array_bytes, BytesCodec)

        def decode() -> list[NDBuffer | None]:
            out: list[NDBuffer | None] = []
            for chunk, spec in batch:
                if chunk is None:
                    out.append(None)
                    continue
                data: Any = chunk.as_numpy_array()
                for codec in reversed(filters):
                    data = codec.decode(data)
                buffer = spec.prototype.buffer.from_bytes(data)
                out.append(array_bytes._decode_sync(buffer, spec))
            return out

        return await asyncio.to_thread(decode)


register_pipeline(OneHopCodecPipeline)


@contextmanager
def one_hop_pipeline() -> Iterator[None]:
    """Arrays opened in this context decode with :class:`OneHopCodecPipeline` (zarr picks the pipeline class
    when an array is opened, and keeps it)."""
    with zarr.config.set({"codec_pipeline.path": PATH}):
        yield
