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

from eidola.profile.schema import SIGNAL_KINDS, OpKind

#: Nominal payload bandwidth of one link for the estimate (GB/s == bytes/ns).
NOMINAL_LINK_GBPS = 100.0
#: Nominal cost of issuing a write/read/signal beyond its payload time (ns).
NOMINAL_LATENCY_NS = 500.0


def nominal_cost_ns(ops: np.ndarray, link_gbps: float = NOMINAL_LINK_GBPS,
                    latency_ns: float = NOMINAL_LATENCY_NS) -> np.ndarray:
    """How long each op occupies its stream in the estimate (waits cost nothing)."""
    kind = ops["kind"]
    cost = np.zeros(len(ops), dtype=np.float64)
    comp = kind == OpKind.COMPUTE
    cost[comp] = ops["dur_ns"][comp]
    xfer = (kind == OpKind.WRITE) | (kind == OpKind.READ)
    cost[xfer] = latency_ns + ops["bytes"][xfer].astype(np.float64) / link_gbps
    cost[np.isin(kind, SIGNAL_KINDS)] = latency_ns
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
