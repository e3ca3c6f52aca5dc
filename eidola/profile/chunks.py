"""Decoding and encoding a profile's op chunks on a worker thread, beside the caller.

Why: a run reads every GPU's ops once, in GPU order, and checks and converts each GPU before
reading the next. Through h5py the decompression runs under h5py's lock on the caller's
thread, so the run waits for it while the machine's other core idles: for a 4096-GPU ring
all-reduce (100 M ops, 5.5 GB of records) that was about 24 s of a 44 s load. The files
Eidola writes keep each GPU's ops in chunks filtered by shuffle + deflate (io.py). Such a
chunk can be fetched raw, which is cheap, and then inflated (ISA-L, else zlib) and un-shuffled (C++),
both of which release the GIL, on a worker thread while the caller works on the GPU before.

Only that layout is decoded here, and only when every stored detail matches it (record type
byte for byte, filters, every chunk present and fully filtered); any other file is read by
h5py as before. Decoded ops are identical to h5py's: `tests/test_profile_io.py` compares them.

Writing is the mirror image (`ChunkEncoder`): a GPU's ops handed over whole are shuffled and
deflated on the worker while the caller generates the next GPU, and their chunks are stored
as they are (`write_direct_chunk`), in the layout h5py would have written. They are deflated
by ISA-L (isal) when it is installed: its streams are ordinary zlib streams, which HDF5's gzip
filter reads, and it is several times faster than zlib at almost the same ratio.
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

try:  # Intel ISA-L reads and writes the same zlib streams several times faster
    from isal import isal_zlib as _deflater

    #: ISA-L levels run 0-3; 1 compresses ops about as well as zlib's 1 (36x against 40x on a
    #: 4096-GPU ring) 7.6x as fast (6.2 against 0.82 GB/s), and inflates what it wrote 4x as
    #: fast as zlib (3.0 against 0.75 GB/s): `python bench/bench_synth.py --deflate`,
    #: 2026-12-01. (On 0.3 MiB chunks, an older version of that bench, the two inflated at
    #: about the same speed; a 4096-GPU profile's chunks are 1.3 MiB.)
    _LEVEL: int | None = 1
    _inflate = _deflater.decompress
    _InflateError: type[Exception] = _deflater.error
except ImportError:  # pragma: no cover - isal is a dependency; plain zlib still works
    _deflater = zlib
    _LEVEL = None  # the caller's zlib level
    _inflate = zlib.decompress
    _InflateError = zlib.error

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
    if ds.ndim != 1 or ds.chunks is None or ds.dtype != OP_DTYPE:  # same fields, offsets and size
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
    from eidola import _engine  # the compiled core; imported late so `eidola` imports without it

    width = OP_DTYPE.itemsize
    out = np.empty(layout.rows, dtype=OP_DTYPE)
    as_bytes = out.view(np.uint8).reshape(layout.rows, width)
    expected = layout.chunk_rows * width  # inflated size of a chunk: one buffer, no regrowing
    for k, data in enumerate(raw):
        try:
            plain = _inflate(data, bufsize=expected) if layout.deflate else data
        except _InflateError as exc:  # reported like h5py's read errors: a corrupt file
            raise ValueError(f"chunk {k} does not inflate ({exc})") from None
        if len(plain) != expected:
            raise ValueError(f"chunk {k} holds {len(plain)} bytes, expected {expected}")
        lo = k * layout.chunk_rows
        n = min(layout.chunk_rows, layout.rows - lo)
        if layout.shuffle:  # byte j of every record is stored together: plane j of `width`
            _engine.unshuffle_into(plain, out, lo, n, layout.chunk_rows)
        else:
            as_bytes[lo:lo + n] = np.frombuffer(plain, dtype=np.uint8).reshape(layout.chunk_rows, width)[:n]
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


def _encode(ops: np.ndarray, chunk_rows: int, level: int) -> tuple[list[bytes], OpsSummary]:
    """Shuffled, deflated chunks of `ops` (the last one padded with zero records, as HDF5
    pads an edge chunk with the fill value), and their summary; runs on the worker thread."""
    width = OP_DTYPE.itemsize
    records = ops.view(np.uint8).reshape(len(ops), width)
    plane = np.zeros((width, chunk_rows), dtype=np.uint8)
    out = []
    for lo in range(0, len(ops), chunk_rows):
        n = min(chunk_rows, len(ops) - lo)
        plane[:, :n] = records[lo:lo + n].T  # byte j of every record together: HDF5's shuffle
        if n < chunk_rows:
            plane[:, n:] = 0
        out.append(_deflater.compress(plane.tobytes(), level if _LEVEL is None else _LEVEL))
    return out, summarize(ops)


@dataclass(frozen=True)
class OpsSummary:
    """What a profile writer keeps of each GPU's ops besides the ops themselves."""

    streams: np.ndarray   # distinct stream ids
    max_iteration: int    # -1 for no ops


def summarize(ops: np.ndarray) -> OpsSummary:
    """The summary of `ops`; a sorted stream column (stream-major ops) skips hashing."""
    s = ops["stream"]
    if len(s) > 1 and bool(np.all(s[1:] >= s[:-1])):
        streams = s[np.flatnonzero(np.r_[True, s[1:] != s[:-1]])]
    else:
        streams = np.unique(s)
    return OpsSummary(streams, int(ops["iteration"].max()) if len(ops) else -1)


class ChunkEncoder:
    """Encodes whole datasets' chunks on one worker thread and stores them in submit order.

    Up to `max_pending_bytes` of ops wait encoded or encoding (a generator that makes a slice
    of GPUs at a time can hand over a whole slice and go on with the next while the worker
    compresses); submitting more first stores the oldest. The caller must `drain()` before
    touching those datasets otherwise, and before closing the file.
    """

    def __init__(self, level: int, max_pending_bytes: int = 128 << 20):
        self._level = level
        self._max_pending = max(1, int(max_pending_bytes))
        self._pending_bytes = 0
        self._pool: ThreadPoolExecutor | None = None
        self._queue: list[tuple[h5py.Dataset, int, int, Callable[[OpsSummary], None] | None,
                                Future]] = []

    def submit(self, ds: h5py.Dataset, ops: np.ndarray,
               stored: Callable[[OpsSummary], None] | None = None) -> None:
        """Store `ops` (OP_DTYPE, a private copy the caller will not change) as all of `ds`;
        `stored` then gets their summary, worked out on the worker too."""
        chunk_rows = int(ds.chunks[0])
        ds.resize((len(ops),))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eidola-encode")
        self._queue.append((ds, chunk_rows, ops.nbytes, stored,
                            self._pool.submit(_encode, ops, chunk_rows, self._level)))
        self._pending_bytes += ops.nbytes
        while len(self._queue) > 1 and self._pending_bytes > self._max_pending:
            self._store_oldest()

    def _store_oldest(self) -> None:
        ds, chunk_rows, nbytes, stored, job = self._queue.pop(0)
        self._pending_bytes -= nbytes
        chunks, summary = job.result()
        for k, data in enumerate(chunks):
            ds.id.write_direct_chunk((k * chunk_rows,), data, filter_mask=0)
        if stored is not None:
            stored(summary)

    def drain(self) -> None:
        """Store everything submitted so far."""
        while self._queue:
            self._store_oldest()

    def close(self) -> None:
        """Stop the worker; whatever was not stored is dropped (the caller aborts the file)."""
        for *_, job in self._queue:
            job.cancel()
        self._pending_bytes = 0
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
