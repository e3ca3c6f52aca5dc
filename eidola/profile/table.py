"""Column-wise assembly of op arrays: how generators stay vectorised.

Why: a 512-GPU ring all-reduce has ~1.5M ops; building them one Python object at a time takes
far too long. Generators instead describe whole families of ops at once as numpy columns (one
`OpTable.add` call per op role, e.g. "every write of every step of every GPU"), each row tagged
with (gpu, stream, seq). `OpTable.build` sorts once by (gpu, stream, seq) and cuts the result
into the per-GPU OP_DTYPE arrays a Profile holds.
"""

from __future__ import annotations

import numpy as np

from eidola.profile.schema import OP_DTYPE, OpKind, empty_ops

_FIELDS = ("t_ns", "dur_ns", "bytes", "addr", "value", "peer", "flag", "stream", "kind", "iteration")
_COLUMNS = ("gpu", "seq", "stream", "kind", "peer", "flag", "value", "bytes", "addr", "dur_ns",
            "t_ns", "iteration")
_FLOAT_COLUMNS = ("dur_ns", "t_ns")
#: Rows per piece when a pass goes field by field over OP_DTYPE records (55 bytes each): about
#: 1.8 MB, so the records stay in cache from one field to the next instead of each field being
#: another trip through gigabytes of memory.
CACHE_ROWS = 1 << 15


class OpTable:
    """Rows of ops collected in blocks; every argument broadcasts against the others.

    A block is kept as its (unbroadcast) arguments; a build writes every block once, as
    finished OP_DTYPE records, into one array, sorts the (gpu, stream, seq) keys and moves whole
    55-byte records. Building a dozen 8-byte columns and gathering each through several passes
    took about half of a 4096-GPU synth's generation time.
    """

    def __init__(self) -> None:
        self._blocks: list[tuple[dict[str, np.ndarray], tuple[int, ...], int]] = []

    def add(self, *, gpu, seq, kind: OpKind | int, stream=0, peer=-1, flag=-1, value=0,
            nbytes=0, addr=0, dur_ns=0.0, t_ns=0.0, iteration=0) -> None:
        """Append a block of rows. `seq` orders rows inside a (gpu, stream)."""
        values = {"gpu": gpu, "seq": seq, "stream": stream,
                  "kind": kind if isinstance(kind, np.ndarray) else int(kind), "peer": peer,
                  "flag": flag, "value": value, "bytes": nbytes, "addr": addr, "dur_ns": dur_ns,
                  "t_ns": t_ns, "iteration": iteration}
        cols = {n: np.asarray(v, dtype=np.float64 if n in _FLOAT_COLUMNS else np.int64)
                for n, v in values.items()}
        shape = np.broadcast_shapes(*(c.shape for c in cols.values()))
        rows = int(np.prod(shape, dtype=np.int64))
        if rows:
            self._blocks.append((cols, shape, rows))

    def __len__(self) -> int:
        return sum(b[2] for b in self._blocks)

    def _column(self, name: str) -> np.ndarray:
        """One argument over every row, in block order."""
        if not self._blocks:
            return np.zeros(0, dtype=np.float64 if name in _FLOAT_COLUMNS else np.int64)
        return np.concatenate([np.broadcast_to(c[name], shape).ravel() for c, shape, _ in self._blocks])

    def columns(self) -> dict[str, np.ndarray]:
        """All rows as concatenated columns (unsorted)."""
        return {n: self._column(n) for n in _COLUMNS}

    def sum_bytes(self, kind: OpKind) -> int:
        """Total `nbytes` of the rows of `kind`, from the blocks as added (no build needed)."""
        total = 0
        for cols, shape, rows in self._blocks:
            k, b = cols["kind"], cols["bytes"]
            if k.ndim == 0 and int(k) != int(kind):
                continue
            if b.min() < 0:  # stored as unsigned: sum what the records would hold
                b = b.astype(np.uint64)
            if k.ndim == 0:  # broadcasting repeats each of b's values alike
                total += int(b.sum(dtype=np.uint64)) * (rows // b.size)
            else:
                total += int(np.broadcast_to(b, shape)[np.broadcast_to(k, shape) == int(kind)].sum(dtype=np.uint64))
        return total

    def build_all(self, num_gpus: int) -> tuple[np.ndarray, np.ndarray]:
        """Every row as one OP_DTYPE array sorted by (gpu, stream, seq), and where each GPU's
        rows start: GPU g's are ``ops[cuts[g]:cuts[g + 1]]``."""
        total = len(self)
        counts = np.zeros(num_gpus, dtype=np.int64)
        # one stable sort of a packed 64-bit key when (gpu, stream, seq) fit 20 + 20 + 24 bits (a
        # third of lexsort's three passes), lexsort otherwise
        packable = True
        for cols, _, rows in self._blocks:
            g, s, q = cols["gpu"], cols["stream"], cols["seq"]
            if g.min() < 0 or g.max() >= num_gpus:
                raise ValueError(f"OpTable rows name GPUs outside 0..{num_gpus - 1}")
            # broadcasting repeats each of g's values alike
            counts += np.bincount(g.ravel(), minlength=num_gpus) * (rows // g.size)
            packable &= bool(g.max() < 1 << 20 and s.min() >= 0 and q.min() >= 0
                             and s.max() < 1 << 20 and q.max() < 1 << 24)
        records = np.empty(total, dtype=OP_DTYPE)  # every byte is set below (no padding)
        key = np.empty(total, dtype=np.int64) if packable else None
        lo = 0
        for cols, shape, rows in self._blocks:
            part = records[lo:lo + rows].reshape(shape)  # a view: the slice is contiguous
            # slabs along the first axis of about CACHE_ROWS rows: each field is a strided
            # pass over the records, which stay in cache from one field to the next
            step = max(1, CACHE_ROWS // max(1, rows // shape[0])) if shape else 1
            views = {f: np.broadcast_to(cols[f], shape) for f in _FIELDS}
            for a in range(0, shape[0] if shape else 1, step):
                slab = part[a:a + step] if shape else part
                for f in _FIELDS:
                    slab[f] = views[f][a:a + step] if shape else views[f]
            if key is not None:
                np.bitwise_or((cols["gpu"] << 44) | (cols["stream"] << 24), cols["seq"],
                              out=key[lo:lo + rows].reshape(shape))
            lo += rows
        if key is not None:
            order = np.argsort(key, kind="stable")
        else:
            order = np.lexsort((self._column("seq"), self._column("stream"), self._column("gpu")))
        # whole records by row of a byte matrix: numpy moves a structured array's elements
        # one by one, but rows of bytes as blocks (5x faster here)
        width = OP_DTYPE.itemsize
        ops = np.take(records.view(np.uint8).reshape(-1, width), order, axis=0).view(OP_DTYPE).reshape(-1)
        cuts = np.zeros(num_gpus + 1, dtype=np.int64)
        np.cumsum(counts, out=cuts[1:])
        return ops, cuts

    def build(self, num_gpus: int) -> list[np.ndarray]:
        """Per-GPU OP_DTYPE arrays sorted by (stream, seq)."""
        ops, cuts = self.build_all(num_gpus)
        # views of one array: disjoint, and a copy each cost a fifth of a large build
        return [ops[cuts[g]:cuts[g + 1]] for g in range(num_gpus)]


def split_even(total: int | np.ndarray, parts: int) -> np.ndarray:
    """Split `total` bytes into `parts` sizes differing by at most one (larger ones first).

    Broadcasts: `total` of shape (...) gives sizes of shape (..., parts).
    """
    total = np.asarray(total, dtype=np.int64)
    base, extra = np.divmod(total, parts)
    idx = np.arange(parts, dtype=np.int64)
    return base[..., None] + (idx < extra[..., None]).astype(np.int64)


def offsets_of(sizes: np.ndarray) -> np.ndarray:
    """Exclusive prefix sums along the last axis: where each piece starts."""
    sizes = np.asarray(sizes, dtype=np.int64)
    out = np.zeros_like(sizes)
    if sizes.shape[-1] > 1:
        out[..., 1:] = np.cumsum(sizes, axis=-1)[..., :-1]
    return out

