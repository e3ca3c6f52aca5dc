"""Topology shapes. Each builder takes explicit numbers; presets (presets.py) supply defaults."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.topology.model import Topology, concat_links, make_links


def _need(n: int, least: int, what: str) -> None:
    if n < least:
        raise EidolaError(f"needs at least {least} GPUs, got {n}", field="gpus")


def fully_connected(n: int, *, link_bw_gbps: float, link_latency_ns: float, **common: Any) -> Topology:
    """A direct link between every pair of GPUs (e.g. an xGMI mesh)."""
    _need(n, 1, "fully_connected")
    a, b = np.triu_indices(n, k=1)
    links = make_links(np.stack([a, b], axis=1), link_bw_gbps, link_latency_ns)
    return Topology(name="fully_connected", num_gpus=n, num_switches=0, links=links, **common)


def ring(n: int, *, link_bw_gbps: float, link_latency_ns: float, **common: Any) -> Topology:
    """GPU i linked to GPU i+1 (mod n); traffic to farther GPUs is relayed by the GPUs between."""
    _need(n, 1, "ring")
    if n == 1:
        pairs: list[tuple[int, int]] = []
    elif n == 2:
        pairs = [(0, 1)]
    else:
        pairs = [(i, (i + 1) % n) for i in range(n)]
    return Topology(name="ring", num_gpus=n, num_switches=0,
                    links=make_links(pairs, link_bw_gbps, link_latency_ns), **common)


def switch(n: int, *, link_bw_gbps: float, link_latency_ns: float, **common: Any) -> Topology:
    """Every GPU on one switch port (e.g. NVSwitch); the port bandwidth is the link bandwidth."""
    _need(n, 1, "switch")
    pairs = [(g, n) for g in range(n)]
    return Topology(name="switch", num_gpus=n, num_switches=1,
                    links=make_links(pairs, link_bw_gbps, link_latency_ns), **common)


def torus_shape(n: int) -> tuple[int, int]:
    """The most square rows x cols factorisation of n."""
    rows = int(math.isqrt(n))
    while n % rows:
        rows -= 1
    return rows, n // rows


def torus2d(n: int, *, link_bw_gbps: float, link_latency_ns: float, rows: int | None = None,
            **common: Any) -> Topology:
    """A rows x cols wrap-around grid; GPU (r, c) is node r*cols + c."""
    _need(n, 1, "torus2d")
    if rows is None:
        rows, cols = torus_shape(n)
        if rows < 2:  # a 1 x n "torus" is a ring with every link doubled up: say so instead
            raise EidolaError(f"{n} GPUs do not form a 2-D torus (no factorisation with at least "
                              "2 rows and 2 columns); use --topology ring or another GPU count",
                              field="gpus")
    else:
        if rows <= 0 or n % rows:
            raise EidolaError(f"{rows} rows do not divide {n} GPUs", field="rows")
        cols = n // rows
    pairs: set[tuple[int, int]] = set()
    for r in range(rows):
        for c in range(cols):
            me = r * cols + c
            for other in (r * cols + (c + 1) % cols, ((r + 1) % rows) * cols + c):
                if other != me:
                    pairs.add((min(me, other), max(me, other)))
    topo = Topology(name="torus2d", num_gpus=n, num_switches=0,
                    links=make_links(sorted(pairs), link_bw_gbps, link_latency_ns), **common)
    topo.params.setdefault("rows", rows)
    topo.params.setdefault("cols", cols)
    return topo


def multinode(n: int, *, gpus_per_node: int, link_bw_gbps: float, link_latency_ns: float,
              nic_bw_gbps: float, nic_latency_ns: float, intra: str = "switch",
              **common: Any) -> Topology:
    """Nodes of GPUs joined inside by a switch or a full mesh; each GPU has its own NIC,
    and every NIC is on one leaf switch (a single-tier, rail-free scale-out network).

    Node ids: GPUs, then one switch per node (intra == "switch"), then one NIC per GPU,
    then the leaf switch. The GPU-NIC hop carries `nic_bw_gbps` (PCIe/NIC line rate); the
    NIC-leaf hop the same bandwidth and `nic_latency_ns`.
    """
    if gpus_per_node < 1 or n % gpus_per_node:
        raise EidolaError(f"{n} GPUs do not split into nodes of {gpus_per_node}", field="gpus-per-node")
    if intra not in ("switch", "fully_connected"):
        raise EidolaError(f"unknown intra-node fabric '{intra}' (switch or fully_connected)", field="intra")
    nodes = n // gpus_per_node
    parts = []
    next_id = n
    names = [f"gpu{g}" for g in range(n)]
    for k in range(nodes):
        gpus = list(range(k * gpus_per_node, (k + 1) * gpus_per_node))
        if intra == "switch":
            parts.append(make_links([(g, next_id) for g in gpus], link_bw_gbps, link_latency_ns))
            names.append(f"node{k}.switch")
            next_id += 1
        else:
            a, b = np.triu_indices(len(gpus), k=1)
            parts.append(make_links(np.stack([np.array(gpus)[a], np.array(gpus)[b]], axis=1),
                                    link_bw_gbps, link_latency_ns))
    nic0 = next_id
    leaf = nic0 + n
    parts.append(make_links([(g, nic0 + g) for g in range(n)], nic_bw_gbps, 0.0))
    parts.append(make_links([(nic0 + g, leaf) for g in range(n)], nic_bw_gbps, nic_latency_ns))
    names += [f"nic{g}" for g in range(n)] + ["leaf"]
    topo = Topology(name="multinode", num_gpus=n, num_switches=leaf + 1 - n,
                    links=concat_links(*parts), node_names=tuple(names), **common)
    topo.params.update({"gpus_per_node": gpus_per_node, "intra": intra, "nodes": nodes})
    return topo
