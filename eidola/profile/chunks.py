"""Decoding a profile's op chunks on a worker thread, ahead of the GPU being read.

Why: a run reads every GPU's ops once, in GPU order, and checks and converts each GPU before
reading the next. Through h5py the decompression runs under h5py's lock on the caller's
thread, so the run waits for it while the machine's other core idles: for a 4096-GPU ring
all-reduce (100 M ops, 5.5 GB of records) that was about 24 s of a 44 s load. The files
Eidola writes keep each GPU's ops in chunks filtered by shuffle + deflate (io.py). Such a
chunk can be fetched raw, which is cheap, and then inflated by zlib and un-shuffled by numpy,
both of which release the GIL, on a worker thread while the caller works on the GPU before.

Only that layout is decoded here, and only when every stored detail matches it (record type
byte for byte, filters, every chunk present and fully filtered); any other file is read by
h5py as before. Decoded ops are identical to h5py's: `tests/test_profile_io.py` compares them.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import h5py
import numpy as np

from eidola.profile.schema import OP_DTYPE

_SHUFFLE = h5py.h5z.FILTER_SHUFFLE
_DEFLATE = h5py.h5z.FILTER_DEFLATE


@dataclass(frozen=True)
class ChunkLayout:
    """How one GPU's ops dataset is stored: rows, rows per chunk, and its filters."""

    rows: int
    chunk_rows: int
    shuffle: bool
    deflate: bool


def layout_of(ds: h5py.Dataset) -> ChunkLayout | None:
    """The dataset's layout if this module can decode it, else None (h5py reads it)."""
    if ds.ndim != 1 or ds.chunks is None or ds.dtype != OP_DTYPE or ds.dtype.itemsize != OP_DTYPE.itemsize:
        return None
    dcpl = ds.id.get_create_plist()
    filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    if filters not in ([_SHUFFLE, _DEFLATE], [_DEFLATE], [_SHUFFLE], []):
        return None
    rows, chunk_rows = int(ds.shape[0]), int(ds.chunks[0])
    if rows and ds.id.get_num_chunks() != -(-rows // chunk_rows):  # a chunk never written
        return None
    return ChunkLayout(rows, chunk_rows, _SHUFFLE in filters, _DEFLATE in filters)


def _decode(raw: list[bytes], layout: ChunkLayout) -> np.ndarray:
    """Ops from the raw bytes of a dataset's chunks, in order (runs on the worker thread)."""
    width = OP_DTYPE.itemsize
    out = np.empty(layout.rows, dtype=OP_DTYPE)
    as_bytes = out.view(np.uint8).reshape(layout.rows, width)
    for k, data in enumerate(raw):
        try:
            plain = zlib.decompress(data) if layout.deflate else data
        except zlib.error as exc:  # reported like h5py's read errors: a corrupt file
            raise ValueError(f"chunk {k} does not inflate ({exc})") from None
        if len(plain) != layout.chunk_rows * width:
            raise ValueError(f"chunk {k} holds {len(plain)} bytes, expected {layout.chunk_rows * width}")
        lo = k * layout.chunk_rows
        n = min(layout.chunk_rows, layout.rows - lo)
        buf = np.frombuffer(plain, dtype=np.uint8)
        if layout.shuffle:  # byte j of every record is stored together: plane j of `width`
            as_bytes[lo:lo + n] = buf.reshape(width, layout.chunk_rows)[:, :n].T
        else:
            as_bytes[lo:lo + n] = buf.reshape(layout.chunk_rows, width)[:n]
    return out


class ReadAhead:
    """Decodes the next `depth` GPUs' ops on one worker thread while the caller is busy.

    `get(gpu)` returns GPU `gpu`'s ops, or None when its dataset is not in the layout decoded
    here (the caller then reads it with h5py). Reading in GPU order keeps the worker ahead;
    any other order still works, decoding on demand.
    """

    def __init__(self, datasets: Callable[[int], h5py.Dataset], num_gpus: int, depth: int = 4):
        self._dataset = datasets  # gpu -> h5py.Dataset (opened on demand, not kept)
        self._num_gpus = num_gpus
        self._depth = max(1, depth)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: OrderedDict[int, Future | None] = OrderedDict()

    def _submit(self, gpu: int) -> None:
        if gpu in self._pending or not 0 <= gpu < self._num_gpus:
            return
        ds = self._dataset(gpu)
        layout = layout_of(ds)
        if layout is None:
            self._pending[gpu] = None
            return
        raw = []
        for k in range(-(-layout.rows // layout.chunk_rows)):
            mask, data = ds.id.read_direct_chunk((k * layout.chunk_rows,))
            if mask != 0:  # a filter was skipped for this chunk: let h5py handle it
                self._pending[gpu] = None
                return
            raw.append(data)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eidola-decode")
        self._pending[gpu] = self._pool.submit(_decode, raw, layout)

    def get(self, gpu: int) -> np.ndarray | None:
        self._submit(gpu)
        for ahead in range(gpu + 1, gpu + 1 + self._depth):
            try:
                self._submit(ahead)
            except Exception:  # noqa: BLE001 - that GPU's own read reports it, by its name
                self._pending[ahead] = None
        job = self._pending.pop(gpu)
        while len(self._pending) > 4 * self._depth:  # someone reads out of order: drop the oldest
            self._pending.popitem(last=False)
        return None if job is None else job.result()

    def close(self) -> None:
        if self._pool is not None:
            for job in self._pending.values():
                if job is not None:
                    job.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None
        self._pending.clear()
