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


#: Default switch radix of the scale-out fabric: NVIDIA Quantum-2 QM9700 InfiniBand switch,
#: 64 ports of 400 Gb/s (NVIDIA data sheet); the same radix as 64-port 400GbE Tomahawk 4 switches.
SWITCH_RADIX = 64


def _scale_out_ports(radix: int, oversubscription: float) -> tuple[int, int]:
    """(down, up) ports of a leaf of `radix` ports at `oversubscription` (down : up)."""
    if not (isinstance(radix, int) and radix >= 2):
        raise EidolaError(f"must be an integer of at least 2 ports, got {radix!r}", field="switch-radix")
    if not (isinstance(oversubscription, (int, float)) and math.isfinite(oversubscription)
            and oversubscription >= 1.0):
        raise EidolaError(f"must be a finite ratio >= 1 (down : up bandwidth), got {oversubscription!r}",
                          field="oversubscription")
    up = max(1, int(round(radix / (1.0 + oversubscription))))
    return radix - up, up


def _scale_out(n: int, gpus_per_node: int, link_bw_gbps: float, link_latency_ns: float,
               nic_bw_gbps: float, nic_latency_ns: float, radix: int, oversubscription: float,
               rails: bool, name: str, common: dict[str, Any]) -> Topology:
    """Nodes of GPUs on an NVSwitch-like node switch, one NIC per GPU, a two-tier leaf/spine
    fabric of `radix`-port switches. `rails`: the NIC of local GPU r of every node goes to the
    leaves of rail r (rail-optimized); otherwise NICs fill leaves node after node (fat tree)."""
    if gpus_per_node < 1 or n % gpus_per_node:
        raise EidolaError(f"{n} GPUs do not split into nodes of {gpus_per_node}", field="gpus-per-node")
    if not nic_bw_gbps > 0:
        raise EidolaError(f"must be positive, got {nic_bw_gbps} GB/s", field="nic-bw")
    down, up = _scale_out_ports(radix, oversubscription)
    nodes = n // gpus_per_node
    names = [f"gpu{g}" for g in range(n)]
    parts = []
    nid = n
    for k in range(nodes):  # inside a node: every GPU on the node switch (NVSwitch)
        parts.append(make_links([(g, nid) for g in range(k * gpus_per_node, (k + 1) * gpus_per_node)],
                                link_bw_gbps, link_latency_ns))
        names.append(f"node{k}.switch")
        nid += 1
    nic0 = nid
    parts.append(make_links([(g, nic0 + g) for g in range(n)], nic_bw_gbps, 0.0))
    names += [f"nic{g}" for g in range(n)]
    nid += n
    # which leaf each NIC plugs into
    if rails:
        per_rail = math.ceil(nodes / down)
        leaf_of = [(g % gpus_per_node) * per_rail + (g // gpus_per_node) // down for g in range(n)]
        leaves = gpus_per_node * per_rail
    else:
        leaf_of = [g // down for g in range(n)]
        leaves = math.ceil(n / down)
    if leaves > radix:
        raise EidolaError(f"{leaves} leaves of {radix} ports exceed what one spine layer of {radix}-port "
                          f"switches connects (at most {radix * down} NICs); use fewer GPUs or a larger "
                          "--switch-radix", field="gpus")
    leaf0 = nid
    names += [f"leaf{i}" for i in range(leaves)]
    nid += leaves
    parts.append(make_links([(nic0 + g, leaf0 + leaf_of[g]) for g in range(n)], nic_bw_gbps, nic_latency_ns))
    spines = up if leaves > 1 else 0
    if spines:  # every leaf has one uplink to every spine
        spine0 = nid
        names += [f"spine{j}" for j in range(spines)]
        nid += spines
        parts.append(make_links([(leaf0 + i, spine0 + j) for i in range(leaves) for j in range(spines)],
                                nic_bw_gbps, nic_latency_ns))
    topo = Topology(name=name, num_gpus=n, num_switches=nid - n, links=concat_links(*parts),
                    node_names=tuple(names), ecmp=True, gpus_forward=False, **common)
    topo.params.update({"gpus_per_node": gpus_per_node, "nodes": nodes, "switch_radix": radix,
                        "leaf_down_ports": down, "leaf_up_ports": up,
                        "oversubscription": down / up, "leaves": leaves, "spines": spines,
                        "rails": gpus_per_node if rails else 0})
    return topo


def fat_tree(n: int, *, gpus_per_node: int, link_bw_gbps: float, link_latency_ns: float,
             nic_bw_gbps: float, nic_latency_ns: float, switch_radix: int = SWITCH_RADIX,
             oversubscription: float = 1.0, **common: Any) -> Topology:
    """Two-tier leaf/spine fat tree: nodes of GPUs on a node switch, a NIC per GPU, NICs filling
    leaves in order, every leaf linked to every spine; flows spread over spines (ECMP)."""
    return _scale_out(n, gpus_per_node, link_bw_gbps, link_latency_ns, nic_bw_gbps, nic_latency_ns,
                      switch_radix, oversubscription, False, "fat_tree", common)


def rail_optimized(n: int, *, gpus_per_node: int, link_bw_gbps: float, link_latency_ns: float,
                   nic_bw_gbps: float, nic_latency_ns: float, switch_radix: int = SWITCH_RADIX,
                   oversubscription: float = 1.0, **common: Any) -> Topology:
    """Rail-optimized two-tier fabric (as in current GPU pods): local GPU r of every node has its
    NIC on the leaf of rail r, so same-rail traffic crosses one leaf; other traffic goes over
    the spines (ECMP picks among them). GPUs are endpoints, never transit: relaying through a
    peer GPU onto its rail is NCCL's PXN, a copy in the profile (`synth --pxn`)."""
    return _scale_out(n, gpus_per_node, link_bw_gbps, link_latency_ns, nic_bw_gbps, nic_latency_ns,
                      switch_radix, oversubscription, True, "rail_optimized", common)
