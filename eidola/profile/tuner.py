"""Which algorithm and protocol a collective library picks, the way its own tuner does.

Why: nccl-tests run with the library's default choice, and that choice is not "whatever is
fastest". NCCL estimates every (algorithm, protocol) pair with a latency + size / bandwidth
model built from its topology search (channels and per-channel bandwidth) and its tuning
constants, and runs the smallest estimate. Where that estimate is wrong, the hardware runs a
slower algorithm than the best one, and a simulator that picks "fastest simulated" would
overstate what users get. This module reproduces the estimate, so `--algo auto` means what
NCCL_ALGO unset means.

Source: NCCL src/graph/tuning.cc, commit 5067397c (2026-06-11): `ncclTopoTuneModel` (per
collective bandwidth and latency) and `ncclTopoGetAlgoTime` (time = latency + bytes / bw, with
the tree correction factors and the multi-node ring plateau). The constants below are copied
from there as published facts; the per-channel graph figures come from NCCL's own init log
(see `GRAPHS`). Units as NCCL keeps them: microseconds and GB/s.

Not modelled: CollNet/SHARP, PAT (NCCL enables it only for one GPU per node), user tuner
plugins, NCCL_ALGO/NCCL_PROTO strings beyond one forced algorithm or protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from eidola.errors import EidolaError

COLLECTIVES = ("allreduce", "allgather", "reducescatter")
ALGORITHMS = ("tree", "ring", "nvls", "nvls_tree")
PROTOS = ("ll", "ll128", "simple")
_P = {p: i for i, p in enumerate(PROTOS)}


@dataclass(frozen=True)
class Graph:
    """One algorithm's channel layout, as NCCL's topology search reports it."""

    channels: int
    bw_intra: float  # GB/s per channel inside a node
    bw_inter: float  # GB/s per channel between nodes


@dataclass(frozen=True)
class TunerConstants:
    """A library generation's tuning constants (NCCL tuning.cc), us and GB/s."""

    name: str
    #: per algorithm: (LL, LL128, Simple) launch latency, us
    base_latency: dict[str, tuple[float, float, float]]
    #: per hardware ("nvlink", "pci", "net") and algorithm: (LL, LL128, Simple) step latency, us
    hw_latency: dict[str, dict[str, tuple[float, float, float]]]
    #: indexed by min(nodes, 3) - 1: N1, N2, N4
    ll_max_bw: tuple[float, float, float]
    per_ch_max_ring_ll128: tuple[float, float, float]
    per_ch_max_tree_ll128: tuple[float, float, float]
    per_ch_max_tree: tuple[float, float, float]
    per_ch_max_nvls_tree: tuple[float, float, float]
    nvls_efficiency: float
    #: NCCL's "Plateau effect of ring" factor on multi-node ring Simple all-reduce latency
    ring_plateau: float = 1.4
    #: tree correction applies to NVLS tree too (NCCL: Blackwell on x86)
    nvls_tree_correction: bool = False
    #: RCCL's measured ratios, per algorithm: ((LL, LL128, Simple) for <= 2 nodes, (...) for
    #: more); when set they replace NCCL's protocol refinements, as in RCCL's HIP build
    bw_ratio: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] | None = None
    #: per protocol, per log2(bytes / 64): tree (and, multi-node, ring) bandwidth corrections
    tree_correction: tuple[tuple[float, ...], ...] | None = None
    ring_correction: tuple[tuple[float, ...], ...] | None = None
    #: the tree runs no Simple protocol inside one node (RCCL on gfx94x)
    no_single_node_tree_simple: bool = False
    sources: tuple[str, ...] = field(default=())


_TUNING_CC = "NCCL src/graph/tuning.cc @5067397c (2026-06-11)"
_BASE = {"tree": (6.8, 14.0, 8.4), "ring": (6.6, 14.0, 8.4), "nvls": (0.0, 0.0, 0.0),
         "nvls_tree": (0.0, 0.0, 0.0)}
_HW = {
    "nvlink": {"tree": (0.6, 1.25, 4.0), "ring": (0.6, 1.9, 3.4), "nvls": (0.0, 0.0, 25.0),
               "nvls_tree": (0.0, 0.0, 25.0)},
    "pci": {"tree": (1.0, 1.9, 4.0), "ring": (1.0, 2.5, 5.7), "nvls": (0.0, 0.0, 0.0),
            "nvls_tree": (0.0, 0.0, 0.0)},
    "net": {"tree": (5.0, 8.5, 14.0), "ring": (2.7, 4.0, 14.0), "nvls": (0.0, 0.0, 18.0),
            "nvls_tree": (0.0, 0.0, 20.9)},
}

NCCL_HOPPER_TUNER = TunerConstants(
    name="nccl-hopper", base_latency=_BASE, hw_latency=_HW,
    ll_max_bw=(141.0, 45.0, 35.0), per_ch_max_ring_ll128=(36.7, 36.7, 36.7),
    per_ch_max_tree_ll128=(36.7, 36.7, 29.0), per_ch_max_tree=(38.7, 41.4, 36.0),
    per_ch_max_nvls_tree=(0.0, 57.7, 45.5), nvls_efficiency=0.85,
    sources=(f"{_TUNING_CC}: baseLatencies, hwLatencies, llMaxBws (Hopper-N1, Intel-N2/N4), "
             "perChMax* Hopper rows, nvlsEfficiency Hopper 0.85",),
)
NCCL_BLACKWELL_TUNER = TunerConstants(
    name="nccl-blackwell", base_latency=_BASE, hw_latency=_HW,
    ll_max_bw=(2 * 141.0, 45.0, 35.0), per_ch_max_ring_ll128=(40.0, 40.0, 40.0),
    per_ch_max_tree_ll128=(55.6, 31.67, 20.0), per_ch_max_tree=(70.0, 42.8, 24.0),
    per_ch_max_nvls_tree=(0.0, 96.0, 80.0), nvls_efficiency=0.74, nvls_tree_correction=True,
    sources=(f"{_TUNING_CC}: baseLatencies, hwLatencies, llMaxBws (Blackwell-N1, Intel-N2/N4), "
             "perChMax* Blackwell rows, nvlsEfficiency Blackwell 0.74",),
)

_RCCL_TUNING_CC = "RCCL src/graph/tuning.cc @0cbce2a7 (2024-10-24)"
RCCL_MI300_TUNER = TunerConstants(
    name="rccl-mi300",
    base_latency={"tree": (12.0, 12.0, 17.0), "ring": (12.0, 12.0, 17.0),
                  "nvls": (0.0, 0.0, 0.0), "nvls_tree": (0.0, 0.0, 0.0)},
    hw_latency={"nvlink": {"tree": (0.8, 1.4, 2.5), "ring": (0.8, 2.2, 3.6)},
                "pci": {"tree": (2.2, 2.2, 5.7), "ring": (2.2, 2.2, 5.7)},
                "net": {"tree": (32.2, 34.4, 47.6), "ring": (35.4, 87.8, 209.2)}},
    ll_max_bw=(141.0, 45.0, 35.0), per_ch_max_ring_ll128=(36.7, 36.7, 36.7),
    per_ch_max_tree_ll128=(36.7, 36.7, 29.0), per_ch_max_tree=(38.7, 41.4, 36.0),
    per_ch_max_nvls_tree=(0.0, 0.0, 0.0), nvls_efficiency=0.0,
    bw_ratio={"tree": ((0.16, 1.09, 1.61), (0.16, 1.09, 1.08)),
              "ring": ((0.15, 0.41, 1.00), (0.15, 0.41, 1.00))},
    tree_correction=(
        (.1, .1, .1, .1, .1, .1, .1, .1, 1., .1, .1, .2, .4, .6, .5, .1, .1, .1, .1, .1, .1, .1,
         .1, .1, .1, .1, .1),
        (.1, .1, .1, .1, .1, .1, .1, .1, .1, .2, .1, .1, .2, 1., .5, .2, .2, .2, .2, .2, .2, .2,
         .2, .2, .2, .2, .2),
        (1., 1., 1., 1., 1., 1., 1., 1., .8, .4, .3, .3, .1, .1, 1., 1., .7, .5, .6, .5, .6, .6,
         .5, .6, .6, .6, .7)),
    ring_correction=(
        (.1, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1, .2, .2, .1, .3, .1, .1, .1, .2, .1, .1, .1,
         .1, .1, .1, .1, .1),
        (.4, .5, .5, .4, .4, .4, .4, .2, .2, .1, .3, 1., 1., .7, .8, .5, 1., 1., 1., 1., 1., .9,
         .8, .5, .4, .3, .3),
        (.1, .1, .1, .1, .1, .1, .1, .1, .1, 1., 1., .8, .5, .1, .7, .2, .4, .4, .6, .7, .9, 1.,
         1., 1., 1., 1., 1.)),
    no_single_node_tree_simple=True,
    sources=(f"{_RCCL_TUNING_CC}: baseLat, tuning_model_4 hwLat / bwRatio / treeCorrectionFactor"
             " / ringCorrectionFactor (the model the library's latencies come from), gfx94 "
             "single-node tree without Simple",),
)

#: NCCL's static tree correction per protocol, for log2(bytes / 64) = 0..23 (tuning.cc)
TREE_CORRECTION = (
    (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0,
     1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9,
     1.0, 1.0, 1.0),
    (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9,
     .9, .9),
)


#: NCCL's per-channel speeds its topology search tries, GB/s (search.cc sm90/sm100SpeedArrayIntra)
SPEEDS_INTRA = {"hopper": (60.0, 50.0, 40.0, 30.0, 24.0, 20.0, 15.0, 12.0, 11.0, 6.0, 3.0),
                "blackwell": (90.0, 80.0, 70.0, 60.0, 50.0, 45.0, 40.0, 30.0, 24.0, 20.0, 19.0,
                              18.0)}
#: NCCL's per-channel speeds for graphs that cross the network, GB/s (search.cc sm90/sm100
#: SpeedArrayInter)
SPEEDS_INTER = {"hopper": (48.0, 45.0, 42.0, 40.0, 30.0, 24.0, 22.0, 20.0, 17.5, 15.0, 12.0,
                           6.0, 3.0, 2.4, 1.2, 0.24, 0.12),
                "blackwell": (96.0, 86.0, 80.0, 48.0, 45.1, 42.0, 40.0, 30.0, 24.0, 22.0, 20.0,
                              17.5, 15.0, 12.0, 6.0, 3.0, 2.4, 1.2, 0.24, 0.12)}
#: ring/tree channels NCCL builds on an NVSwitch node: "24 coll channels" in NCCL 2.29 init
#: logs of 4x H100 (waynehacking8/nccl-collectives-bench results/scaling_attributed/g4_auto.log)
#: and 8x H100 (AWS p5.48xlarge logs); assumed the same on Blackwell
NVSWITCH_RING_CHANNELS = 24
NCCL_MAX_NVLS_ARITY = 32  # NCCL src/include/device.h


def _fastest(speeds: tuple[float, ...], limit: float) -> float:
    return next((s for s in speeds if s <= limit), speeds[-1])


def nvswitch_graphs(arch: str, gpus: int, nvlink_gbps: float, *, nvls: bool = True
                    ) -> dict[str, Graph]:
    """The graphs NCCL's search finds on one NVSwitch node whose GPUs each have `nvlink_gbps`
    (NCCL's own link figure: links x SM90_NVLINK_BW / SM100_NVLINK_BW) towards the switch.

    Ring and tree: 24 channels at the fastest search speed that 24 channels fit into (H100:
    15 GB/s, as the published tuning table shows: Ring/Simple all-reduce 240 GB/s on 4 GPUs).
    NVLS: one channel per GPU (head); every GPU's switch link carries each head's share once
    and its own head's twice, so (gpus + 1) x speed must fit; the inter speed is raised until
    it reaches twice the intra one or the top speed (search.cc, pass 2). On 4x H100 this gives
    4 x 60 GB/s, i.e. the logged NVLS all-reduce 160 GB/s and all-gather 114.8 GB/s.
    """
    speeds = SPEEDS_INTRA[arch]
    ring_bw = _fastest(speeds, nvlink_gbps / NVSWITCH_RING_CHANNELS)
    out = {"ring": Graph(NVSWITCH_RING_CHANNELS, ring_bw, ring_bw),
           "tree": Graph(NVSWITCH_RING_CHANNELS, ring_bw, ring_bw)}
    if nvls and gpus >= 2:
        heads = min(NCCL_MAX_NVLS_ARITY, gpus)
        intra = _fastest(speeds, nvlink_gbps / (heads + 1))
        i = speeds.index(intra)
        inter = intra
        while i > 0 and inter < 2 * intra:
            i -= 1
            inter = speeds[i]
        out["nvls"] = Graph(heads, intra, inter)
        out["nvls_tree"] = out["nvls"]
    return out


def multinode_graphs(arch: str, gpus_per_node: int, nvlink_gbps: float, nic_gbps: float,
                     nics_per_node: int, *, nvls: bool = True) -> dict[str, Graph]:
    """The graphs NCCL's search finds across nodes of `gpus_per_node` NVSwitch GPUs with
    `nics_per_node` NICs of `nic_gbps` each (GB/s, NCCL's NET speed is the port rate / 8).

    Ring and tree: one channel per NIC (crossNic off: a channel leaves and enters on the same
    NIC index), at the fastest inter-node speed the NIC and the GPU's NVLink share both allow
    (Hopper keeps these channels undoubled below 50 GB/s: ncclTopoDupChannels). NVLS (NVLS
    tree across nodes): one head per GPU of the node with the single-node intra speed; the
    inter speed is raised towards twice the intra one, capped by the head's NIC.
    """
    speeds = SPEEDS_INTER[arch]
    channels = max(1, int(nics_per_node))
    ring_bw = next((s for s in speeds if s <= nic_gbps and channels * s <= nvlink_gbps),
                   speeds[-1])
    out = {"ring": Graph(channels, ring_bw, ring_bw), "tree": Graph(channels, ring_bw, ring_bw)}
    if nvls:
        local = nvswitch_graphs(arch, gpus_per_node, nvlink_gbps, nvls=True)["nvls"]
        nic_per_head = nic_gbps * nics_per_node / gpus_per_node
        inter = next((s for s in speeds if s <= min(nic_per_head, 2 * local.bw_intra)),
                     speeds[-1])
        out["nvls"] = out["nvls_tree"] = Graph(local.channels, local.bw_intra, inter)
    return out


@dataclass(frozen=True)
class Estimate:
    algo: str
    proto: str
    latency_us: float
    bw_gbps: float  # algorithm bandwidth NCCL assumes, GB/s

    def time_us(self, size_bytes: int, constants: TunerConstants, nodes: int, ranks: int,
                channels: int) -> float:
        """ncclTopoGetAlgoTime for one operation (numPipeOps = 1)."""
        bw, lat = self.bw_gbps, self.latency_us
        log_size = _log2i(size_bytes >> 6)
        if constants.tree_correction is not None:  # RCCL: its own tables, last entry beyond
            table = (constants.tree_correction if self.algo == "tree" else
                     constants.ring_correction if self.algo == "ring" and nodes > 1 else None)
            if table is not None and log_size >= 0:
                row = table[_P[self.proto]]
                bw *= row[min(log_size, len(row) - 1)]
            return lat + size_bytes / (1000.0 * bw)
        corrected = self.algo == "tree" or (self.algo == "nvls_tree" and constants.nvls_tree_correction)
        if corrected and 0 <= log_size < 23:
            bw *= TREE_CORRECTION[_P[self.proto]][log_size]
        if (self.algo == "ring" and self.proto == "simple" and nodes > 1
                and size_bytes // (channels * ranks) >= 64):
            lat *= constants.ring_plateau
        return lat + size_bytes / (1000.0 * bw)


@dataclass(frozen=True)
class Choice:
    algo: str
    proto: str
    time_us: float
    #: every candidate's estimate, us (what the tuner compared)
    estimates_us: dict[str, float]

    def provenance(self) -> dict:
        return {"algo": self.algo, "proto": self.proto, "estimated_us": round(self.time_us, 3),
                "candidates_us": {k: round(v, 3) for k, v in self.estimates_us.items()}}


def _log2i(x: int) -> int:
    return int(x).bit_length() - 1 if x > 0 else -1


def _refined_bus_bw(constants: TunerConstants, bus: float, channels: int, algo: str,
                    proto: str, coll: str, nodes: int) -> float:
    """The tuner's protocol and algorithm corrections of channels x per-channel bandwidth:
    RCCL's measured ratios, or NCCL's caps and factors (tuning.cc "Various model refinements")."""
    idx = min(nodes, 3) - 1
    if constants.bw_ratio is not None:
        return bus * constants.bw_ratio.get(algo, ((1.0,) * 3,) * 2)[0 if nodes <= 2 else 1][_P[proto]]
    if algo == "ring" and proto == "ll":
        bus = min(constants.ll_max_bw[idx], bus * 0.5)
    if algo == "ring" and proto == "ll128":
        bus = min(bus * 0.92, channels * constants.per_ch_max_ring_ll128[idx])
    if algo == "tree" and coll == "allreduce":
        bus = min(bus * 0.92, channels * constants.per_ch_max_tree[idx])
    if algo == "tree" and proto == "ll":
        bus = min(bus / 3.8, constants.ll_max_bw[idx])
    if algo == "tree" and proto == "ll128":
        bus = min(bus * (7.0 / 9.0 if nodes == 1 else 120.0 / 128.0),
                  channels * constants.per_ch_max_tree_ll128[idx])
    return bus


def estimates(constants: TunerConstants, graphs: dict[str, Graph], coll: str, ranks: int,
              nodes: int, *, intra_hw: str = "nvlink", ll128: bool = True
              ) -> list[Estimate]:
    """Every (algorithm, protocol) NCCL would consider, with its latency and bandwidth.

    `graphs` holds the algorithms the system has (no "nvls" entry: no NVLink SHARP). A pair
    NCCL disables (bandwidth 0) is left out.
    """
    if coll not in COLLECTIVES:
        raise EidolaError(f"the tuner models {', '.join(COLLECTIVES)}, not {coll!r}", field="kind")
    if ranks < 2 or nodes < 1 or ranks % nodes:
        raise EidolaError(f"{ranks} ranks do not split evenly into {nodes} nodes", field="gpus")
    nsteps = 2 * (ranks - 1) if coll == "allreduce" else ranks - 1
    ppn = ranks / nodes
    idx = min(nodes, 3) - 1
    out: list[Estimate] = []
    for algo in ALGORITHMS:
        graph = graphs.get(algo)
        if graph is None or graph.channels < 1:
            continue
        if coll != "allreduce" and algo not in ("ring", "nvls"):
            continue
        if algo == "nvls_tree" and nodes == 1:
            continue  # NCCL: NVLS tree is disabled on one node
        if algo == "nvls" and nodes > 1:
            continue  # NCCL: multi-node NVLS needs CollNet (SHARP), not modelled
        for proto in PROTOS:
            p = _P[proto]
            if algo in ("nvls", "nvls_tree") and proto != "simple":
                continue
            if proto == "ll128" and not ll128:
                continue
            if (algo == "tree" and proto == "simple" and nodes == 1
                    and constants.no_single_node_tree_simple):
                continue
            bw = graph.bw_intra if nodes <= 2 else graph.bw_inter
            if algo in ("nvls", "nvls_tree"):
                if graph.channels < 2:
                    continue
                intra = graph.bw_intra * constants.nvls_efficiency * (graph.channels - 1) / graph.channels
                intra *= 2.0 if coll == "allreduce" else (ppn - 1) / ppn
                inter = graph.bw_inter * (2 if nodes <= 2 and algo == "nvls_tree" else 1)
                bw = min(intra, inter, constants.per_ch_max_nvls_tree[idx] if algo == "nvls_tree"
                         else math.inf)
            bus = _refined_bus_bw(constants, graph.channels * bw, graph.channels, algo, proto,
                                  coll, nodes)
            if not (algo != "ring" and coll != "allreduce"):
                bus *= ranks / nsteps if algo in ("ring", "nvls", "nvls_tree") else 0.5
            if bus <= 0:
                continue
            lat = constants.base_latency[algo][p]
            intra_lat = constants.hw_latency[intra_hw].get(algo, (0.0,) * 3)[p]
            inter_lat = constants.hw_latency["net"].get("tree" if ppn == 1 else algo, (0.0,) * 3)[p]
            if algo == "ring":
                overhead = (3.0 if proto == "simple" else 1.0) if nodes > 1 else 0.0
                intra_lat = max(intra_lat, overhead)
                inter_steps = 0 if nodes == 1 else (2 * (nodes - 1) if coll == "allreduce"
                                                    else nodes - 1)
                lat += (nsteps - inter_steps) * intra_lat + inter_steps * inter_lat
            elif algo == "tree":
                lat += 2 * ((ranks // nodes - 1) * intra_lat + _log2i(nodes) * inter_lat)
            elif algo == "nvls":
                lat = intra_lat + (inter_lat if nodes > 1 else 0.0)
            else:  # nvls_tree
                lat += intra_lat + 2 * _log2i(nodes) * inter_lat
            out.append(Estimate(algo, proto, lat, bus))
    return out


def choose(constants: TunerConstants, graphs: dict[str, Graph], coll: str, ranks: int,
           nodes: int, size_bytes: int, *, algos: tuple[str, ...] | None = None,
           protos: tuple[str, ...] | None = None, intra_hw: str = "nvlink",
           ll128: bool = True) -> Choice:
    """The pair NCCL runs for one collective of `size_bytes` (per-rank buffer as nccl-tests
    sizes it), optionally restricted as NCCL_ALGO / NCCL_PROTO would."""
    cands = [e for e in estimates(constants, graphs, coll, ranks, nodes, intra_hw=intra_hw,
                                  ll128=ll128)
             if (algos is None or e.algo in algos) and (protos is None or e.proto in protos)]
    if not cands:
        raise EidolaError(f"no algorithm/protocol left for {coll} on {ranks} GPUs in {nodes} "
                          f"node(s) (allowed: {algos or 'any'} / {protos or 'any'})", field="algo")
    channels = max(g.channels for g in graphs.values())
    times = {f"{e.algo}/{e.proto}": e.time_us(size_bytes, constants, nodes, ranks, channels)
             for e in cands}
    best = min(cands, key=lambda e: times[f"{e.algo}/{e.proto}"])
    return Choice(best.algo, best.proto, times[f"{best.algo}/{best.proto}"], times)


__all__ = ["Graph", "TunerConstants", "Estimate", "Choice", "NCCL_HOPPER_TUNER",
           "NCCL_BLACKWELL_TUNER", "RCCL_MI300_TUNER", "nvswitch_graphs", "multinode_graphs", "estimates", "choose", "COLLECTIVES", "ALGORITHMS"]
