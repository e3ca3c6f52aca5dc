"""How NCCL and RCCL run a collective, as far as it changes the traffic and its timing.

Why: a bare ring moves exactly 2(n-1)S bytes at line rate with no fixed costs, which is the
right reference for closed-form checks but not what a real library achieves. Three things
matter when comparing with nccl-tests / rccl-tests (docs/validation.md, section 3):

- the *protocol* decides how many bytes cross the wire per payload byte: LL sends 8-byte lines
  of 4 data + 4 flag bytes (x2), LL128 128-byte lines of 120 data + 8 flag bytes (x128/120),
  Simple sends payload only plus one flag write per chunk;
- each collective pays a fixed *launch* latency and each ring step a *step* latency (fences,
  flag round trips, thread synchronisation) that is far larger than the wire latency;
- NVLS (NVSwitch multimem) reaches only a fraction of the port bandwidth.

The latency and efficiency constants below are the libraries' own tuner constants (NCCL
src/graph/tuning.cc, RCCL src/graph/tuning.cc), taken as published facts, not fitted to the
curves they are validated against. Units: microseconds in the tables, ns in the API.
"""

from __future__ import annotations

import math
import random

import numpy as np
from dataclasses import dataclass, field

from eidola.errors import EidolaError
from eidola.profile import tuner as tun

#: Bytes on the wire per payload byte, per protocol (see the module docstring).
WIRE_FACTOR = {"simple": 1.0, "ll128": 128.0 / 120.0, "ll": 2.0}

#: Protocols whose flags travel inside the data: their signals need no fence (SIGNAL_NBI).
INLINE_FLAGS = {"simple": False, "ll128": True, "ll": True}

#: Write granularity per protocol, bytes: the payload one FIFO step carries before its flag.
#: Simple: NCCL's 4 MiB buffer over NCCL_STEPS=8 slots; LL128 and LL carry their flags inline
#: so only the pipelining depth matters (NCCL's LL128 and LL buffer steps, rounded).
STEP_BYTES = {"simple": 512 * 1024, "ll128": 128 * 1024, "ll": 16 * 1024}

PROTOCOLS = tuple(WIRE_FACTOR)


@dataclass(frozen=True)
class LibraryModel:
    """One library's fixed costs and channel layout (latencies in us, as the tuners keep them)."""

    name: str
    #: per (algo, proto): fixed cost of launching one collective, us
    base_latency_us: dict[tuple[str, str], float]
    #: per (algo, proto): cost of one ring step (one of the 2(n-1) of an all-reduce), us
    step_latency_us: dict[tuple[str, str], float]
    #: fraction of the port bandwidth NVLS multimem traffic achieves (0: no NVLS)
    nvls_efficiency: float
    #: ring channels (streams per GPU) and NVLS channels
    ring_channels: int
    nvls_channels: int
    #: how rings are laid out: "single" (every channel the same order: right on a switch) or
    #: "disjoint" (each channel its own order, so a full mesh uses every link)
    ring_layout: str
    #: per protocol: the most bus bandwidth the GPU side can produce, GB/s (all channels)
    max_busbw_gbps: dict[str, float] = field(default_factory=dict)
    #: NVLS pipelining granularity, bytes (0: the protocol's step size)
    nvls_chunk_bytes: int = 0
    #: protocols the library's tuner may pick without environment overrides
    default_protocols: tuple[str, ...] = ("simple", "ll128", "ll")
    #: the library's own tuner constants (eidola.profile.tuner), for --algo auto
    tuner: tun.TunerConstants | None = None
    #: NCCL search speeds to use for this GPU generation (tuner.SPEEDS_INTRA key)
    arch: str = "hopper"
    #: one NVLink's bandwidth in the library's topology model, GB/s (NCCL src/graph/topo.h
    #: SM90_NVLINK_BW / SM100_NVLINK_BW); p2p channels per peer scale with links per peer.
    #: 0: a mesh, one link per peer (RCCL's xGMI)
    nvlink_unit_gbps: float = 0.0
    sources: tuple[str, ...] = field(default=())

    def launch_ns(self, algo: str, proto: str) -> float:
        return 1000.0 * self.base_latency_us.get((algo, proto), 0.0)

    def step_ns(self, algo: str, proto: str) -> float:
        return 1000.0 * self.step_latency_us.get((algo, proto), 0.0)

    def produce_ns_per_byte(self, proto: str, channels: int) -> float:
        """Per-stream production cost (ns per payload byte) that caps all `channels` together
        at `max_busbw_gbps` (a ring's bus bandwidth is what each GPU sends)."""
        cap = self.max_busbw_gbps.get(proto)
        return channels / cap if cap else 0.0


NCCL_HOPPER = LibraryModel(
    name="nccl",
    base_latency_us={("ring", "ll"): 6.6, ("ring", "ll128"): 14.0, ("ring", "simple"): 8.4,
                     ("tree", "ll"): 6.8, ("tree", "ll128"): 14.0, ("tree", "simple"): 8.4,
                     ("nvls", "simple"): 25.0},
    step_latency_us={("ring", "ll"): 0.6, ("ring", "ll128"): 1.9, ("ring", "simple"): 3.4},
    nvls_efficiency=0.85,
    ring_channels=24,
    nvls_channels=16,
    ring_layout="single",
    max_busbw_gbps={"ll": 141.0},
    nvls_chunk_bytes=128 * 1024,
    tuner=tun.NCCL_HOPPER_TUNER,
    nvlink_unit_gbps=20.6,
    sources=("NCCL src/graph/tuning.cc (2026-06): baseLatencies Ring {6.6, 14.0, 8.4} us and "
             "Tree {6.8, 14.0, 8.4} us, NVLink "
             "hwLatencies Ring {0.6, 1.9, 3.4} us per step and NVLS 25 us, nvlsEfficiency "
             "Hopper 0.85 (LL, LL128, Simple), llMaxBws Hopper one node 141 GB/s (LL's bus "
             "bandwidth cap)",
             "24 ring / 16 NVLS channels: NCCL 2.29 init log on H100 (waynehacking8/"
             "nccl-collectives-bench results/scaling_attributed/g4_Ring.log)",
             "NVLS chunk 128 KiB: NCCL src/transport/nvls.cc NCCL_PARAM(NvlsChunkSize, "
             "\"NVLS_CHUNKSIZE\", 128 * 1024) (16 NVLS channels: NvlsChannels, same file)"),
)

RCCL_MI300 = LibraryModel(
    name="rccl",
    base_latency_us={("ring", "ll"): 12.0, ("ring", "ll128"): 12.0, ("ring", "simple"): 17.0},
    step_latency_us={("ring", "ll"): 0.8, ("ring", "ll128"): 2.2, ("ring", "simple"): 3.6},
    nvls_efficiency=0.0,
    ring_channels=7,
    nvls_channels=0,
    ring_layout="disjoint",
    default_protocols=("simple", "ll"),
    tuner=tun.RCCL_MI300_TUNER,
    arch="cdna3",
    sources=("RCCL src/graph/tuning.cc (2024-10): baseLat Ring {12, 12, 17} us, xGMI ('NVLINK' "
             "row) hwLat Ring {0.8, 2.2, 3.6} us per step in tuning model 4 (LL, LL128, Simple)",
             "one channel per edge-disjoint ring: 7 rings use all 7 xGMI links of a GPU",
             "LL128 off by default except on gfx90a (RCCL src/graph/tuning.cc; "
             "RCCL_LL128_FORCE_ENABLE turns it on)"),
)

NCCL_BLACKWELL = LibraryModel(
    name="nccl",
    base_latency_us=NCCL_HOPPER.base_latency_us,
    step_latency_us=NCCL_HOPPER.step_latency_us,
    nvls_efficiency=0.74,
    ring_channels=24,
    nvls_channels=32,
    ring_layout="single",
    max_busbw_gbps={"ll": 2 * 141.0},
    nvls_chunk_bytes=128 * 1024,
    tuner=tun.NCCL_BLACKWELL_TUNER,
    arch="blackwell",
    nvlink_unit_gbps=40.1,
    sources=("NCCL src/graph/tuning.cc @5067397c (2026-06-11): the Hopper latencies (one table "
             "for all generations), nvlsEfficiency Blackwell 0.74, llMaxBws Blackwell-N1 "
             "2 x 141 GB/s",
             "32 NVLS channels: NCCL src/transport/nvls.cc NVLS_NCHANNELS_SM100 (24 on "
             "multi-node NVLink, NVLS_NCHANNELS_SM100_NVL); 24 ring channels assumed as on "
             "Hopper; NVLS chunk 128 KiB (NVLS_CHUNKSIZE)"),
)

LIBRARIES = {"nccl": NCCL_HOPPER, "rccl": RCCL_MI300}

#: ring channels per NIC across nodes: NCCL's network ring graph has one channel per NIC and
#: init doubles the channels (ncclTopoPostset); 16-rank 2x8 H100 logs show channels [0]..[15]
#: ("Trees [0] .. [15]", NCCL INFO init output quoted in public issue threads)
MULTINODE_RING_CHANNELS_PER_NIC = 2
#: GPU presets whose generation has its own library constants
_GENERATION = {("nccl", "b200"): NCCL_BLACKWELL, ("nccl", "gb200-nvl72"): NCCL_BLACKWELL}


def library_model(name: str, system: str | None = None) -> LibraryModel:
    """The library's model; `system` (a preset such as b200) picks that GPU generation's
    constants where the library has different ones (NCCL: Hopper vs Blackwell)."""
    key = name.strip().lower()
    if key not in LIBRARIES:
        raise EidolaError(f"unknown library {name!r}; choose one of {', '.join(LIBRARIES)}",
                          field="library")
    if system is not None:
        return _GENERATION.get((key, system.strip().lower()), LIBRARIES[key])
    return LIBRARIES[key]


def nvls_tree_cap(model: LibraryModel, gpus_per_node: int, nodes: int) -> float:
    """The bus bandwidth NCCL's NVLS tree reaches at most, GB/s: its tuner's measured per-channel
    limit (perChMaxNVLSTreeBws, N2 / N4 columns) times its channels (one head per GPU of a
    node). Like llMaxBws for LL, it is a GPU-side limit the wire model does not produce."""
    if model.tuner is None or nodes < 2:
        return 0.0
    return gpus_per_node * model.tuner.per_ch_max_nvls_tree[min(nodes, 3) - 1]


def tuner_graphs(model: LibraryModel, gpus: int, link_gbps: float, *, switch: bool,
                 nvls: bool, nodes: int = 1, nic_gbps: float = 0.0) -> dict[str, tun.Graph]:
    """The channel layouts the library's topology search would report for one node.

    `link_gbps` is one GPU's payload bandwidth towards the node fabric (a switch port, or one
    mesh link when `switch` is False). NVSwitch nodes follow NCCL's search
    (tuner.nvswitch_graphs); on a mesh each ring channel runs over one link, so a channel gets
    that link's rate (RCCL's xGMI graphs: one ring per link). Across `nodes` (one NIC of
    `nic_gbps` per GPU) the graphs follow NCCL's search over the network
    (tuner.multinode_graphs).
    """
    if switch and model.arch in tun.SPEEDS_INTRA:
        if nodes > 1:  # one NIC per GPU (current GPU servers)
            g = gpus // nodes
            return tun.multinode_graphs(model.arch, g, link_gbps, nic_gbps, g, nvls=nvls)
        return tun.nvswitch_graphs(model.arch, gpus, link_gbps, nvls=nvls)
    per_channel = link_gbps
    graph = tun.Graph(model.ring_channels, per_channel, per_channel)
    return {"ring": graph, "tree": graph}


def check_protocol(proto: str) -> str:
    key = proto.strip().lower()
    if key not in WIRE_FACTOR:
        raise EidolaError(f"unknown protocol {proto!r}; choose one of {', '.join(PROTOCOLS)}",
                          field="proto")
    return key


def disjoint_rings(n: int, count: int, *, attempts: int = 200) -> list[list[int]]:
    """`count` directed Hamiltonian cycles on n GPUs, edge-disjoint when that is possible.

    Why: on a full mesh (MI300X xGMI) a single ring order drives one of the n-1 outgoing links
    of each GPU; RCCL lays its channels over different orders so all links carry traffic. A
    complete directed graph splits into n-1 edge-disjoint Hamiltonian cycles for every n except
    4 and 6 (Tillson, 1980). Greedy depth-first search with seeded random neighbour orders and
    restarts finds such a set within a few attempts for the n of one node (8: first attempt);
    whatever it cannot find disjointly is filled with the rotations i -> i*s (s coprime to n),
    which reuse edges. Deterministic. Every cycle starts at GPU 0.
    """
    count = max(1, int(count))
    best: list[list[int]] = []
    for attempt in range(attempts if n > 2 else 1):
        rings = _greedy_rings(n, min(count, n - 1), random.Random(attempt))
        if len(rings) > len(best):
            best = rings
        if len(best) >= min(count, n - 1):
            break
    shifts = [s for s in range(1, n) if math.gcd(s, n) == 1] or [1]
    k = 0
    while len(best) < count:
        best.append([(i * shifts[k % len(shifts)]) % n for i in range(n)])
        k += 1
    return best


def rail_rings(n: int, gpus_per_node: int, channels: int) -> np.ndarray:
    """Ring orders for `channels` channels over nodes of `gpus_per_node` GPUs (ids node-major).

    Why: a ring that crosses nodes always from the same GPU drives one NIC per node while the
    others idle. NCCL gives each channel one NIC index for both of its node crossings (its ring
    graphs record the NET of each channel end, the same on both sides unless crossNic) and
    cycles the channels over the NICs, so every NIC carries a share. Here channel c enters
    every node at local GPU c mod g and leaves it from local GPU (c - 1) mod g towards the next
    node's GPU c mod g (NCCL's PXN hands that last hop over NVLink to the NIC of rail c).
    Returns channels x n indices.
    """
    g = int(gpus_per_node)
    nodes = n // g
    c = np.arange(channels)[:, None, None]
    k = np.arange(nodes)[None, :, None]
    i = np.arange(g)[None, None, :]
    return (k * g + (c % g + i) % g).reshape(channels, n)


def pxn_relays(rings: np.ndarray, gpus_per_node: int) -> np.ndarray:
    """Per channel and ring position, the GPU that relays the hop to the next position (NCCL's
    PXN, on by default): a hop between nodes that changes rail goes over NVLink to the GPU of
    the sender's node on the receiver's rail, which sends it on its own NIC, so every node
    crossing stays on one rail. -1 where the hop is direct. Indices as in `rings`."""
    g = int(gpus_per_node)
    here, there = rings, np.roll(rings, -1, axis=1)
    cross = (here // g != there // g) & (here % g != there % g)
    return np.where(cross, (here // g) * g + there % g, -1)


def _greedy_rings(n: int, count: int, rng) -> list[list[int]]:
    """Hamiltonian cycles found one after another, each avoiding the edges of the earlier ones."""
    rings: list[list[int]] = []
    used: set[tuple[int, int]] = set()
    for _ in range(count):
        order = {v: rng.sample(range(n), n) for v in range(n)}
        path, seen, budget = [0], {0}, [20_000]  # search steps per cycle, so no n can hang

        def search() -> bool:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if len(path) == n:
                return (path[-1], path[0]) not in used
            last = path[-1]
            for nxt in order[last]:
                if nxt in seen or (last, nxt) in used:
                    continue
                path.append(nxt)
                seen.add(nxt)
                if search():
                    return True
                path.pop()
                seen.discard(nxt)
            return False

        if not search():
            break
        rings.append(list(path))
        used.update((path[i], path[(i + 1) % n]) for i in range(n))
    return rings


__all__ = ["WIRE_FACTOR", "STEP_BYTES", "PROTOCOLS", "LibraryModel", "LIBRARIES", "NCCL_HOPPER",
           "NCCL_BLACKWELL", "RCCL_MI300", "library_model", "tuner_graphs", "rail_rings", "pxn_relays", "nvls_tree_cap", "check_protocol", "disjoint_rings"]
