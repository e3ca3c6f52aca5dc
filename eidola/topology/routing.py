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
