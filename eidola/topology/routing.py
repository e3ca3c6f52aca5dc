"""Shortest-path routes, computed exactly as the built-in engine does (net_engine.cc):
breadth-first search from each destination over reversed channels in channel-id order, the
first channel found winning. The gem5 glue turns them into crossbar address ranges, so both
backends send every packet along the same links."""

from __future__ import annotations

from collections import deque

import numpy as np

from eidola.topology.model import Topology


def next_channels(topology: Topology) -> np.ndarray:
    """`table[dst_gpu, node]` = channel id a packet at `node` heading to GPU `dst_gpu` takes
    next (-1 at the destination itself or where unreachable). Channels: Topology.channels()."""
    ch = topology.channels()
    n_nodes = topology.num_nodes
    incoming: list[list[int]] = [[] for _ in range(n_nodes)]
    for c in range(len(ch)):
        incoming[int(ch["dst"][c])].append(c)
    table = np.full((topology.num_gpus, n_nodes), -1, dtype=np.int64)
    for dst in range(topology.num_gpus):
        seen = np.zeros(n_nodes, dtype=bool)
        seen[dst] = True
        frontier = deque([dst])
        while frontier:
            u = frontier.popleft()
            for c in incoming[u]:
                v = int(ch["src"][c])
                if not seen[v]:
                    seen[v] = True
                    table[dst, v] = c
                    frontier.append(v)
    return table


def destinations_per_channel(topology: Topology) -> list[list[int]]:
    """For each channel, the GPUs whose traffic it carries from its source node."""
    table = next_channels(topology)
    out: list[list[int]] = [[] for _ in range(2 * len(topology.links))]
    ch = topology.channels()
    for c in range(len(ch)):
        src = int(ch["src"][c])
        out[c] = [int(d) for d in np.flatnonzero(table[:, src] == c)]
    return out


def channel_rings(topology: Topology) -> np.ndarray:
    """Per channel (Topology.channels()): the ring it belongs to, -1 if none.

    A ring is one direction of the GPU ring (`ring`) or of one row or column of a `torus2d`;
    the built-in engine applies bubble flow control to packets entering a ring (see
    ChannelSpec::ring in net_engine.hh), which keeps wrap-around links from deadlocking when
    multi-hop traffic fills every buffer around a ring.
    """
    ch = topology.channels()
    rings = np.full(len(ch), -1, dtype=np.int32)
    if topology.name == "ring":
        rows, cols = 1, topology.num_gpus
    elif topology.name == "torus2d":
        rows, cols = int(topology.params["rows"]), int(topology.params["cols"])
    else:
        return rings
    ids: dict[tuple, int] = {}
    for c in range(len(ch)):
        a, b = int(ch["src"][c]), int(ch["dst"][c])
        if a >= topology.num_gpus or b >= topology.num_gpus:
            continue
        (ra, ca), (rb, cb) = divmod(a, cols), divmod(b, cols)
        if ra == rb:
            key = ("row", ra, +1 if cb == (ca + 1) % cols else -1)
        elif ca == cb:
            key = ("col", ca, +1 if rb == (ra + 1) % rows else -1)
        else:
            continue
        rings[c] = ids.setdefault(key, len(ids))
    return rings
