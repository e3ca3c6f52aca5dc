"""Recorded start times for generated ops: a nominal, per-stream estimate.

Why an estimate at all: every op carries `t_ns` so that one file serves both dependent replay
(which ignores it) and timed/open-loop replay (which issues each op no earlier than its
`t_ns`). Generated profiles have no recording, so we lay the ops of each stream end to end with
nominal costs. The estimate ignores contention and waiting (a stream is assumed never to
stall), which is exact for lock-step symmetric schedules up to the nominal constants below and
only indicative otherwise; it is always monotone inside a stream.
"""

from __future__ import annotations

import numpy as np

from eidola.profile.schema import OP_DTYPE, SIGNAL_KINDS, OpKind

#: Nominal payload bandwidth of one link for the estimate (GB/s == bytes/ns).
NOMINAL_LINK_GBPS = 100.0
#: Nominal cost of issuing a write/read/signal beyond its payload time (ns).
NOMINAL_LATENCY_NS = 500.0


def nominal_cost_ns(ops: np.ndarray, link_gbps: float = NOMINAL_LINK_GBPS,
                    latency_ns: float = NOMINAL_LATENCY_NS) -> np.ndarray:
    """How long each op occupies its stream in the estimate (waits cost nothing)."""
    kind = ops["kind"]
    signal = np.zeros(len(ops), dtype=bool)
    for k in SIGNAL_KINDS:
        signal |= kind == k
    cost = np.where(signal, latency_ns, 0.0)
    xfer = (kind == OpKind.WRITE) | (kind == OpKind.READ)
    np.copyto(cost, latency_ns + ops["bytes"].astype(np.float64) / link_gbps, where=xfer)
    np.copyto(cost, ops["dur_ns"], where=kind == OpKind.COMPUTE)
    return cost


def estimate_times(ops: np.ndarray, start_ns: float = 0.0, link_gbps: float = NOMINAL_LINK_GBPS,
                   latency_ns: float = NOMINAL_LATENCY_NS) -> float:
    """Fill `t_ns` (and `dur_ns` of non-compute ops) of one GPU's stream-major ops in place.

    Each stream starts at `start_ns`; returns the latest end time (`start_ns` if no ops).
    """
    if len(ops) == 0:
        return start_ns
    cost = nominal_cost_ns(ops, link_gbps, latency_ns)
    nc = ops["kind"] != OpKind.COMPUTE
    ops["dur_ns"][nc] = cost[nc]
    stream = ops["stream"]
    # exclusive prefix sums by shifting (not csum - cost, which can round backwards)
    excl = np.zeros(len(cost))
    np.cumsum(cost[:-1], out=excl[1:])
    # segment starts: where the stream id changes (ops are stream-major)
    starts = np.flatnonzero(np.r_[True, stream[1:] != stream[:-1]])
    seg_id = np.cumsum(np.r_[True, stream[1:] != stream[:-1]]) - 1
    ops["t_ns"] = start_ns + excl - excl[starts][seg_id]
    return float(np.max(ops["t_ns"] + ops["dur_ns"]))


def estimate_times_of_gpus(ops: np.ndarray, cuts: np.ndarray, start_ns: float = 0.0,
                           link_gbps: float = NOMINAL_LINK_GBPS,
                           latency_ns: float = NOMINAL_LATENCY_NS) -> None:
    """`estimate_times` of every GPU of `ops`, GPU g being ``ops[cuts[g]:cuts[g + 1]]``.

    Why: a streamed 4096-GPU ring has 4096 GPUs of 24 K ops, 5.5 GB of records, and each numpy
    pass over a field reads every record's cache line. GPUs go in groups of about CACHE_ROWS
    ops, whose records stay in cache through the dozen passes. In a group whose GPUs have the
    same number of ops (collectives) they are rows of one 2-D array, whose prefix sums run
    along each row exactly as one GPU's own would: the times are bit for bit those of
    `estimate_times` per GPU, which other groups use.
    """
    from eidola.profile.table import CACHE_ROWS

    cuts = np.ascontiguousarray(cuts, dtype=np.int64)
    kernel = _kernel()
    if kernel is not None and ops.dtype == OP_DTYPE and ops.flags.c_contiguous and ops.flags.writeable:
        kernel(ops, cuts, float(start_ns), float(link_gbps), float(latency_ns))
        return
    sizes = np.diff(cuts)
    g, n = 0, len(sizes)
    while g < n:
        if sizes[g] == 0:
            g += 1
            continue
        width = int(sizes[g])
        same = g + 1  # GPUs g.. of this width, up to a group of about CACHE_ROWS ops
        limit = min(n, g + max(1, CACHE_ROWS // width))
        while same < limit and sizes[same] == width:
            same += 1
        if same - g == 1:
            estimate_times(ops[cuts[g]:cuts[g + 1]], start_ns, link_gbps, latency_ns)
        else:
            _estimate_rows(ops[cuts[g]:cuts[same]], same - g, width, start_ns, link_gbps, latency_ns)
        g = same


def _kernel():
    """The compiled estimate (eidola._engine.estimate_times_of_gpus: one pass over the records
    instead of one per field; the same arithmetic), or None without the extension."""
    try:
        from eidola._engine import estimate_times_of_gpus
    except ImportError:  # pragma: no cover - the extension is part of every install
        return None
    return estimate_times_of_gpus


def _estimate_rows(block: np.ndarray, rows: int, width: int, start_ns: float, link_gbps: float,
                   latency_ns: float) -> None:
    """`estimate_times` of `rows` consecutive GPUs of `width` ops each, all at once."""
    cost = nominal_cost_ns(block, link_gbps, latency_ns)
    np.copyto(block["dur_ns"], cost, where=block["kind"] != OpKind.COMPUTE)
    excl = np.zeros((rows, width))
    np.cumsum(cost.reshape(rows, width)[:, :-1], axis=1, out=excl[:, 1:])  # per row, in order
    stream = block["stream"]
    starts = np.empty(len(block), dtype=bool)
    starts[0] = True
    np.not_equal(stream[1:], stream[:-1], out=starts[1:])
    starts[::width] = True  # every GPU's first op starts its first stream
    first = np.maximum.accumulate(np.where(starts, np.arange(len(block)), 0))
    flat = excl.reshape(-1)
    block["t_ns"] = start_ns + flat - flat[first]


def fit_into(ops: np.ndarray, start_ns: float, dur_ns: float) -> None:
    """Rescale an estimated timeline (starting at 0) so that it spans [start, start + dur].

    Used by importers: the trace says when a collective kernel ran and for how long; the ops
    synthesised for it keep their relative spacing inside that window.
    """
    if len(ops) == 0:
        return
    end = float(np.max(ops["t_ns"] + ops["dur_ns"]))
    scale = dur_ns / end if end > 0 else 0.0
    ops["t_ns"] = start_ns + ops["t_ns"] * scale
    nc = ops["kind"] != OpKind.COMPUTE
    ops["dur_ns"][nc] = ops["dur_ns"][nc] * scale
