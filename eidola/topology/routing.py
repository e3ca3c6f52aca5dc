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


def stream_window_bytes(topology: Topology, packet_bytes: int) -> int:
    """The default per-stream window of unacknowledged bytes: twice one GPU's bandwidth-delay
    product.

    Bandwidth: everything GPU 0 can inject (the sum of its links, GB/s = bytes/ns). Delay: the
    round trip of a write to its nearest peer and the acknowledgement back (twice the one-way
    link, relay and switch latency) plus the memory access at the peer. Twice that product plus
    four packets, the rule of the engine's automatic link buffers, so that store-and-forward of
    large packets (which lengthens the round trip by a packet's serialization per hop) does not
    throttle either. A
    window in bytes keeps an uncontended transfer's time independent of the packet size; one
    this size lets a single stream keep every link of its GPU busy. mi300x preset, 4 KiB
    packets: 2 x 336 GB/s x 800 ns + 16 KiB = 553,984 B; h100: 2 x 370.8 GB/s x 1,300 ns
    + 16 KiB = 980,464 B.
    """
    import heapq

    ch = topology.channels()
    if topology.num_gpus < 2 or len(ch) == 0:
        return 1 << 18
    pkt = max(int(packet_bytes), 64)
    inject = float(ch["bw_gbps"][ch["src"] == 0].sum())
    node_lat = topology.node_latency_ns()
    out: dict[int, list[int]] = {}
    for c in range(len(ch)):
        out.setdefault(int(ch["src"][c]), []).append(c)
    best = {0: 0.0}
    heap = [(0.0, 0)]
    one_way = None
    while heap:
        d, u = heapq.heappop(heap)
        if d > best.get(u, float("inf")):
            continue
        if u != 0 and u < topology.num_gpus:
            one_way = d
            break
        for c in out.get(u, []):
            v = int(ch["dst"][c])
            nd = d + float(ch["latency_ns"][c]) + (float(node_lat[v]) if v >= topology.num_gpus else 0.0)
            if nd < best.get(v, float("inf")):
                best[v] = nd
                heapq.heappush(heap, (nd, v))
    if one_way is None:
        return 1 << 18
    rtt = 2.0 * one_way + topology.mem_latency_ns
    return max(1, int(2.0 * inject * rtt) + 4 * pkt)
