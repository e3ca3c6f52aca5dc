"""How NCCL and RCCL run send/recv, and so the all-to-all nccl-tests builds from them.

Why a model of its own: an all-to-all is not one of the libraries' collective algorithms.
nccl-tests' ``alltoall_perf`` posts one ncclSend and one ncclRecv per peer inside a group, and
the library schedules those as point-to-point operations: every peer at once, each operation
striped over a number of *channels* (one thread block each) that grows with its size, moved in
fixed *chunks* through the peer's FIFO with a flag per chunk (Simple) or flags inline (LL). A
bare schedule (``synth alltoall`` without a library) visits the peers from one stream, which
on a mesh keeps only as many links busy as that stream's window of unacknowledged bytes spans.

Everything below follows the libraries' own code, taken as published facts:
- NCCL src/init.cc @5067397c: p2p chunk 512 KiB when every path is NVLink
  (NCCL_P2P_NVL_CHUNKSIZE), 128 KiB over PCIe (P2P_PCI_CHUNKSIZE) and across nodes
  (P2P_NET_CHUNKSIZE), the network chunk doubled on Arm hosts of compute capability >= 10.0
  (GB200: four GPUs per host). RCCL (ROCm/rocm-systems projects/rccl @1ff58479) has the same.
- NCCL src/graph/paths.cc @5067397c ``ncclTopoGetNchannels`` / ``ncclTopoComputeP2pChannels``:
  channels per NVLink peer 2 x (path bandwidth / one NVLink's), per network peer
  max(NICs, NIC GB/s / 14) (NCCL_P2P_PER_CHANNEL_NET_BW 14 GB/s), the minimum over peers,
  rounded up to a power of two; p2p channels = the communicator's channels rounded up to a
  power of two; across nodes the per-peer count halves while per-peer x ceil(ranks / 8) exceeds
  the p2p channels (8 = NCCL_MAX_DEV_WORK_P2P_PER_BATCH, src/include/device.h).
  RCCL (same function, rocm-systems @1ff58479): 4 per xGMI link on gfx942/gfx950 and doubled
  again on a single node; across nodes the halving loop stops at ``>=`` instead of ``>``.
- NCCL src/enqueue.cc @5067397c ``addP2pToPlan``: an operation of B bytes starts on
  min(nChannelsMin, B / minPart) channels (minPart = chunk / 8 on one node, chunk / 2 across
  nodes; nChannelsMin halves the per-peer count until it times the ranks fits the p2p
  channels) and doubles them while a part exceeds maxPart (chunk x 32, or chunk across nodes),
  up to the per-peer count; it runs LL when B <= channels x 16 KiB (NCCL_P2P_LL_THRESHOLD), else
  Simple; a network operation below one chunk uses a quarter chunk, below 8 chunks half.
  At most p2p channels / channels-per-op x 8 operations run concurrently. Each channel's
  connection has NCCL_STEPS = 8 FIFO slots (src/include/device.h): a sender has at most 8
  chunks in flight and reuses a slot when the receiver hands it back.

Not modelled: the receiver's copy out of the FIFO into the user buffer (HBM traffic only), the
sender's copy to itself in an out-of-place all-to-all (local, HBM), PXN relaying of network
peers, and a launch cost (NCCL's tuner has no p2p latency to take it from).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: NCCL_P2P_LL_THRESHOLD (src/enqueue.cc): LL for operations up to this many bytes per channel
P2P_LL_THRESHOLD_BYTES = 16384
#: NCCL_P2P_NVL_CHUNKSIZE / P2P_PCI_CHUNKSIZE / P2P_NET_CHUNKSIZE (src/init.cc), bytes
P2P_CHUNK_BYTES = {"nvlink": 1 << 19, "pci": 1 << 17, "net": 1 << 17}
#: NCCL_P2P_PER_CHANNEL_NET_BW (src/graph/paths.cc), GB/s one p2p channel drives on a NIC
P2P_PER_CHANNEL_NET_GBPS = 14
#: NCCL_MAX_DEV_WORK_P2P_PER_BATCH (src/include/device.h): operations one channel runs at once
MAX_P2P_PER_BATCH = 8
#: MAXCHANNELS (src/include/device.h)
MAX_CHANNELS = 64
#: NCCL_STEPS (src/include/device.h): FIFO slots per connection, so chunks a send has in flight
FIFO_STEPS = 8
#: LL's payload per FIFO step: NCCL's LL buffer (8 lines x 512 threads x 8 steps x 16 bytes)
#: over NCCL_STEPS = 8, half of each line being flags
LL_STEP_PAYLOAD_BYTES = 8 * 512 * 16 // 2


def pow2_up(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, int(x)))))


@dataclass(frozen=True)
class P2pPlan:
    """A communicator's point-to-point layout (what NCCL's init log prints as "N p2p channels,
    M p2p channels per peer") and the chunk its operations move."""

    library: str
    ranks: int
    nodes: int
    p2p_channels: int
    per_peer: int
    chunk_bytes: int

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1

    @property
    def min_per_op(self) -> int:
        """nChannelsMin: the per-peer count halved until one operation per peer fits."""
        c = self.per_peer
        while c * self.ranks > self.p2p_channels and c > 1:
            c //= 2
        return c

    def concurrent_ops(self, channels_per_op: int) -> int:
        """Operations that run at once: each channel holds MAX_P2P_PER_BATCH of them."""
        return max(1, self.p2p_channels // max(1, channels_per_op)) * MAX_P2P_PER_BATCH

    def op(self, nbytes: int, network: bool = False) -> tuple[int, str, int]:
        """(channels, protocol, payload bytes per chunk) of one send of `nbytes`; `network`: the
        peer is on another node (NCCL's network transport, which cuts the chunk of a small
        send; a send to a peer of the same node keeps it even in a multi-node communicator)."""
        step = self.chunk_bytes
        lo, hi = (step // 2, step) if self.multi_node else (step // 8, step * 32)
        if nbytes <= 0:
            return 1, "simple", step
        ch = min(self.min_per_op, math.ceil(nbytes / lo))
        part = max(lo, math.ceil(nbytes / ch))
        while part > hi and ch <= self.per_peer // 2:
            ch *= 2
            part = math.ceil(nbytes / ch)
        proto = "ll" if nbytes <= ch * P2P_LL_THRESHOLD_BYTES else "simple"
        chunk = LL_STEP_PAYLOAD_BYTES if proto == "ll" else step
        if network and proto == "simple":  # network transport's chunk tuning
            if nbytes < step:
                chunk //= 4
            elif nbytes < 8 * step:
                chunk //= 2
        return ch, proto, chunk

    @property
    def provenance(self) -> dict:
        return asdict(self)


def p2p_plan(library: str, *, ranks: int, nodes: int, comm_channels: int, link_gbps: float,
             link_unit_gbps: float, nic_gbps: float = 0.0, nics_per_gpu: int = 1,
             arm_blackwell: bool = False) -> P2pPlan:
    """The p2p layout of a communicator of `ranks` GPUs on `nodes` nodes.

    `comm_channels` is the communicator's channel count (its collective channels),
    `link_gbps` one GPU's payload bandwidth to one peer inside a node (all its NVLinks through
    the NVSwitch; one xGMI link on a mesh) and `link_unit_gbps` one link's (NCCL
    SM90_NVLINK_BW 20.6 / SM100_NVLINK_BW 40.1; the xGMI link itself). `arm_blackwell`: Grace
    hosts with Blackwell GPUs, whose network chunk NCCL doubles.
    """
    rccl = library == "rccl"
    per_link = 4 if rccl else 2
    per_peer = per_link * max(1, int(link_gbps / link_unit_gbps + 1e-9))
    if nodes > 1:
        net = max(int(nics_per_gpu), math.ceil(int(nic_gbps) / P2P_PER_CHANNEL_NET_GBPS)) \
            if nics_per_gpu > 0 else 2
        per_peer = min(per_peer, net)
    per_peer = pow2_up(min(per_peer, MAX_CHANNELS))
    if rccl and nodes == 1:
        per_peer *= 2  # RCCL: doubled on one gfx942 / gfx950 node
    channels = pow2_up(min(int(comm_channels), MAX_CHANNELS))
    if nodes > 1:
        rounds = math.ceil(ranks / MAX_P2P_PER_BATCH)
        while per_peer > 1 and (per_peer * rounds >= channels if rccl
                                else per_peer * rounds > channels):
            per_peer //= 2
    else:
        per_peer = min(per_peer, channels)
    if nodes > 1:
        chunk = P2P_CHUNK_BYTES["net"] * (2 if arm_blackwell and not rccl else 1)
    else:
        chunk = P2P_CHUNK_BYTES["nvlink"]
    return P2pPlan(library=library, ranks=int(ranks), nodes=int(nodes), p2p_channels=channels,
                   per_peer=max(1, per_peer), chunk_bytes=chunk)


__all__ = ["P2pPlan", "p2p_plan", "P2P_CHUNK_BYTES", "P2P_LL_THRESHOLD_BYTES",
           "MAX_P2P_PER_BATCH", "pow2_up"]
